"""The Markov-chain distributed particle filter (``dpf``), after Lee & West (2009).

After propagation every particle takes S random-walk steps over the live links with the
doubly stochastic combination matrix (whose stationary law is uniform on the live group C the
walk runs in; a walk never leaves its group) and, at each node j it visits, adds
(|C| / S) log p(d_j | theta) to its log weight: over the walk this tends to the sum of the
group's log-likelihoods, the centralized weight over its labels, every present label counted
once. Each node then resamples N particles among those that ended with it. Particles that
cross an edge are the communication (S * N per node and step); the nodes learn |C| each step
by a flood and a count up and down the group's tree (:mod:`bayeslstm.network.agreement`).

Where the filter integrates the label variance r out (a learnt noise scale), a walk adds
(|C| / S) times each visited label's squared residual and count to the statistics of its
particle's posterior of r instead, and its log weight is the marginal likelihood of that
tempered total; the particle carries its posterior of r along.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import Array

from ..errors import number
from ..kernels.label_noise import NoiseState, marginal_log_likelihood
from ..kernels.particle_filter import (
    DEFAULT_DISCOUNT,
    DEFAULT_PARTICLES,
    LOGLIK_FLOOR,
    MOVE_SALT,
    ParticleState,
    capped_squares,
    check_particle_options,
    init_particles,
    integrate_noise,
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


def visit_score(ssm: StateSpace, everyone: StepData, integrated: bool) -> Callable[[Array, Array], Array]:
    """What a particle's visit to node j adds to its walk: the log likelihood of j's label, or
    with r integrated out (``integrated``) its squared residual; nothing where j has no label.
    An impossible particle (a NaN output) stays finite, so sums never meet inf - inf."""

    def score_at(theta: Array, j: Array) -> Array:
        if integrated:
            squared = capped_squares(everyone.d[j], ssm.mean(theta, everyone.X[j], everyone.mask[j]))
            return jnp.where(everyone.observed[j], squared, 0.0)
        ll = ssm.observation(theta, everyone.X[j], everyone.mask[j]).log_prob(everyone.d[j])
        return jnp.where(everyone.observed[j], jnp.maximum(jnp.nan_to_num(ll, nan=LOGLIK_FLOOR), LOGLIK_FLOOR), 0.0)

    return score_at


def walk_weights(noise: NoiseState | None, score: Array, count: Array) -> tuple[Array, NoiseState | None]:
    """The log weights of walks that gathered the (tempered) ``score`` over ``count`` labels:
    the log likelihood they summed; with r integrated out, the marginal likelihood of their
    squared residuals, and each particle's posterior of r after them."""
    if noise is None:
        return score, None
    return marginal_log_likelihood(noise, score, count), NoiseState(noise.shape + 0.5 * count, noise.rate + 0.5 * score)


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
        own = own_batch(data)
        particles, (mean, var, loglik) = node_map(lambda k, p, b: move_and_observe(ssm, k, p, b),
                                                  node_keys(key_move, rows), state.particles, own)
        var, loglik, _ = jax.vmap(integrate_noise)(state.noise, mean, var, loglik, own)
        prediction, pred_var, log_pred = jax.vmap(mixture_prediction)(state.log_weights, mean, var, loglik)

        everyone = axis.gather_all(data)  # a walk reaches S hops away
        log_moves = jnp.log(jnp.where(links.live, links.weights, 0.0))
        score_at = visit_score(ssm, everyone, state.noise is not None)

        def walk(carry, key_s):
            where, score, count, sent = carry
            # one key per starting node, so a particle's path does not depend on the layout
            slot = jax.vmap(lambda k, w: jax.random.categorical(k, log_moves[w]))(node_keys(key_s, rows), where)
            nxt = table[where, slot]
            sent = sent.at[where.ravel()].add((nxt != where).ravel().astype(sent.dtype))
            added = node_map(jax.vmap(score_at), particles, nxt)
            return (nxt, score + added, count + everyone.observed[nxt].astype(score.dtype), sent), None

        groups = find_groups(links, rows, table, axis, jnp.zeros(rows.shape, jnp.int32))
        size = group_sum(jnp.ones(rows.shape, particles.dtype), groups, rows, table, axis)
        start = jnp.broadcast_to(rows[:, None], (rows.shape[0], n)).astype(table.dtype)
        zeros = jnp.zeros((rows.shape[0], n), particles.dtype)
        (where, score, count, sent), _ = jax.lax.scan(walk, (start, zeros, zeros, jnp.zeros(K, jnp.float32)),
                                                      jax.random.split(key_walk, S))
        temper = size[:, None] / S  # a walk stays in the group of the node it started from
        log_w, walked = walk_weights(state.noise, temper * score, temper * count)
        sent = axis.total(sent)[rows]
        pool = jax.tree_util.tree_map(lambda a: a.reshape((K * n,) + a.shape[2:]), axis.gather_all((particles, walked)))
        where, log_w = axis.gather_all(where).reshape(-1), axis.gather_all(log_w).reshape(-1)
        occupancy = jnp.sum(where[None, :] == rows[:, None], axis=1)

        def gather(node, key_k, own):
            candidates = jnp.where(where == node, log_w, -jnp.inf)
            empty = ~jnp.any(where == node)
            safe = jnp.where(empty, 0.0, candidates)  # any finite weights; result discarded if empty
            idx = scheme(key_k, safe, n)
            chosen = jax.tree_util.tree_map(lambda mine, pooled: jnp.where(empty, mine, pooled[idx]), own, pool)
            ess = jnp.where(empty, 0.0, effective_sample_size(safe))
            return chosen, ess, empty

        (chosen, noise), ess, empty = jax.vmap(gather)(rows, node_keys(key_resample, rows), (particles, state.noise))
        evidence = state.log_evidence + jnp.where(data.observed, log_pred[:, 0], 0.0)
        state = ParticleState(chosen, jnp.full((rows.shape[0], n), -jnp.log(n), particles.dtype), evidence, noise=noise)
        state = jax.vmap(lambda k, s, e: rejuvenate(k, s, ~e, entries, discount))(
            node_keys(jax.random.fold_in(key, MOVE_SALT), rows), state, empty)
        out = own_prediction(prediction, pred_var, log_pred)
        out.update(ess=ess, occupancy=occupancy.astype(jnp.float32), empty=empty)
        tree, tree_floats = tree_traffic(groups, 1)
        out.update(traffic(sent + groups.messages + tree, sent * ssm.dim + FLOOD_INTS * groups.messages + tree_floats))
        return state, out

    return graph_method(network, init_fn, node_step, "dpf", posterior)
