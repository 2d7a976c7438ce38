"""Cooperation modes: how node-level kernels become a network-level method.

A :class:`NetworkMethod` advances all K nodes by one time step:
``init(key, K) -> state`` and ``step(key, state, data) -> (state, info)`` where ``data`` is a
:class:`StepData` of all nodes' examples and ``info`` a dict of (K,) arrays, among them
``prediction``, ``predictive_var`` and ``log_pred_density`` of each node's own example,
made before the update.

This module has the two references every method exists in: ``local`` (each node alone) and
``centralized`` (one filter sees all nodes' data). Distributed schemes live in
:mod:`bayeslstm.distributed`. Per-node randomness is ``fold_in(key, node)``, so the numbers do
not depend on how nodes are vectorised or sharded.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax import Array

from .kernel import Batch, Kernel

PER_ENTRY = ("prediction", "predictive_var", "log_pred_density")


class StepData(NamedTuple):
    """All nodes' examples at one step: X (K, L, p), mask (K, L), d (K,), observed (K,)."""

    X: Array
    mask: Array
    d: Array
    observed: Array


class NetworkMethod(NamedTuple):
    init: Callable[[Array, int], Any]
    step: Callable[[Array, Any, StepData], tuple[Any, dict[str, Array]]]
    name: str


def node_keys(key: Array, nodes: int) -> Array:
    """One key per node, independent of the node axis' layout."""
    return jax.vmap(lambda k: jax.random.fold_in(key, k))(jnp.arange(nodes))


def info_per_node(info: Any, nodes: int, entry: Array | None = None) -> dict[str, Array]:
    """Kernel info -> dict of (K,) arrays. ``entry`` picks each node's own batch entry."""
    out = {}
    for name, value in info._asdict().items():
        value = jnp.asarray(value)
        if name in PER_ENTRY:
            value = value[..., 0] if entry is None else jnp.take_along_axis(value, entry[:, None], axis=-1)[:, 0]
        out[name] = jnp.broadcast_to(value, (nodes,) + value.shape[1:]) if value.ndim == 0 else value
    return out


def local(kernel: Kernel) -> NetworkMethod:
    """Each node runs its own kernel on its own data; nothing is exchanged."""

    def init(key: Array, nodes: int):
        return jax.vmap(kernel.init)(node_keys(key, nodes))

    def step(key: Array, state, data: StepData):
        nodes = data.d.shape[0]
        batch = Batch(data.X[:, None], data.mask[:, None], data.d[:, None], data.observed[:, None])
        state, info = jax.vmap(kernel.step)(node_keys(key, nodes), state, batch)
        return state, info_per_node(info, nodes)

    return NetworkMethod(init, step, f"{kernel.name}-local")


def centralized(kernel: Kernel) -> NetworkMethod:
    """One kernel conditions on every node's example at every step (the upper reference)."""

    def init(key: Array, nodes: int):
        return kernel.init(key)

    def step(key: Array, state, data: StepData):
        nodes = data.d.shape[0]
        state, info = kernel.step(key, state, Batch(data.X, data.mask, data.d, data.observed))
        out = {}
        for name, value in info._asdict().items():
            value = jnp.asarray(value)
            out[name] = value if name in PER_ENTRY else jnp.broadcast_to(value, (nodes,))
        return state, out

    return NetworkMethod(init, step, f"{kernel.name}-centralized")
