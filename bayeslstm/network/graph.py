"""The network: a checked graph, its combination matrix and its neighbour tables.

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
  :func:`neighbour_weight` is the one place either rule is written: the matrix here and the
  per-step weights over live links (:func:`bayeslstm.network.mixing.live_links`) both use it.
"""

from __future__ import annotations

from typing import NamedTuple

import networkx as nx
import numpy as np

from ..errors import GraphError, choose

RULES = ("metropolis", "uniform")


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


def neighbour_weight(rule: str, own_degree, neighbour_degree, xp=np):
    """Weight of a neighbour's value in a node's combination, from the two nodes' degrees
    (neighbours, not counting themselves). Metropolis-Hastings: 1 / (1 + max(deg_k, deg_l));
    uniform: 1 / (1 + deg_k). The node's own weight is one minus the sum over its neighbours.
    ``xp`` is ``numpy`` or ``jax.numpy``."""
    if rule == "uniform":
        return 1.0 / (1.0 + own_degree)
    return 1.0 / (1.0 + xp.maximum(own_degree, neighbour_degree))


def combination_matrix(graph: nx.Graph, rule: str = "metropolis") -> np.ndarray:
    """(K, K) C with C[l, k] the weight of l's value at k; columns sum to 1. Nodes in sorted order."""
    choose("combination rule", rule, RULES)
    A = _adjacency(_check(graph))
    deg = A.sum(axis=1)
    C = np.where(A, neighbour_weight(rule, deg[None, :], deg[:, None]), 0.0)
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


def slot_edges(network: Network) -> np.ndarray:
    """(K, D) index into ``list(network.graph.edges)`` of the edge behind each table slot; -1 for
    the self slot and padding. Both directions of an undirected edge share one index."""
    index = {frozenset(e): i for i, e in enumerate(network.graph.edges)}
    K, D = network.neighbors.shape
    out = np.full((K, D), -1, np.int32)
    for k in range(K):
        for j in range(D):
            other = int(network.neighbors[k, j])
            if network.neighbor_valid[k, j] and other != k:
                out[k, j] = index[frozenset((k, other))]
    return out
