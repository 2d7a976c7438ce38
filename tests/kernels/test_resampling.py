"""Resampling (bayeslstm.kernels.resampling): every scheme is unbiased, and adaptive resampling
acts only when the effective sample size falls below its threshold."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayeslstm.errors import OptionError
from bayeslstm.kernels.resampling import adaptive, effective_sample_size, get_scheme, systematic


@pytest.mark.parametrize("scheme", ["systematic", "stratified", "multinomial", "residual"])
def test_resampling_is_unbiased(scheme):
    """E[number of copies of particle i] = N w_i, checked over many draws (3 standard errors)."""
    n, reps = 50, 2000
    w = np.random.default_rng(0).dirichlet(np.ones(n) * 0.5)
    log_w = jnp.log(jnp.asarray(w, jnp.float32))
    draw = jax.jit(jax.vmap(lambda k: get_scheme(scheme)(k, log_w, n)))
    idx = np.asarray(draw(jax.random.split(jax.random.key(1), reps)))
    counts = np.stack([np.bincount(row, minlength=n) for row in idx])
    se = counts.std(axis=0, ddof=1) / np.sqrt(reps) + 1e-3
    assert np.all(np.abs(counts.mean(0) - n * w) < 4 * se + 0.02), np.max(np.abs(counts.mean(0) - n * w) / se)


def test_effective_sample_size_by_hand():
    assert float(effective_sample_size(jnp.log(jnp.array([0.5, 0.25, 0.25])))) == pytest.approx(1 / 0.375, rel=1e-6)
    assert float(effective_sample_size(jnp.zeros(8))) == pytest.approx(8.0, rel=1e-6)  # unnormalised, equal
    assert float(effective_sample_size(jnp.array([0.0, -jnp.inf, -jnp.inf]))) == pytest.approx(1.0, rel=1e-6)


def test_adaptive_resampling_acts_only_below_the_threshold():
    """ESS of [0.5, 0.25, 0.25] is 8/3 of 3 particles: 0.89 N. A threshold of 0.8 keeps the
    particles and their weights; 0.95 resamples and flattens the weights."""
    log_w = jnp.log(jnp.array([0.5, 0.25, 0.25]))
    key = jax.random.key(0)
    kept = adaptive(systematic, 0.8)(key, log_w)
    assert not bool(kept.resampled) and float(kept.ess) == pytest.approx(8 / 3, rel=1e-6)
    np.testing.assert_array_equal(np.asarray(kept.indices), [0, 1, 2])
    np.testing.assert_array_equal(np.asarray(kept.log_weights), np.asarray(log_w))
    done = adaptive(systematic, 0.95)(key, log_w)
    assert bool(done.resampled)
    np.testing.assert_array_equal(np.asarray(done.indices), np.asarray(systematic(key, log_w, 3)))
    np.testing.assert_allclose(np.asarray(done.log_weights), np.log(1 / 3), rtol=1e-6)


def test_unknown_scheme_is_refused_with_the_choices():
    with pytest.raises(OptionError, match="unknown resampling scheme 'magic'; choose one of: systematic, stratified"):
        get_scheme("magic")
