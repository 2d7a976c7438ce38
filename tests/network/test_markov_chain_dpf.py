"""The Markov-chain distributed particle filter (bayeslstm.network.markov_chain_dpf): node
estimates approach the exact centralized posterior as the random walks grow."""

import numpy as np

import bayeslstm as bl
from reference import kalman_filter, linear_gaussian_stream

Q, R, S0 = 1e-3, 0.1, 1.0
LG = dict(model="linear-gaussian", model_options=dict(q=Q, r=R, prior_scale=S0))


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
