"""The kernel interface (bayeslstm.kernels.protocol): the Gaussian log density every kernel
scores with, the batch of one, and the defaults of a Kernel."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import norm

from bayeslstm.kernels.protocol import Batch, Kernel, gaussian_log_density, no_posterior, single


def test_gaussian_log_density_is_scipys_normal_logpdf():
    """``var`` is a variance: a density written with it as the standard deviation would fail."""
    d = np.array([0.3, -1.2, 4.0, 0.0])
    mean = np.array([0.0, -1.0, 1.0, 0.0])
    var = np.array([0.5, 2.0, 0.01, 1e-4])
    got = np.asarray(gaussian_log_density(jnp.asarray(d), jnp.asarray(mean), jnp.asarray(var)))
    np.testing.assert_allclose(got, norm.logpdf(d, mean, np.sqrt(var)), rtol=1e-5)
    broadcast = np.asarray(gaussian_log_density(jnp.asarray(d), 0.0, 2.0))  # scalars broadcast
    np.testing.assert_allclose(broadcast, norm.logpdf(d, 0.0, np.sqrt(2.0)), rtol=1e-5)


def test_single_is_a_valid_batch_of_one():
    X, mask = jnp.ones((4, 2)), jnp.array([True, True, False, False])
    batch = single(X, mask, jnp.asarray(0.7))
    assert isinstance(batch, Batch)
    assert batch.X.shape == (1, 4, 2) and batch.mask.shape == (1, 4) and batch.d.shape == (1,)
    assert float(batch.d[0]) == pytest.approx(0.7) and batch.valid.dtype == jnp.bool_ and bool(batch.valid[0])
    np.testing.assert_array_equal(np.asarray(batch.mask[0]), np.asarray(mask))


def test_a_kernel_without_a_posterior_says_so():
    kernel = Kernel(lambda key: 0, lambda key, state, batch: (state, None))
    assert kernel.name == "kernel" and kernel.posterior is no_posterior
    assert kernel.posterior(kernel.init(jax.random.key(0))) is None
