"""Distributed fusion over a graph (spec section 5): DEKF, the two DPFs, diffusion SGD/Adam.

Each scheme reuses the node-level kernels and particle-filter pieces rather than copying
them, and exchanges only with graph neighbours through :func:`bayeslstm.graph.mix` /
:func:`bayeslstm.graph.consensus` (dense for small K, a padded neighbour table for large K).
Every step reports, per node, the prediction of its own example made before the update and
the communication it cost (``messages`` and ``floats`` sent).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from .ekf import extended_kalman_filter
from .errors import GraphError, OptionError
from .fusion import NetworkMethod, StepData, info_per_node, node_keys
from .gradient import gradient_descent
from .graph import Network, consensus, mix, require_doubly_stochastic
from .kernel import Batch
from .particle_filter import (
    ParticleState,
    check_particle_options,
    init_particles,
    mixture_prediction,
    observe_all,
    resample_if_degenerate,
    reweight,
)
from .resampling import effective_sample_size, get_scheme
from .statespace import StateSpace

LOGLIK_FLOOR = -1e6  # keeps impossible particles finite so averaging never meets inf - inf


def _check_nodes(network: Network, nodes: int) -> None:
    if nodes != network.nodes:
        raise GraphError(f"the graph has {network.nodes} nodes but the data has {nodes}")


def _own(data: StepData) -> Batch:
    return Batch(data.X[:, None], data.mask[:, None], data.d[:, None], data.observed[:, None])


def _neighbourhood(network: Network, data: StepData) -> Batch:
    """Each node's batch of its neighbours' raw examples (self included), sorted by node."""
    table = jnp.asarray(network.neighbors)
    valid = jnp.asarray(network.neighbor_valid) & data.observed[table]
    return Batch(data.X[table], data.mask[table], data.d[table], valid)


def _traffic(messages: Array, floats: Array) -> dict[str, Array]:
    return {"messages": jnp.asarray(messages, jnp.float32), "floats": jnp.asarray(floats, jnp.float32)}


def adapt_then_combine(kernel, network: Network, field: str, use_neighbours_data: bool, traffic, name: str) -> NetworkMethod:
    """Diffusion (Cattivelli & Sayed): every node runs ``kernel.step`` (adapt), then its
    estimate ``state.<field>`` becomes sum_l C_lk psi_l over its neighbours (combine).

    ``use_neighbours_data``: adapt on the neighbours' raw examples (incremental update, DEKF)
    or on the node's own only (diffusion SGD). ``traffic(data) -> (messages, floats)``.
    """
    own_slot = jnp.asarray((network.neighbors == np.arange(network.nodes)[:, None]).argmax(axis=1))

    def init_fn(key: Array, nodes: int):
        _check_nodes(network, nodes)
        return jax.vmap(kernel.init)(node_keys(key, nodes))

    def step(key: Array, state, data: StepData):
        nodes = data.d.shape[0]
        batch = _neighbourhood(network, data) if use_neighbours_data else _own(data)
        psi, info = jax.vmap(kernel.step)(node_keys(key, nodes), state, batch)
        state = psi._replace(**{field: mix(network, getattr(psi, field))})
        out = info_per_node(info, nodes, entry=own_slot if use_neighbours_data else None)
        out.update(_traffic(*traffic(data)))
        return state, out

    return NetworkMethod(init_fn, step, name)


def diffusion_ekf(ssm: StateSpace, network: Network, covariance: str = "full", init: str = "sample") -> NetworkMethod:
    """DEKF, adapt then combine: EKF updates with every neighbour's example in turn, then
    theta_k = sum_l C_lk psi_l. Covariances stay local (the paper's setting). Traffic: the
    raw example and the estimate, to each neighbour."""
    degree = jnp.asarray(network.degrees, jnp.float32)

    def traffic(data: StepData):
        example = jnp.sum(data.mask, axis=1) * data.X.shape[-1] + 1.0
        return 2 * degree, degree * (example + ssm.dim)

    return adapt_then_combine(extended_kalman_filter(ssm, covariance, init), network, "mean", True, traffic, "dekf")


def diffusion_gradient(ssm: StateSpace, network: Network, optimizer: str = "sgd", learning_rate: float | None = None) -> NetworkMethod:
    """Diffusion SGD/Adam: psi_k = a step on node k's own loss, theta_k = sum_l C_lk psi_l.
    Optimiser state (Adam's moments) stays local. Traffic: the estimate, to each neighbour."""
    degree = jnp.asarray(network.degrees, jnp.float32)
    kernel = gradient_descent(ssm, optimizer, learning_rate)
    return adapt_then_combine(kernel, network, "theta", False, lambda data: (degree, degree * ssm.dim), f"d{optimizer}")


def _own_prediction(prediction: Array, pred_var: Array, log_pred: Array) -> dict[str, Array]:
    """Each node's prediction of its own example (entry 0 of its (K, 1) mixture outputs)."""
    return {"prediction": prediction[:, 0], "predictive_var": pred_var[:, 0], "log_pred_density": log_pred[:, 0]}


def consensus_particle_filter(
    ssm: StateSpace,
    network: Network,
    num_particles: int = 1000,
    consensus_iters: int = 20,
    resampling: str = "systematic",
    ess_threshold: float = 0.5,
) -> NetworkMethod:
    """Likelihood-consensus DPF: all nodes draw the same particles (shared keys), average
    their local log-likelihood vectors by ``consensus_iters`` rounds of consensus with C, and
    weight by K times the result, an estimate of the centralized log-likelihood. Only
    L * N numbers per neighbour and step cross the network, never particles."""
    n = check_particle_options(num_particles, resampling, ess_threshold)
    require_doubly_stochastic(network, "the likelihood-consensus DPF")
    if int(consensus_iters) < 0:
        raise OptionError(f"consensus_iters must be >= 0; got {consensus_iters}")
    iters = int(consensus_iters)
    degree = jnp.asarray(network.degrees, jnp.float32)

    def init_fn(key: Array, nodes: int) -> ParticleState:
        _check_nodes(network, nodes)
        shared = init_particles(ssm, key, n)
        return jax.tree_util.tree_map(lambda a: jnp.broadcast_to(a, (nodes,) + a.shape), shared)

    def step(key: Array, state: ParticleState, data: StepData):
        nodes = data.d.shape[0]
        key_move, key_resample = jax.random.split(key)  # shared by every node
        particles = jax.vmap(lambda p: ssm.propagate(key_move, p))(state.particles)
        mean, var, loglik = jax.vmap(lambda p, b: observe_all(ssm, p, b))(particles, _own(data))
        prediction, pred_var, log_pred = jax.vmap(mixture_prediction)(state.log_weights, mean, var, loglik)
        local_ll = jnp.where(data.observed[:, None], jnp.maximum(loglik[..., 0], LOGLIK_FLOOR), 0.0)
        global_ll = nodes * consensus(network, local_ll, iters)
        log_w, increment, collapsed = jax.vmap(reweight)(state.log_weights, global_ll)
        state = ParticleState(particles, log_w, state.log_evidence + increment)
        state, ess, resampled = jax.vmap(lambda s: resample_if_degenerate(key_resample, s, ess_threshold, resampling))(state)
        out = _own_prediction(prediction, pred_var, log_pred)
        out.update(log_evidence_increment=increment, ess=ess, resampled=resampled, collapsed=collapsed)
        out.update(_traffic(iters * degree, iters * degree * n))
        return state, out

    return NetworkMethod(init_fn, step, "dpf-consensus")


def markov_chain_particle_filter(
    ssm: StateSpace,
    network: Network,
    num_particles: int = 1000,
    walk_steps: int = 10,
    resampling: str = "systematic",
) -> NetworkMethod:
    """Markov-chain DPF (after Lee & West, 2009). After propagation every particle takes S
    random-walk steps on G with the doubly stochastic C (uniform stationary law) and at each
    node j it visits adds (K / S) log p(d_j | theta): over the walk this tends to the sum of
    all nodes' log-likelihoods, the centralized weight. Each node then resamples N particles
    among those that ended with it; a node left with none keeps its own propagated set and
    reports ``empty``. Particles that cross an edge are the communication (S*N per node)."""
    n = check_particle_options(num_particles, resampling)
    require_doubly_stochastic(network, "the Markov-chain DPF")
    if int(walk_steps) < 1:
        raise OptionError(f"walk_steps must be >= 1; got {walk_steps}")
    S = int(walk_steps)
    scheme = get_scheme(resampling)
    table = jnp.asarray(network.neighbors)
    log_moves = jnp.log(jnp.where(jnp.asarray(network.neighbor_valid), jnp.asarray(network.neighbor_weights), 0.0))

    def init_fn(key: Array, nodes: int) -> ParticleState:
        _check_nodes(network, nodes)
        return jax.vmap(lambda k: init_particles(ssm, k, n))(node_keys(key, nodes))

    def step(key: Array, state: ParticleState, data: StepData):
        nodes = data.d.shape[0]
        key_move, key_walk, key_resample = jax.random.split(key, 3)
        particles = jax.vmap(lambda k, p: ssm.propagate(k, p))(node_keys(key_move, nodes), state.particles)
        mean, var, loglik = jax.vmap(lambda p, b: observe_all(ssm, p, b))(particles, _own(data))
        prediction, pred_var, log_pred = jax.vmap(mixture_prediction)(state.log_weights, mean, var, loglik)

        pool = particles.reshape(nodes * n, -1)
        start = jnp.repeat(jnp.arange(nodes), n)

        def walk(carry, key_s):
            where, log_w, sent = carry
            slot = jax.random.categorical(key_s, log_moves[where])
            nxt = table[where, slot]
            sent = sent + jnp.zeros(nodes).at[where].add((nxt != where).astype(jnp.float32))
            ll = jax.vmap(lambda theta, j: ssm.observation(theta, data.X[j], data.mask[j]).log_prob(data.d[j]))(pool, nxt)
            ll = jnp.where(data.observed[nxt], jnp.maximum(jnp.nan_to_num(ll, nan=LOGLIK_FLOOR), LOGLIK_FLOOR), 0.0)
            return (nxt, log_w + (nodes / S) * ll, sent), None

        init_walk = (start, jnp.zeros(nodes * n, pool.dtype), jnp.zeros(nodes))
        (where, log_w, sent), _ = jax.lax.scan(walk, init_walk, jax.random.split(key_walk, S))
        occupancy = jnp.sum(where[None, :] == jnp.arange(nodes)[:, None], axis=1)

        def gather(node, key_k, own):
            candidates = jnp.where(where == node, log_w, -jnp.inf)
            empty = ~jnp.any(where == node)
            safe = jnp.where(empty, 0.0, candidates)  # any finite weights; result discarded if empty
            idx = scheme(key_k, safe, n)
            chosen = jnp.where(empty, own, pool[idx])
            ess = jnp.where(empty, 0.0, effective_sample_size(safe))
            return chosen, ess, empty

        new_particles, ess, empty = jax.vmap(gather)(jnp.arange(nodes), node_keys(key_resample, nodes), particles)
        flat = jnp.full((nodes, n), -jnp.log(n), pool.dtype)
        state = ParticleState(new_particles, flat, state.log_evidence + jnp.where(data.observed, log_pred[:, 0], 0.0))
        out = _own_prediction(prediction, pred_var, log_pred)
        out.update(ess=ess, occupancy=occupancy.astype(jnp.float32), empty=empty)
        out.update(_traffic(sent, sent * ssm.dim))
        return state, out

    return NetworkMethod(init_fn, step, "dpf")
