"""Named graph families and graph files: what ``graph=`` and ``--graph`` accept.

``"ring"``, ``"erdos-renyi:p=0.3"``, ``"small-world:k=4,p=0.2"`` or the path of an edge list,
.graphml, .gml or .adjlist file. Random families are connected and reproducible by seed.
"""

from __future__ import annotations

import math
import os

import networkx as nx
import numpy as np

from ..errors import GraphError, OptionError, choose

DEFAULT_GRAPH = "small-world"  # the graph of a distributed method when none is given

TOPOLOGIES = ("ring", "star", "grid", "complete", "erdos-renyi", "geometric", "small-world", "path")
PARAMS = {"erdos-renyi": ("p",), "geometric": ("radius",), "small-world": ("k", "p")}
TRIES = 100


def _number(key: str, text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    raise OptionError(f"graph parameter {key}={text!r} is not a number")


def _connected(name: str, draw, seed: int, what: str) -> nx.Graph:
    """First connected graph among draw(seed), draw(seed + 1), ... (TRIES tries)."""
    for s in range(seed, seed + TRIES):
        graph = draw(s)
        if nx.is_connected(graph):
            return graph
    raise GraphError(f"no connected {name} graph with {what} in {TRIES} tries (seeds {seed}..{seed + TRIES - 1}); make it denser")


def topology(name: str, nodes: int, seed: int = 0, **params) -> nx.Graph:
    """A connected graph on nodes 0..nodes-1 of a named family; random families are reproducible by ``seed``."""
    choose("topology", name, TOPOLOGIES)
    unknown = sorted(set(params) - set(PARAMS.get(name, ())))
    if unknown:
        takes = ", ".join(PARAMS.get(name, ())) or "no parameters"
        raise OptionError(f"unknown parameter {unknown[0]!r} for topology {name!r}; it takes: {takes}")
    if isinstance(nodes, bool) or not isinstance(nodes, (int, np.integer)) or nodes < 1:
        raise GraphError(f"a topology needs a whole number of nodes >= 1, got {nodes!r}")
    n = int(nodes)
    if name == "ring":
        return nx.cycle_graph(n) if n >= 3 else nx.path_graph(n)
    if name == "star":
        return nx.star_graph(n - 1)
    if name == "complete":
        return nx.complete_graph(n)
    if name == "path":
        return nx.path_graph(n)
    if name == "grid":
        rows = max(r for r in range(1, math.isqrt(n) + 1) if n % r == 0)
        return nx.convert_node_labels_to_integers(nx.grid_2d_graph(rows, n // rows), ordering="sorted")
    if name == "erdos-renyi":
        p = params.get("p", min(1.0, 2 * math.log(n) / n))
        if not 0 <= p <= 1:
            raise OptionError(f"erdos-renyi needs 0 <= p <= 1, got p={p}")
        return _connected(name, lambda s: nx.gnp_random_graph(n, p, seed=s), seed, f"{n} nodes and p={p:g}")
    if name == "geometric":
        radius = params.get("radius", math.sqrt(2 * math.log(n) / n))
        if not radius >= 0:
            raise OptionError(f"geometric needs radius >= 0, got radius={radius}")
        return _connected(name, lambda s: nx.random_geometric_graph(n, radius, seed=s), seed, f"{n} nodes and radius={radius:g}")
    k, p = params.get("k", 4), params.get("p", 0.1)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 2 or not 0 <= p <= 1:
        raise OptionError(f"small-world needs a whole k >= 2 and 0 <= p <= 1, got k={k}, p={p}")
    if n <= 2:
        return nx.complete_graph(n)
    try:
        return nx.connected_watts_strogatz_graph(n, min(int(k), n - 1), p, tries=TRIES, seed=seed)
    except nx.NetworkXError as error:
        raise GraphError(f"no connected small-world graph with {n} nodes, k={k}, p={p}: {error}; lower p") from None


def _read(path: str) -> nx.Graph:
    """A graph file by extension; labels that all read as integers become integers."""
    ext = os.path.splitext(path)[1].lower()
    try:
        if ext == ".graphml":
            graph = nx.read_graphml(path)
        elif ext == ".gml":
            try:
                graph = nx.read_gml(path)
            except nx.NetworkXError:  # nodes without a 'label': use their ids
                graph = nx.read_gml(path, label=None)
        elif ext == ".adjlist":
            graph = nx.read_adjlist(path)
        else:
            graph = nx.read_edgelist(path, delimiter="," if ext == ".csv" else None, data=False)
    except Exception as error:  # networkx raises many kinds on malformed files
        raise GraphError(f"cannot read the graph file {path!r}: {error}") from None
    try:
        return nx.relabel_nodes(graph, {u: int(u) for u in graph.nodes})
    except (TypeError, ValueError):
        return graph


def parse_graph(spec: str, nodes: int, seed: int = 0) -> nx.Graph:
    """'ring', 'erdos-renyi:p=0.3', 'small-world:k=4,p=0.2', or a graph file (which ignores ``nodes``)."""
    spec = os.fspath(spec)
    name, _, rest = spec.partition(":")
    if name.strip() in TOPOLOGIES:
        params = {}
        for item in filter(None, (s.strip() for s in rest.split(","))):
            key, eq, value = item.partition("=")
            if not eq:
                raise OptionError(f"graph parameter {item!r} in {spec!r} is not of the form key=value")
            params[key.strip()] = _number(key.strip(), value.strip())
        return topology(name.strip(), nodes, seed, **params)
    if os.path.isfile(spec):
        return _read(spec)
    raise GraphError(
        f"graph {spec!r} is neither an existing file nor a topology name; give a path to an edge list, "
        f".graphml, .gml or .adjlist file, or one of: {', '.join(TOPOLOGIES)} (e.g. 'erdos-renyi:p=0.3')"
    )
