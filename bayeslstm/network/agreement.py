"""Agreement over the graph: average consensus, and flooding that makes it exact.

Average consensus (:func:`average_consensus`) mixes each node's value with its live
neighbours' for a number of rounds; with a doubly stochastic combination matrix every node
tends to the network mean, but after finitely many rounds the nodes still disagree in the
last digits. Methods that need every node to hold bit-identical numbers (the consensus DPF's
weights, the Gaussian-sum filter's component weights) then flood: each node learns the
smallest node id in its live component by :func:`elect_leaders` (one integer per neighbour
and round, diameter-many rounds) and takes that leader's numbers (:func:`from_leader`),
which reach it hop by hop in as many rounds. Written row-locally, so they run sharded.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import networkx as nx
from jax import Array

from .graph import Network
from .method import NodeAxis
from .mixing import Links, combine


def diameter(network: Network) -> int:
    """Hops between the two farthest nodes of the graph (of its largest component when it is
    disconnected): the rounds a flood needs to reach every node."""
    graph = network.graph
    return max((nx.diameter(graph.subgraph(c)) for c in nx.connected_components(graph)), default=0)


def average_consensus(values, links: Links, rows: Array, table: Array, axis: NodeAxis, rounds: int):
    """``rounds`` rounds of v_k <- sum_j w_kj v_{n_kj} over each held node's live links
    (``values``: an array or a pytree of arrays with a node axis)."""
    weights, neighbours = links.weights[rows], table[rows]

    def round_(_, v):
        everyone = axis.gather(v)
        return jax.tree_util.tree_map(lambda x: combine(weights, neighbours, x), everyone)

    return jax.lax.fori_loop(0, rounds, round_, values)


def _flood(values: Array, live: Array, neighbours: Array, axis: NodeAxis, rounds: int, smallest: bool) -> Array:
    """``rounds`` rounds of min- (or max-) flooding of one integer per node over live links."""
    info = jnp.iinfo(values.dtype)

    def round_(_, v):
        heard = jnp.where(live, axis.gather(v)[neighbours], info.max if smallest else info.min)
        return jnp.minimum(v, jnp.min(heard, axis=1)) if smallest else jnp.maximum(v, jnp.max(heard, axis=1))

    return jax.lax.fori_loop(0, rounds, round_, values)


def elect_leaders(links: Links, rows: Array, table: Array, axis: NodeAxis, rounds: int, age: Array | None = None) -> Array:
    """Each held node's leader: among the nodes it hears of in ``rounds`` rounds of flooding over
    live links, the smallest id (once ``rounds`` is at least the component's diameter, the same
    leader for the whole live component).

    With ``age`` (the steps each node has taken part in), only the oldest nodes are candidates:
    a node that was away and comes back holds state that missed the steps it was away for,
    and must take the others' state, not hand them its own. Two floods, of the largest age
    and then of the smallest id among the nodes that have it."""
    live, neighbours = links.live[rows], table[rows]
    ids = rows.astype(jnp.int32)
    if age is None:
        return _flood(ids, live, neighbours, axis, rounds, smallest=True)
    age = age.astype(jnp.int32)
    oldest = _flood(age, live, neighbours, axis, rounds, smallest=False)
    candidate = jnp.where(age == oldest, ids, jnp.iinfo(jnp.int32).max)
    return _flood(candidate, live, neighbours, axis, rounds, smallest=True)


def from_leader(values, leaders: Array, axis: NodeAxis):
    """Every held node's copy of its leader's ``values`` (a pytree with a node axis)."""
    return jax.tree_util.tree_map(lambda v: axis.gather_all(v)[leaders], values)
