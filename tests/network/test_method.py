"""The network-level method (bayeslstm.network.method): per-node keys, the nodes' own batches
and per-node info, the node axis in chunks with the numbers of one ``vmap``, and the traffic
every distributed method reports."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bayeslstm as bl
from bayeslstm.errors import GraphError
from bayeslstm.network.graph import make_network
from bayeslstm.network.method import StepData, check_nodes, info_per_node, node_keys, own_batch
from bayeslstm.network.topology import topology


def test_node_keys_fold_in_each_global_node_id():
    """The keys of nodes 5 and 2 are the same whether all nodes are keyed or only those two
    (what makes sharded and unsharded runs draw the same numbers); splitting would not be."""
    key = jax.random.key(7)
    every = jax.random.key_data(node_keys(key, 6))
    some = jax.random.key_data(node_keys(key, jnp.array([5, 2])))
    for k in range(6):
        np.testing.assert_array_equal(np.asarray(every[k]), np.asarray(jax.random.key_data(jax.random.fold_in(key, k))))
    np.testing.assert_array_equal(np.asarray(some), np.asarray(every[jnp.array([5, 2])]))


def test_own_batch_and_info_per_node():
    data = StepData(jnp.arange(24.0).reshape(3, 4, 2), jnp.ones((3, 4), bool), jnp.array([1.0, 2.0, 3.0]),
                    jnp.array([True, False, True]))
    batch = own_batch(data)
    assert batch.X.shape == (3, 1, 4, 2) and batch.d.shape == (3, 1)
    np.testing.assert_array_equal(np.asarray(batch.valid[:, 0]), [True, False, True])

    class Info(NamedTuple):
        prediction: jax.Array
        predictive_var: jax.Array
        log_pred_density: jax.Array
        ess: jax.Array

    entries = jnp.arange(6.0).reshape(3, 2)  # two batch entries per node
    info = Info(entries, entries + 10, entries + 20, jnp.asarray(5.0))
    first = info_per_node(info, 3)
    np.testing.assert_array_equal(np.asarray(first["prediction"]), [0.0, 2.0, 4.0])  # each node's entry 0
    np.testing.assert_array_equal(np.asarray(first["ess"]), [5.0, 5.0, 5.0])  # a scalar for every node
    chosen = info_per_node(info, 3, entry=jnp.array([1, 0, 1]))
    np.testing.assert_array_equal(np.asarray(chosen["log_pred_density"]), [21.0, 22.0, 25.0])


def test_data_for_another_node_count_is_refused():
    with pytest.raises(GraphError, match="the graph has 4 nodes but the data has 5"):
        check_nodes(make_network(topology("ring", 4)), 5)


def test_node_map_in_chunks_equals_one_vmap(monkeypatch):
    from bayeslstm.network import method as fusion

    def per_node(key, state, scale):
        noise = jax.random.normal(key, state["x"].shape)
        return {"x": state["x"] * scale + noise, "total": jnp.sum(state["x"])}, scale * 2

    K = 7
    keys = fusion.node_keys(jax.random.key(1), K)
    state = {"x": jax.random.normal(jax.random.key(2), (K, 5, 3))}
    scale = jnp.arange(K, dtype=jnp.float32)
    plain = jax.vmap(per_node)(keys, state, scale)
    per_node_bytes = 5 * 3 * 4 + 4 + 8
    monkeypatch.setattr(fusion, "NODE_CHUNK_BYTES", 3 * per_node_bytes)  # chunks of 3: 3 + 3 + 1
    chunked = jax.jit(lambda *a: fusion.node_map(per_node, *a))(keys, state, scale)
    jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-6), chunked, plain)
    if jax.default_backend() == "cpu":  # the chunked path was taken: a scan over chunks is in the program
        text = jax.jit(lambda *a: fusion.node_map(per_node, *a)).lower(keys, state, scale).as_text()
        assert "while" in text


def test_distributed_methods_report_traffic_and_occupancy():
    """On a 4-ring with Metropolis weights a walking particle stays put with probability 1/3 at
    each of its S = 3 steps, so a node sends N S 2/3 = 100 particles a step on average
    (measured: 99.9 over the 24 node-steps; counting the steps a particle stays would give
    150), each carrying its dim = 42 weights. On top of the walks the nodes learn their live
    group's size: a flood (leader 0; node 2 hears of it after two changes, nodes 1 and 3 after
    one; 3 numbers to each neighbour at the start and on every change) and a count up and down
    the tree (node 0 has children 1 and 3, node 1 has child 2): [4, 6, 7, 5] messages and
    [8, 14, 19, 13] numbers a step. With every link down nothing is sent and every node ends
    each step with exactly its own N particles."""
    stream, _ = bl.teacher_stream(steps=6, nodes=4, features=2, max_len=4, seed=0)
    small = dict(model_options=dict(hidden=2))
    dpf = bl.run(stream, "dpf", graph="ring", num_particles=50, walk_steps=3, **small)
    messages = dpf.diagnostics["messages"].values - [4, 6, 7, 5]
    floats = dpf.diagnostics["floats"].values - [8, 14, 19, 13]
    assert abs(messages.mean() - 100.0) < 10.0, messages
    np.testing.assert_array_equal(floats, 42 * messages)
    assert np.any(dpf.diagnostics["occupancy"].values != 50.0)  # particles do change nodes
    cut = bl.run(stream, "dpf", graph="ring", num_particles=50, walk_steps=3, link_schedule=np.zeros((1, 4), bool),
                 **small)
    np.testing.assert_array_equal(cut.diagnostics["occupancy"].values, 50.0)
    np.testing.assert_array_equal(cut.diagnostics["messages"].values, 0.0)
    # on a 4-path (leader 0, depths 0-3) the flood's triples change 0, 1, 2, 3 times; each node
    # sends 3 numbers to each neighbour at the start and on every change, and N + 1 up and down the tree
    path = bl.run(stream, "dpf-consensus", graph="path", num_particles=50, **small)
    np.testing.assert_array_equal(path.diagnostics["floats"].values[0], [3 * 1 + 51, 3 * 4 + 102, 3 * 6 + 102, 3 * 4 + 51])
    average = bl.run(stream, "dpf-consensus", graph="path", num_particles=50, consensus="average", consensus_iters=3,
                     **small)
    # L rounds of N numbers to each neighbour, the size and label count up, the leader's N + 1 down
    np.testing.assert_array_equal(average.diagnostics["floats"].values[0],
                                  [3 * 1 + 3 * 50 + 51, 3 * 4 + 6 * 50 + 2 + 51, 3 * 6 + 6 * 50 + 2 + 51, 3 * 4 + 3 * 50 + 2])
    sgd = bl.run(stream, "dsgd", graph="ring", **small)
    assert sgd.diagnostics["messages"].values[0, 0] == 2
