"""The Markov-chain distributed particle filter (``dpf``), after Lee & West (2009).

After propagation every particle takes S random-walk steps over the live links with the
doubly stochastic combination matrix (whose stationary law is uniform on the live group C the
walk runs in; a walk never leaves its group) and, at each node j it visits, adds
(|C| / S) log p(d_j | theta) to its log weight: over the walk this tends to the sum of the
group's log-likelihoods, the centralized weight over its labels, every present label counted
once. Each node then resamples N particles among those that ended with it. Particles that
cross an edge are the communication (S * N per node and step); the nodes learn |C| each step
by a flood and a count up and down the group's tree (:mod:`bayeslstm.network.agreement`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import Array

from ..errors import number
from ..kernels.particle_filter import (
    DEFAULT_DISCOUNT,
    DEFAULT_PARTICLES,
    LOGLIK_FLOOR,
    MOVE_SALT,
    ParticleState,
    check_particle_options,
    init_particles,
    mixture_prediction,
    move_and_observe,
    moved_entries,
    posterior,
    rejuvenate,
)
from ..kernels.resampling import effective_sample_size, get_scheme
from ..model.statespace import StateSpace
from .agreement import FLOOD_INTS, find_groups, group_sum, tree_traffic
from .graph import Network, require_doubly_stochastic
from .method import (
    NetworkMethod,
    NodeAxis,
    StepData,
    check_nodes,
    graph_method,
    node_keys,
    node_map,
    own_batch,
    own_prediction,
    traffic,
)
from .mixing import Links


def markov_chain_particle_filter(
    ssm: StateSpace,
    network: Network,
    num_particles: int = DEFAULT_PARTICLES,
    walk_steps: int = 10,
    resampling: str = "systematic",
    move: str = "auto",
    discount: float = DEFAULT_DISCOUNT,
) -> NetworkMethod:
    """Markov-chain DPF (see the module docstring): N particles per node, each walking S =
    ``walk_steps`` steps over the live links. A node left with no particle keeps its own
    propagated set and reports ``empty``; ``move="liu-west"`` rejuvenates each node's resampled
    set. Traffic: the particles that cross an edge (S N per node), the flood and the count of |C|."""
    n = check_particle_options(num_particles, resampling, move=move, discount=discount)
    require_doubly_stochastic(network, "the Markov-chain DPF")
    S = number("walk_steps", walk_steps, int, 1)
    scheme = get_scheme(resampling)
    table = jnp.asarray(network.neighbors)
    entries = moved_entries(ssm, move)

    def init_fn(key: Array, nodes: int) -> ParticleState:
        check_nodes(network, nodes)
        return jax.vmap(lambda k: init_particles(ssm, k, n))(node_keys(key, nodes))

    def node_step(key: Array, state: ParticleState, data: StepData, links: Links, axis: NodeAxis):
        rows, K = axis.index, axis.nodes
        key_move, key_walk, key_resample = jax.random.split(key, 3)
        particles, (mean, var, loglik) = node_map(lambda k, p, b: move_and_observe(ssm, k, p, b),
                                                  node_keys(key_move, rows), state.particles, own_batch(data))
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
            return (nxt, log_w + ll, sent), None

        groups = find_groups(links, rows, table, axis, jnp.zeros(rows.shape, jnp.int32))
        size = group_sum(jnp.ones(rows.shape, particles.dtype), groups, rows, table, axis)
        start = jnp.broadcast_to(rows[:, None], (rows.shape[0], n)).astype(table.dtype)
        init_walk = (start, jnp.zeros((rows.shape[0], n), particles.dtype), jnp.zeros(K, jnp.float32))
        (where, log_w, sent), _ = jax.lax.scan(walk, init_walk, jax.random.split(key_walk, S))
        log_w = (size[:, None] / S) * log_w  # a walk stays in the group of the node it started from
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
        state = jax.vmap(lambda k, s, e: rejuvenate(k, s, ~e, entries, discount))(
            node_keys(jax.random.fold_in(key, MOVE_SALT), rows), state, empty)
        out = own_prediction(prediction, pred_var, log_pred)
        out.update(ess=ess, occupancy=occupancy.astype(jnp.float32), empty=empty)
        tree, tree_floats = tree_traffic(groups, 1)
        out.update(traffic(sent + groups.messages + tree, sent * ssm.dim + FLOOD_INTS * groups.messages + tree_floats))
        return state, out

    return graph_method(network, init_fn, node_step, "dpf", posterior)
