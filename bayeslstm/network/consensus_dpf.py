"""The likelihood-consensus distributed particle filter (``dpf-consensus``), made exact.

Every node holds the same particles: they start from one shared draw and move with shared
keys. Each step the nodes compute their local log-likelihood vectors over the particles and
average them by L rounds of consensus with the combination matrix; K times the average
estimates the centralized log-likelihood. A finite number of rounds leaves the nodes' averages
different in their last digits, and a node that resampled from its own slightly different
weights would pick other ancestors near the CDF's steps, after which its particle i is no
longer the others' particle i and averaging index by index mixes different particles. So the
nodes then agree exactly: they elect a leader in their live component (the smallest id among
the nodes that have taken part in the most steps, by flooding) and take the leader's weights,
which reach them hop by hop; every node then decides to resample, and resamples, from the same numbers with the
same shared key, and holds bit-identical particles and weights after every step. A node
that was away (a fault) takes its leader's particles and weights when it rejoins.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import Array

from ..errors import number
from ..kernels.particle_filter import (
    DEFAULT_DISCOUNT, DEFAULT_PARTICLES, LOGLIK_FLOOR, MOVE_SALT, ParticleState, check_particle_options, init_particles,
    mixture_prediction, move_and_observe, moved_entries, posterior, rejuvenate, resample_state, reweight,
)
from ..kernels.resampling import adaptive, get_scheme
from ..model.statespace import StateSpace
from .agreement import average_consensus, diameter, elect_leaders, from_leader
from .graph import Network, require_doubly_stochastic
from .method import (
    NetworkMethod, NodeAxis, StepData, check_nodes, graph_method, live_degree, node_map, own_batch, own_prediction,
    traffic,
)
from .mixing import Links

def consensus_particle_filter(
    ssm: StateSpace,
    network: Network,
    num_particles: int = DEFAULT_PARTICLES,
    consensus_iters: int = 20,
    resampling: str = "systematic",
    ess_threshold: float = 0.5,
    move: str = "auto",
    discount: float = DEFAULT_DISCOUNT,
    flood_rounds: int | None = None,
) -> NetworkMethod:
    """Likelihood-consensus DPF with exact agreement (see the module docstring).

    ``consensus_iters`` (L) rounds of average consensus on the log-likelihood vectors, then
    ``flood_rounds`` rounds of flooding (default: the graph's diameter) so that every node
    holds its leader's weights (the leader: the smallest id among the nodes that have taken
    part in the most steps, so that a node back from being away never hands the others its
    stale particles). ``move="liu-west"`` rejuvenates the particles after each
    resampling, with the shared key. Traffic per live neighbour and step: L N numbers of
    consensus, and per flood round the largest age, the leader's id, its N weights and its
    evidence increment; N * dim more when a node takes its leader's particles after being away.
    """
    n = check_particle_options(num_particles, resampling, ess_threshold, move, discount)
    require_doubly_stochastic(network, "the likelihood-consensus DPF")
    iters = number("consensus_iters", consensus_iters, int, 0)
    rounds = diameter(network) if flood_rounds is None else number("flood_rounds", flood_rounds, int, 0)
    resample = adaptive(get_scheme(resampling), ess_threshold)
    table = jnp.asarray(network.neighbors)
    entries = moved_entries(ssm, move)

    def init_fn(key: Array, nodes: int) -> ParticleState:
        check_nodes(network, nodes)
        shared = init_particles(ssm, key, n)._replace(age=jnp.zeros((), jnp.int32))
        return jax.tree_util.tree_map(lambda a: jnp.broadcast_to(a, (nodes,) + a.shape), shared)

    def node_step(key: Array, state: ParticleState, data: StepData, links: Links, axis: NodeAxis):
        rows = axis.index
        leaders = elect_leaders(links, rows, table, axis, rounds, state.age)
        adopted = from_leader(state, leaders, axis)  # the identity unless a node was away
        stale = jnp.any(adopted.particles != state.particles, axis=(1, 2))
        key_move, key_resample = jax.random.split(key)  # shared by every node
        particles, (mean, var, loglik) = node_map(lambda p, b: move_and_observe(ssm, key_move, p, b),
                                                  adopted.particles, own_batch(data))
        prediction, pred_var, log_pred = jax.vmap(mixture_prediction)(adopted.log_weights, mean, var, loglik)
        local_ll = jnp.where(data.observed[:, None], jnp.maximum(loglik[..., 0], LOGLIK_FLOOR), 0.0)
        average = average_consensus(local_ll, links, rows, table, axis, iters)
        log_w, increment, collapsed = jax.vmap(reweight)(adopted.log_weights, axis.nodes * average)
        log_w, increment, collapsed = from_leader((log_w, increment, collapsed), leaders, axis)
        state = ParticleState(particles, log_w, adopted.log_evidence + increment, adopted.age + 1)
        resampled = jax.vmap(lambda log_w: resample(key_resample, log_w))(state.log_weights)
        state = jax.vmap(resample_state)(state, resampled)
        key_jitter = jax.random.fold_in(key, MOVE_SALT)
        state = jax.vmap(lambda s, r: rejuvenate(key_jitter, s, r, entries, discount))(state, resampled.resampled)
        out = own_prediction(prediction, pred_var, log_pred)
        out.update(log_evidence_increment=increment, ess=resampled.ess, resampled=resampled.resampled,
                   collapsed=collapsed, leader=leaders.astype(jnp.float32))
        degree = live_degree(links, rows)
        floats = degree * (iters * n + rounds * (n + 3)) + stale * n * ssm.dim
        out.update(traffic(degree * (iters + 2 * rounds) + stale, floats))
        return state, out

    return graph_method(network, init_fn, node_step, "dpf-consensus", posterior)
