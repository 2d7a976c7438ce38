"""The likelihood-consensus distributed particle filter (``dpf-consensus``), made exact.

Every node holds the same particles: they start from one shared draw and move with shared
keys. Each step the nodes compute their local log-likelihood vectors over the particles, and
each live group of nodes (:mod:`bayeslstm.network.agreement`) agrees on their sum: exactly,
over a spanning tree of the group (``consensus="exact"``, the default), or by L rounds of
average consensus times the group's size (``consensus="average"``, the paper's form, after
which the leader's estimate is flooded so that the members still agree bit for bit). Every
member then reweights, decides to resample and resamples from the same numbers with the same
shared key, and holds bit-identical particles and weights after every step. Where the
filter integrates the label variance r out, the group agrees on the sum of the particles'
squared residuals instead (the same N numbers), from which every member computes each
particle's marginal likelihood and its new posterior of r.

Under faults each live group is a centralized particle filter over its own labels: every
present label is counted once, whatever the group's size, and a node with no live link learns
from its own label alone. When groups meet again the state that has absorbed the most labels
is kept (ties: the smallest leader id), so a node back from being away, or one that was cut
off, takes the larger group's particles instead of imposing its own.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import Array

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
    resample_state,
    reweight,
)
from ..kernels.resampling import adaptive, get_scheme
from ..model.statespace import StateSpace
from .agreement import (
    DEFAULT_CONSENSUS_ITERS,
    agree_on_total,
    changed,
    from_leader,
    group_report,
    join_groups,
    plan,
    start_together,
)
from .graph import Network
from .method import NetworkMethod, NodeAxis, StepData, graph_method, node_map, own_batch, own_prediction, traffic
from .mixing import Links


def consensus_particle_filter(
    ssm: StateSpace,
    network: Network,
    num_particles: int = DEFAULT_PARTICLES,
    consensus: str = "exact",
    consensus_iters: int = DEFAULT_CONSENSUS_ITERS,
    resampling: str = "systematic",
    ess_threshold: float = 0.5,
    move: str = "auto",
    discount: float = DEFAULT_DISCOUNT,
    flood_rounds: int | None = None,
) -> NetworkMethod:
    """Likelihood-consensus DPF with exact agreement inside each live group (see the module
    docstring).

    ``consensus="exact"`` sums the group's log-likelihood vectors over a spanning tree of the
    group; ``"average"`` runs ``consensus_iters`` (L) rounds of average consensus. The groups are
    found by flooding until nothing changes, or for ``flood_rounds`` rounds when given (too few
    leave wide groups in disagreement). ``move="liu-west"`` rejuvenates the particles after each
    resampling, with the shared key. Traffic per node and step: the flood's messages of 3
    numbers; exact: N + 1 numbers to its parent in the tree and to each of its children;
    average: L N numbers per live neighbour and the leader's N + 1 to each child; N (dim + 1) + 2
    more when a node takes its leader's particles and weights.
    """
    n = check_particle_options(num_particles, resampling, ess_threshold, move, discount)
    agreement = plan(network, "the likelihood-consensus DPF", consensus, consensus_iters, flood_rounds)
    resample = adaptive(get_scheme(resampling), ess_threshold)
    entries = moved_entries(ssm, move)

    def node_step(key: Array, state: ParticleState, data: StepData, links: Links, axis: NodeAxis):
        rows = axis.index
        groups, adopted = join_groups(agreement, links, axis, state, state.labels_seen)
        stale = changed((adopted.particles, adopted.log_weights, adopted.noise), (state.particles, state.log_weights, state.noise))
        key_move, key_resample = jax.random.split(key)  # shared by every node
        own = own_batch(data)
        particles, (mean, var, loglik) = node_map(lambda p, b: move_and_observe(ssm, key_move, p, b), adopted.particles, own)
        var, loglik, _ = jax.vmap(integrate_noise)(adopted.noise, mean, var, loglik, own)
        prediction, pred_var, log_pred = jax.vmap(mixture_prediction)(adopted.log_weights, mean, var, loglik)
        if adopted.noise is None:  # the group agrees on the sum of its log likelihoods
            local = jnp.where(data.observed[:, None], jnp.maximum(loglik[..., 0], LOGLIK_FLOOR), 0.0)
        else:  # r integrated out: on the sum of its squared residuals, the statistic of r's posterior
            local = jnp.where(data.observed[:, None], capped_squares(own.d[:, None, :], mean)[..., 0], 0.0)
        agreed = agree_on_total(agreement, groups, local, data.observed, links, rows, axis)
        noise, total = adopted.noise, agreed.total
        if noise is not None:
            count = agreed.labels.astype(local.dtype)[:, None]
            total = marginal_log_likelihood(noise, agreed.total, count)
            noise = NoiseState(noise.shape + 0.5 * count, noise.rate + 0.5 * agreed.total)
        log_w, increment, collapsed = jax.vmap(reweight)(adopted.log_weights, total)
        log_w, increment, collapsed, noise = from_leader((log_w, increment, collapsed, noise), groups.leader, axis)
        state = ParticleState(particles, log_w, adopted.log_evidence + increment, adopted.labels_seen + agreed.labels,
                              noise)
        resampled = jax.vmap(lambda log_w: resample(key_resample, log_w))(state.log_weights)
        state = jax.vmap(resample_state)(state, resampled)
        key_jitter = jax.random.fold_in(key, MOVE_SALT)
        state = jax.vmap(lambda s, r: rejuvenate(key_jitter, s, r, entries, discount))(state, resampled.resampled)
        out = own_prediction(prediction, pred_var, log_pred)
        out.update(log_evidence_increment=increment, ess=resampled.ess, resampled=resampled.resampled,
                   collapsed=collapsed, **group_report(groups, state))
        carried = n * (ssm.dim + 1 + (0 if state.noise is None else 2)) + 2  # particles, weights (r's posteriors), 2 counts
        out.update(traffic(agreed.messages + stale, agreed.floats + stale * carried))
        return state, out

    init_fn = start_together(network, lambda key: init_particles(ssm, key, n))
    return graph_method(network, init_fn, node_step, "dpf-consensus", posterior)
