"""The network: graph, combination matrix, neighbour tables and consensus mixing.

Conventions, used by every distributed method:

* The graph is undirected and (unless the user asks otherwise) connected; its nodes are
  relabelled 0..K-1 in the order of ``Network.labels`` (sorted when sortable, else insertion order).
* Node k's neighbourhood N_k contains k itself; self-loops are therefore not allowed.
* ``C[l, k]`` is the weight of node l's value in node k's combination, zero unless l is in N_k,
  and every column sums to 1: one mixing step is ``out[k] = sum_l C[l, k] values[l]``, i.e.
  ``C.T @ values`` over the leading node axis.
* The default Metropolis-Hastings rule gives a symmetric, doubly stochastic C, so repeated mixing
  converges to the exact network mean (average consensus); the uniform rule 1/|N_k| does so only
  on regular graphs, and methods that need the mean check it with :func:`require_doubly_stochastic`.
"""

from __future__ import annotations

import math
import os
from typing import NamedTuple

import jax
import jax.numpy as jnp
import networkx as nx
import numpy as np

from .errors import GraphError, OptionError, choose

RULES = ("metropolis", "uniform")
TOPOLOGIES = ("ring", "star", "grid", "complete", "erdos-renyi", "geometric", "small-world", "path")
PARAMS = {"erdos-renyi": ("p",), "geometric": ("radius",), "small-world": ("k", "p")}
DENSE_UP_TO = 64
TRIES = 100


class Network(NamedTuple):
    graph: nx.Graph
    labels: tuple
    combination: np.ndarray
    neighbors: np.ndarray
    neighbor_weights: np.ndarray
    neighbor_valid: np.ndarray
    rule: str

    @property
    def nodes(self) -> int:
        return len(self.labels)

    @property
    def degrees(self) -> np.ndarray:
        """(K,) number of neighbours of each node, not counting itself."""
        return self.neighbor_valid.sum(axis=1) - 1

    @property
    def doubly_stochastic(self) -> bool:
        C = self.combination
        return bool(np.allclose(C.sum(0), 1.0, rtol=0, atol=1e-9) and np.allclose(C.sum(1), 1.0, rtol=0, atol=1e-9))


def _order(graph: nx.Graph) -> list:
    """Node labels in index order: sorted if they can be, else as inserted."""
    try:
        return sorted(graph.nodes)
    except TypeError:
        return list(graph.nodes)


def _check(graph) -> nx.Graph:
    """Errors every rule shares: not a graph, empty, directed, self-loops. Multi-edges collapse."""
    if not isinstance(graph, nx.Graph):
        raise GraphError(f"expected a networkx graph, got {type(graph).__name__}; build one with networkx or topology()")
    if graph.number_of_nodes() == 0:
        raise GraphError("the graph is empty; give it at least one node")
    if graph.is_directed():
        raise GraphError("the graph is directed but fusion needs an undirected graph; pass graph.to_undirected()")
    loops = sorted({u for u, _ in nx.selfloop_edges(graph)}, key=str)
    if loops:
        raise GraphError(
            f"the graph has self-loops at nodes {loops[:10]}; N_k already contains k, so remove them with "
            "graph.remove_edges_from(list(nx.selfloop_edges(graph)))"
        )
    return nx.Graph(graph) if graph.is_multigraph() else graph


def _adjacency(graph: nx.Graph) -> np.ndarray:
    """(K, K) bool adjacency without the diagonal, in :func:`_order`."""
    return nx.to_numpy_array(graph, nodelist=_order(graph), weight=None) != 0


def combination_matrix(graph: nx.Graph, rule: str = "metropolis") -> np.ndarray:
    """(K, K) C with C[l, k] the weight of l's value at k; columns sum to 1. Nodes in sorted order."""
    choose("combination rule", rule, RULES)
    A = _adjacency(_check(graph))
    deg = A.sum(axis=1)
    if rule == "uniform":
        N = A | np.eye(len(A), dtype=bool)
        return N / N.sum(axis=0, keepdims=True)
    C = np.where(A, 1.0 / (1.0 + np.maximum(deg[:, None], deg[None, :])), 0.0)
    np.fill_diagonal(C, 1.0 - C.sum(axis=0))
    return C


def make_network(graph: nx.Graph, rule: str = "metropolis", allow_disconnected: bool = False, nodes: int | None = None) -> Network:
    """Check ``graph`` and build the :class:`Network` every distributed method reads."""
    choose("combination rule", rule, RULES)
    graph = _check(graph)
    K = graph.number_of_nodes()
    if nodes is not None and nodes != K:
        raise GraphError(f"the graph has {K} nodes but the data has {nodes}; give a graph with one node per data stream")
    components = nx.number_connected_components(graph)
    if components > 1 and not allow_disconnected:
        raise GraphError(
            f"the graph is disconnected ({components} connected components), so its nodes cannot reach consensus; "
            "pass allow_disconnected=True to let the components run independently, or use a connected topology (e.g. 'ring')"
        )
    labels = tuple(_order(graph))
    index = {label: i for i, label in enumerate(labels)}
    relabelled = nx.Graph()
    relabelled.add_nodes_from((index[u], graph.nodes[u]) for u in labels)
    relabelled.add_edges_from((index[u], index[v], d) for u, v, d in graph.edges(data=True))
    C = combination_matrix(graph, rule)
    N = _adjacency(graph) | np.eye(K, dtype=bool)
    D = int(N.sum(axis=0).max())
    neighbors = np.repeat(np.arange(K, dtype=np.int32)[:, None], D, axis=1)
    valid = np.zeros((K, D), dtype=bool)
    for k in range(K):
        members = np.flatnonzero(N[:, k])
        neighbors[k, : len(members)] = members
        valid[k, : len(members)] = True
    weights = np.where(valid, C[neighbors, np.arange(K)[:, None]], 0.0)
    return Network(relabelled, labels, C, neighbors, weights, valid, rule)


def require_doubly_stochastic(network: Network, what: str) -> None:
    """Raise a GraphError if ``what`` (which needs the exact network mean) cannot get it from ``network``."""
    if not network.doubly_stochastic:
        raise GraphError(
            f"{what} needs a doubly stochastic combination matrix (rows and columns summing to 1), but rule="
            f"{network.rule!r} on this graph is not (it is only on regular graphs); use rule='metropolis'"
        )


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


def _as_float(values):
    """A jax array; integer values become the default float dtype so weights do not truncate."""
    values = jnp.asarray(values)
    return values if jnp.issubdtype(values.dtype, jnp.inexact) else values.astype(jnp.result_type(float))


def mix(network: Network, values, dense: bool | None = None):
    """One combination step over the leading node axis: out[k] = sum_l C[l, k] values[l]."""
    values = _as_float(values)
    K = network.nodes
    if values.ndim == 0 or values.shape[0] != K:
        raise GraphError(f"values have shape {values.shape} but the network has {K} nodes; put the node axis first")
    if dense is None:
        dense = K <= DENSE_UP_TO
    if dense:
        return jnp.tensordot(jnp.asarray(network.combination.T, values.dtype), values, axes=1)
    # the padded neighbour table: the same combination the distributed methods use per step
    weights = np.where(network.neighbor_valid, network.neighbor_weights, 0.0)
    return combine(weights, jnp.asarray(network.neighbors), values)


def consensus(network: Network, values, iterations: int, dense: bool | None = None):
    """``iterations`` mixing steps; with a doubly stochastic C every node tends to the network mean."""
    if isinstance(iterations, bool) or not isinstance(iterations, (int, np.integer)) or iterations < 0:
        raise OptionError(f"consensus iterations must be a whole number >= 0, got {iterations!r}")
    values = _as_float(values)
    if iterations == 0:
        return values
    return jax.lax.fori_loop(0, int(iterations), lambda _, v: mix(network, v, dense), values)


class Links(NamedTuple):
    """The links of one step in neighbour-table form (rows: nodes, columns: table slots).

    ``live[k, j]``: slot j of node k takes part in this step's exchange (the self slot of a
    present node always does); ``weights[k, j]``: the weight of that neighbour's value in
    node k's combination, zero for dead slots, each row summing to 1.
    """

    live: jax.Array  # (K, D) bool
    weights: jax.Array  # (K, D)


def slot_edges(network: Network) -> np.ndarray:
    """(K, D) index into ``list(network.graph.edges)`` of the edge behind each table slot; -1 for
    the self slot and padding. Both directions of an undirected edge share one index."""
    index = {frozenset(e): i for i, e in enumerate(network.graph.edges)}
    K, D = network.neighbors.shape
    out = np.full((K, D), -1, np.int32)
    for k in range(K):
        for j in range(D):
            l = int(network.neighbors[k, j])
            if network.neighbor_valid[k, j] and l != k:
                out[k, j] = index[frozenset((k, l))]
    return out


def live_links(network: Network, edge_up=None, present=None) -> Links:
    """Combination weights recomputed from the live edges, by ``network.rule``.

    ``edge_up`` (E,) bool over ``network.graph.edges`` (default: all up); ``present`` (K,) bool
    (default: all). An edge is live when it is up and both its ends are present. Metropolis
    weights 1 / (1 + max(deg_k, deg_l)) use the live degrees, so C stays symmetric and doubly
    stochastic on whatever subgraph is left; an isolated node keeps its own value (weight 1).
    """
    table = jnp.asarray(network.neighbors)
    K = network.nodes
    is_self = table == jnp.arange(K)[:, None]
    up = jnp.asarray(network.neighbor_valid) & ~is_self
    if edge_up is not None and network.graph.number_of_edges() > 0:
        edges = jnp.asarray(slot_edges(network))
        up = up & jnp.asarray(edge_up, bool)[jnp.maximum(edges, 0)]
    if present is not None:
        present = jnp.asarray(present, bool)
        up = up & present[:, None] & present[table]
    degree = jnp.sum(up, axis=1)
    dtype = jnp.result_type(float)
    if network.rule == "uniform":
        neighbour = jnp.where(up, 1.0 / (1.0 + degree[:, None]), 0.0)
    else:
        neighbour = jnp.where(up, 1.0 / (1.0 + jnp.maximum(degree[:, None], degree[table])), 0.0)
    neighbour = neighbour.astype(dtype)
    own = 1.0 - jnp.sum(neighbour, axis=1, keepdims=True)
    # padding slots also point at k itself: only the first self slot carries the own weight
    first_self = is_self & (jnp.cumsum(is_self, axis=1) == 1)
    return Links(up | first_self, jnp.where(first_self, own, neighbour))


def combine(weights, neighbors, values):
    """out[k] = sum_j weights[k, j] values[neighbors[k, j]] for the rows held here.

    ``weights``/``neighbors``: (K_here, D) rows of the link tables; ``values``: (K, ...) every
    node's value (or at least every neighbour's). Dead slots have weight 0 and are masked, so
    non-finite values there cannot leak in.
    """
    values = _as_float(values)
    gathered = values[neighbors]  # (K_here, D, ...)
    w = jnp.asarray(weights, values.dtype).reshape(weights.shape + (1,) * (values.ndim - 1))
    return jnp.sum(jnp.where(w != 0, w * gathered, 0), axis=1)
