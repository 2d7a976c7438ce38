"""Draws for reports: systematic resampling in NumPy and covariance square roots."""

import numpy as np
import pytest

from bayeslstm.errors import InputError
from bayeslstm.kernels.protocol import Gaussian
from bayeslstm.report.draws import posterior_draws, resample_equally, square_root


def test_systematic_resampling_keeps_each_particle_about_n_times_its_weight():
    """Systematic resampling gives particle i either floor(N w_i) or ceil(N w_i) copies."""
    rng = np.random.default_rng(0)
    weights = rng.dirichlet(np.ones(50), size=3)
    ancestors = resample_equally(np.log(weights), seed=4)
    assert ancestors.shape == (3, 50)
    for k in range(3):
        counts = np.bincount(ancestors[k], minlength=50)
        assert np.all(np.abs(counts - 50 * weights[k]) < 1.0 + 1e-9)


def test_equal_weights_are_kept_as_they_are_and_zero_weights_are_never_drawn():
    log_w = np.array([[0.0, 0.0, 0.0, 0.0], [0.0, -np.inf, 0.0, -np.inf]])
    ancestors = resample_equally(log_w, seed=1)
    np.testing.assert_array_equal(ancestors[0], np.arange(4))
    assert set(ancestors[1]) <= {0, 2}
    assert np.array_equal(resample_equally(log_w, seed=1), ancestors)  # the same seed, the same draws
    with pytest.raises(InputError, match="zero weight"):
        resample_equally(np.full((1, 3), -np.inf))


def test_square_root_of_definite_and_singular_covariances():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(2, 5, 5))
    definite = a @ a.transpose(0, 2, 1) + np.eye(5)
    root = square_root(definite)
    np.testing.assert_allclose(root @ root.transpose(0, 2, 1), definite, atol=1e-10)
    v = rng.normal(size=(5, 1))
    singular = v @ v.T  # rank one: no Cholesky factor
    root = square_root(singular)
    np.testing.assert_allclose(root @ root.T, singular, atol=1e-10)


def test_gaussian_draws_have_the_posteriors_mean_and_covariance():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(3, 3))
    cov, mean = a @ a.T + 0.5 * np.eye(3), np.array([1.0, -2.0, 0.5])
    draws = posterior_draws(Gaussian(mean, cov), num_draws=20000, seed=0).theta[0]
    se = np.sqrt(np.diag(cov) / 20000)
    assert np.all(np.abs(draws.mean(axis=0) - mean) < 4 * se)
    np.testing.assert_allclose(np.cov(draws.T), cov, atol=0.1 * np.abs(cov).max())
