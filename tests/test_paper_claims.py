"""The paper's synthetic claims on the default network (10 nodes, small-world graph), at a
size that fits the test budget. The full-size table is benchmarks/paper_synthetic.py."""

import pytest

import bayeslstm as bl
from bayeslstm.models import lstm_regression


@pytest.mark.slow
def test_distributed_beat_local_and_consensus_dpf_matches_centralized():
    teacher = lstm_regression(features=2, hidden=2, prior_scale=2.0)
    stream, _ = bl.teacher_stream(steps=300, nodes=10, features=2, min_len=2, max_len=8, noise_var=0.01,
                                  seed=0, model=teacher)
    student = dict(model_options=dict(hidden=2, prior_scale=1.0), seed=0)
    particles = dict(num_particles=200)
    tae = {
        "dpf": bl.run(stream, "dpf", walk_steps=10, **particles, **student).final_tae,
        "dpf-consensus": bl.run(stream, "dpf-consensus", **particles, **student).final_tae,
        "pf": bl.run(stream, "pf", **particles, **student).final_tae,
        "pf@centralized": bl.run(stream, "pf", fusion="centralized", **particles, **student).final_tae,
        "dekf": bl.run(stream, "dekf", **student).final_tae,
        "ekf": bl.run(stream, "ekf", **student).final_tae,
        "dsgd": bl.run(stream, "dsgd", **student).final_tae,
        "sgd": bl.run(stream, "sgd", **student).final_tae,
        "dadam": bl.run(stream, "dadam", **student).final_tae,
        "adam": bl.run(stream, "adam", **student).final_tae,
    }
    for distributed, alone in [("dpf", "pf"), ("dpf-consensus", "pf"), ("dekf", "ekf"), ("dsgd", "sgd"), ("dadam", "adam")]:
        assert tae[distributed] < tae[alone], (distributed, tae)
    assert tae["dpf-consensus"] < 1.15 * tae["pf@centralized"], tae
    # the filters beat the gradient methods (the paper's ranking at its gradient end)
    assert max(tae["dpf-consensus"], tae["dekf"]) < min(tae["dsgd"], tae["dadam"]), tae
