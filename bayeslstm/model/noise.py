"""Random-walk noise: the transition every built-in model declares, and a fast draw of it.

:func:`random_walk` is the distribution a declaration writes for theta_t given theta_{t-1}.
:func:`random_walk_noise` draws its Gaussian noise bit for bit like ``jax.random.normal``
but several times faster on the CPU, where jax lowers the Threefry hash as a rolled loop
(see docs/performance.md).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from jax import Array


def random_walk(theta_prev: Array, q: float) -> dist.Distribution:
    """The transition theta_t ~ N(theta_prev, q I) of a site of any shape (all of it one
    event); a point mass when q = 0 (static parameters, as NUTS sees them)."""
    event = jnp.ndim(theta_prev)
    if q == 0:
        return dist.Delta(theta_prev, event_dim=event)
    return dist.Normal(theta_prev, jnp.sqrt(q)).to_event(event)


def _rotate_left(v: Array, r: int) -> Array:
    return (v << np.uint32(r)) | (v >> np.uint32(32 - r))


def _threefry2x32(k1: Array, k2: Array, x1: Array, x2: Array) -> tuple[Array, Array]:
    """Threefry-2x32 with 20 rounds (Salmon et al. 2011), the hash of ``jax.random``, unrolled."""
    ks = (k1, k2, k1 ^ k2 ^ np.uint32(0x1BD11BDA))
    rotations = ((13, 15, 26, 6), (17, 29, 16, 24))
    x1, x2 = x1 + ks[0], x2 + ks[1]
    for i in range(5):
        for r in rotations[i % 2]:
            x1 = x1 + x2
            x2 = x1 ^ _rotate_left(x2, r)
        x1, x2 = x1 + ks[(i + 1) % 3], x2 + ks[(i + 2) % 3] + np.uint32(i + 1)
    return x1, x2


def _threefry_key_data(key: Array) -> Array | None:
    """The (2,) uint32 words of a Threefry key, or None for another generator."""
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        if "threefry2x32" not in str(jax.random.key_impl(key)):
            return None
        return jax.random.key_data(key)
    default_impl = jax.config.jax_default_prng_impl  # type: ignore[attr-defined]  # jax flags are runtime attributes
    if key.dtype == jnp.uint32 and key.shape == (2,) and "threefry" in str(default_impl):
        return key
    return None


def random_walk_noise(key: Array, shape: tuple[int, ...], dtype) -> Array:
    """``jax.random.normal(key, shape, dtype)``, bit for bit, several times faster on the CPU.

    jax lowers the Threefry hash on the CPU as a rolled loop over its 20 rounds, so a large
    draw goes 5 times through memory; here the rounds are unrolled and fuse with the
    uniform-to-normal transform into one pass. The bits follow jax's partitionable Threefry
    layout (the default); any other generator, layout, dtype or size, and any backend other
    than the CPU (where jax already unrolls the rounds), falls back to ``jax.random.normal``.
    The test suite checks the equality.
    """
    words = _threefry_key_data(key)
    size = math.prod(shape)
    if (jax.default_backend() != "cpu" or words is None or jnp.dtype(dtype) != jnp.float32
            or not jax.config.jax_threefry_partitionable  # type: ignore[attr-defined]  # a runtime jax flag
            or not 0 < size < 2**32):
        return jax.random.normal(key, shape, dtype)
    counts = jax.lax.iota(jnp.uint32, size).reshape(shape)  # the 64-bit counter's low word
    b1, b2 = _threefry2x32(words[..., 0], words[..., 1], jnp.zeros_like(counts), counts)
    mantissa = ((b1 ^ b2) >> np.uint32(32 - 23)) | np.uint32(0x3F800000)  # a float in [1, 2)
    floats = jax.lax.bitcast_convert_type(mantissa, jnp.float32) - np.float32(1.0)
    lo = np.nextafter(np.float32(-1.0), np.float32(0.0))
    uniform = jax.lax.max(lo, floats * (np.float32(1.0) - lo) + lo)
    return np.float32(np.sqrt(2.0)) * jax.lax.erf_inv(uniform)
