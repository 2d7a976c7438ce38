"""Resampling for particle filters: schemes, and adaptive resampling over any of them.

A scheme ``scheme(key, log_weights, num) -> indices`` returns ``num`` ancestor indices with
static shapes (jit/vmap friendly). Systematic is the default (lowest variance for its cost).
:func:`adaptive` wraps any scheme so that it resamples only when the effective sample size
falls below a fraction of the particle count (as cuthbert's ESS decorator), returning the
identity and the weights unchanged otherwise: one code path for "always" (threshold 1) and
"when degenerate".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple, Protocol

import jax
import jax.numpy as jnp
from jax import Array

from ..errors import choose


class Scheme(Protocol):
    def __call__(self, key: Array, log_weights: Array, num: int) -> Array:
        """``num`` ancestor indices drawn from the (log) weights."""


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


class Resampled(NamedTuple):
    """What an adaptive resampler decided: ``indices`` (N,) (the identity when it did not
    resample), the ``log_weights`` after it (flat when it did), ``resampled`` and the ESS."""

    indices: Array
    log_weights: Array
    resampled: Array
    ess: Array


def adaptive(scheme: Scheme, threshold: float) -> Callable[[Array, Array], Resampled]:
    """``resample(key, log_weights) -> Resampled``: ``scheme`` when ESS < ``threshold`` * N, else
    nothing. ``threshold=1`` resamples at every step (unless the weights are exactly equal)."""

    def resample(key: Array, log_weights: Array) -> Resampled:
        n = log_weights.shape[0]
        ess = effective_sample_size(log_weights)
        do = ess < threshold * n
        indices = jnp.where(do, scheme(key, log_weights, n), jnp.arange(n))
        flat = jnp.full((n,), -jnp.log(n), log_weights.dtype)
        return Resampled(indices, jnp.where(do, flat, log_weights), do, ess)

    return resample
