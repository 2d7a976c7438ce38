"""Online model averaging: weights from the earlier labels' log scores, a mixture never far
behind its best member, and runs that cannot be averaged refused."""

import numpy as np
import pytest
from scipy.special import logsumexp, softmax

import bayeslstm as bl
from bayeslstm.engine.averaging import average_weights
from bayeslstm.errors import InputError, OptionError


@pytest.fixture(scope="module")
def runs():
    stream, _ = bl.teacher_stream(steps=150, nodes=2, features=2, min_len=2, max_len=4, seed=2)
    setup = dict(model_options={"hidden": 2})
    return stream, {"ekf": bl.run(stream, "ekf", **setup), "sgd": bl.run(stream, "sgd", **setup),
                    "mean": bl.run(stream, "baseline-mean")}


def test_the_weights_are_a_softmax_of_the_discounted_earlier_scores():
    rng = np.random.default_rng(0)
    scores, observed = rng.normal(size=(3, 6, 2)), np.ones((6, 2), bool)
    observed[2, 1] = False
    weights = average_weights(scores, observed, forgetting=0.5)
    log_w = np.zeros((3, 2))
    for t in range(6):
        np.testing.assert_allclose(weights[:, t], softmax(log_w, axis=0), rtol=1e-12)
        log_w = np.where(observed[t], 0.5 * log_w + scores[:, t], log_w)


def test_pooled_weights_use_the_mean_score_of_the_nodes_that_saw_a_label():
    rng = np.random.default_rng(1)
    scores, observed = rng.normal(size=(3, 6, 4)), np.ones((6, 4), bool)
    observed[2, 1:] = False
    observed[4] = False  # no label anywhere: the weights stay
    weights = average_weights(scores, observed, forgetting=0.5, pool="network")
    log_w = np.zeros(3)
    for t in range(6):
        np.testing.assert_allclose(weights[:, t], softmax(log_w)[:, None].repeat(4, axis=1), rtol=1e-12)
        if observed[t].any():
            log_w = 0.5 * log_w + scores[:, t][:, observed[t]].mean(axis=1)


def test_the_mixture_scores_its_own_density_and_keeps_up_with_its_best_member(runs):
    stream, members = runs
    average = bl.model_average(members, forgetting=0.98, pool="node")
    w = average.diagnostics["weight"].values
    assert w.shape == (3, stream.steps, stream.nodes) and np.allclose(w.sum(axis=0), 1.0)
    np.testing.assert_allclose(w[:, 0], 1 / 3)  # no score yet: equal weights
    t, k = 40, 1
    means = np.array([m.predictions[t, k] for m in members.values()])
    scores = np.array([m.diagnostics["log_pred_density"].values[t, k] for m in members.values()])
    np.testing.assert_allclose(average.predictions[t, k], w[:, t, k] @ means, rtol=1e-9)
    np.testing.assert_allclose(average.diagnostics["log_pred_density"].values[t, k],
                               logsumexp(np.log(w[:, t, k]) + scores), rtol=1e-9)
    best = min(m.final_tae for m in members.values())
    assert average.final_tae <= 1.05 * best
    assert w[0, -1].mean() > 0.5  # the EKF, the best of the three here, carries the mixture by the end


def test_runs_that_cannot_be_averaged_are_refused(runs):
    stream, members = runs
    with pytest.raises(InputError, match="at least two runs"):
        bl.model_average({"ekf": members["ekf"]})
    other, _ = bl.teacher_stream(steps=150, nodes=2, features=2, min_len=2, max_len=4, seed=9)
    with pytest.raises(InputError, match="not made on the same stream"):
        bl.model_average({"ekf": members["ekf"], "other": bl.run(other, "baseline-mean")})
    with pytest.raises(InputError, match="record='full'"):
        bl.model_average({"a": bl.run(stream, "baseline-mean", record=10), "b": bl.run(stream, "baseline-last", record=10)})
    with pytest.raises(Exception, match="forgetting"):
        bl.model_average(members, forgetting=0.0)
    with pytest.raises(OptionError, match="pool"):
        bl.model_average(members, pool="graph")


def test_a_learner_and_a_naive_forecast_on_a_table_average_despite_unscored_cells():
    """Naive forecasts learn in the table's units and a learner in standardised ones: their
    labels agree wherever a label was scored, and differ (the offset against 0) where none was.
    A check that compared every cell refused to average them on any table with a gap."""
    ts = bl.load_dataset("concrete", max_steps=103)
    assert not ts.stream.observed.all()  # the gap this test is about
    members = {"sgd": bl.run(ts, "sgd", fusion="local", model_options={"hidden": 2}),
               "mean": bl.run(ts, "baseline-mean", fusion="local")}
    average = bl.model_average(members)
    scored = ts.stream.observed
    np.testing.assert_allclose(average.labels[scored], ts.labels[scored], rtol=1e-5)
    # a convex mixture of means errs no more than its worse member at any step (convexity)
    assert average.final_tae <= max(m.final_tae for m in members.values()) + 1e-9
