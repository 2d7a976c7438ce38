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


def _identical_to_node_zero(state) -> float:
    """Fraction of nodes whose particles and weights equal node 0's bit for bit."""
    P, W = np.asarray(state.particles), np.asarray(state.log_weights)
    return np.mean([(P[k] == P[0]).all() and (W[k] == W[0]).all() for k in range(P.shape[0])])


def test_every_node_holds_node_zeros_particles_bit_for_bit_over_300_steps():
    """Before the nodes agreed on their leader's weights, 64% of the node rows differed from
    node 0's after 60 steps of this kind (6-node ring, the default 20 rounds): each node
    resampled from its own, slightly different consensus weights."""
    stream, _ = bl.teacher_stream(steps=300, nodes=6, features=2, max_len=5, seed=1)
    res = bl.run(stream, "dpf-consensus", graph="ring", num_particles=64, ess_threshold=0.9,
                 model_options=dict(hidden=2), chunk_size=50, checkpoint=None)
    assert res.diagnostics["resampled"].values.sum() > 100  # resampling happened often
    assert _identical_to_node_zero(res.final_state) == 1.0
    assert (res.diagnostics["leader"].values == 0).all()


def test_a_node_that_was_away_takes_its_leaders_particles_when_it_rejoins():
    stream, _ = bl.teacher_stream(steps=40, nodes=6, features=2, max_len=5, seed=2)
    away = np.ones((40, 6), bool)
    away[10:20, 3] = False  # node 3 leaves for ten steps, frozen, then comes back
    res = bl.run(stream, "dpf-consensus", graph="ring", num_particles=32, ess_threshold=0.9,
                 model_options=dict(hidden=2), node_schedule=away)
    assert _identical_to_node_zero(res.final_state.inner) == 1.0
    floats = res.diagnostics["floats"].values
    assert floats[20, 3] > floats[21, 3] + 32 * 4  # the rejoin step also carried the particles


def test_with_many_rounds_the_tae_is_the_centralized_pfs_within_monte_carlo_error():
    """Over 4 seeds, with 200 consensus rounds, the consensus DPF's mean TAE is within one seed
    standard error (se) of the local PF's difference from the centralized PF (measured: within
    1e-5 se, since with exact agreement and shared keys it is the centralized PF up to rounding);
    the local PF, which does not cooperate, is more than 2 se away (measured 2.96 se)."""
    taes = {"dpf-consensus": [], "pf@centralized": [], "pf@local": []}
    for seed in range(4):
        stream, _ = bl.teacher_stream(steps=120, nodes=6, features=2, max_len=5, seed=10 + seed)
        for name, options in (("dpf-consensus", dict(graph="ring", consensus_iters=200)), ("pf@centralized", {}),
                              ("pf@local", {})):
            res = bl.run(stream, name, num_particles=128, seed=seed, model_options=dict(hidden=2), **options)
            taes[name].append(res.final_tae)
    diff = np.array(taes["dpf-consensus"]) - np.array(taes["pf@centralized"])
    local = np.array(taes["pf@local"]) - np.array(taes["pf@centralized"])
    se = local.std(ddof=1) / 2
    assert abs(diff.mean()) < se, taes
    assert local.mean() > 2 * se, taes
