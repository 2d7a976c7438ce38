"""Named graph families and graph files (bayeslstm.network.topology): connected, sized,
reproducible, and parsed from strings and files."""

import networkx as nx
import pytest

from bayeslstm.errors import GraphError, OptionError
from bayeslstm.network.graph import make_network
from bayeslstm.network.topology import TOPOLOGIES, parse_graph, topology


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
    path.write_text("graph [\n node [ id 3 ]\n node [ id 5 ]\n node [ id 8 ]\n"
                    " edge [ source 3 target 5 ]\n edge [ source 5 target 8 ]\n]\n")
    assert sorted(parse_graph(str(path), 3).edges) == [(3, 5), (5, 8)]
