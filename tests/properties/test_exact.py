"""Kernels against exact answers on the linear-Gaussian model (Kalman filter)."""

import jax
import numpy as np
import pytest

import bayeslstm as bl
from reference import kalman_filter, linear_gaussian_stream

Q, R, S0 = 1e-3, 0.1, 1.0
LG = dict(q=Q, r=R, prior_scale=S0)


@pytest.mark.parametrize("nodes", [1, 3])
def test_ekf_equals_kalman_filter_float64(nodes):
    with jax.enable_x64(True):
        stream = linear_gaussian_stream(40, nodes=nodes, features=3, q=Q, r=R, prior_scale=S0, seed=1)
        res = bl.run(stream, "ekf", model="linear-gaussian", model_options=LG, init="prior-mean")
        for k in range(nodes):
            kf = kalman_filter(stream, k, Q, R, S0)
            np.testing.assert_allclose(res.predictions[:, k], kf["prediction"], atol=1e-5, rtol=1e-5)
            np.testing.assert_allclose(res.diagnostics["predictive_var"].values[:, k], kf["predictive_var"], rtol=1e-5)
            np.testing.assert_allclose(np.asarray(res.final_state.mean[k]), kf["mean"], atol=1e-5)
            np.testing.assert_allclose(np.asarray(res.final_state.cov[k]), kf["cov"], atol=1e-5)
            np.testing.assert_allclose(float(res.final_state.log_evidence[k]), kf["log_evidence"], rtol=1e-5)


def diagonal_joseph_filter(stream, node, q, r, prior_scale):
    """The diagonal EKF written out in float64 for theta_t = theta_{t-1} + N(0, qI),
    d_t = theta_t . xbar_t + N(0, r): P stays diagonal, p_i += q, and each update keeps the
    diagonal of the Joseph form, p_i <- (1 - K_i H_i)^2 p_i + K_i^2 (sum_{j != i} H_j^2 p_j + r)."""
    p = np.full(stream.features, prior_scale**2)
    m = np.zeros(stream.features)
    preds, pred_vars = [], []
    for t in range(stream.steps):
        p = p + q
        H = stream.X[t, node, :stream.lengths[t, node]].astype(np.float64).mean(0)
        f, s = H @ m, H @ (p * H) + r
        preds.append(f)
        pred_vars.append(s)
        gain = p * H / s
        m = m + gain * (float(stream.d[t, node]) - f)
        p = (1.0 - gain * H) ** 2 * p + gain**2 * (np.sum(H**2 * p) - H**2 * p + r)
    return np.array(preds), np.array(pred_vars), m, p


def test_diagonal_ekf_with_several_weights_is_the_diagonal_joseph_filter():
    """Three weights, 40 steps, float64: predictions, predictive variances and the final mean
    and variances equal the diagonal filter written out (measured: within 5e-16). Dropping the
    cross term K_i^2 sum_{j != i} H_j^2 p_j (zero with one weight) moves the predictions by
    0.057 and the predictive variances by 0.14; the bound is 1e-10. (The diagonal filter is an
    approximation: it is 0.26 away from the exact Kalman filter's predictions here.)"""
    with jax.enable_x64(True):
        stream = linear_gaussian_stream(40, features=3, q=Q, r=R, prior_scale=S0, seed=1)
        res = bl.run(stream, "ekf", model="linear-gaussian", model_options=LG, init="prior-mean", covariance="diagonal")
        preds, pred_vars, mean, var = diagonal_joseph_filter(stream, 0, Q, R, S0)
        np.testing.assert_allclose(res.predictions[:, 0], preds, rtol=0, atol=1e-10)
        np.testing.assert_allclose(res.diagnostics["predictive_var"].values[:, 0], pred_vars, rtol=0, atol=1e-10)
        np.testing.assert_allclose(np.asarray(res.final_state.mean[0]), mean, rtol=0, atol=1e-10)
        np.testing.assert_allclose(np.asarray(res.final_state.cov[0]), var, rtol=0, atol=1e-12)


def test_diagonal_ekf_is_exact_for_one_parameter():
    """With one weight the diagonal and full covariances coincide, so both are exact."""
    with jax.enable_x64(True):
        stream = linear_gaussian_stream(30, features=1, q=Q, r=R, prior_scale=S0, seed=2)
        res = bl.run(stream, "ekf", model="linear-gaussian", model_options=LG, init="prior-mean", covariance="diagonal")
        kf = kalman_filter(stream, 0, Q, R, S0)
        np.testing.assert_allclose(res.predictions[:, 0], kf["prediction"], atol=1e-6)


@pytest.mark.parametrize("resampling, ess_threshold", [("systematic", 0.5), ("systematic", 1.0), ("residual", 0.5)])
def test_particle_filter_evidence_is_unbiased(resampling, ess_threshold):
    """The PF's evidence estimate Z_hat is unbiased: mean(Z_hat / Z) within 3 standard errors of 1,
    and mean log Z_hat within 3 standard errors of log Z (plus the small Jensen gap)."""
    replicas = 24
    stream = linear_gaussian_stream(25, nodes=replicas, features=2, q=Q, r=R, prior_scale=S0, seed=3, replicate=True)
    kf = kalman_filter(stream, 0, Q, R, S0)
    res = bl.run(stream, "pf", model="linear-gaussian", model_options=LG, num_particles=1000,
                 ess_threshold=ess_threshold, resampling=resampling, seed=11)
    log_z = np.asarray(res.final_state.log_evidence, np.float64)
    ratio = np.exp(log_z - kf["log_evidence"])
    se = ratio.std(ddof=1) / np.sqrt(replicas)
    assert abs(ratio.mean() - 1.0) < 3 * se + 1e-3, (ratio.mean(), se)
    log_se = log_z.std(ddof=1) / np.sqrt(replicas)
    jensen = 0.5 * log_z.var(ddof=1)
    assert abs(log_z.mean() - kf["log_evidence"]) < 3 * log_se + jensen + 1e-3
    if ess_threshold == 1.0:
        assert res.diagnostics["resampled"].values.all()
    else:
        assert not res.diagnostics["resampled"].values.all()


@pytest.fixture(scope="module")
def tracked():
    """Eight replicas of one linear-Gaussian stream (30 steps), a 2000-particle filter on each,
    and the exact Kalman filter."""
    replicas = 8
    stream = linear_gaussian_stream(30, nodes=replicas, features=2, q=Q, r=R, prior_scale=S0, seed=4, replicate=True)
    kf = kalman_filter(stream, 0, Q, R, S0)
    res = bl.run(stream, "pf", model="linear-gaussian", model_options=LG, num_particles=2000, seed=5)
    return kf, res


def test_particle_filter_filtering_means_track_kalman(tracked):
    kf, res = tracked
    state = res.final_state
    w = np.exp(np.asarray(state.log_weights, np.float64))
    means = np.einsum("kn,knd->kd", w, np.asarray(state.particles, np.float64))
    sd = np.sqrt(np.diag(kf["cov"]))
    assert np.all(np.abs(means.mean(0) - kf["mean"]) < 0.1 * sd), (means.mean(0), kf["mean"], sd)
    # one-step predictions follow the exact ones within a small fraction of the predictive sd
    err = np.abs(res.predictions - kf["prediction"][:, None]) / np.sqrt(kf["predictive_var"])[:, None]
    assert err.mean() < 0.05


def test_particle_filter_predictive_variance_is_the_kalman_filters(tracked):
    """The posterior-predictive variance E[var] + Var[mean] of the particle mixture against the
    exact H P H^T + r at every step. Measured: the replica mean within 4% of the exact value at
    every step, each replica within 11%, and a mean |log ratio| of 0.012. The mixture's second
    moment without the squared mean subtracted is a median 2.3 times too large (mean |log
    ratio| 0.97). Bounds: replica means within 10% at every step, mean |log ratio| below 0.05."""
    kf, res = tracked
    ratio = res.diagnostics["predictive_var"].values / kf["predictive_var"][:, None]
    assert np.all(np.abs(ratio.mean(axis=1) - 1.0) < 0.10), ratio.mean(axis=1)
    assert np.abs(np.log(ratio)).mean() < 0.05
