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


def test_particle_filter_filtering_means_track_kalman():
    replicas = 8
    stream = linear_gaussian_stream(30, nodes=replicas, features=2, q=Q, r=R, prior_scale=S0, seed=4, replicate=True)
    kf = kalman_filter(stream, 0, Q, R, S0)
    res = bl.run(stream, "pf", model="linear-gaussian", model_options=LG, num_particles=2000, seed=5)
    state = res.final_state
    w = np.exp(np.asarray(state.log_weights, np.float64))
    means = np.einsum("kn,knd->kd", w, np.asarray(state.particles, np.float64))
    sd = np.sqrt(np.diag(kf["cov"]))
    assert np.all(np.abs(means.mean(0) - kf["mean"]) < 0.1 * sd), (means.mean(0), kf["mean"], sd)
    # one-step predictions follow the exact ones within a small fraction of the predictive sd
    err = np.abs(res.predictions - kf["prediction"][:, None]) / np.sqrt(kf["predictive_var"])[:, None]
    assert err.mean() < 0.05
