"""The network (bayeslstm.network.graph): combination matrices, neighbour tables, relabelling,
the slots' edges, and the errors of graphs, topologies and mixing."""

import jax.numpy as jnp
import networkx as nx
import numpy as np
import pytest

from bayeslstm.errors import GraphError, OptionError
from bayeslstm.network.graph import combination_matrix, make_network, require_doubly_stochastic, slot_edges
from bayeslstm.network.mixing import consensus, mix
from bayeslstm.network.topology import parse_graph, topology

GRAPHS = {
    "star": nx.star_graph(5),
    "path": nx.path_graph(6),
    "erdos-renyi": topology("erdos-renyi", 15, seed=3, p=0.3),
}


@pytest.mark.parametrize("name", GRAPHS)
def test_metropolis_is_symmetric_doubly_stochastic_and_local(name):
    graph = GRAPHS[name]
    net = make_network(graph)
    C = net.combination
    K = net.nodes
    assert C.shape == (K, K) and C.dtype == np.float64
    np.testing.assert_allclose(C, C.T, rtol=0, atol=1e-15)
    np.testing.assert_allclose(C.sum(axis=0), 1.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(C.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    A = nx.to_numpy_array(graph, nodelist=range(K)) != 0
    outside = ~(A | np.eye(K, dtype=bool))
    assert np.all(C[outside] == 0) and np.all(C[~outside] > 0)
    assert net.doubly_stochastic and net.rule == "metropolis"
    np.testing.assert_array_equal(net.degrees, [graph.degree(k) for k in range(K)])


def test_metropolis_matches_the_formula_by_hand():
    # a triangle 0-1-2 with a tail 2-3: degrees 2, 2, 3, 1
    graph = nx.Graph([(0, 1), (1, 2), (0, 2), (2, 3)])
    expected = np.array(
        [
            [1 - 1 / 3 - 1 / 4, 1 / 3, 1 / 4, 0],
            [1 / 3, 1 - 1 / 3 - 1 / 4, 1 / 4, 0],
            [1 / 4, 1 / 4, 1 - 3 / 4, 1 / 4],
            [0, 0, 1 / 4, 3 / 4],
        ]
    )
    np.testing.assert_allclose(combination_matrix(graph), expected, rtol=0, atol=1e-15)
    np.testing.assert_allclose(make_network(graph).combination, expected, rtol=0, atol=1e-15)


def test_uniform_rule_is_column_stochastic_but_not_doubly_on_a_star():
    net = make_network(nx.star_graph(4), rule="uniform")
    C = net.combination
    np.testing.assert_allclose(C.sum(axis=0), 1.0, rtol=0, atol=1e-15)
    np.testing.assert_allclose(C[:, 0], 1 / 5)  # the hub averages all five nodes
    np.testing.assert_allclose(C[[0, 1], 1], [1 / 2, 1 / 2])  # a leaf averages itself and the hub
    assert C[2, 1] == 0
    assert not net.doubly_stochastic
    with pytest.raises(GraphError, match="diffusion fusion needs a doubly stochastic.*rule='metropolis'"):
        require_doubly_stochastic(net, "diffusion fusion")
    require_doubly_stochastic(make_network(nx.star_graph(4)), "diffusion fusion")
    ring = make_network(nx.cycle_graph(6), rule="uniform")  # regular: doubly stochastic
    assert ring.doubly_stochastic
    np.testing.assert_allclose(ring.combination[[5, 0, 1], 0], 1 / 3)


def test_neighbour_table():
    graph = nx.Graph([(0, 1), (1, 2), (0, 2), (2, 3)])
    net = make_network(graph)
    np.testing.assert_array_equal(net.neighbors, [[0, 1, 2, 0], [0, 1, 2, 1], [0, 1, 2, 3], [2, 3, 3, 3]])
    np.testing.assert_array_equal(net.neighbor_valid, [[1, 1, 1, 0], [1, 1, 1, 0], [1, 1, 1, 1], [1, 1, 0, 0]])
    assert net.neighbors.dtype == np.int32 and net.neighbor_valid.dtype == bool and net.neighbor_weights.dtype == np.float64
    big = make_network(topology("small-world", 30, seed=4, k=4, p=0.3))
    K, D = big.neighbors.shape
    assert D == max(d for _, d in big.graph.degree) + 1
    for k in range(K):
        valid = big.neighbor_valid[k]
        members = big.neighbors[k, valid]
        assert list(members) == sorted(set(big.graph[k]) | {k})
        assert np.all(big.neighbors[k, ~valid] == k) and np.all(big.neighbor_weights[k, ~valid] == 0.0)
        np.testing.assert_array_equal(big.neighbor_weights[k, valid], big.combination[members, k])
        assert big.neighbor_weights[k].sum() == pytest.approx(1.0, abs=1e-12)


def test_labels_are_sorted_and_relabelled():
    graph = nx.Graph([("c", "a"), ("a", "b")])
    net = make_network(graph)
    assert net.labels == ("a", "b", "c")
    assert sorted(net.graph.edges) == [(0, 1), (0, 2)]
    mixed = make_network(nx.Graph([(1, "x")]))  # unsortable: insertion order
    assert mixed.labels == (1, "x") and list(mixed.graph.edges) == [(0, 1)]


def test_disconnected_graph():
    graph = nx.Graph([(0, 1), (2, 3), (3, 4)])
    graph.add_node(5)
    with pytest.raises(GraphError, match=r"3 connected components.*allow_disconnected=True"):
        make_network(graph)
    with pytest.raises(GraphError, match="2 connected components"):
        make_network(nx.Graph([(0, 1), (2, 3)]))
    net = make_network(graph, allow_disconnected=True)
    assert net.combination[5, 5] == 1.0 and net.combination[0, 2] == 0
    values = jnp.array([1.0, 3.0, 0.0, 3.0, 6.0, 7.0])
    np.testing.assert_allclose(consensus(net, values, 300), [2, 2, 3, 3, 3, 7], atol=1e-5)


def test_graph_errors(tmp_path):
    with pytest.raises(GraphError, match="empty"):
        make_network(nx.Graph())
    with pytest.raises(GraphError, match=r"self-loops at nodes \[1\].*remove"):
        make_network(nx.Graph([(0, 1), (1, 1)]))
    with pytest.raises(GraphError, match=r"directed.*to_undirected\(\)"):
        make_network(nx.DiGraph([(0, 1), (1, 0)]))
    with pytest.raises(GraphError, match="the graph has 7 nodes but the data has 10"):
        make_network(nx.path_graph(7), nodes=10)
    with pytest.raises(OptionError, match="unknown topology 'torus'.*ring.*small-world"):
        topology("torus", 5)
    with pytest.raises(OptionError, match="unknown combination rule 'laplacian'.*metropolis, uniform"):
        make_network(nx.path_graph(3), rule="laplacian")
    with pytest.raises(OptionError, match="unknown combination rule"):
        combination_matrix(nx.path_graph(3), rule="max-degree")
    with pytest.raises(OptionError, match="unknown parameter 'q' for topology 'small-world'; it takes: k, p"):
        topology("small-world", 8, q=3)
    with pytest.raises(OptionError, match="unknown parameter 'p' for topology 'ring'"):
        parse_graph("ring:p=0.2", 8)
    with pytest.raises(GraphError, match=">= 1"):
        topology("ring", 0)
    missing = str(tmp_path / "nope.edgelist")
    with pytest.raises(GraphError, match="neither an existing file nor a topology name.*erdos-renyi"):
        parse_graph(missing, 5)
    with pytest.raises(GraphError, match="no connected erdos-renyi graph"):
        topology("erdos-renyi", 30, p=0.01)
    with pytest.raises(GraphError, match="4 nodes"):
        mix(make_network(nx.path_graph(4)), jnp.ones((3, 2)))
    assert issubclass(GraphError, ValueError)


def test_slot_edges_name_each_undirected_edge_once_per_direction():
    net = make_network(nx.path_graph(4))
    table = slot_edges(net)
    edges = list(net.graph.edges)
    for k in range(4):
        for j in range(table.shape[1]):
            if table[k, j] >= 0:
                assert set(edges[table[k, j]]) == {k, int(net.neighbors[k, j])}
