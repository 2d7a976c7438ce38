"""Distributed fusion against exact answers and the centralized references."""

import jax
import networkx as nx
import numpy as np
import pytest

import bayeslstm as bl
from bayeslstm.errors import GraphError, OptionError
from bayeslstm.network.graph import make_network
from reference import kalman_filter, linear_gaussian_stream

Q, R, S0 = 1e-3, 0.1, 1.0
LG = dict(model="linear-gaussian", model_options=dict(q=Q, r=R, prior_scale=S0))


def test_dekf_on_complete_graph_with_uniform_weights_is_centralized_ekf():
    with jax.enable_x64(True):
        network = make_network(nx.complete_graph(4), rule="uniform")
        dekf = bl.run(linear_gaussian_stream(25, nodes=4, seed=3), "dekf", graph=network, init="prior-mean", **LG)
        cekf = bl.run(linear_gaussian_stream(25, nodes=4, seed=3), "ekf", fusion="centralized", init="prior-mean", **LG)
        np.testing.assert_allclose(dekf.predictions, cekf.predictions, rtol=1e-10, atol=1e-12)
        for k in range(4):
            np.testing.assert_allclose(np.asarray(dekf.final_state.mean[k]), np.asarray(cekf.final_state.mean), atol=1e-12)
        assert float(dekf.diagnostics["messages"].values[0, 0]) == 6  # data and estimate to 3 neighbours


def test_centralized_ekf_with_static_weights_is_exact_kalman_on_all_data():
    """q = 0: one filter over every node's example equals the exact filter over all of them."""
    with jax.enable_x64(True):
        stream = linear_gaussian_stream(20, nodes=3, seed=5)
        res = bl.run(stream, "ekf", fusion="centralized", init="prior-mean", model="linear-gaussian",
                     model_options=dict(q=0.0, r=R, prior_scale=S0))
        flat = bl.make_stream(stream.X.reshape(-1, 1, *stream.X.shape[2:]), stream.lengths.reshape(-1, 1),
                              stream.d.reshape(-1, 1))
        kf = kalman_filter(flat, 0, 0.0, R, S0)
        np.testing.assert_allclose(np.asarray(res.final_state.mean), kf["mean"], atol=1e-8)
        np.testing.assert_allclose(float(res.final_state.log_evidence), kf["log_evidence"], rtol=1e-8)


def _one_step_weights(stream, method, **options):
    res = bl.run(stream, method, seed=4, ess_threshold=1e-6, num_particles=256, **LG, **options)
    return np.asarray(res.final_state.log_weights)


def test_consensus_dpf_weights_converge_to_centralized_pf():
    stream = linear_gaussian_stream(1, nodes=6, seed=7)
    central = _one_step_weights(stream, "pf", fusion="centralized")
    errors = []
    for iters in (1, 4, 16, 400):
        w = _one_step_weights(stream, "dpf-consensus", graph="ring", consensus_iters=iters)
        errors.append(np.abs(np.exp(w) - np.exp(central)[None]).sum(axis=1).max())  # total variation x2
    assert errors[-1] < 1e-4, errors
    assert errors[0] > errors[1] > errors[2] > errors[3], errors


def test_markov_chain_dpf_approaches_centralized_as_walks_grow():
    """Node estimates of theta after one step, over seeds: the error to the exact posterior
    mean (Kalman filter on all nodes' data) shrinks as the walks get longer."""
    nodes = 5
    stream = linear_gaussian_stream(1, nodes=nodes, features=2, seed=11)
    flat = bl.make_stream(stream.X.reshape(nodes, 1, *stream.X.shape[2:]), stream.lengths.reshape(nodes, 1),
                          stream.d.reshape(nodes, 1))
    exact = kalman_filter(flat, 0, 0.0, R, np.sqrt(S0**2 + Q))["mean"]
    errs = {}
    for walk in (1, 5, 30):
        e = []
        for seed in range(3):
            res = bl.run(stream, "dpf", graph="complete", walk_steps=walk, num_particles=500, seed=seed, **LG)
            est = np.asarray(res.final_state.particles).mean(axis=1)  # equally weighted after resampling
            e.append(((est - exact) ** 2).sum(axis=1).mean())
        errs[walk] = np.mean(e)
    assert errs[1] > errs[5] > errs[30], errs
    assert errs[30] < 0.1 * errs[1], errs


def test_distributed_methods_report_traffic_and_occupancy():
    stream, _ = bl.teacher_stream(steps=6, nodes=4, features=2, max_len=4, seed=0)
    small = dict(model_options=dict(hidden=2))
    dpf = bl.run(stream, "dpf", graph="ring", num_particles=50, walk_steps=3, **small)
    assert dpf.diagnostics["occupancy"].values.sum(axis=1).tolist() == [200.0] * 6
    assert (dpf.diagnostics["floats"].values >= 0).all()
    cons = bl.run(stream, "dpf-consensus", graph="ring", num_particles=50, consensus_iters=3, **small)
    assert cons.diagnostics["floats"].values[0, 0] == 3 * 2 * 50  # L iterations x 2 neighbours x N
    sgd = bl.run(stream, "dsgd", graph="ring", **small)
    assert sgd.diagnostics["messages"].values[0, 0] == 2


def test_graph_problems_are_refused():
    stream, _ = bl.teacher_stream(steps=3, nodes=4, features=2, max_len=4, seed=0)
    with pytest.raises(GraphError, match="allow_disconnected"):
        bl.run(stream, "dekf", graph=nx.empty_graph(4))
    bl.run(stream, "dekf", graph=nx.empty_graph(4), allow_disconnected=True, model_options=dict(hidden=2))
    with pytest.raises(GraphError, match="5 nodes"):
        bl.run(stream, "dekf", graph=nx.path_graph(5))
    with pytest.raises(GraphError, match="doubly stochastic"):
        bl.run(stream, "dpf", graph="star", rule="uniform")
    with pytest.raises(OptionError, match="distributed method"):
        bl.run(stream, "dpf", fusion="local")
    with pytest.raises(OptionError, match="walk_steps"):
        bl.run(stream, "dpf", walk_steps=0)
