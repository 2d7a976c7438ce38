"""Mixing over the graph: one combination step, consensus, and the live links of a step.

The distributed methods combine values row by row over a padded neighbour table
(:func:`combine`), with the weights of the step's live links (:func:`live_links`: the
graph's, or fewer under faults); :func:`mix` and :func:`consensus` are the dense forms over
all nodes at once.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import GraphError, OptionError
from .graph import Network, neighbour_weight, slot_edges

DENSE_UP_TO = 64


def _as_float(values):
    """A jax array; integer values become the default float dtype so weights do not truncate."""
    values = jnp.asarray(values)
    return values if jnp.issubdtype(values.dtype, jnp.inexact) else values.astype(jnp.result_type(float))


def mix(network: Network, values, dense: bool | None = None):
    """One combination step over the leading node axis: out[k] = sum_l C[l, k] values[l]."""
    values = _as_float(values)
    K = network.nodes
    if values.ndim == 0 or values.shape[0] != K:
        raise GraphError(f"values have shape {values.shape} but the network has {K} nodes; put the node axis first")
    if dense is None:
        dense = K <= DENSE_UP_TO
    if dense:
        return jnp.tensordot(jnp.asarray(network.combination.T, values.dtype), values, axes=1)
    # the padded neighbour table: the same combination the distributed methods use per step
    weights = np.where(network.neighbor_valid, network.neighbor_weights, 0.0)
    return combine(weights, jnp.asarray(network.neighbors), values)


def consensus(network: Network, values, iterations: int, dense: bool | None = None):
    """``iterations`` mixing steps; with a doubly stochastic C every node tends to the network mean."""
    if isinstance(iterations, bool) or not isinstance(iterations, (int, np.integer)) or iterations < 0:
        raise OptionError(f"consensus iterations must be a whole number >= 0, got {iterations!r}")
    values = _as_float(values)
    if iterations == 0:
        return values
    return jax.lax.fori_loop(0, int(iterations), lambda _, v: mix(network, v, dense), values)


class Links(NamedTuple):
    """The links of one step in neighbour-table form (rows: nodes, columns: table slots).

    ``live[k, j]``: slot j of node k takes part in this step's exchange (the self slot of a
    present node always does); ``weights[k, j]``: the weight of that neighbour's value in
    node k's combination, zero for dead slots, each row summing to 1.
    """

    live: jax.Array  # (K, D) bool
    weights: jax.Array  # (K, D)


def live_links(network: Network, edge_up=None, present=None) -> Links:
    """Combination weights recomputed from the live edges, by ``network.rule``.

    ``edge_up`` (E,) bool over ``network.graph.edges`` (default: all up); ``present`` (K,) bool
    (default: all). An edge is live when it is up and both its ends are present. Metropolis
    weights 1 / (1 + max(deg_k, deg_l)) use the live degrees, so C stays symmetric and doubly
    stochastic on whatever subgraph is left; an isolated node keeps its own value (weight 1).
    """
    table = jnp.asarray(network.neighbors)
    K = network.nodes
    is_self = table == jnp.arange(K)[:, None]
    up = jnp.asarray(network.neighbor_valid) & ~is_self
    if edge_up is not None and network.graph.number_of_edges() > 0:
        edges = jnp.asarray(slot_edges(network))
        up = up & jnp.asarray(edge_up, bool)[jnp.maximum(edges, 0)]
    if present is not None:
        present = jnp.asarray(present, bool)
        up = up & present[:, None] & present[table]
    degree = jnp.sum(up, axis=1)
    dtype = jnp.result_type(float)
    neighbour = jnp.where(up, neighbour_weight(network.rule, degree[:, None], degree[table], jnp), 0.0).astype(dtype)
    own = 1.0 - jnp.sum(neighbour, axis=1, keepdims=True)
    # padding slots also point at k itself: only the first self slot carries the own weight
    first_self = is_self & (jnp.cumsum(is_self, axis=1) == 1)
    return Links(up | first_self, jnp.where(first_self, own, neighbour))


def combine(weights, neighbors, values):
    """out[k] = sum_j weights[k, j] values[neighbors[k, j]] for the rows held here.

    ``weights``/``neighbors``: (K_here, D) rows of the link tables; ``values``: (K, ...) every
    node's value (or at least every neighbour's). Dead slots have weight 0 and are masked, so
    non-finite values there cannot leak in.
    """
    values = _as_float(values)
    gathered = values[neighbors]  # (K_here, D, ...)
    w = jnp.asarray(weights, values.dtype).reshape(weights.shape + (1,) * (values.ndim - 1))
    return jnp.sum(jnp.where(w != 0, w * gathered, 0), axis=1)
