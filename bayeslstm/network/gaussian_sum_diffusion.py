"""The distributed Gaussian-sum particle filter (``dgspf``): diffusion per component, exact
consensus on the component weights.

Every node holds C components, each an EKF (:mod:`bayeslstm.kernels.gaussian_sum`). Each
step each component adapts on the live neighbours' raw examples, as the DEKF does, and then
its mean becomes the combination of the neighbours' means of the same component
(adapt then combine, component by component). The component weights are the network's: each
node scores every component on its own example (the component's predictive density, before
the update), the nodes average those C log densities by L rounds of consensus, K times the
average is the centralized increment, and the nodes then take their leader's weights (see
:mod:`bayeslstm.network.agreement`) so that every node holds the same weights, decides the
same re-spawns and predicts with the same mixture weights. With C = 1 it is the DEKF (with
low-rank components, diffusion LoFi).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from ..errors import number
from ..kernels.gaussian_sum import (
    DEFAULT_COMPONENTS, DEFAULT_RESPAWN_BELOW, GaussianSumState, check_mixture_options, component_filter, initial_mixture,
    mixture_moments, posterior, respawn, reweight_components,
)
from ..kernels.lofi import DEFAULT_RANK
from ..kernels.protocol import Batch
from ..kernels.resampling import effective_sample_size
from ..model.statespace import StateSpace
from .agreement import average_consensus, diameter, elect_leaders, from_leader
from .graph import Network, require_doubly_stochastic
from .method import NetworkMethod, NodeAxis, StepData, check_nodes, graph_method, live_degree, node_keys, node_map, traffic
from .mixing import Links, combine


def diffusion_gaussian_sum(ssm: StateSpace, network: Network, num_components: int = DEFAULT_COMPONENTS,
                           covariance: str = "full", init: str = "sample", respawn_below: float = DEFAULT_RESPAWN_BELOW,
                           consensus_iters: int = 20, flood_rounds: int | None = None,
                           rank: int = DEFAULT_RANK) -> NetworkMethod:
    """dgspf with ``num_components`` EKF components per node, or LoFi components of rank
    ``rank`` with ``covariance="low-rank"`` (see the module docstring).

    Traffic per live neighbour and step: the raw example and the C component means (the
    DEKF's with C means), L C numbers of consensus, and per flood round the leader's id, its
    C weights and its evidence increment.
    """
    count = check_mixture_options(num_components, respawn_below)
    require_doubly_stochastic(network, "the distributed Gaussian-sum filter")
    iters = number("consensus_iters", consensus_iters, int, 0)
    rounds = diameter(network) if flood_rounds is None else number("flood_rounds", flood_rounds, int, 0)
    component = component_filter(ssm, covariance, init, rank)
    table = jnp.asarray(network.neighbors)
    own_slot = jnp.asarray((network.neighbors == np.arange(network.nodes)[:, None]).argmax(axis=1))

    def init_fn(key: Array, nodes: int) -> GaussianSumState:
        check_nodes(network, nodes)
        mixtures = jax.vmap(lambda k: initial_mixture(component, k, count))(node_keys(key, nodes))
        return mixtures._replace(age=jnp.zeros((nodes,), jnp.int32))

    def adapt(key: Array, state: GaussianSumState, batch: Batch):
        components = component.state(state.means, state.covs, state.noise)
        return jax.vmap(component.kernel.step, in_axes=(None, 0, None))(key, components, batch)

    def node_step(key: Array, state: GaussianSumState, data: StepData, links: Links, axis: NodeAxis):
        rows = axis.index
        neighbours = table[rows]
        everyone = axis.gather(data)
        valid = links.live[rows] & everyone.observed[neighbours]
        batch = Batch(everyone.X[neighbours], everyone.mask[neighbours], everyone.d[neighbours], valid)
        updated, info = node_map(adapt, node_keys(key, rows), state, batch)  # info: (K_here, C, B)
        own = own_slot[rows][:, None, None]
        pick = lambda value: jnp.take_along_axis(value, own, axis=-1)[..., 0]  # noqa: E731  (K_here, C)
        prediction, pred_var, log_pred = jax.vmap(mixture_moments)(
            state.log_weights, pick(info.prediction)[..., None], pick(info.predictive_var)[..., None],
            pick(info.log_pred_density)[..., None])
        local = jnp.where(data.observed[:, None], pick(info.log_pred_density), 0.0)
        average = average_consensus(local, links, rows, table, axis, iters)
        log_w, increment = jax.vmap(reweight_components)(state.log_weights, axis.nodes * average)
        leaders = elect_leaders(links, rows, table, axis, rounds, state.age)
        log_w, increment = from_leader((log_w, increment), leaders, axis)
        means, covs = component.parts(updated)
        means = combine(links.weights[rows], neighbours, axis.gather(means))
        new = GaussianSumState(means, covs, log_w, state.log_evidence + increment, updated.noise, state.age + 1)
        ess = jax.vmap(effective_sample_size)(log_w)
        if count > 1:  # the same key and the same weights at every node: the same re-spawns
            new, respawned = jax.vmap(lambda s: respawn(jax.random.fold_in(key, 1), s, respawn_below))(new)
        else:
            respawned = jnp.zeros(rows.shape, jnp.int32)
        degree = live_degree(links, rows)
        example = jnp.sum(data.mask, axis=1) * data.X.shape[-1] + 1.0
        floats = degree * (example + count * ssm.dim + iters * count + rounds * (count + 3))
        out = {"prediction": prediction[:, 0], "predictive_var": pred_var[:, 0], "log_pred_density": log_pred[:, 0],
               "log_evidence_increment": increment, "ess": ess, "respawned": respawned}
        out.update(traffic(degree * (2 + iters + 2 * rounds), floats))
        return new, out

    return graph_method(network, init_fn, node_step, "dgspf", posterior)
