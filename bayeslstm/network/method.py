"""The network-level method: what advances all K nodes by one time step.

A :class:`NetworkMethod` has ``init(key, K) -> state`` and ``step(key, state, data) ->
(state, info)`` where ``data`` is a :class:`StepData` of all nodes' examples and ``info`` a
dict of (K,) arrays, among them ``prediction``, ``predictive_var`` and ``log_pred_density``
of each node's own example, made before the update. Its ``posterior`` reads the state's
posterior over theta, as a kernel's does (:mod:`bayeslstm.kernels.protocol`).

Methods whose state has a node axis also carry ``node_step(key, state, data, links, axis)``:
the same step written for the rows of the nodes held here (``axis.index``), reaching other
nodes only through ``axis.gather`` and ``axis.total``. On one device those are the identity;
:mod:`bayeslstm.network.sharding` runs the very same function under ``jax.shard_map`` with
collectives, so sharded and unsharded runs compute the same numbers. Per-node randomness is
``fold_in(key, node)``, so the numbers do not depend on how nodes are vectorised or sharded.

The two references every method exists in, ``local`` and ``centralized``, are in
:mod:`bayeslstm.network.references`; the distributed schemes in their own modules.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from ..errors import GraphError
from ..kernels.protocol import Batch, PosteriorFn, no_posterior
from .graph import Network
from .mixing import Links, live_links

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

    index: Array  # type: ignore[assignment]  # the field hides tuple.index, as NamedTuple fields may
    nodes: int
    gather: Callable[[Any], Any]
    total: Callable[[Any], Any]
    gather_all: Callable[[Any], Any]


def whole_axis(nodes: int) -> NodeAxis:
    """All nodes in one place: nothing to exchange."""
    same = lambda x: x  # noqa: E731
    return NodeAxis(jnp.arange(nodes), nodes, same, same, same)


class NetworkInitFn(Protocol):
    def __call__(self, key: Array, nodes: int) -> Any:
        """The network's state before any data."""


class NetworkStepFn(Protocol):
    def __call__(self, key: Array, state: Any, data: StepData, links: Links | None = None) -> tuple[Any, dict[str, Array]]:
        """Every node predicts its example, then learns (and exchanges with its neighbours)."""


class NodeStepFn(Protocol):
    def __call__(self, key: Array, state: Any, data: StepData, links: Links,
                 axis: NodeAxis) -> tuple[Any, dict[str, Array]]:
        """The step for the rows of the nodes held here (``axis.index``); a method without a
        graph is given no links and ignores them."""


class NetworkMethod(NamedTuple):
    """``init(key, K) -> state``; ``step(key, state, data, links=None) -> (state, info)``.

    ``links`` (a :class:`bayeslstm.network.mixing.Links`) overrides the graph's links for this
    step (link and node faults); methods without a graph ignore it. ``node_step`` is the
    row-local form used for sharding (None for methods without a node axis); ``posterior``
    reads the state's posterior over theta (per node where the state has a node axis);
    ``label_sites`` reads the static sites that set the label variance from one filter's
    posterior form's ``label_var`` (set by :func:`bayeslstm.engine.learnt.track_static_sites`).
    """

    init: NetworkInitFn
    step: NetworkStepFn
    name: str
    node_step: NodeStepFn | None = None
    posterior: PosteriorFn = no_posterior
    label_sites: Callable[[Any], dict] | None = None  # one filter's form -> the sites that set r, from its label_var


def node_keys(key: Array, nodes: int | Array) -> Array:
    """One key per node: ``fold_in(key, k)`` for k in 0..nodes-1 or in the given global ids."""
    ids = jnp.arange(nodes) if jnp.ndim(nodes) == 0 else nodes
    return jax.vmap(lambda k: jax.random.fold_in(key, k))(ids)


def from_node_step(init: NetworkInitFn, node_step: NodeStepFn, name: str, posterior: PosteriorFn = no_posterior,
                   default_links: Callable[[], Any] | None = None) -> NetworkMethod:
    """A NetworkMethod whose ``step`` runs ``node_step`` on every node at once."""

    def step(key: Array, state, data: StepData, links=None):
        if links is None and default_links is not None:
            links = default_links()
        return node_step(key, state, data, links, whole_axis(data.d.shape[0]))

    return NetworkMethod(init, step, name, node_step, posterior)


def graph_method(network: Network, init: NetworkInitFn, node_step: NodeStepFn, name: str,
                 posterior: PosteriorFn = no_posterior) -> NetworkMethod:
    """A distributed method over ``network``: its default links are the graph's, all up."""
    return from_node_step(init, node_step, name, posterior, lambda: live_links(network))


def check_nodes(network: Network, nodes: int) -> None:
    """Refuse data whose node count is not the graph's."""
    if nodes != network.nodes:
        raise GraphError(f"the graph has {network.nodes} nodes but the data has {nodes}")


def own_batch(data: StepData) -> Batch:
    """Each node's own example as a batch of one: (K, 1, ...)."""
    return Batch(data.X[:, None], data.mask[:, None], data.d[:, None], data.observed[:, None])


def neighbour_batch(data: StepData, links: Links, rows: Array, table: Array, axis: NodeAxis) -> Batch:
    """Each held node's batch of its neighbours' examples, (K_here, D, ...) in neighbour-table
    order; a slot counts when its link is live and its node has a label."""
    neighbours = table[rows]
    everyone = axis.gather(data)
    valid = links.live[rows] & everyone.observed[neighbours]
    return Batch(everyone.X[neighbours], everyone.mask[neighbours], everyone.d[neighbours], valid)


def own_slots(network: Network) -> Array:
    """(K,) each node's own slot in its row of the neighbour table (where its own example sits
    in :func:`neighbour_batch`)."""
    return jnp.asarray((network.neighbors == np.arange(network.nodes)[:, None]).argmax(axis=1))


def own_entry(value: Array, slots: Array) -> Array:
    """Each node's entry ``slots[k]`` along the last axis of ``value`` (K_here, ..., B)."""
    return jnp.take_along_axis(value, slots.reshape(slots.shape + (1,) * (value.ndim - 1)), axis=-1)[..., 0]


def example_traffic(dim: int) -> Callable[[StepData, Array], tuple[Array, Array]]:
    """The traffic of sharing raw examples: to each live neighbour the example (sequence and
    label) and ``dim`` numbers, in two messages. ``traffic(data, degree) -> (messages, floats)``."""
    def traffic(data: StepData, degree: Array) -> tuple[Array, Array]:
        example = jnp.sum(data.mask, axis=1) * data.X.shape[-1] + 1.0
        return 2 * degree, degree * (example + dim)

    return traffic


def traffic(messages: Array, floats: Array) -> dict[str, Array]:
    """The diagnostics every distributed method reports: messages and floats sent per node."""
    return {"messages": jnp.asarray(messages, jnp.float32), "floats": jnp.asarray(floats, jnp.float32)}


def live_degree(links: Links, rows: Array) -> Array:
    """Live neighbours of each node held here, itself not counted."""
    return jnp.sum(links.live[rows], axis=1).astype(jnp.float32) - 1.0


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
    """Kernel info -> dict of (K,) arrays (an optional field left None is not reported).
    ``entry`` picks each node's own batch entry."""
    out = {}
    for name, value in info._asdict().items():
        if value is None:
            continue
        value = jnp.asarray(value)
        if name in PER_ENTRY:
            value = value[..., 0] if entry is None else own_entry(value, entry)
        out[name] = jnp.broadcast_to(value, (nodes,) + value.shape[1:]) if value.ndim == 0 else value
    return out


def own_prediction(prediction: Array, pred_var: Array, log_pred: Array) -> dict[str, Array]:
    """Each node's prediction of its own example (entry 0 of its (K, 1) outputs)."""
    return {"prediction": prediction[:, 0], "predictive_var": pred_var[:, 0], "log_pred_density": log_pred[:, 0]}
