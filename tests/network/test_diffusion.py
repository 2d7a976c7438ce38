"""Diffusion, adapt then combine (bayeslstm.network.diffusion): on a complete graph with uniform
weights the DEKF is exactly the centralized EKF."""

import jax
import networkx as nx
import numpy as np

import bayeslstm as bl
from bayeslstm.network.graph import make_network
from reference import linear_gaussian_stream

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
