"""The extended Kalman filter's update (bayeslstm.kernels.ekf) against the textbook formulas
in float64, and the declarations it refuses. (The whole filter against the exact Kalman
filter: tests/properties/test_exact.py.)"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from outliers import outlier_stream

from bayeslstm.errors import ModelError, OptionError
from bayeslstm.kernels.ekf import extended_kalman_filter, joseph_update
from bayeslstm.model.statespace import read_model
from bayeslstm.models import linear_gaussian

H = np.array([0.5, -1.0, 2.0])
MEAN = np.array([0.1, 0.2, -0.3])
R, RESIDUAL = 0.3, 0.7


def joseph(P, gain):
    """(I - K H) P (I - K H)^T + r K K^T, written out."""
    A = np.eye(3) - np.outer(gain, H)
    return A @ P @ A.T + R * np.outer(gain, gain)


def test_full_covariance_update_is_the_textbook_kalman_update():
    """Fails if the r K K^T term of the Joseph form or the gain's normalisation is wrong."""
    with jax.enable_x64(True):
        B = np.array([[1.0, 0.2, 0.0], [0.3, 0.8, 0.1], [0.0, -0.4, 0.6]])
        P = B @ B.T + 0.1 * np.eye(3)
        mean, cov, s = joseph_update(jnp.asarray(MEAN), jnp.asarray(P), jnp.asarray(H), RESIDUAL, R)
        s_expected = H @ P @ H + R
        gain = P @ H / s_expected
        assert float(s) == pytest.approx(s_expected, rel=1e-12)
        np.testing.assert_allclose(np.asarray(mean), MEAN + gain * RESIDUAL, rtol=1e-12)
        np.testing.assert_allclose(np.asarray(cov), joseph(P, gain), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(np.asarray(cov), P - np.outer(gain, H @ P), rtol=1e-10, atol=1e-12)  # optimal gain


def test_diagonal_covariance_update_is_the_diagonal_of_the_joseph_form():
    with jax.enable_x64(True):
        p = np.array([0.5, 2.0, 0.25])
        mean, var, s = joseph_update(jnp.asarray(MEAN), jnp.asarray(p), jnp.asarray(H), RESIDUAL, R)
        gain = p * H / (H @ (p * H) + R)
        assert var.shape == (3,)
        np.testing.assert_allclose(np.asarray(mean), MEAN + gain * RESIDUAL, rtol=1e-12)
        np.testing.assert_allclose(np.asarray(var), np.diag(joseph(np.diag(p), gain)), rtol=1e-10)


def test_options_and_declarations_are_checked():
    X, mask = np.ones((3, 2), np.float32), np.ones(3, bool)
    ssm = read_model(linear_gaussian(features=2), X, mask)
    with pytest.raises(OptionError, match="unknown EKF covariance 'sparse'"):
        extended_kalman_filter(ssm, covariance="sparse")
    with pytest.raises(OptionError, match="unknown EKF init 'zero'"):
        extended_kalman_filter(ssm, init="zero")
    with pytest.raises(ModelError, match="EKF needs a Gaussian random-walk transition"):
        extended_kalman_filter(ssm._replace(transition_var=None))
    state = extended_kalman_filter(ssm, init="prior-mean").init(jax.random.key(0))
    np.testing.assert_array_equal(np.asarray(state.mean), [0.0, 0.0])  # the prior mean, not a draw
    np.testing.assert_allclose(np.asarray(state.cov), np.eye(2))  # prior_scale 1


def test_robust_updates_keep_outliers_from_moving_the_weights():
    """5% of labels moved 20 label standard deviations: with robust=4 (Student-t weights) the
    late MSE on the clean labels stays within 10% of the outlier-free run (measured: 6%);
    without it, it is several times worse (measured: 6x)."""
    import bayeslstm as bl

    stream, d, late = outlier_stream()

    def late_mse(data, **options):
        result = bl.run(data, "ekf", model_options={"hidden": 2}, **options)
        return float(np.mean((result.predictions[late, 0] - stream.d[late, 0]) ** 2))

    clean = late_mse(stream, robust=4.0)
    assert late_mse(stream._replace(d=d), robust=4.0) <= 1.10 * clean
    assert late_mse(stream._replace(d=d)) > 2.0 * late_mse(stream)


def test_robust_must_be_positive():
    from bayeslstm.kernels.ekf import check_robust

    assert check_robust(None) is None and check_robust("4") == 4.0
    for bad in (0, -1, float("nan"), "x"):
        with pytest.raises(OptionError, match="robust"):
            check_robust(bad)


def _jump_stream(steps: int = 1200):
    """A teacher stream whose teacher (its weights) changes at the half."""
    import bayeslstm as bl

    halves = [bl.teacher_stream(steps=steps // 2, nodes=1, features=2, min_len=2, max_len=4, seed=s, noise_var=0.01)[0]
              for s in (1, 2)]
    return bl.Stream(*(np.concatenate(parts) for parts in zip(*halves)))


def test_learnt_process_noise_follows_a_jump_sooner_and_keeps_q_near_one_when_nothing_moves():
    """The teacher's weights change at T/2. With fading=0.9 the EKF's 50-step MSE is back within
    20% of its pre-jump level sooner than with the fixed q (measured: 24 against 82 steps), and
    its learnt scale of q is back near 1 at the end."""
    import bayeslstm as bl

    stream = _jump_stream()
    half = stream.steps // 2

    def recovery(result):
        e = (result.predictions[:, 0] - stream.d[:, 0]) ** 2
        before = e[half - 150:half].mean()
        return next(k for k in range(half, stream.steps - 50) if e[k:k + 50].mean() <= 1.2 * before) - half

    fixed = bl.run(stream, "ekf", model_options={"hidden": 4})
    learnt = bl.run(stream, "ekf", model_options={"hidden": 4}, fading=0.9)
    assert recovery(learnt) < 0.6 * recovery(fixed)
    assert learnt.final_state.level.shape == (1,) and 1.0 <= float(learnt.final_state.level[0]) < 10.0


def test_fading_must_lie_in_the_open_unit_interval():
    from bayeslstm.kernels.fading import check_fading

    assert check_fading(None) is None and check_fading(0.9) == 0.9
    for bad in (0, 1, 1.5, "x"):
        with pytest.raises(OptionError, match="fading"):
            check_fading(bad)
