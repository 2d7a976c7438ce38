"""Faults: links that fail, nodes that drop out and rejoin, partitions that heal.

:func:`with_faults` wraps any network method. At each step it decides which nodes are present
and which edges are up — at random (each edge down with probability ``link_failure``, each
node away with probability ``node_dropout``, independently per step), from schedules, and
from scheduled partitions (every edge between a set of nodes and the rest down for a span of
steps) — then:

* the combination weights are recomputed from the live edges (:func:`bayeslstm.network.mixing.live_links`),
  so with the Metropolis rule they stay symmetric and doubly stochastic on what is left;
* an absent node neither learns, relays nor fuses: its labels are treated as unobserved, its
  edges are down and its state is frozen until it rejoins, when it fuses again with its
  neighbours. (Missing data alone — a node that is present but has no label — is
  ``observed=False`` in the stream: that node still relays and fuses.)

The present nodes and live edges of a step form the live graph; its connected components are
the live groups (:func:`live_groups` computes them with networkx, for checking a run). The
fault draws use their own key (``fold_in(step_key, FAULT_SALT)``), so the method sees the
same keys as in a fault-free run with the same seed. Diagnostics gain ``present`` and
``live_links`` (live neighbours per node).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import networkx as nx
import numpy as np
from jax import Array

from ..errors import OptionError, number
from ..methods import distributed_names
from .graph import Network
from .method import NetworkMethod, StepData
from .mixing import live_links

FAULT_SALT = 2**31 - 1
LINK_FAULTS = ("link_failure", "link_schedule", "partition")  # the fault options that need a graph


class FaultState(NamedTuple):
    inner: Any  # the wrapped method's state
    step: Array  # int32, steps taken (indexes the schedules)


class Partition(NamedTuple):
    """Every edge between ``nodes`` and the other nodes is down at steps ``start`` to ``stop - 1``."""

    start: int
    stop: int
    nodes: tuple[int, ...]


class Faults(NamedTuple):
    """What can fail. Schedules are (T, E) / (T, K) bool up-states, rows past the end repeat the
    last; ``partition`` is one :class:`Partition` (or a ``(start, stop, nodes)`` tuple) or a list of them."""

    link_failure: float = 0.0
    node_dropout: float = 0.0
    link_schedule: np.ndarray | None = None  # (T, E) over network.graph.edges, True = up
    node_schedule: np.ndarray | None = None  # (T, K), True = present
    partition: Any = None

    @property
    def any(self) -> bool:
        return bool(self.link_failure or self.node_dropout or self.link_schedule is not None
                    or self.node_schedule is not None or self.partition is not None)


def require_graph(what: str, network: Network | None) -> Network:
    """``network``, or an error that ``what`` (an option or a method, named as the user wrote
    it) needs a graph, when there is none."""
    if network is None:
        raise OptionError(f"{what} needs a graph (graph=..., --graph), which only the distributed methods have: "
                          f"{', '.join(distributed_names())}")
    return network


def check_faults(faults: Faults, network: Network | None, nodes: int | None = None) -> Faults:
    """Refuse impossible fault settings before any work."""
    link_failure = number("link_failure", faults.link_failure, float, 0.0, 1.0, high_open=True)
    node_dropout = number("node_dropout", faults.node_dropout, float, 0.0, 1.0, high_open=True)
    asked = (link_failure > 0, faults.link_schedule is not None, faults.partition is not None)
    needs_links = [name for name, on in zip(LINK_FAULTS, asked) if on]
    link_schedule = node_schedule = None
    if needs_links:
        require_graph(needs_links[0], network)
    if faults.link_schedule is not None:
        link_schedule = _bool_array("link_schedule", faults.link_schedule)
        edges = require_graph("link_schedule", network).graph.number_of_edges()
        if link_schedule.ndim != 2 or link_schedule.shape[1] != edges or link_schedule.shape[0] < 1:
            raise OptionError(f"link_schedule must have shape (steps, {edges}) over the graph's edges; got {link_schedule.shape}")
    if faults.node_schedule is not None:
        node_schedule = _bool_array("node_schedule", faults.node_schedule)
        K = nodes if network is None else network.nodes
        if node_schedule.ndim != 2 or (K is not None and node_schedule.shape[1] != K) or node_schedule.shape[0] < 1:
            raise OptionError(f"node_schedule must have shape (steps, {K}); got {node_schedule.shape}")
    partitions = None if faults.partition is None else _partitions(faults.partition, require_graph("partition", network).nodes)
    return Faults(link_failure, node_dropout, link_schedule, node_schedule, partitions)


def _partitions(value, nodes: int) -> tuple[Partition, ...]:
    """``partition`` as a tuple of checked :class:`Partition`."""
    one = isinstance(value, Partition) or (isinstance(value, (tuple, list)) and len(value) == 3
                                           and not isinstance(value[0], (tuple, list)))
    entries = [value] if one else value
    if isinstance(entries, (str, bytes)) or not isinstance(entries, (tuple, list)) or not entries:
        raise OptionError(f"partition must be (start, stop, nodes) or a list of them; got {value!r}")
    checked = []
    for entry in entries:
        try:
            start, stop, side = entry
        except (TypeError, ValueError):
            raise OptionError(f"partition must be (start, stop, nodes) or a list of them; got {entry!r}") from None
        start, stop = number("partition", start, int, 0), number("partition", stop, int, 0)
        if stop <= start:
            raise OptionError(f"partition must end after it starts (start < stop); got start {start}, stop {stop}")
        side = [side] if isinstance(side, (int, np.integer)) or not hasattr(side, "__iter__") else list(side)
        bad = [k for k in side if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k < nodes]
        if bad:
            raise OptionError(f"partition must name nodes of the graph (0 to {nodes - 1}); got {bad}")
        if not side or len(set(side)) == nodes:
            raise OptionError(f"partition must cut off some of the {nodes} nodes, not none or all; got {sorted(set(side))}")
        checked.append(Partition(start, stop, tuple(sorted(set(int(k) for k in side)))))
    return tuple(checked)


def cut_edges(network: Network, partition: Partition) -> np.ndarray:
    """(E,) bool: the edges (in ``network.graph.edges`` order) that ``partition`` cuts, those
    with one end among its nodes and the other outside; they are down while it lasts."""
    side = np.zeros(network.nodes, bool)
    side[list(partition.nodes)] = True
    return np.array([side[u] != side[v] for u, v in network.graph.edges], bool)


def live_groups(network: Network, edge_up: Sequence[bool] | None = None, present: Sequence[bool] | None = None
                ) -> list[set[int]]:
    """The live groups of one step (networkx): the connected components of the present nodes
    and the up edges between them; an absent node is not in any group."""
    here = np.ones(network.nodes, bool) if present is None else np.asarray(present, bool)
    up = np.ones(network.graph.number_of_edges(), bool) if edge_up is None else np.asarray(edge_up, bool)
    live = nx.Graph()
    live.add_nodes_from(int(k) for k in np.flatnonzero(here))
    live.add_edges_from((u, v) for (u, v), on in zip(network.graph.edges, up) if on and here[u] and here[v])
    return [set(group) for group in nx.connected_components(live)]


def _bool_array(name: str, value) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype != bool and not (np.issubdtype(array.dtype, np.number) and np.isin(array, (0, 1)).all()):
        raise OptionError(f"{name} must hold booleans (True = up / present); got dtype {array.dtype}")
    return array.astype(bool)


def _row(schedule: np.ndarray, t: Array) -> Array:
    return jnp.asarray(schedule)[jnp.minimum(t, schedule.shape[0] - 1)]


def with_faults(method: NetworkMethod, network: Network | None, faults: Faults) -> NetworkMethod:
    """``method`` under ``faults`` (see the module docstring). A no-fault ``faults`` returns it unchanged."""
    faults = check_faults(faults, network)
    if not faults.any:
        return method
    per_node_state = method.node_step is not None
    partitions = faults.partition or ()
    cuts = [jnp.asarray(cut_edges(require_graph("partition", network), p)) for p in partitions]

    def init(key: Array, nodes: int) -> FaultState:
        return FaultState(method.init(key, nodes), jnp.zeros((), jnp.int32))

    def step(key: Array, state: FaultState, data: StepData, links=None):
        K = data.d.shape[0]
        key_nodes, key_links = jax.random.split(jax.random.fold_in(key, FAULT_SALT))
        present = jnp.ones(K, bool)
        if faults.node_dropout:
            present &= jax.random.uniform(key_nodes, (K,)) >= faults.node_dropout
        if faults.node_schedule is not None:
            present &= _row(faults.node_schedule, state.step)
        if network is not None:
            edge_up = jnp.ones(network.graph.number_of_edges(), bool)
            if faults.link_failure:
                edge_up &= jax.random.uniform(key_links, edge_up.shape) >= faults.link_failure
            if faults.link_schedule is not None:
                edge_up &= _row(faults.link_schedule, state.step)
            for partition, cut in zip(partitions, cuts):
                during = (state.step >= partition.start) & (state.step < partition.stop)
                edge_up &= ~(cut & during)
            links = live_links(network, edge_up, present)
        data = data._replace(observed=data.observed & present)
        inner, info = method.step(key, state.inner, data, links)
        if per_node_state:  # an absent node keeps what it had
            inner = jax.tree_util.tree_map(
                lambda new, old: jnp.where(present.reshape((K,) + (1,) * (new.ndim - 1)), new, old), inner, state.inner
            )
        info = dict(info, present=present)
        if links is not None:
            info["live_links"] = jnp.sum(links.live, axis=1).astype(jnp.float32) - 1.0
        return FaultState(inner, state.step + 1), info

    return NetworkMethod(init, step, method.name, None, lambda state: method.posterior(state.inner), method.label_sites)
