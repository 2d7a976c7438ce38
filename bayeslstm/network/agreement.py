"""Agreement inside the live groups of a step: leaders, exact sums, average consensus.

At each step the present nodes and working links form a live graph, which may split into
connected groups. Methods whose nodes must hold identical numbers (the consensus DPF's
weights, the consensus EnKF's sums, the distributed Gaussian sum's component weights) agree
inside each group, whatever its width:

1. :func:`find_groups`: every node floods the triple (priority, id, hops) over its live links,
   sending it when it changes, until no node's triple changes (never more than K rounds: no
   group is wider than K - 1 hops). The largest priority wins, then the smallest id; the hops
   count the distance to the winner. Each node ends with its group's leader, its depth in the
   breadth-first tree rooted at the leader and its parent there (the neighbour one hop closer
   with the smallest id).
2. :func:`group_sum`: the exact sum of the members' values, by a convergecast up that tree
   (each node sends its subtree's sum to its parent once) and a broadcast down it (the
   leader's total, once to each child). Every member ends with the leader's total bit for bit,
   and every member's value is counted exactly once, so a group of |C| nodes applies the
   likelihood of its |C| present labels, never K.
3. :func:`average_consensus`: the paper's alternative, L rounds of averaging with the live
   combination weights; |C| times the group's average estimates the sum.

The priority the methods use is the number of labels a node's state has absorbed. When groups
merge, the state that has absorbed the most labels is kept (ties: the smallest id): a node back
from being away holds a state that missed steps, and a node that was cut off learnt from its own
labels only; neither takes a larger group over. Everything is written row-locally
(:class:`bayeslstm.network.method.NodeAxis`), so it runs sharded.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import Array

from ..errors import choose, number
from .graph import Network, require_doubly_stochastic
from .method import NetworkInitFn, NodeAxis, check_nodes
from .mixing import Links, combine

INT = jnp.int32
LARGEST = jnp.iinfo(jnp.int32).max
SMALLEST = jnp.iinfo(jnp.int32).min
FLOOD_INTS = 3  # a flood message: (priority, id, hops)
CONSENSUS = ("exact", "average")
DEFAULT_CONSENSUS_ITERS = 20  # rounds of average consensus (consensus="average")


class Groups(NamedTuple):
    """The live group of each node held here, and the tree its sums travel on."""

    leader: Array  # (K_here,) int32: the group's leader (largest priority, then smallest id)
    depth: Array  # (K_here,) int32: hops to the leader over live links
    parent: Array  # (K_here,) int32: the next node towards the leader (the leader: itself)
    children: Array  # (K_here, D) bool: neighbour-table slots whose node has this node as parent
    rounds: Array  # () int32: flood rounds run this step (every group's sums fit in as many)
    messages: Array  # (K_here,) float32: flood messages this node sent


def _live_neighbours(links: Links, rows: Array, table: Array) -> tuple[Array, Array]:
    neighbours = table[rows]
    return neighbours, links.live[rows] & (neighbours != rows[:, None])


def find_groups(links: Links, rows: Array, table: Array, axis: NodeAxis, priority: Array,
                rounds: int | None = None) -> Groups:
    """Each held node's live group (see the module docstring). ``rounds=None`` floods until no
    node's triple changes; a number floods exactly that many rounds (too few leave a wide group
    with several leaders: useful to see what a bound too small does)."""
    neighbours, live = _live_neighbours(links, rows, table)
    ids = rows.astype(INT)

    def improve(current):
        p, i, h = current  # this node's (priority, id, hops); the neighbours' below
        p_nb, i_nb, h_nb = (axis.gather(x)[neighbours] for x in current)
        p_nb = jnp.where(live, p_nb, SMALLEST)
        best_p = jnp.maximum(p, jnp.max(p_nb, axis=1))
        heard = live & (p_nb == best_p[:, None])
        best_i = jnp.minimum(jnp.where(p == best_p, i, LARGEST), jnp.min(jnp.where(heard, i_nb, LARGEST), axis=1))
        heard &= i_nb == best_i[:, None]
        mine = (p == best_p) & (i == best_i)
        best_h = jnp.minimum(jnp.where(mine, h, LARGEST), jnp.min(jnp.where(heard, h_nb + 1, LARGEST), axis=1))
        return best_p, best_i, best_h

    def flood(carry):
        current, changes, count, _ = carry
        new = improve(current)
        changed = (new[0] != current[0]) | (new[1] != current[1]) | (new[2] != current[2])
        anywhere = axis.total(jnp.sum(changed.astype(INT))) > 0
        return new, changes + changed, count + 1, anywhere

    start = ((priority.astype(INT), ids, jnp.zeros_like(ids)), jnp.zeros(ids.shape, INT), jnp.zeros((), INT),
             jnp.ones((), bool))
    if rounds is None:
        until_stable = lambda carry: carry[3] & (carry[2] < axis.nodes)  # noqa: E731
        (p, leader, depth), changes, count, _ = jax.lax.while_loop(until_stable, flood, start)
    else:
        (p, leader, depth), changes, count, _ = jax.lax.fori_loop(0, rounds, lambda _, c: flood(c), start)
    closer = live & (axis.gather(leader)[neighbours] == leader[:, None]) & (axis.gather(depth)[neighbours] == depth[:, None] - 1)
    parent = jnp.min(jnp.where(closer, neighbours, LARGEST), axis=1).astype(INT)
    parent = jnp.where(jnp.any(closer, axis=1), parent, ids)  # the leader (or a flood cut short)
    children = live & (axis.gather(parent)[neighbours] == ids[:, None])
    degree = jnp.sum(live, axis=1)
    messages = (degree * (1 + changes)).astype(jnp.float32)  # a node sends at the start and on every change
    return Groups(leader, depth, parent, children, count, messages)


def group_sum(values: Any, groups: Groups, rows: Array, table: Array, axis: NodeAxis) -> Any:
    """The sum over each node's live group of ``values`` (a pytree with a node axis), the same
    bits at every member: a convergecast up the group's tree, then the leader's total."""
    neighbours = table[rows]

    def up(_, partial):
        everyone = axis.gather(partial)

        def add_children(own, every):
            child = groups.children.reshape(groups.children.shape + (1,) * (own.ndim - 1))
            return own + jnp.sum(jnp.where(child, every[neighbours], 0), axis=1)

        return jax.tree_util.tree_map(add_children, values, everyone)

    subtree = jax.lax.fori_loop(0, groups.rounds, up, values)
    return from_leader(subtree, groups.leader, axis)


def tree_traffic(groups: Groups, payload: int | Array) -> tuple[Array, Array]:
    """Messages and floats one :func:`group_sum` of ``payload`` numbers sends per node: its
    subtree's sum to its parent, the total to each of its children."""
    messages = (groups.depth > 0).astype(jnp.float32) + jnp.sum(groups.children, axis=1)
    return messages, messages * payload


def average_consensus(values, links: Links, rows: Array, table: Array, axis: NodeAxis, rounds: int):
    """``rounds`` rounds of v_k <- sum_j w_kj v_{n_kj} over each held node's live links
    (``values``: an array or a pytree of arrays with a node axis). With the live combination
    weights every node tends to its live group's mean."""
    weights, neighbours = links.weights[rows], table[rows]

    def round_(_, v):
        everyone = axis.gather(v)
        return jax.tree_util.tree_map(lambda x: combine(weights, neighbours, x), everyone)

    return jax.lax.fori_loop(0, rounds, round_, values)


DIGEST_BITS = 24  # a float32 holds every integer below 2**24 exactly


def digest(values: Any) -> Array:
    """(K_here,) float32: a hash of each node's row of ``values`` (a pytree with a node axis),
    the same for rows that are the same bit for bit and, but for a 2**-24 chance, different for
    rows that are not. The exact methods report it as the ``digest`` diagnostic, so a run shows
    whether the members of a live group agreed at every step."""
    total = None
    for leaf in jax.tree_util.tree_leaves(values):
        if jnp.issubdtype(leaf.dtype, jnp.floating):
            bits = jax.lax.bitcast_convert_type(leaf.astype(jnp.float32) if leaf.dtype.itemsize < 4 else leaf, jnp.uint32)
        else:
            bits = leaf.astype(jnp.uint32)
        flat = bits.reshape(leaf.shape[0], -1)
        position = jnp.arange(flat.shape[1], dtype=jnp.uint32) * jnp.uint32(2654435761) | jnp.uint32(1)
        row = jnp.sum(flat * position, axis=1, dtype=jnp.uint32)
        total = row if total is None else total * jnp.uint32(31) + row
    return (total % jnp.uint32(1 << DIGEST_BITS)).astype(jnp.float32)


def from_leader(values, leaders: Array, axis: NodeAxis):
    """Every held node's copy of its leader's ``values`` (a pytree with a node axis)."""
    return jax.tree_util.tree_map(lambda v: axis.gather_all(v)[leaders], values)


class Plan(NamedTuple):
    """How a consensus method agrees: ``mode`` "exact" (:func:`group_sum`) or "average"
    (``iters`` rounds of :func:`average_consensus`), floods of ``rounds`` (None: until stable)."""

    mode: str
    iters: int
    rounds: int | None
    table: Array


def plan(network: Network, what: str, consensus: str, consensus_iters: int, flood_rounds: int | None) -> Plan:
    """The checked agreement options of a consensus method (``what`` names it in messages)."""
    choose("consensus", consensus, CONSENSUS)
    iters = number("consensus_iters", consensus_iters, int, 0)
    rounds = None if flood_rounds is None else number("flood_rounds", flood_rounds, int, 0)
    if consensus == "average":
        require_doubly_stochastic(network, what)
    return Plan(consensus, iters, rounds, jnp.asarray(network.neighbors))


def start_together(network: Network, draw: Callable[[Array], Any]) -> NetworkInitFn:
    """The ``init`` of a consensus method: every node starts from the same ``draw(key)`` (a
    state with a ``labels_seen`` field), having absorbed no label."""

    def init_fn(key: Array, nodes: int) -> Any:
        check_nodes(network, nodes)
        shared = draw(key)._replace(labels_seen=jnp.zeros((), INT))
        return jax.tree_util.tree_map(lambda a: jnp.broadcast_to(a, (nodes,) + a.shape), shared)

    return init_fn


def join_groups(plan: Plan, links: Links, axis: NodeAxis, values: Any, labels_seen: Array | None) -> tuple[Groups, Any]:
    """Each held node's live group this step, and its copy of the leader's ``values`` (a pytree
    with a node axis): the node's own unless groups merged, when the values that have absorbed
    the most labels win (states that agree in groups count them from their start)."""
    if labels_seen is None:
        raise TypeError("a state that agrees in live groups counts the labels it has seen (labels_seen is None)")
    groups = find_groups(links, axis.index, plan.table, axis, labels_seen, plan.rounds)
    return groups, from_leader(values, groups.leader, axis)


def changed(new: Any, old: Any) -> Array:
    """(K_here,) bool: the nodes whose row of ``new`` differs from ``old`` anywhere (both
    pytrees with a node axis), such as those that took their leader's state."""
    rows = [jnp.any(a != b, axis=tuple(range(1, a.ndim)))
            for a, b in zip(jax.tree_util.tree_leaves(new), jax.tree_util.tree_leaves(old))]
    return functools.reduce(jnp.logical_or, rows)


def group_report(groups: Groups, values: Any) -> dict[str, Array]:
    """The diagnostics of a method that agrees inside live groups: each node's ``leader`` and
    the ``digest`` of its ``values``, equal across a group when its members agree."""
    return {"leader": groups.leader.astype(jnp.float32), "digest": digest(values)}


class Agreed(NamedTuple):
    """A group's total, the same at every member, and what agreeing on it sent."""

    total: Any  # the sum over the live group of the values (pytree with a node axis)
    labels: Array  # (K_here,) int32: the labels observed in the group this step
    messages: Array  # (K_here,) float32, the group flood included
    floats: Array  # (K_here,) float32


def agree_on_total(plan: Plan, groups: Groups, values: Any, observed: Array, links: Links, rows: Array,
                   axis: NodeAxis) -> Agreed:
    """Each live group's sum of ``values`` (``payload`` numbers per node) and of ``observed``,
    by the plan's mode; the traffic counts the group's flood, the tree and the consensus rounds."""
    payload = sum(x[0].size for x in jax.tree_util.tree_leaves(values))
    counts = observed.astype(jnp.float32)
    flood = groups.messages
    if plan.mode == "exact":
        total, labels = group_sum((values, counts), groups, rows, plan.table, axis)
        tree, tree_floats = tree_traffic(groups, payload + 1)
        return Agreed(total, labels.astype(INT), flood + tree, FLOOD_INTS * flood + tree_floats)
    size, labels = group_sum((jnp.ones_like(counts), counts), groups, rows, plan.table, axis)
    average = average_consensus(values, links, rows, plan.table, axis, plan.iters)
    scaled = jax.tree_util.tree_map(lambda v: v * size.reshape(size.shape + (1,) * (v.ndim - 1)).astype(v.dtype),
                                    average)
    total = from_leader(scaled, groups.leader, axis)  # broadcast down the tree: the leader's estimate
    degree = jnp.sum(_live_neighbours(links, rows, plan.table)[1], axis=1).astype(jnp.float32)
    up = (groups.depth > 0).astype(jnp.float32)  # the group's size and label count, to the parent
    down = jnp.sum(groups.children, axis=1).astype(jnp.float32)  # the leader's total, to each child
    messages = flood + degree * plan.iters + up + down
    floats = FLOOD_INTS * flood + degree * plan.iters * payload + 2 * up + (payload + 1) * down
    return Agreed(total, labels.astype(INT), messages, floats)
