"""Agreement inside live groups (bayeslstm.network.agreement): groups and leaders by flooding
until nothing changes, exact sums over each group's tree, the merge rule, average consensus,
digests. Checked against networkx's connected components of the live graph."""

import jax.numpy as jnp
import networkx as nx
import numpy as np
import pytest

from bayeslstm.network.agreement import (
    average_consensus,
    digest,
    find_groups,
    from_leader,
    group_sum,
    tree_traffic,
)
from bayeslstm.network.faults import live_groups
from bayeslstm.network.graph import make_network
from bayeslstm.network.method import whole_axis
from bayeslstm.network.mixing import live_links


def _groups(network, edge_up=None, present=None, priority=None, rounds=None):
    K = network.nodes
    links = live_links(network, edge_up, present)
    priority = jnp.zeros(K, jnp.int32) if priority is None else jnp.asarray(priority, jnp.int32)
    return links, find_groups(links, jnp.arange(K), jnp.asarray(network.neighbors), whole_axis(K), priority, rounds)


def _cut(network, *edges):
    up = np.ones(network.graph.number_of_edges(), bool)
    for edge in edges:
        up[list(network.graph.edges).index(edge)] = False
    return up


def test_a_cut_link_gives_each_side_its_own_leader_tree_and_depths():
    network = make_network(nx.path_graph(6))
    _, groups = _groups(network, edge_up=_cut(network, (2, 3)))
    assert np.asarray(groups.leader).tolist() == [0, 0, 0, 3, 3, 3]
    assert np.asarray(groups.depth).tolist() == [0, 1, 2, 0, 1, 2]
    assert np.asarray(groups.parent).tolist() == [0, 0, 1, 3, 3, 4]
    assert int(groups.rounds) == 3  # two rounds change something, the third finds nothing to change


def test_a_ring_with_a_node_away_is_one_group_wider_than_the_rings_diameter():
    """A 6-ring has diameter 3; without node 0 its other nodes form a path of diameter 4. Flooding
    for the ring's diameter (what the methods did before) leaves node 5 with another leader;
    flooding until nothing changes gives nodes 1-5 one leader."""
    network = make_network(nx.cycle_graph(6))
    present = np.array([False, True, True, True, True, True])
    _, groups = _groups(network, present=present)
    assert np.asarray(groups.leader).tolist() == [0, 1, 1, 1, 1, 1]
    assert np.asarray(groups.depth)[1:].tolist() == [0, 1, 2, 3, 4]
    _, short = _groups(network, present=present, rounds=3)
    assert np.asarray(short.leader)[5] != 1


def test_the_largest_priority_leads_then_the_smallest_id():
    network = make_network(nx.path_graph(5))
    _, groups = _groups(network, priority=[3, 7, 7, 1, 0])
    assert np.asarray(groups.leader).tolist() == [1] * 5
    _, split = _groups(network, edge_up=_cut(network, (1, 2)), priority=[3, 7, 7, 1, 0])
    assert np.asarray(split.leader).tolist() == [1, 1, 2, 2, 2]


@pytest.mark.parametrize("seed", range(6))
def test_group_sums_are_the_live_components_sums_at_every_member_bit_for_bit(seed):
    rng = np.random.default_rng(seed)
    graph = nx.connected_watts_strogatz_graph(12, 4, 0.3, seed=seed) if seed % 2 else nx.cycle_graph(12)
    network = make_network(graph)
    edge_up = rng.random(network.graph.number_of_edges()) > 0.4
    present = rng.random(12) > 0.2
    links, groups = _groups(network, edge_up, present, priority=rng.integers(0, 3, 12))
    values = jnp.asarray(rng.normal(size=(12, 5)).astype(np.float32))
    total = np.asarray(group_sum(values, groups, jnp.arange(12), jnp.asarray(network.neighbors), whole_axis(12)))
    leader = np.asarray(groups.leader)
    for group in live_groups(network, edge_up, present):
        members = sorted(group)
        assert len(set(leader[members])) == 1  # one leader per live group
        np.testing.assert_allclose(total[members], np.tile(np.asarray(values)[members].sum(0), (len(members), 1)),
                                   rtol=1e-5, atol=1e-5)
        assert (total[members] == total[members[0]]).all()  # the same bits at every member
    others = [k for k in range(12) if not present[k]]
    np.testing.assert_array_equal(total[others], np.asarray(values)[others])  # an absent node: a group of one


def test_tree_traffic_counts_one_message_to_the_parent_and_one_to_each_child():
    network = make_network(nx.star_graph(4))  # centre 0, leaves 1-4
    _, groups = _groups(network)
    messages, floats = tree_traffic(groups, 10)
    assert np.asarray(messages).tolist() == [4, 1, 1, 1, 1]
    assert np.asarray(floats).tolist() == [40, 10, 10, 10, 10]
    # the flood: each node announces itself once and sends again when its triple changes
    assert np.asarray(groups.messages).tolist() == [4, 2, 2, 2, 2]


def test_every_node_takes_its_leaders_values_exactly():
    values = {"w": jnp.arange(12.0).reshape(6, 2) / 7.0, "n": jnp.arange(6)}
    taken = from_leader(values, jnp.array([0, 0, 0, 3, 3, 3]), whole_axis(6))
    np.testing.assert_array_equal(np.asarray(taken["w"])[:3], np.tile(np.asarray(values["w"])[0], (3, 1)))
    np.testing.assert_array_equal(np.asarray(taken["n"]), [0, 0, 0, 3, 3, 3])


def test_digests_are_equal_for_equal_rows_and_differ_for_one_changed_bit(rng):
    rows = np.tile(rng.normal(size=(1, 7)).astype(np.float32), (4, 1))
    rows[3, 6] = np.nextafter(rows[3, 6], np.float32(np.inf))
    ints = np.array([5, 5, 5, 5], np.int32)
    d = np.asarray(digest((jnp.asarray(rows), jnp.asarray(ints))))
    assert d[0] == d[1] == d[2] != d[3]
    assert np.asarray(digest(jnp.asarray(np.array([1, 2, 1], np.int32)))).tolist()[0::2] == [
        np.asarray(digest(jnp.asarray(np.array([1], np.int32))))[0]] * 2


def test_average_consensus_tends_to_the_network_mean(rng):
    network = make_network(nx.cycle_graph(5))
    values = jnp.asarray(rng.normal(size=(5, 3)))
    args = (live_links(network), jnp.arange(5), jnp.asarray(network.neighbors), whole_axis(5))
    few, many = (np.asarray(average_consensus(values, *args, rounds)) for rounds in (2, 300))
    np.testing.assert_allclose(many, np.tile(np.asarray(values).mean(0), (5, 1)), atol=1e-5)
    assert np.abs(few - np.asarray(values).mean(0)).max() > 1e-2  # two rounds are not enough on a 5-cycle
    pytree = average_consensus((values, 2 * values), *args, 300)
    np.testing.assert_allclose(np.asarray(pytree[1]), 2 * many, atol=1e-5)
