"""Diffusion over a graph, adapt then combine (Cattivelli & Sayed): the diffusion EKF (DEKF)
and diffusion SGD/Adam.

Every node runs its kernel's step (adapt), then replaces its estimate by the combination of
its live neighbours' (combine), through :func:`bayeslstm.network.mixing.combine` over the
step's live links (the graph's, or fewer under faults). The scheme is written row-locally
(``node_step``) so :mod:`bayeslstm.network.sharding` runs it over a device mesh unchanged.
Every step reports, per node, the prediction of its own example made before the update and
the communication it cost (``messages`` and ``floats`` sent).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from ..kernels.ekf import extended_kalman_filter
from ..kernels.gradient import gradient_descent
from ..kernels.protocol import Batch, Kernel
from ..model.statespace import StateSpace
from .graph import Network
from .method import (
    NetworkMethod, NodeAxis, StepData, check_nodes, graph_method, info_per_node, live_degree, node_keys, node_map,
    own_batch, traffic as traffic_info,
)
from .mixing import Links, combine


def adapt_then_combine(kernel: Kernel, network: Network, field: str, use_neighbours_data: bool, traffic, name: str) -> NetworkMethod:
    """Diffusion (Cattivelli & Sayed): every node runs ``kernel.step`` (adapt), then its
    estimate ``state.<field>`` becomes sum_l C_lk psi_l over its live neighbours (combine).

    ``use_neighbours_data``: adapt on the neighbours' raw examples (incremental update, DEKF)
    or on the node's own only (diffusion SGD). ``traffic(data, degree) -> (messages, floats)``.
    """
    table = jnp.asarray(network.neighbors)
    own_slot = jnp.asarray((network.neighbors == np.arange(network.nodes)[:, None]).argmax(axis=1))

    def init_fn(key: Array, nodes: int):
        check_nodes(network, nodes)
        return jax.vmap(kernel.init)(node_keys(key, nodes))

    def node_step(key: Array, state, data: StepData, links: Links, axis: NodeAxis):
        rows = axis.index
        neighbours = table[rows]
        if use_neighbours_data:
            everyone = axis.gather(data)
            valid = links.live[rows] & everyone.observed[neighbours]
            batch = Batch(everyone.X[neighbours], everyone.mask[neighbours], everyone.d[neighbours], valid)
        else:
            batch = own_batch(data)
        psi, info = node_map(kernel.step, node_keys(key, rows), state, batch)
        mixed = combine(links.weights[rows], neighbours, axis.gather(getattr(psi, field)))
        out = info_per_node(info, rows.shape[0], entry=own_slot[rows] if use_neighbours_data else None)
        out.update(traffic_info(*traffic(data, live_degree(links, rows))))
        return psi._replace(**{field: mixed}), out

    return graph_method(network, init_fn, node_step, name, kernel.posterior)


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
