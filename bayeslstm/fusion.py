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

Methods whose state has a node axis also carry ``node_step(key, state, data, links, axis)``:
the same step written for the rows of the nodes held here (``axis.index``), reaching other
nodes only through ``axis.gather`` and ``axis.total``. On one device those are the identity;
:mod:`bayeslstm.sharding` runs the very same function under ``jax.shard_map`` with
collectives, so sharded and unsharded runs compute the same numbers.
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


class NodeAxis(NamedTuple):
    """The nodes one program instance holds and how it reaches the others.

    ``index``: (K_here,) global ids of the rows held here; ``nodes``: K in all;
    ``gather``: (K_here, ...) -> (K, ...), every node's value (all-gather or halo exchange);
    ``total``: (K, ...) partial sums -> their sum over all instances (psum);
    ``gather_all``: like ``gather`` but guaranteed complete, for values that travel further
    than one hop (``gather`` may fill only the neighbours' rows).
    """

    index: Array
    nodes: int
    gather: Callable[[Any], Any]
    total: Callable[[Any], Any]
    gather_all: Callable[[Any], Any]


def whole_axis(nodes: int) -> NodeAxis:
    """All nodes in one place: nothing to exchange."""
    same = lambda x: x  # noqa: E731
    return NodeAxis(jnp.arange(nodes), nodes, same, same, same)


class NetworkMethod(NamedTuple):
    """``init(key, K) -> state``; ``step(key, state, data, links=None) -> (state, info)``.

    ``links`` (a :class:`bayeslstm.graph.Links`) overrides the graph's links for this step
    (link and node faults); methods without a graph ignore it. ``node_step`` is the
    row-local form used for sharding (None for methods without a node axis).
    """

    init: Callable[[Array, int], Any]
    step: Callable[..., tuple[Any, dict[str, Array]]]
    name: str
    node_step: Callable[..., tuple[Any, dict[str, Array]]] | None = None


def node_keys(key: Array, nodes: int | Array) -> Array:
    """One key per node: ``fold_in(key, k)`` for k in 0..nodes-1 or in the given global ids."""
    ids = jnp.arange(nodes) if jnp.ndim(nodes) == 0 else nodes
    return jax.vmap(lambda k: jax.random.fold_in(key, k))(ids)


def from_node_step(init: Callable, node_step: Callable, name: str, default_links: Callable[[], Any] | None = None) -> NetworkMethod:
    """A NetworkMethod whose ``step`` runs ``node_step`` on every node at once."""

    def step(key: Array, state, data: StepData, links=None):
        if links is None and default_links is not None:
            links = default_links()
        return node_step(key, state, data, links, whole_axis(data.d.shape[0]))

    return NetworkMethod(init, step, name, node_step)


NODE_CHUNK_BYTES = 4 * 2**20  # CPU: a chunk of nodes' state stays within about this many bytes


def node_map(fn: Callable, *args: Any) -> Any:
    """``jax.vmap(fn)(*args)`` over the leading (node) axis, done in chunks on the CPU.

    One ``vmap`` over K nodes of N particles sweeps K x N weight vectors through every LSTM
    step, which falls out of cache as K grows (time superlinear in K). On the CPU the nodes go
    through ``lax.map`` in chunks whose share of ``args`` is at most :data:`NODE_CHUNK_BYTES`
    (each chunk a ``vmap``), so time stays linear in K; measured in benchmarks/speed.py. Each
    node's numbers are those of the plain ``vmap``. Other backends keep one ``vmap``.
    """
    leaves = jax.tree_util.tree_leaves(args)
    nodes = leaves[0].shape[0]
    per_node = sum(leaf.size * _itemsize(leaf) for leaf in leaves) // max(nodes, 1)
    chunk = max(1, NODE_CHUNK_BYTES // max(per_node, 1))
    if jax.default_backend() != "cpu" or chunk >= nodes:
        return jax.vmap(fn)(*args)
    return jax.lax.map(lambda a: fn(*a), args, batch_size=chunk)


def _itemsize(leaf: Any) -> int:
    if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):  # a key's bytes are its raw words
        words = jax.random.key_data(leaf)
        return words.dtype.itemsize * words.shape[-1]
    return leaf.dtype.itemsize


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

    def node_step(key: Array, state, data: StepData, links, axis: NodeAxis):
        batch = Batch(data.X[:, None], data.mask[:, None], data.d[:, None], data.observed[:, None])
        state, info = node_map(kernel.step, node_keys(key, axis.index), state, batch)
        return state, info_per_node(info, data.d.shape[0])

    return from_node_step(init, node_step, f"{kernel.name}-local")


def centralized(kernel: Kernel) -> NetworkMethod:
    """One kernel conditions on every node's example at every step (the upper reference)."""

    def init(key: Array, nodes: int):
        return kernel.init(key)

    def step(key: Array, state, data: StepData, links=None):
        nodes = data.d.shape[0]
        state, info = kernel.step(key, state, Batch(data.X, data.mask, data.d, data.observed))
        out = {}
        for name, value in info._asdict().items():
            value = jnp.asarray(value)
            out[name] = value if name in PER_ENTRY else jnp.broadcast_to(value, (nodes,))
        return state, out

    return NetworkMethod(init, step, f"{kernel.name}-centralized")
