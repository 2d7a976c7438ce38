"""The distributed Gaussian-sum particle filter (``dgspf``): diffusion per component, exact
consensus on the component weights.

Every node holds C components, each an EKF (:mod:`bayeslstm.kernels.gaussian_sum`), and
component c starts as the same draw at every node, so that it is one hypothesis across the
network. Each step each component adapts on the live neighbours' raw examples, as the DEKF
does, and then its mean becomes the combination of the neighbours' means of the same
component (adapt then combine, component by component). The component weights are the
network's: each node scores every component on its own example (the component's predictive
density, before the update), and each live group of nodes agrees on the sum of those C log
densities (:mod:`bayeslstm.network.agreement`: exactly over a spanning tree of the group by
default, or by L rounds of average consensus), so that every member holds the same weights,
decides the same re-spawns and predicts with the same mixture weights, every present label
counted once. When groups meet again the weights that have absorbed the most labels are kept.
With C = 1 it is the DEKF (with low-rank components, diffusion LoFi).

``robust``, ``fading`` and ``noise_forgetting`` as the Gaussian-sum filter's: each component takes in its neighbours'
labels with Student-t weights, and the group agrees on the components' Student-t log densities
of their own labels as well (they set the weights; the Gaussian ones the evidence); each node
keeps its own alpha, shared by its components and learnt from the labels it adapts on.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import Array

from ..kernels.ekf import student_t_log_density
from ..kernels.gaussian_sum import (
    DEFAULT_COMPONENTS,
    DEFAULT_RESPAWN_BELOW,
    GaussianSumState,
    check_mixture_options,
    component_filter,
    initial_mixture,
    mixture_moments,
    posterior,
    respawn,
    robust_reweight,
    shared_level,
)
from ..kernels.label_noise import DEFAULT_FORGETTING
from ..kernels.lofi import DEFAULT_RANK
from ..kernels.protocol import Batch
from ..kernels.resampling import effective_sample_size
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
from .method import (
    NetworkMethod,
    NodeAxis,
    StepData,
    example_traffic,
    graph_method,
    live_degree,
    neighbour_batch,
    node_keys,
    node_map,
    own_entry,
    own_prediction,
    own_slots,
    traffic,
)
from .mixing import Links, combine


def diffusion_gaussian_sum(ssm: StateSpace, network: Network, num_components: int = DEFAULT_COMPONENTS,
                           covariance: str = "full", init: str = "sample", respawn_below: float = DEFAULT_RESPAWN_BELOW,
                           consensus: str = "exact", consensus_iters: int = DEFAULT_CONSENSUS_ITERS,
                           flood_rounds: int | None = None, rank: int = DEFAULT_RANK, robust: float | None = None,
                           fading: float | None = None, noise_forgetting: float | None = DEFAULT_FORGETTING) -> NetworkMethod:
    """dgspf with ``num_components`` EKF components per node, or LoFi components of rank
    ``rank`` with ``covariance="low-rank"`` (see the module docstring).

    ``consensus``, ``consensus_iters`` and ``flood_rounds`` as the consensus DPF's. Traffic per
    node and step: to each live neighbour the raw example and the C component means (the
    DEKF's with C means); the groups' flood; C + 1 numbers up and down the group's tree (or L C
    per live neighbour with average consensus; C more of each with ``robust``); C + 2 more when
    a node takes its leader's weights.
    """
    count, robust, fading = check_mixture_options(num_components, respawn_below, robust, fading)
    agreement = plan(network, "the distributed Gaussian-sum filter", consensus, consensus_iters, flood_rounds)
    component = component_filter(ssm, covariance, init, rank, robust, noise_forgetting)
    table = agreement.table
    own_slot = own_slots(network)
    shares_examples = example_traffic(count * ssm.dim)  # the raw example and the C means

    def adapt(key: Array, state: GaussianSumState, batch: Batch):
        components = component.state(state.means, state.covs, state.noise, state.level)
        return jax.vmap(component.kernel.step, in_axes=(None, 0, None))(key, components, batch)

    def node_step(key: Array, state: GaussianSumState, data: StepData, links: Links, axis: NodeAxis):
        rows = axis.index
        shared = (state.log_weights, state.log_evidence, state.labels_seen)
        groups, adopted = join_groups(agreement, links, axis, shared, state.labels_seen)
        log_weights, log_evidence, labels_seen = adopted
        stale = changed(log_weights, state.log_weights)
        batch = neighbour_batch(data, links, rows, table, axis)
        updated, info = node_map(adapt, node_keys(key, rows), state, batch)  # info: (K_here, C, B)
        pick = lambda value: own_entry(value, own_slot[rows])  # noqa: E731  (K_here, C)
        prediction, pred_var, log_pred = jax.vmap(mixture_moments)(
            log_weights, pick(info.prediction)[..., None], pick(info.predictive_var)[..., None],
            pick(info.log_pred_density)[..., None])
        scores = own_scores(pick(info.prediction), pick(info.predictive_var), pick(info.log_pred_density), data)
        agreed = agree_on_total(agreement, groups, scores, data.observed, links, rows, axis)
        log_w, increment = jax.vmap(robust_reweight)(log_weights, *agreed.total)
        log_w, increment = from_leader((log_w, increment), groups.leader, axis)
        means, covs = component.parts(updated)
        means = combine(links.weights[rows], table[rows], axis.gather(means))
        level = None if fading is None else jax.vmap(node_level)(state.level, log_weights, batch, info, state.noise)
        new = GaussianSumState(means, covs, log_w, log_evidence + increment, updated.noise, labels_seen + agreed.labels,
                               level)
        ess = jax.vmap(effective_sample_size)(log_w)
        if count > 1:  # the same key and the same weights at every node: the same re-spawns
            new, respawned = jax.vmap(lambda s: respawn(jax.random.fold_in(key, 1), s, respawn_below))(new)
        else:
            respawned = jnp.zeros(rows.shape, jnp.int32)
        messages, floats = shares_examples(data, live_degree(links, rows))
        out = own_prediction(prediction, pred_var, log_pred)
        out.update(log_evidence_increment=increment, ess=ess, respawned=respawned,
                   **group_report(groups, (new.log_weights, new.log_evidence, new.labels_seen)))
        out.update(traffic(messages + agreed.messages + stale, floats + agreed.floats + stale * (count + 2)))
        return new, out

    def node_level(level: Array | None, log_weights: Array, batch: Batch, info, noise) -> Array | None:
        return shared_level(level, fading, log_weights, batch, info, noise, ssm.obs_var)

    def own_scores(prediction: Array, pred_var: Array, log_pred: Array, data: StepData) -> tuple:
        """Each component's log density of the node's own label, (K_here, C): the Gaussian one
        and, with robust, the Student-t one (zero where the node has no label)."""
        observed = data.observed[:, None]
        robust_scores = None if robust is None else jnp.where(
            observed, student_t_log_density(data.d[:, None], prediction, pred_var, robust), 0.0)
        return jnp.where(observed, log_pred, 0.0), robust_scores

    init_fn = start_together(network, lambda key: initial_mixture(component, key, count, fading))
    return graph_method(network, init_fn, node_step, "dgspf", posterior)
