"""The ensemble Kalman filter (bayeslstm.kernels.enkf): its square-root update is the Kalman
update of the ensemble's own mean and covariance on a linear model, exactly; the stochastic
update is so in expectation; the kernel tracks the exact Kalman filter on linear-Gaussian data."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bayeslstm as bl
from bayeslstm.errors import ModelError, OptionError
from bayeslstm.kernels.enkf import inflate, sqrt_update, stochastic_update
from reference import kalman_filter, linear_gaussian_stream


def _kalman(members, H, d, r, valid):
    """The Kalman posterior of the ensemble's sample mean and covariance for d = H theta + N(0, r I)."""
    m, P = members.mean(0), np.cov(members.T)
    Hv = H[valid]
    gain = P @ Hv.T @ np.linalg.inv(Hv @ P @ Hv.T + r * np.eye(valid.sum()))
    return m + gain @ (d[valid] - Hv @ m), P - gain @ Hv @ P


def _problem(rng, n, dim=5, b=3):
    members = rng.normal(size=(n, dim)) @ rng.normal(size=(dim, dim)) + rng.normal(size=dim)
    H = rng.normal(size=(b, dim))
    return members, H, rng.normal(size=b) * 3, np.array([True, False, True][:b])


def test_square_root_update_is_the_exact_kalman_update_on_a_linear_model(rng):
    with jax.enable_x64(True):
        members, H, d, valid = _problem(rng, 12)
        out = np.asarray(sqrt_update(jnp.asarray(members), jnp.asarray(members @ H.T), jnp.asarray(d), 0.3,
                                     jnp.asarray(valid)))
        mean, cov = _kalman(members, H, d, 0.3, valid)
        np.testing.assert_allclose(out.mean(0), mean, rtol=0, atol=1e-8)
        np.testing.assert_allclose(np.cov(out.T), cov, rtol=0, atol=1e-8)
        # an invalid entry changes nothing: the same as dropping it
        only = np.asarray(sqrt_update(jnp.asarray(members), jnp.asarray(members @ H[valid].T), jnp.asarray(d[valid]),
                                      0.3, jnp.ones(valid.sum(), bool)))
        np.testing.assert_allclose(out, only, atol=1e-10)


def test_stochastic_update_matches_the_kalman_moments_within_monte_carlo_error(rng):
    """With 40,000 members the sample covariance is within about 1.5% of its limit; the bound
    is 6%. Without the perturbations the covariance would be (I - K H) P (I - K H)^T, here more
    than 25% below the Kalman filter's in some entry, so the test tells the two apart."""
    with jax.enable_x64(True):
        members, H, d, valid = _problem(rng, 40_000)
        r = 2.0
        out = np.asarray(stochastic_update(jax.random.key(1), jnp.asarray(members), jnp.asarray(members @ H.T),
                                           jnp.asarray(d), r, jnp.asarray(valid)))
        mean, cov = _kalman(members, H, d, r, valid)
        sd = np.sqrt(np.diag(cov))
        assert np.all(np.abs(out.mean(0) - mean) < 5 * sd / np.sqrt(len(out)))
        scale = np.sqrt(np.outer(np.diag(cov), np.diag(cov)))
        assert np.max(np.abs(np.cov(out.T) - cov) / scale) < 0.06
        P = np.cov(members.T)
        gain = P @ H[valid].T @ np.linalg.inv(H[valid] @ P @ H[valid].T + r * np.eye(2))
        unperturbed = (np.eye(5) - gain @ H[valid]) @ P @ (np.eye(5) - gain @ H[valid]).T
        assert np.max(np.abs(unperturbed - cov) / scale) > 0.25


def test_inflation_scales_the_spread_about_the_mean(rng):
    members = rng.normal(size=(50, 3))
    out = np.asarray(inflate(jnp.asarray(members), 1.5))
    np.testing.assert_allclose(out.mean(0), members.mean(0), atol=1e-6)
    np.testing.assert_allclose(out.std(0), 1.5 * members.std(0), rtol=1e-5)


@pytest.mark.parametrize("update", ["sqrt", "stochastic"])
def test_enkf_tracks_the_exact_kalman_filter_on_linear_gaussian_data(update):
    """With 2000 members the filtering means stay within 0.05 of the exact filter's (prior sd 1,
    posterior sd about 0.1); an EnKF that ignored the labels would stay near 0, more than 0.3 away.
    The predictive variances (the ensemble's spread of predictions plus r) are within 3% of the
    exact H P H^T + r at every step (measured); without the label noise r they would be 0.003
    to 0.84 of it. Bound: 10%."""
    q, r, s0 = 1e-3, 0.1, 1.0
    stream = linear_gaussian_stream(40, seed=5)
    exact = kalman_filter(stream, 0, q, r, s0)
    res = bl.run(stream, "enkf", model="linear-gaussian", model_options=dict(q=q, r=r, prior_scale=s0),
                 num_members=2000, update=update, seed=2)
    mean = np.asarray(res.final_state.members[0]).mean(0)
    assert np.abs(mean - exact["mean"]).max() < 0.05, (mean, exact["mean"])
    assert np.abs(exact["mean"]).max() > 0.3
    np.testing.assert_allclose(res.predictions[10:, 0], exact["prediction"][10:], atol=0.1)
    np.testing.assert_allclose(res.diagnostics["predictive_var"].values[:, 0], exact["predictive_var"], rtol=0.1)


def test_bad_options_and_labels_are_refused():
    stream, _ = bl.teacher_stream(steps=3, features=2, max_len=3)
    with pytest.raises(OptionError, match="num_members"):
        bl.run(stream, "enkf", num_members=1)
    with pytest.raises(OptionError, match="inflation"):
        bl.run(stream, "enkf", inflation=0.5)
    with pytest.raises(OptionError, match="ensemble update"):
        bl.run(stream, "enkf", update="etkf")
    import numpyro
    import numpyro.distributions as dist

    def student_t_label(X, mask, theta_prev=None, d=None):
        theta = numpyro.sample("theta", dist.Normal(jnp.zeros(2), 1.0).to_event(1))
        numpyro.sample("d", dist.StudentT(3.0, theta @ X[0], 1.0), obs=d)

    with pytest.raises(ModelError, match="Normal label"):
        bl.run(stream, "enkf", model=student_t_label)
