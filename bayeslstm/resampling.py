"""Resampling schemes for particle filters, all from normalised log weights.

Each ``scheme(key, log_weights, num) -> indices`` returns ``num`` ancestor indices with
static shapes (jit/vmap friendly). Systematic is the default (lowest variance for its cost).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import Array

from .errors import choose


def _search(log_weights: Array, positions: Array) -> Array:
    cdf = jnp.cumsum(jnp.exp(log_weights - jax.scipy.special.logsumexp(log_weights)))
    idx = jnp.searchsorted(cdf, positions * cdf[-1], side="right")
    return jnp.clip(idx, 0, log_weights.shape[0] - 1)


def systematic(key: Array, log_weights: Array, num: int) -> Array:
    """One uniform shared by ``num`` evenly spaced positions."""
    u = jax.random.uniform(key, (), log_weights.dtype)
    return _search(log_weights, (u + jnp.arange(num, dtype=log_weights.dtype)) / num)


def stratified(key: Array, log_weights: Array, num: int) -> Array:
    """One uniform per stratum [i/num, (i+1)/num)."""
    u = jax.random.uniform(key, (num,), log_weights.dtype)
    return _search(log_weights, (u + jnp.arange(num, dtype=log_weights.dtype)) / num)


def multinomial(key: Array, log_weights: Array, num: int) -> Array:
    """Independent draws from the weights (inverse CDF by binary search: O(N log N), not the
    O(N^2) of Gumbel-max draws), in draw order so any prefix is itself iid."""
    return _search(log_weights, jax.random.uniform(key, (num,), log_weights.dtype))


def residual(key: Array, log_weights: Array, num: int) -> Array:
    """floor(num w_i) deterministic copies of each particle, the rest drawn multinomially."""
    w = jnp.exp(log_weights - jax.scipy.special.logsumexp(log_weights))
    copies = jnp.floor(num * w).astype(jnp.int32)
    kept = jnp.sum(copies)
    ends = jnp.cumsum(copies)
    slot = jnp.arange(num)
    deterministic = jnp.searchsorted(ends, slot, side="right")
    remainder = num * w - copies
    log_rest = jnp.where(remainder > 0, jnp.log(jnp.maximum(remainder, 1e-38)), -jnp.inf)
    drawn = multinomial(key, log_rest, num)
    drawn = jnp.where(jnp.isfinite(jnp.max(log_rest)), drawn, deterministic)
    rest = jnp.take(drawn, jnp.clip(slot - kept, 0, num - 1))
    return jnp.clip(jnp.where(slot < kept, deterministic, rest), 0, log_weights.shape[0] - 1)


SCHEMES = {"systematic": systematic, "stratified": stratified, "multinomial": multinomial, "residual": residual}


def get_scheme(name: str):
    """The resampling function called ``name``."""
    return SCHEMES[choose("resampling scheme", name, SCHEMES)]


def effective_sample_size(log_weights: Array) -> Array:
    """1 / sum w_i^2 of the normalised weights."""
    log_w = log_weights - jax.scipy.special.logsumexp(log_weights)
    return jnp.exp(-jax.scipy.special.logsumexp(2.0 * log_w))
