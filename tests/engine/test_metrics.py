"""How runs are scored (bayeslstm.engine.metrics): the time-accumulated error against a plain
loop, the late-window error against a number worked out by hand, and original units."""

import numpy as np
import pytest

from bayeslstm.engine.metrics import accumulate_tae, late_mse, time_accumulated_error, to_units
from bayeslstm.errors import OptionError


def test_time_accumulated_error_is_the_running_mean_over_observed_labels(rng):
    T, K = 30, 3
    predictions, labels = rng.normal(size=(T, K)), rng.normal(size=(T, K))
    observed = rng.random((T, K)) > 0.3
    observed[:4, 2] = False  # node 2 has no label for four steps: NaN until its first
    expected = np.full((T, K), np.nan)
    for k in range(K):
        total, count = 0.0, 0
        for t in range(T):
            if observed[t, k]:
                total += (labels[t, k] - predictions[t, k]) ** 2
                count += 1
            if count:
                expected[t, k] = total / count
    np.testing.assert_allclose(time_accumulated_error(predictions, labels, observed), expected, rtol=1e-12)


def test_accumulating_in_pieces_gives_the_same_bits(rng):
    """A run's chunks carry the running sums: any split gives what one pass gives."""
    predictions, labels = rng.normal(size=(20, 2)), rng.normal(size=(20, 2))
    observed = rng.random((20, 2)) > 0.2
    whole = accumulate_tae(None, None, predictions, labels, observed)
    sq_sum, count, first = accumulate_tae(None, None, predictions[:7], labels[:7], observed[:7])
    sq_sum, count, second = accumulate_tae(sq_sum, count, predictions[7:], labels[7:], observed[7:])
    np.testing.assert_array_equal(np.concatenate([first, second]), whole[2])
    np.testing.assert_array_equal(sq_sum, whole[0])
    np.testing.assert_array_equal(count, whole[1])


def test_late_mse_by_hand():
    """Node 0 sees all 8 labels with squared errors 1, 4, .., 64: its last quarter is steps 7 and
    8, (49 + 64) / 2 = 56.5. Node 1 sees 3 labels (errors 0, 1, 4): a quarter of 3 rounds down,
    but at least one is kept: 4. Node 2 sees none and does not count: (56.5 + 4) / 2 = 30.25.
    Taking the last quarter of all steps rather than of each node's labels would give another number."""
    T = 8
    labels = np.zeros((T, 3))
    predictions = np.zeros((T, 3))
    predictions[:, 0] = np.arange(1, T + 1)
    observed = np.zeros((T, 3), bool)
    observed[:, 0] = True
    observed[[1, 3, 4], 1] = True
    predictions[[1, 3, 4], 1] = [0.0, 1.0, 2.0]
    predictions[[5, 6, 7], 1] = 100.0  # not observed: never scored
    assert late_mse(predictions, labels, observed) == pytest.approx(30.25)
    assert late_mse(predictions, labels, observed, fraction=1.0) == pytest.approx((204 / 8 + 5 / 3) / 2)
    assert np.isnan(late_mse(predictions, labels, np.zeros((T, 3), bool)))
    with pytest.raises(OptionError, match="fraction must be in"):
        late_mse(predictions, labels, observed, fraction=0.0)


def test_original_units():
    """original = offset + scale * standardised; variances scale by scale^2, log densities
    shift by -log(scale)."""
    infos = {"prediction": np.array([[0.5, -1.0]]), "predictive_var": np.array([[2.0, 0.5]]),
             "log_pred_density": np.array([[-1.0, -2.0]]), "ess": np.array([[7.0, 8.0]])}
    offset, scale = np.array([[10.0, 100.0]]), np.array([[2.0, 4.0]])
    out, labels = to_units(infos, np.array([[1.0, 0.0]]), offset, scale)
    np.testing.assert_allclose(out["prediction"], [[11.0, 96.0]])
    np.testing.assert_allclose(out["predictive_var"], [[8.0, 8.0]])
    np.testing.assert_allclose(out["log_pred_density"], [[-1.0 - np.log(2.0), -2.0 - np.log(4.0)]])
    np.testing.assert_array_equal(out["ess"], infos["ess"])  # anything else is left as it is
    np.testing.assert_allclose(labels, [[12.0, 100.0]])
