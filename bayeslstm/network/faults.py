"""Faults: links that fail, nodes that drop out and rejoin.

:func:`with_faults` wraps any network method. At each step it decides which nodes are present
and which edges are up — at random (each edge down with probability ``link_failure``, each
node away with probability ``node_dropout``, independently per step) and/or from schedules —
then:

* the combination weights are recomputed from the live edges (:func:`bayeslstm.network.mixing.live_links`),
  so with the Metropolis rule they stay symmetric and doubly stochastic on what is left;
* an absent node neither learns, relays nor fuses: its labels are treated as unobserved, its
  edges are down and its state is frozen until it rejoins, when it fuses again with its
  neighbours. (Missing data alone — a node that is present but has no label — is
  ``observed=False`` in the stream: that node still relays and fuses.)

The fault draws use their own key (``fold_in(step_key, FAULT_SALT)``), so the method sees the
same keys as in a fault-free run with the same seed. Diagnostics gain ``present`` and
``live_links`` (live neighbours per node).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from ..errors import OptionError, number
from .graph import Network
from .method import NetworkMethod, StepData
from .mixing import live_links

FAULT_SALT = 2**31 - 1


class FaultState(NamedTuple):
    inner: Any  # the wrapped method's state
    step: Array  # int32, steps taken (indexes the schedules)


class Faults(NamedTuple):
    """What can fail. Schedules are (T, E) / (T, K) bool up-states, rows past the end repeat the last."""

    link_failure: float = 0.0
    node_dropout: float = 0.0
    link_schedule: np.ndarray | None = None  # (T, E) over network.graph.edges, True = up
    node_schedule: np.ndarray | None = None  # (T, K), True = present

    @property
    def any(self) -> bool:
        return bool(self.link_failure or self.node_dropout or self.link_schedule is not None or self.node_schedule is not None)


def check_faults(faults: Faults, network: Network | None, nodes: int | None = None) -> Faults:
    """Refuse impossible fault settings before any work."""
    link_failure = number("link_failure", faults.link_failure, float, 0.0, 1.0, high_open=True)
    node_dropout = number("node_dropout", faults.node_dropout, float, 0.0, 1.0, high_open=True)
    if (faults.link_failure or faults.link_schedule is not None) and network is None:
        raise OptionError("link failures need a graph: use a distributed method (dpf, dpf-consensus, dekf, dsgd, dadam)")
    link_schedule = node_schedule = None
    if faults.link_schedule is not None:
        link_schedule = _bool_array("link_schedule", faults.link_schedule)
        edges = network.graph.number_of_edges()
        if link_schedule.ndim != 2 or link_schedule.shape[1] != edges or link_schedule.shape[0] < 1:
            raise OptionError(f"link_schedule must have shape (steps, {edges}) over the graph's edges; got {link_schedule.shape}")
    if faults.node_schedule is not None:
        node_schedule = _bool_array("node_schedule", faults.node_schedule)
        K = nodes if network is None else network.nodes
        if node_schedule.ndim != 2 or (K is not None and node_schedule.shape[1] != K) or node_schedule.shape[0] < 1:
            raise OptionError(f"node_schedule must have shape (steps, {K}); got {node_schedule.shape}")
    return Faults(link_failure, node_dropout, link_schedule, node_schedule)


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

    return NetworkMethod(init, step, method.name, None, lambda state: method.posterior(state.inner))
