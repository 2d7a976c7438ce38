"""Random-walk noise (bayeslstm.model.noise): the transition the built-in models declare, and
its fast draw, which is ``jax.random.normal`` bit for bit (the same draws, so every particle
filter's results are unchanged by it)."""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pytest
from scipy.stats import norm

from bayeslstm.model.noise import random_walk, random_walk_noise


def test_random_walk_is_a_gaussian_with_variance_q_around_the_previous_weights():
    """q is a variance: a walk that used q as the standard deviation would fail the density."""
    theta_prev = jnp.array([0.5, -1.0, 2.0])
    theta = jnp.array([0.6, -1.3, 2.0])
    walk = random_walk(theta_prev, 0.04)
    assert walk.event_shape == (3,) and walk.batch_shape == ()
    expected = norm.logpdf(np.asarray(theta), np.asarray(theta_prev), 0.2).sum()
    assert float(walk.log_prob(theta)) == pytest.approx(expected, rel=1e-6)
    np.testing.assert_allclose(np.asarray(walk.mean), np.asarray(theta_prev))
    np.testing.assert_allclose(np.asarray(walk.variance), 0.04, rtol=1e-6)


def test_random_walk_with_q_zero_keeps_the_weights():
    theta_prev = jnp.array([0.5, -1.0])
    static = random_walk(theta_prev, 0)
    assert isinstance(static, dist.Delta) and static.event_shape == (2,)
    np.testing.assert_array_equal(np.asarray(static.sample(jax.random.key(0))), np.asarray(theta_prev))
    assert float(static.log_prob(theta_prev)) == 0.0


@pytest.mark.parametrize("shape", [(37, 101), (3, 4, 7)])
def test_random_walk_noise_is_jax_normal_bit_for_bit(shape):
    key = jax.random.fold_in(jax.random.key(3), 11)
    fast = jax.jit(lambda k: random_walk_noise(k, shape, jnp.float32))(key)
    plain = jax.jit(lambda k: jax.random.normal(k, shape, jnp.float32))(key)
    np.testing.assert_array_equal(np.asarray(fast), np.asarray(plain))


def test_random_walk_noise_under_vmap_raw_keys_and_other_generators():
    @jax.jit
    def both(keys, raw, rbg):
        fast = (jax.vmap(lambda k: random_walk_noise(k, (6, 9), jnp.float32))(keys),
                random_walk_noise(raw, (8, 3), jnp.float32), random_walk_noise(rbg, (8, 3), jnp.float32))
        plain = (jax.vmap(lambda k: jax.random.normal(k, (6, 9), jnp.float32))(keys),
                 jax.random.normal(raw, (8, 3), jnp.float32), jax.random.normal(rbg, (8, 3), jnp.float32))
        return fast, plain

    # keys split per node (as the distributed filters vmap them), a legacy uint32 key, and
    # another generator (which falls back to jax.random.normal)
    fast, plain = both(jax.random.split(jax.random.key(0), 4), jax.random.PRNGKey(5), jax.random.key(5, impl="rbg"))
    for a, b in zip(fast, plain):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
