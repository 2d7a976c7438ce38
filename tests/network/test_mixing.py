"""Mixing over the graph (bayeslstm.network.mixing): one combination step dense and by the
neighbour table, consensus to the exact mean, and the live links of a step under faults."""

import jax
import jax.numpy as jnp
import networkx as nx
import numpy as np
import pytest

from bayeslstm.network.graph import RULES, make_network
from bayeslstm.network.mixing import combine, consensus, live_links, mix
from bayeslstm.network.topology import topology


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
        expected = consensus(net, values, 4, dense=True)
        np.testing.assert_allclose(jax.jit(lambda v: consensus(net, v, 4, dense=flag))(values), expected, rtol=0, atol=1e-6)


def test_mix_table_ignores_padding_even_with_infinite_values():
    net = make_network(nx.star_graph(3))
    values = jnp.array([1.0, 2.0, 3.0, jnp.inf])
    out = mix(net, values, dense=False)
    assert np.isfinite(out[1]) and np.isfinite(out[2])
    assert out[3] == jnp.inf  # inf, not the nan that 0 * inf on a padding slot would give


def dense(network, links):
    """(K, K) C with C[l, k] the weight of l at k, from the link tables."""
    K = network.nodes
    C = np.zeros((K, K))
    for k in range(K):
        for j in range(network.neighbors.shape[1]):
            C[network.neighbors[k, j], k] += float(links.weights[k, j]) * bool(links.live[k, j])
    return C


def test_live_links_with_everything_up_are_the_graph_weights():
    for rule in ("metropolis", "uniform"):
        net = make_network(nx.connected_watts_strogatz_graph(9, 4, 0.3, seed=1), rule=rule)
        links = live_links(net)
        np.testing.assert_allclose(dense(net, links), net.combination, atol=1e-6)
        np.testing.assert_array_equal(np.asarray(links.live), net.neighbor_valid)


def test_failed_links_give_a_doubly_stochastic_matrix_on_the_live_edges(rng):
    net = make_network(nx.connected_watts_strogatz_graph(12, 4, 0.3, seed=2))
    edges = list(net.graph.edges)
    for _ in range(5):
        up = rng.random(len(edges)) > 0.4
        present = rng.random(12) > 0.2
        C = dense(net, live_links(net, up, present))
        np.testing.assert_allclose(C, C.T, atol=1e-6)
        np.testing.assert_allclose(C.sum(0), 1.0, atol=1e-6)
        for i, (u, v) in enumerate(edges):
            assert (C[u, v] > 0) == (up[i] and present[u] and present[v])
        for k in np.flatnonzero(~present):
            assert C[k, k] == pytest.approx(1.0)


def test_combine_ignores_dead_slots_even_if_their_values_are_infinite():
    net = make_network(nx.path_graph(3))
    up = np.array([False, True])  # edge (0, 1) down
    links = live_links(net, up)
    values = jnp.array([1.0, jnp.inf, 3.0])
    out = combine(links.weights, jnp.asarray(net.neighbors), values)
    assert float(out[0]) == 1.0 and not np.isfinite(float(out[1]))
