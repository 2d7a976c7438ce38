"""Distributed fusion over a graph (spec section 5): DEKF, the two DPFs, diffusion SGD/Adam.

Each scheme reuses the node-level kernels and particle-filter pieces rather than copying
them, and exchanges only with graph neighbours, through :func:`bayeslstm.graph.combine` over the
step's live links (:class:`bayeslstm.graph.Links`: the graph's, or fewer under faults).
Each is written row-locally (``node_step``) so :mod:`bayeslstm.sharding` can run it over a
device mesh unchanged.
Every step reports, per node, the prediction of its own example made before the update and
the communication it cost (``messages`` and ``floats`` sent).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from .ekf import extended_kalman_filter
from .errors import GraphError, number
from .fusion import NetworkMethod, NodeAxis, StepData, from_node_step, info_per_node, node_keys, node_map
from .gradient import gradient_descent
from .graph import Links, Network, combine, live_links, require_doubly_stochastic
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


def _traffic(messages: Array, floats: Array) -> dict[str, Array]:
    return {"messages": jnp.asarray(messages, jnp.float32), "floats": jnp.asarray(floats, jnp.float32)}


def _live_degree(links: Links, rows: Array) -> Array:
    """Live neighbours of each node held here, itself not counted."""
    return jnp.sum(links.live[rows], axis=1).astype(jnp.float32) - 1.0


def _method(network: Network, init_fn, node_step, name: str) -> NetworkMethod:
    """A distributed method: its default links are the graph's, all up."""
    return from_node_step(init_fn, node_step, name, lambda: live_links(network))


def adapt_then_combine(kernel, network: Network, field: str, use_neighbours_data: bool, traffic, name: str) -> NetworkMethod:
    """Diffusion (Cattivelli & Sayed): every node runs ``kernel.step`` (adapt), then its
    estimate ``state.<field>`` becomes sum_l C_lk psi_l over its live neighbours (combine).

    ``use_neighbours_data``: adapt on the neighbours' raw examples (incremental update, DEKF)
    or on the node's own only (diffusion SGD). ``traffic(data, degree) -> (messages, floats)``.
    """
    table = jnp.asarray(network.neighbors)
    own_slot = jnp.asarray((network.neighbors == np.arange(network.nodes)[:, None]).argmax(axis=1))

    def init_fn(key: Array, nodes: int):
        _check_nodes(network, nodes)
        return jax.vmap(kernel.init)(node_keys(key, nodes))

    def node_step(key: Array, state, data: StepData, links: Links, axis: NodeAxis):
        rows = axis.index
        neighbours = table[rows]
        if use_neighbours_data:
            everyone = axis.gather(data)
            valid = links.live[rows] & everyone.observed[neighbours]
            batch = Batch(everyone.X[neighbours], everyone.mask[neighbours], everyone.d[neighbours], valid)
        else:
            batch = _own(data)
        psi, info = node_map(kernel.step, node_keys(key, rows), state, batch)
        mixed = combine(links.weights[rows], neighbours, axis.gather(getattr(psi, field)))
        out = info_per_node(info, rows.shape[0], entry=own_slot[rows] if use_neighbours_data else None)
        out.update(_traffic(*traffic(data, _live_degree(links, rows))))
        return psi._replace(**{field: mixed}), out

    return _method(network, init_fn, node_step, name)


def diffusion_ekf(ssm: StateSpace, network: Network, covariance: str = "full", init: str = "sample") -> NetworkMethod:
    """DEKF, adapt then combine: EKF updates with every neighbour's example in turn, then
    theta_k = sum_l C_lk psi_l. Covariances stay local (the paper's setting). Traffic: the
    raw example and the estimate, to each neighbour."""
    def traffic(data: StepData, degree: Array):
        example = jnp.sum(data.mask, axis=1) * data.X.shape[-1] + 1.0
        return 2 * degree, degree * (example + ssm.dim)

    return adapt_then_combine(extended_kalman_filter(ssm, covariance, init), network, "mean", True, traffic, "dekf")


def diffusion_gradient(ssm: StateSpace, network: Network, optimizer: str = "sgd", learning_rate: float | None = None) -> NetworkMethod:
    """Diffusion SGD/Adam: psi_k = a step on node k's own loss, theta_k = sum_l C_lk psi_l.
    Optimiser state (Adam's moments) stays local. Traffic: the estimate, to each neighbour."""
    kernel = gradient_descent(ssm, optimizer, learning_rate)
    traffic = lambda data, degree: (degree, degree * ssm.dim)  # noqa: E731
    return adapt_then_combine(kernel, network, "theta", False, traffic, f"d{optimizer}")


def _own_prediction(prediction: Array, pred_var: Array, log_pred: Array) -> dict[str, Array]:
    """Each node's prediction of its own example (entry 0 of its (K, 1) mixture outputs)."""
    return {"prediction": prediction[:, 0], "predictive_var": pred_var[:, 0], "log_pred_density": log_pred[:, 0]}


def _move_and_observe(ssm: StateSpace, key: Array, particles: Array, batch: Batch):
    """One node's particles propagated, and their (mean, var, loglik) on the node's batch."""
    moved = ssm.propagate(key, particles)
    return moved, observe_all(ssm, moved, batch)


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
    iters = number("consensus_iters", consensus_iters, int, 0)
    table = jnp.asarray(network.neighbors)

    def init_fn(key: Array, nodes: int) -> ParticleState:
        _check_nodes(network, nodes)
        shared = init_particles(ssm, key, n)
        return jax.tree_util.tree_map(lambda a: jnp.broadcast_to(a, (nodes,) + a.shape), shared)

    def node_step(key: Array, state: ParticleState, data: StepData, links: Links, axis: NodeAxis):
        rows = axis.index
        key_move, key_resample = jax.random.split(key)  # shared by every node
        particles, (mean, var, loglik) = node_map(lambda p, b: _move_and_observe(ssm, key_move, p, b),
                                                  state.particles, _own(data))
        prediction, pred_var, log_pred = jax.vmap(mixture_prediction)(state.log_weights, mean, var, loglik)
        local_ll = jnp.where(data.observed[:, None], jnp.maximum(loglik[..., 0], LOGLIK_FLOOR), 0.0)
        weights, neighbours = links.weights[rows], table[rows]
        average = jax.lax.fori_loop(0, iters, lambda _, v: combine(weights, neighbours, axis.gather(v)), local_ll)
        log_w, increment, collapsed = jax.vmap(reweight)(state.log_weights, axis.nodes * average)
        state = ParticleState(particles, log_w, state.log_evidence + increment)
        state, ess, resampled = jax.vmap(lambda s: resample_if_degenerate(key_resample, s, ess_threshold, resampling))(state)
        out = _own_prediction(prediction, pred_var, log_pred)
        out.update(log_evidence_increment=increment, ess=ess, resampled=resampled, collapsed=collapsed)
        degree = _live_degree(links, rows)
        out.update(_traffic(iters * degree, iters * degree * n))
        return state, out

    return _method(network, init_fn, node_step, "dpf-consensus")


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
    S = number("walk_steps", walk_steps, int, 1)
    scheme = get_scheme(resampling)
    table = jnp.asarray(network.neighbors)

    def init_fn(key: Array, nodes: int) -> ParticleState:
        _check_nodes(network, nodes)
        return jax.vmap(lambda k: init_particles(ssm, k, n))(node_keys(key, nodes))

    def node_step(key: Array, state: ParticleState, data: StepData, links: Links, axis: NodeAxis):
        rows, K = axis.index, axis.nodes
        key_move, key_walk, key_resample = jax.random.split(key, 3)
        particles, (mean, var, loglik) = node_map(lambda k, p, b: _move_and_observe(ssm, k, p, b),
                                                  node_keys(key_move, rows), state.particles, _own(data))
        prediction, pred_var, log_pred = jax.vmap(mixture_prediction)(state.log_weights, mean, var, loglik)

        everyone = axis.gather_all(data)  # a walk reaches S hops away
        log_moves = jnp.log(jnp.where(links.live, links.weights, 0.0))

        def loglik_at(theta, j):
            ll = ssm.observation(theta, everyone.X[j], everyone.mask[j]).log_prob(everyone.d[j])
            return jnp.where(everyone.observed[j], jnp.maximum(jnp.nan_to_num(ll, nan=LOGLIK_FLOOR), LOGLIK_FLOOR), 0.0)

        def walk(carry, key_s):
            where, log_w, sent = carry
            # one key per starting node, so a particle's path does not depend on the layout
            slot = jax.vmap(lambda k, w: jax.random.categorical(k, log_moves[w]))(node_keys(key_s, rows), where)
            nxt = table[where, slot]
            sent = sent.at[where.ravel()].add((nxt != where).ravel().astype(sent.dtype))
            ll = node_map(jax.vmap(loglik_at), particles, nxt)
            return (nxt, log_w + (K / S) * ll, sent), None

        start = jnp.broadcast_to(rows[:, None], (rows.shape[0], n)).astype(table.dtype)
        init_walk = (start, jnp.zeros((rows.shape[0], n), particles.dtype), jnp.zeros(K, jnp.float32))
        (where, log_w, sent), _ = jax.lax.scan(walk, init_walk, jax.random.split(key_walk, S))
        sent = axis.total(sent)[rows]
        pool = axis.gather_all(particles).reshape(K * n, -1)
        where, log_w = axis.gather_all(where).reshape(-1), axis.gather_all(log_w).reshape(-1)
        occupancy = jnp.sum(where[None, :] == rows[:, None], axis=1)

        def gather(node, key_k, own):
            candidates = jnp.where(where == node, log_w, -jnp.inf)
            empty = ~jnp.any(where == node)
            safe = jnp.where(empty, 0.0, candidates)  # any finite weights; result discarded if empty
            idx = scheme(key_k, safe, n)
            chosen = jnp.where(empty, own, pool[idx])
            ess = jnp.where(empty, 0.0, effective_sample_size(safe))
            return chosen, ess, empty

        new_particles, ess, empty = jax.vmap(gather)(rows, node_keys(key_resample, rows), particles)
        flat = jnp.full((rows.shape[0], n), -jnp.log(n), pool.dtype)
        state = ParticleState(new_particles, flat, state.log_evidence + jnp.where(data.observed, log_pred[:, 0], 0.0))
        out = _own_prediction(prediction, pred_var, log_pred)
        out.update(ess=ess, occupancy=occupancy.astype(jnp.float32), empty=empty)
        out.update(_traffic(sent, sent * ssm.dim))
        return state, out

    return _method(network, init_fn, node_step, "dpf")
