"""Agreement over the graph (bayeslstm.network.agreement): leaders by min-flooding, exact
adoption of the leader's values, average consensus."""

import jax.numpy as jnp
import networkx as nx
import numpy as np

from bayeslstm.network.agreement import average_consensus, diameter, elect_leaders, from_leader
from bayeslstm.network.graph import make_network
from bayeslstm.network.method import whole_axis
from bayeslstm.network.mixing import live_links


def _path(k=6):
    return make_network(nx.path_graph(k))


def test_leaders_need_diameter_rounds():
    network = _path()
    rows, table, axis = jnp.arange(6), jnp.asarray(network.neighbors), whole_axis(6)
    links = live_links(network)
    assert diameter(network) == 5
    assert np.asarray(elect_leaders(links, rows, table, axis, 5)).tolist() == [0] * 6
    assert np.asarray(elect_leaders(links, rows, table, axis, 2)).tolist() == [0, 0, 0, 1, 2, 3]  # heard 2 hops


def test_a_cut_link_gives_each_side_its_own_leader():
    network = _path()
    up = np.ones(network.graph.number_of_edges(), bool)
    up[list(network.graph.edges).index((2, 3))] = False
    links = live_links(network, edge_up=up)
    leaders = elect_leaders(links, jnp.arange(6), jnp.asarray(network.neighbors), whole_axis(6), 5)
    assert np.asarray(leaders).tolist() == [0, 0, 0, 3, 3, 3]


def test_every_node_takes_its_leaders_values_exactly():
    values = {"w": jnp.arange(12.0).reshape(6, 2) / 7.0, "n": jnp.arange(6)}
    taken = from_leader(values, jnp.array([0, 0, 0, 3, 3, 3]), whole_axis(6))
    np.testing.assert_array_equal(np.asarray(taken["w"])[:3], np.tile(np.asarray(values["w"])[0], (3, 1)))
    np.testing.assert_array_equal(np.asarray(taken["n"]), [0, 0, 0, 3, 3, 3])


def test_average_consensus_tends_to_the_network_mean(rng):
    network = make_network(nx.cycle_graph(5))
    values = jnp.asarray(rng.normal(size=(5, 3)))
    args = (live_links(network), jnp.arange(5), jnp.asarray(network.neighbors), whole_axis(5))
    few, many = (np.asarray(average_consensus(values, *args, rounds)) for rounds in (2, 300))
    np.testing.assert_allclose(many, np.tile(np.asarray(values).mean(0), (5, 1)), atol=1e-5)
    assert np.abs(few - np.asarray(values).mean(0)).max() > 1e-2  # two rounds are not enough on a 5-cycle
    pytree = average_consensus((values, 2 * values), *args, 300)
    np.testing.assert_allclose(np.asarray(pytree[1]), 2 * many, atol=1e-5)
