"""The paper's synthetic claims on the default network (10 nodes, small-world graph), at a
size that fits the test budget. The full-size table is benchmarks/paper_synthetic.py.
Two tests (particle filters; EKF and gradient methods) so that test workers share the load."""

import numpy as np
import pytest

import bayeslstm as bl
from bayeslstm.models import lstm_regression

# conftest.py compiles with XLA's optimisation level 0 (the suite is mostly compiling); these
# runs are long, so they get the default level back (the Markov-chain DPF runs 5x faster).
STUDENT = dict(model_options=dict(hidden=2, prior_scale=1.0), seed=0, compiler_options={"xla_backend_optimization_level": 3})


@pytest.fixture(scope="module")
def stream():
    teacher = lstm_regression(features=2, hidden=2, prior_scale=2.0)
    s, _ = bl.teacher_stream(steps=300, nodes=10, features=2, min_len=2, max_len=8, noise_var=0.01, seed=0, model=teacher)
    return s


def final_tae(stream, spec, **options):
    method, _, fusion = spec.partition("@")
    result = bl.run(stream, method, fusion=fusion or None, **STUDENT, **options)
    assert np.all(np.isfinite(result.predictions))
    return result.final_tae


@pytest.mark.slow
def test_particle_filters_cooperate_consensus_dpf_matches_centralized_and_dpf_survives_faults(stream):
    """The consensus DPF ends within 6% of the centralized PF's TAE. Measured (200 particles):
    0.0728 against 0.0724, 0.5% above; a bound the methods that do not cooperate miss: the
    local PF ends 12.1% above (0.0812) and the consensus DPF with no consensus rounds 18.3%
    above (0.0856). (A 15% bound would let the local PF pass.)"""
    particles = dict(num_particles=200)
    tae = {
        "dpf": final_tae(stream, "dpf", walk_steps=10, **particles),
        "dpf-consensus": final_tae(stream, "dpf-consensus", **particles),
        "pf": final_tae(stream, "pf", **particles),
        "pf@centralized": final_tae(stream, "pf@centralized", **particles),
        "dsgd": final_tae(stream, "dsgd"),
        "dadam": final_tae(stream, "dadam"),
    }
    assert tae["dpf"] < tae["pf"] and tae["dpf-consensus"] < tae["pf"], tae
    assert tae["dpf-consensus"] < 1.06 * tae["pf@centralized"], tae
    assert tae["dpf-consensus"] < min(tae["dsgd"], tae["dadam"]), tae
    # The fault claim for the DPF, sharing the fault-free run above (the DEKF's is in
    # tests/network/test_faults.py): 20% of links down AND 10% of nodes away at random each step.
    faulty = final_tae(stream, "dpf", walk_steps=10, link_failure=0.2, node_dropout=0.1, **particles)
    assert faulty < 1.25 * tae["dpf"], (faulty, tae["dpf"])


@pytest.mark.slow
def test_diffusion_beats_local_for_ekf_and_gradient_methods(stream):
    tae = {spec: final_tae(stream, spec) for spec in ("dekf", "ekf", "dsgd", "sgd", "dadam", "adam")}
    for distributed, alone in [("dekf", "ekf"), ("dsgd", "sgd"), ("dadam", "adam")]:
        assert tae[distributed] < tae[alone], (distributed, tae)
    assert tae["dekf"] < min(tae["dsgd"], tae["dadam"]), tae
