"""Online model averaging: weights from the earlier labels' scores, the forgetting learnt,
the variance calibrated, a mixture never far behind its best member, and runs that cannot be
averaged refused."""

import numpy as np
import pytest
import xarray as xr
from scipy.special import logsumexp, softmax
from scipy.stats import norm

import bayeslstm as bl
from bayeslstm.engine.averaging import average_weights, learnt_weights, mean_scores, online_weights
from bayeslstm.engine.records import RunResult
from bayeslstm.errors import InputError, OptionError

Z90 = 1.6448536269514722


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
    average = bl.model_average(members, forgetting=0.98, pool="node", score="density")
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
    default = bl.model_average(members)
    assert default.final_tae <= 1.05 * best
    assert default.diagnostics["forgetting_weight"].shape == (5, stream.steps, stream.nodes)


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
    with pytest.raises(OptionError, match="score"):
        bl.model_average(members, score="crps")
    for bad in ((), (0.9, 0.9), (0.9, 1.5)):
        with pytest.raises(OptionError, match="forgetting"):
            bl.model_average(members, forgetting=bad)


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


def fake_runs(means, variances, labels, log_densities=None) -> dict:
    """RunResults that hold only forecasts: (member, T, K) means and variances of Gaussian
    predictives of (T, K) labels."""
    steps, nodes = labels.shape
    coords = {"time": np.arange(1, steps + 1), "node": np.arange(nodes)}
    if log_densities is None:
        log_densities = -0.5 * (np.log(2 * np.pi * variances) + (labels - means) ** 2 / variances)
    runs = {}
    for m in range(len(means)):
        diagnostics = xr.Dataset({"predictive_var": (("time", "node"), variances[m]),
                                  "log_pred_density": (("time", "node"), log_densities[m])}, coords=coords)
        runs[f"m{m}"] = RunResult(method=f"m{m}", predictions=means[m], labels=labels, observed=np.ones((steps, nodes), bool),
                                  tae=xr.DataArray(np.zeros((nodes, steps)), coords=coords, dims=("node", "time")),
                                  diagnostics=diagnostics, final_state=None, seconds=0.0, compilations=0, config={})
    return runs


def test_the_mean_score_is_each_members_mean_at_the_mixtures_own_variance():
    rng = np.random.default_rng(3)
    means, variances = rng.normal(size=(3, 8, 2)), rng.uniform(0.5, 2.0, size=(3, 8, 2))
    labels, observed = rng.normal(size=(8, 2)), np.ones((8, 2), bool)
    weights = online_weights(mean_scores(means, variances, labels), observed, 3, forgetting=0.7)
    log_w = np.zeros((3, 2))
    for t in range(8):
        w = softmax(log_w, axis=0)
        np.testing.assert_allclose(weights[:, t], w, rtol=1e-10)
        mix = (w * means[:, t]).sum(0)
        var = (w * (variances[:, t] + means[:, t] ** 2)).sum(0) - mix**2
        log_w = 0.7 * log_w + norm.logpdf(labels[t], means[:, t], np.sqrt(var))


def test_the_mean_score_follows_squared_error_where_the_density_score_follows_wide_tails():
    """Member 0 forecasts the signal with too small a variance; member 1 is biased by one
    noise sd but says so with a wide variance. Member 1 has the better log score, member 0
    half the squared error: the mean score follows member 0, the density score member 1."""
    rng = np.random.default_rng(4)
    signal = rng.normal(size=(600, 2))
    labels = signal + rng.normal(size=signal.shape)
    means = np.stack([signal, signal + 1.0])
    variances = np.stack([np.full(signal.shape, 0.25), np.full(signal.shape, 4.0)])
    runs = fake_runs(means, variances, labels)
    assert runs["m1"].diagnostics["log_pred_density"].mean() > runs["m0"].diagnostics["log_pred_density"].mean()
    by_mean = bl.model_average(runs, forgetting=1.0)
    by_density = bl.model_average(runs, forgetting=1.0, score="density")
    assert by_mean.diagnostics["weight"].values[0, -1].min() > 0.99
    assert by_density.diagnostics["weight"].values[1, -1].min() > 0.99
    tae = np.mean((labels - signal) ** 2)  # member 0's squared error
    assert by_mean.final_tae <= 1.02 * tae < by_density.final_tae


def test_the_forgetting_is_learnt_long_on_a_steady_series_and_short_on_a_changing_one():
    """Two members alternately best in blocks of 150 labels want a short memory; the same two
    with one better throughout want a long one. The worse member's error is the better one's
    plus noise, so no mixture of the two beats the better one alone."""
    rng = np.random.default_rng(5)
    steps = 1200
    labels = rng.normal(size=(steps, 1))
    good = labels + rng.normal(scale=0.8, size=labels.shape)
    bad = good + rng.normal(scale=0.6, size=labels.shape)
    switching = (np.arange(steps) // 150 % 2 == 0)[:, None]
    variances = np.ones((2, steps, 1))
    observed = np.ones((steps, 1), bool)
    factors = (1.0, 0.99, 0.95)
    steady = np.stack([good, bad])
    changing = np.stack([np.where(switching, good, bad), np.where(switching, bad, good)])
    for means, short_memory in ((steady, False), (changing, True)):
        weights, top = learnt_weights(means, variances, np.zeros_like(means), labels, observed, factors, "network",
                                      "mean")
        np.testing.assert_allclose(weights.sum(axis=0), 1.0, rtol=1e-12)
        assert (top[2, -1, 0] > 0.9) if short_memory else (top[2, -1, 0] < 0.1)


def test_calibrate_rescales_a_too_wide_mixture_to_cover_what_it_claims():
    """Members whose variance is 4 times their error cover about 99.9% of labels in a 90%
    interval; calibrated, the mixture covers about 90%, with a Gaussian log density."""
    rng = np.random.default_rng(6)
    labels = rng.normal(size=(800, 3))
    means = np.stack([labels + rng.normal(size=labels.shape) for _ in range(2)])
    runs = fake_runs(means, np.full(means.shape, 4.0), labels)
    plain, calibrated = bl.model_average(runs), bl.model_average(runs, calibrate=True)
    np.testing.assert_allclose(calibrated.predictions, plain.predictions)
    late = slice(400, None)

    def coverage(result):
        sd = np.sqrt(result.diagnostics["predictive_var"].values[late])
        return np.mean(np.abs(labels[late] - result.predictions[late]) <= Z90 * sd)

    assert coverage(plain) > 0.99 and 0.87 < coverage(calibrated) < 0.93
    var = calibrated.diagnostics["predictive_var"].values
    np.testing.assert_allclose(calibrated.diagnostics["log_pred_density"].values,
                               norm.logpdf(labels, calibrated.predictions, np.sqrt(var)), rtol=1e-9)
