"""The network: combination matrices, neighbour tables, consensus, topologies, parsing and errors."""

import jax
import jax.numpy as jnp
import networkx as nx
import numpy as np
import pytest

from bayeslstm.errors import GraphError, OptionError
from bayeslstm.network.graph import RULES, combination_matrix, make_network, require_doubly_stochastic
from bayeslstm.network.topology import TOPOLOGIES, parse_graph, topology
from bayeslstm.network.mixing import consensus, mix

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


def test_average_consensus_reaches_the_exact_mean(rng):
    net = make_network(topology("geometric", 12, seed=1))
    values = jnp.asarray(rng.normal(size=(12, 3)), jnp.float32)
    mean = np.asarray(values, np.float64).mean(axis=0)
    errors = [float(np.abs(np.asarray(consensus(net, values, n)) - mean).max()) for n in (0, 5, 50, 500)]
    assert errors[0] > 0.1
    assert errors[0] > errors[1] > errors[2] > errors[3]
    assert errors[3] < 1e-5
    np.testing.assert_array_equal(consensus(net, values, 0), values)
    out = consensus(net, values, 3)
    np.testing.assert_allclose(out, mix(net, mix(net, mix(net, values))), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(np.asarray(out).mean(axis=0), mean, atol=1e-6)  # the mean is preserved


@pytest.mark.parametrize("rule", RULES)
def test_mix_dense_and_table_agree_and_jit(rule, rng):
    net = make_network(topology("erdos-renyi", 20, seed=2), rule=rule)
    values = jnp.asarray(rng.normal(size=(20, 2, 3)), jnp.float32)
    expected = np.einsum("lk,lij->kij", net.combination, np.asarray(values, np.float64))
    dense = mix(net, values, dense=True)
    table = mix(net, values, dense=False)
    assert dense.dtype == table.dtype == jnp.float32 and dense.shape == table.shape == values.shape
    np.testing.assert_allclose(dense, expected, rtol=0, atol=1e-5)
    np.testing.assert_allclose(table, dense, rtol=0, atol=1e-6)
    for flag in (True, False, None):
        np.testing.assert_allclose(jax.jit(lambda v: mix(net, v, dense=flag))(values), dense, rtol=0, atol=1e-6)
        np.testing.assert_allclose(jax.jit(lambda v: consensus(net, v, 4, dense=flag))(values), consensus(net, values, 4, dense=True), rtol=0, atol=1e-6)


def test_mix_table_ignores_padding_even_with_infinite_values():
    net = make_network(nx.star_graph(3))
    values = jnp.array([1.0, 2.0, 3.0, jnp.inf])
    out = mix(net, values, dense=False)
    assert np.isfinite(out[1]) and np.isfinite(out[2])
    assert out[3] == jnp.inf  # inf, not the nan that 0 * inf on a padding slot would give


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


@pytest.mark.parametrize("name", TOPOLOGIES)
@pytest.mark.parametrize("nodes", [1, 2, 5, 16])
def test_topologies_are_connected_sized_and_deterministic(name, nodes):
    graph = topology(name, nodes, seed=7)
    assert sorted(graph.nodes) == list(range(nodes))
    assert nx.is_connected(graph)
    assert not graph.is_directed() and nx.number_of_selfloops(graph) == 0
    assert sorted(topology(name, nodes, seed=7).edges) == sorted(graph.edges)
    make_network(graph, nodes=nodes)


def test_topology_shapes():
    assert sorted(d for _, d in topology("ring", 7).degree) == [2] * 7
    assert sorted(d for _, d in topology("star", 6).degree) == [1] * 5 + [5]
    assert topology("complete", 5).number_of_edges() == 10
    assert topology("path", 5).number_of_edges() == 4
    grid = topology("grid", 12)  # 3 x 4: 3*3 + 2*4 edges
    assert grid.number_of_edges() == 17 and sorted(d for _, d in grid.degree).count(4) == 2
    assert topology("grid", 7).number_of_edges() == 6  # prime: a 1 x 7 path
    assert nx.is_isomorphic(topology("grid", 16), nx.grid_2d_graph(4, 4))
    assert topology("erdos-renyi", 10, p=1.0).number_of_edges() == 45
    assert all(d == 6 for _, d in topology("small-world", 10, k=6, p=0.0).degree)
    random = [sorted(topology("erdos-renyi", 16, seed=s).edges) for s in range(3)]
    assert random[0] != random[1] or random[1] != random[2]


def test_parse_graph_strings():
    assert sorted(parse_graph("ring", 5).edges) == sorted(nx.cycle_graph(5).edges)
    assert parse_graph("erdos-renyi:p=1", 6).number_of_edges() == 15
    assert sorted(parse_graph("small-world:k=4,p=0.2", 12, seed=3).edges) == sorted(topology("small-world", 12, 3, k=4, p=0.2).edges)
    assert sorted(parse_graph("geometric: radius=0.5", 9, seed=1).edges) == sorted(topology("geometric", 9, 1, radius=0.5).edges)
    with pytest.raises(OptionError, match="not a number"):
        parse_graph("erdos-renyi:p=high", 5)
    with pytest.raises(OptionError, match="key=value"):
        parse_graph("erdos-renyi:0.3", 5)


@pytest.mark.parametrize("ext", ["edgelist", "txt", "csv", "graphml", "gml", "adjlist"])
def test_parse_graph_files(ext, tmp_path):
    graph = nx.Graph([(0, 1), (1, 2), (2, 10), (10, 0), (2, 3)])
    path = tmp_path / f"g.{ext}"
    if ext == "graphml":
        nx.write_graphml(graph, path)
    elif ext == "gml":
        nx.write_gml(graph, path)
    elif ext == "adjlist":
        nx.write_adjlist(graph, path)
    else:
        nx.write_edgelist(graph, path, delimiter="," if ext == "csv" else " ", data=False)
    read = parse_graph(str(path), nodes=99)  # a file ignores `nodes`
    assert sorted(read.nodes) == [0, 1, 2, 3, 10]
    assert {frozenset(e) for e in read.edges} == {frozenset(e) for e in graph.edges}
    net = make_network(read, nodes=5)
    assert net.labels == (0, 1, 2, 3, 10)
    with pytest.raises(GraphError, match="the graph has 5 nodes but the data has 7"):
        make_network(read, nodes=7)


def test_parse_gml_without_labels_uses_ids(tmp_path):
    path = tmp_path / "ids.gml"
    path.write_text("graph [\n node [ id 3 ]\n node [ id 5 ]\n node [ id 8 ]\n edge [ source 3 target 5 ]\n edge [ source 5 target 8 ]\n]\n")
    assert sorted(parse_graph(str(path), 3).edges) == [(3, 5), (5, 8)]


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
