"""The likelihood-consensus distributed particle filter (bayeslstm.network.consensus_dpf): its
weights converge to the centralized particle filter's as the consensus rounds grow."""

import numpy as np

import bayeslstm as bl
from reference import linear_gaussian_stream

Q, R, S0 = 1e-3, 0.1, 1.0
LG = dict(model="linear-gaussian", model_options=dict(q=Q, r=R, prior_scale=S0))


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
