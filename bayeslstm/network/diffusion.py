"""Diffusion over a graph, adapt then combine (Cattivelli & Sayed): the diffusion EKF (DEKF),
the diffusion low-rank EKF (DLoFi), the diffusion EnKF (DEnKF) and diffusion SGD/Adam.

Every node runs its kernel's step (adapt), then replaces its estimate by the combination of
its live neighbours' (combine), through :func:`bayeslstm.network.mixing.combine` over the
step's live links (the graph's, or fewer under faults). The scheme is written row-locally
(``node_step``) so :mod:`bayeslstm.network.sharding` runs it over a device mesh unchanged.
Every step reports, per node, the prediction of its own example made before the update and
the communication it cost (``messages`` and ``floats`` sent).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import Array

from ..kernels.enkf import DEFAULT_MEMBERS, EnsembleState
from ..kernels.lofi import DEFAULT_RANK
from ..kernels.protocol import Kernel
from ..model.statespace import StateSpace
from .graph import Network
from .method import (
    NetworkMethod,
    NodeAxis,
    StepData,
    check_nodes,
    example_traffic,
    graph_method,
    info_per_node,
    live_degree,
    neighbour_batch,
    node_keys,
    node_map,
    own_batch,
    own_slots,
)
from .method import (
    traffic as traffic_info,
)
from .mixing import Links, combine


class Estimate(NamedTuple):
    """The part of a kernel's state that diffusion combines: ``read(state) -> value`` and
    ``write(state, value) -> state`` (for one node; they are vmapped over the nodes)."""

    read: Callable[[Any], Array]
    write: Callable[[Any, Array], Any]


def field_estimate(field: str) -> Estimate:
    """The estimate is the state's field ``field`` (the EKF's mean, SGD's theta)."""
    return Estimate(lambda state: getattr(state, field), lambda state, value: state._replace(**{field: value}))


def ensemble_mean(state: EnsembleState) -> Array:
    return jnp.mean(state.members, axis=0)


ENSEMBLE_MEAN = Estimate(ensemble_mean, lambda state, value: state._replace(
    members=state.members - ensemble_mean(state) + value))


def adapt_then_combine(kernel: Kernel, network: Network, estimate: Estimate, use_neighbours_data: bool, traffic,
                       name: str) -> NetworkMethod:
    """Diffusion (Cattivelli & Sayed): every node runs ``kernel.step`` (adapt), then its
    estimate becomes sum_l C_lk psi_l over its live neighbours (combine); the rest of its
    state (a covariance, the ensemble's spread, optimiser moments) stays local.

    ``use_neighbours_data``: adapt on the neighbours' raw examples (incremental update, DEKF)
    or on the node's own only (diffusion SGD). ``traffic(data, degree) -> (messages, floats)``.
    """
    table = jnp.asarray(network.neighbors)
    own_slot = own_slots(network)

    def init_fn(key: Array, nodes: int):
        check_nodes(network, nodes)
        return jax.vmap(kernel.init)(node_keys(key, nodes))

    def node_step(key: Array, state, data: StepData, links: Links, axis: NodeAxis):
        rows = axis.index
        batch = neighbour_batch(data, links, rows, table, axis) if use_neighbours_data else own_batch(data)
        psi, info = node_map(kernel.step, node_keys(key, rows), state, batch)
        mixed = combine(links.weights[rows], table[rows], axis.gather(jax.vmap(estimate.read)(psi)))
        out = info_per_node(info, rows.shape[0], entry=own_slot[rows] if use_neighbours_data else None)
        out.update(traffic_info(*traffic(data, live_degree(links, rows))))
        return jax.vmap(estimate.write)(psi, mixed), out

    return graph_method(network, init_fn, node_step, name, kernel.posterior)


ESTIMATES = {"mean": field_estimate("mean"), "theta": field_estimate("theta"), "ensemble-mean": ENSEMBLE_MEAN}


def diffusion_of(ssm: StateSpace, network: Network, kernel: str, estimate: str = "mean", examples: bool = True,
                 **options: Any) -> NetworkMethod:
    """Diffusion of the registered kernel ``kernel`` (built with ``options``), named ``"d" + kernel``.

    ``estimate``: the state's part that is combined (``"mean"``, ``"theta"`` or
    ``"ensemble-mean"``); ``examples``: adapt on every live neighbour's example, sending the
    raw example and the estimate to each neighbour (the DEKF), or on the node's own only,
    sending the estimate (diffusion SGD). A kernel's distributed form is one registry record
    naming this builder (see :mod:`bayeslstm.methods`).
    """
    from ..methods import REGISTRY, builder

    node_kernel = builder(kernel)(ssm=ssm, **REGISTRY[kernel].bind, **options)
    traffic = example_traffic(ssm.dim) if examples else (lambda data, degree: (degree, degree * ssm.dim))
    return adapt_then_combine(node_kernel, network, ESTIMATES[estimate], examples, traffic, f"d{kernel}")


def diffusion_ekf(ssm: StateSpace, network: Network, covariance: str = "full", init: str = "sample") -> NetworkMethod:
    """DEKF, adapt then combine: EKF updates with every neighbour's example in turn, then
    theta_k = sum_l C_lk psi_l. Covariances stay local (the paper's setting). Traffic: the
    raw example and the estimate, to each neighbour."""
    return diffusion_of(ssm, network, "ekf", covariance=covariance, init=init)


def diffusion_enkf(ssm: StateSpace, network: Network, num_members: int = DEFAULT_MEMBERS, update: str = "sqrt",
                   inflation: float = 1.0) -> NetworkMethod:
    """DEnKF, adapt then combine over ensemble means: each node's ensemble takes the EnKF
    update with every live neighbour's example, then its mean becomes sum_l C_lk of the
    neighbours' means while its members keep their deviations from it. The DEKF's traffic:
    the raw example and the mean, to each neighbour."""
    return diffusion_of(ssm, network, "enkf", "ensemble-mean", num_members=num_members, update=update, inflation=inflation)


def diffusion_gradient(ssm: StateSpace, network: Network, optimizer: str = "sgd", learning_rate: float | None = None) -> NetworkMethod:
    """Diffusion SGD/Adam: psi_k = a step on node k's own loss, theta_k = sum_l C_lk psi_l.
    Optimiser state (Adam's moments) stays local. Traffic: the estimate, to each neighbour."""
    return diffusion_of(ssm, network, optimizer, "theta", examples=False, learning_rate=learning_rate)


def diffusion_lofi(ssm: StateSpace, network: Network, rank: int = DEFAULT_RANK, init: str = "sample") -> NetworkMethod:
    """Diffusion LoFi, adapt then combine as the DEKF: low-rank EKF updates with every live
    neighbour's example, then theta_k = sum_l C_lk psi_l; the low-rank precisions stay local.
    The DEKF's traffic, at a cost per node linear in the number of weights."""
    return diffusion_of(ssm, network, "lofi", rank=rank, init=init)
