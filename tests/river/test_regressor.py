"""The river regressor: river's own estimator checks, the batch runner's numbers through
progressive validation, and bad input refused with the learner's state unchanged."""

import math
import pickle

import numpy as np
import pytest
from river import datasets, evaluate, metrics
from river.checks import check_estimator

import bayeslstm as bl
from bayeslstm.errors import InputError, OptionError
from bayeslstm.river.regressor import Regressor
from bayeslstm.river.streams import network_stream

SMALL = dict(window=3, hidden=2)


def _examples(steps: int = 24, seed: int = 0) -> list[tuple[dict, float]]:
    """A small stream of dicts with two features and a label they predict."""
    rng = np.random.default_rng(seed)
    xs = rng.normal(size=(steps, 2))
    ys = 0.8 * xs[:, 0] - 0.3 * xs[:, 1] + 0.1 * rng.normal(size=steps)
    return [({"a": float(a), "b": float(b)}, float(y)) for (a, b), y in zip(xs, ys)]


def test_river_check_estimator_passes():
    """River's own checks, on the EKF: the wrapper runs every method through the same online
    learner (bl.online_learner), so the protocol does not depend on the method (24 s a method)."""
    check_estimator(Regressor("ekf", **SMALL))


def test_progressive_validation_gives_the_batch_runs_predictions():
    """Predict-then-learn through river's protocol makes the predictions of bl.run on the same
    sequences (each step: the window of past x and the new one), with the same seed."""
    examples = _examples()
    regressor, predictions = Regressor("ekf", seed=3, **SMALL), []
    for x, y in examples:
        predictions.append(regressor.predict_one(x))
        regressor.learn_one(x, y)
    result = bl.run(network_stream([examples], window=3, standardize=False), "ekf", seed=3, model_options={"hidden": 2})
    np.testing.assert_allclose(predictions, result.predictions[:, 0], rtol=1e-5, atol=1e-6)
    mae = evaluate.progressive_val_score(examples, Regressor("ekf", seed=3, **SMALL), metrics.MAE())
    assert mae.get() == pytest.approx(float(np.mean(np.abs(result.predictions[:, 0] - result.labels[:, 0]))), rel=1e-5)


def test_the_predictive_distribution_is_gaussian_and_consistent():
    x, y = _examples(1)[0]
    regressor = Regressor("ekf", **SMALL)
    mean, variance = regressor.predict_mean_var_one(x)
    low, high = regressor.predict_interval_one(x, level=0.9)
    assert variance > 0 and low < mean < high
    assert (high - mean) == pytest.approx(1.6448536 * math.sqrt(variance), rel=1e-5)
    expected = -0.5 * (math.log(2 * math.pi * variance) + (y - mean) ** 2 / variance)
    assert regressor.log_score_one(x, y) == pytest.approx(expected)


def test_same_seed_same_numbers_and_a_pickle_round_trip_continues_the_run():
    examples = _examples(12)
    a, b = Regressor("ekf", seed=7, **SMALL), Regressor("ekf", seed=7, **SMALL)
    for x, y in examples[:6]:
        a.learn_one(x, y)
        b.learn_one(x, y)
    c = pickle.loads(pickle.dumps(a))
    for x, y in examples[6:]:
        assert a.predict_one(x) == b.predict_one(x) == c.predict_one(x)
        for regressor in (a, b, c):
            regressor.learn_one(x, y)


def test_missing_features_count_as_zero_and_new_ones_are_ignored_with_a_warning():
    regressor = Regressor("ekf", **SMALL)
    regressor.learn_one({"a": 1.0, "b": 0.0}, 1.0)
    assert regressor.predict_one({"a": 0.5}) == regressor.predict_one({"a": 0.5, "b": 0.0})
    with pytest.warns(UserWarning, match=r"\['c'\] were not in the first x"):
        regressor.predict_one({"a": 0.5, "c": 9.0})


@pytest.mark.parametrize("x, y, error, message", [
    ({"a": "red"}, 1.0, TypeError, "feature 'a' is 'red'"),
    ({"a": float("nan")}, 1.0, ValueError, "feature 'a' is nan"),
    ({"a": 1.0}, None, ValueError, "y must be a finite number; got None"),
    ({"a": 1.0}, float("nan"), ValueError, "y must be a finite number; got nan"),
    ({"a": 1.0}, "3", ValueError, "y must be a finite number; got '3'"),
])
def test_bad_examples_are_refused_and_leave_the_state_unchanged(x, y, error, message):
    regressor = Regressor("ekf", **SMALL)
    regressor.learn_one({"a": 0.2}, 0.1)
    before = pickle.dumps(regressor)
    with pytest.raises(error, match=message):
        regressor.learn_one(x, y)
    assert pickle.dumps(regressor) == before


@pytest.mark.parametrize("arguments, error, message", [
    (dict(method="nope"), OptionError, "nope"),
    (dict(method="dekf"), OptionError, "distributed method"),
    (dict(window=-1), InputError, "window must be a positive integer; got -1"),
    (dict(window=2.5), InputError, "window must be a positive integer"),
    (dict(hidden=0), InputError, "hidden must be a positive integer"),
    (dict(seed=-3), InputError, "seed must be a non-negative integer"),
    (dict(method="ekf", num_particles=4), OptionError, r"ekf takes no option \['num_particles'\]"),
])
def test_bad_settings_are_refused_when_built(arguments, error, message):
    with pytest.raises(error, match=message):
        Regressor(**arguments)


def test_river_streams_with_the_bundled_data_run_without_a_download():
    model = Regressor("ekf", **SMALL)
    mae = evaluate.progressive_val_score(datasets.TrumpApproval().take(30), model, metrics.MAE())
    assert math.isfinite(mae.get())
