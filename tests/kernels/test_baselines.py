"""The trivial baselines (bayeslstm.kernels.baselines) on a tiny stream, with exact numbers:
``baseline-mean`` predicts the running mean of the past labels, ``baseline-last`` the previous
label (or the last value of an input column), both with the mean of their own past squared
errors as the predictive variance."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayeslstm.errors import OptionError
from bayeslstm.kernels.baselines import baseline
from bayeslstm.kernels.protocol import Batch, gaussian_log_density, single

LABELS = [1.0, 3.0, 2.0, 6.0]
X, MASK = jnp.zeros((3, 2)), jnp.array([True, True, False])


def predictions(kind, batches):
    kernel = baseline(kind)
    state = kernel.init(jax.random.key(0))
    out = []
    for batch in batches:
        state, info = kernel.step(jax.random.key(1), state, batch)
        out.append(info)
    return out


@pytest.mark.parametrize("kind, expected, var", [("mean", [0.0, 1.0, 2.0, 2.0], [1.0, 1.0, 7 / 3, 6 / 4]),
                                                  ("last", [0.0, 1.0, 3.0, 2.0], [1.0, 1.0, 7 / 3, 7 / 4])])
def test_predictions_before_each_label(kind, expected, var):
    """Labels 1, 3, 2, 6: the running means before them are 0 (nothing seen), 1, 2, 2 and the
    previous labels 0, 1, 3, 2. The variance is the mean of the squared errors of the forecasts
    made after a label was seen, with two more: the labels' sample variance (1 before two
    labels) and 1. So 1, 1, then (4 + 2 + 1) / 3 for both, then (4 + 0 + 1 + 1) / 4 for the
    mean and (4 + 1 + 1 + 1) / 4 for the last value."""
    infos = predictions(kind, [single(X, MASK, jnp.asarray(d)) for d in LABELS])
    np.testing.assert_allclose([float(i.prediction[0]) for i in infos], expected, rtol=1e-6)
    np.testing.assert_allclose([float(i.predictive_var[0]) for i in infos], var, rtol=1e-6)
    log_density = gaussian_log_density(jnp.asarray(LABELS), jnp.asarray(expected), jnp.asarray(var))
    np.testing.assert_allclose([float(i.log_pred_density[0]) for i in infos], np.asarray(log_density), rtol=1e-6)


@pytest.mark.parametrize("kind", ["mean", "last"])
def test_entries_that_are_not_valid_are_predicted_but_not_learnt(kind):
    """A batch of labels 4 (valid) and 100 (not valid): both are predicted; the next step
    predicts 4, never anything moved by the 100."""
    both = Batch(jnp.zeros((2, 3, 2)), jnp.ones((2, 3), bool), jnp.array([4.0, 100.0]), jnp.array([True, False]))
    first, second = predictions(kind, [both, single(X, MASK, jnp.asarray(0.0))])
    assert first.prediction.shape == (2,)
    assert float(second.prediction[0]) == 4.0


@pytest.mark.parametrize("kind", ["mean", "last"])
def test_centralized_batches_give_the_running_mean_and_variance_of_valid_labels(kind):
    """Batches of three labels, some flagged not valid (with labels of 100 that must not count):
    before each batch the prediction is the mean (or the last) of every valid label so far and
    the variance the mean squared error of the forecasts of valid labels made after one was
    seen, with their sample variance and 1 as two more, as NumPy computes them over the flat list. A running
    variance that took in the invalid labels would be thousands of times too large."""
    labels = np.array([[1.0, 2.0, 100.0], [4.0, 100.0, 0.5], [100.0, 100.0, 100.0], [3.0, -2.0, 7.0], [0.0, 1.0, 2.0]])
    valid = np.array([[True, True, False], [True, False, True], [False, False, False], [True, True, True],
                      [True, True, True]])
    batches = [Batch(jnp.zeros((3, 2, 2)), jnp.ones((3, 2), bool), jnp.asarray(d), jnp.asarray(v))
               for d, v in zip(labels, valid)]
    infos = predictions(kind, batches)
    seen, errors = [], []
    for t, info in enumerate(infos):
        if seen:
            expected = np.mean(seen) if kind == "mean" else seen[-1]
            np.testing.assert_allclose(np.asarray(info.prediction), expected, rtol=1e-6)
        prior = np.var(seen, ddof=1) if len(seen) > 1 else 1.0
        np.testing.assert_allclose(np.asarray(info.predictive_var), (np.sum(errors) + prior + 1) / (len(errors) + 2),
                                   rtol=1e-6)
        if seen:
            errors += list((labels[t][valid[t]] - np.asarray(info.prediction)[valid[t]]) ** 2)
        seen += list(labels[t][valid[t]])


def test_last_of_an_input_column():
    """``target_feature=1``: the last valid row's column 1 (0.5 here, not the padded 9)."""
    kernel = baseline("last", target_feature=1)
    Xs = jnp.array([[0.0, 7.0], [0.0, 0.5], [9.0, 9.0]])
    _, info = kernel.step(jax.random.key(1), kernel.init(jax.random.key(0)), single(Xs, MASK, jnp.asarray(2.0)))
    assert float(info.prediction[0]) == 0.5
    with pytest.raises(OptionError, match="target_feature=5 but the inputs have 2 columns"):
        baseline("last", target_feature=5).step(jax.random.key(1), kernel.init(jax.random.key(0)),
                                                single(Xs, MASK, jnp.asarray(2.0)))


def test_bad_kinds_and_columns_are_refused():
    with pytest.raises(OptionError, match="'last' or 'mean'"):
        baseline("median")
    with pytest.raises(OptionError, match="target_feature must be a whole number >= 0"):
        baseline("last", target_feature=-1)
    assert baseline("mean").posterior(None) is None  # no weights are learnt


def test_on_a_real_table_they_are_running_statistics_of_its_labels_in_its_units():
    """On a table stream the baselines learn from the labels as given: each node's prediction is
    the mean, or the last, of its own past labels in MPa (computed here by hand), the centralized
    mean that of every node's past labels; before any label, the table's running mean."""
    import bayeslstm as bl

    ts = bl.load_dataset("concrete", nodes=2, max_steps=20)
    assert ts.target not in ts.features  # baseline-last is the previous label
    mean, last = bl.run(ts, "baseline-mean"), bl.run(ts, "baseline-last")
    pooled = bl.run(ts, "baseline-mean", fusion="centralized")
    labels = np.where(ts.stream.observed, ts.labels, np.nan)
    for k in range(2):
        for t in range(1, 20):
            past = labels[:t, k][~np.isnan(labels[:t, k])]
            np.testing.assert_allclose(mean.predictions[t, k], past.mean(), rtol=1e-5)
            np.testing.assert_allclose(last.predictions[t, k], past[-1], rtol=1e-5)
            np.testing.assert_allclose(pooled.predictions[t, k], np.nanmean(labels[:t]), rtol=1e-5)
    np.testing.assert_allclose(mean.predictions[0], ts.label_offset[0, 0], rtol=1e-5)
    errors = (mean.predictions - ts.labels) ** 2
    np.testing.assert_allclose(mean.final_tae, np.nanmean(errors[ts.stream.observed]), rtol=1e-4)
