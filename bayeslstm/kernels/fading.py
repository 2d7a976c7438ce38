"""Learnt process noise for the Kalman-type filters: the random walk's variance q scaled by a
factor alpha learnt from the filter's own innovations.

A random walk with a fixed variance q follows a series whose weights jump as slowly as one that
never moves. With ``fading=beta`` the filter predicts with P- = P + alpha q and learns alpha
(covariance matching, as in Mehra's adaptive filters, in a running multiplicative form):

* each observed label's innovation e = d - f has predictive variance s = h P- h^T + r; its ratio
  rho = (e^2 - r) / (h P- h^T), clipped to [1/100, 100], says how large the weights' share of the
  innovation was against the share predicted;
* after a step, alpha <- alpha * mean(rho)^(1 - beta) over the step's labels, kept in
  [1, 10^4]; alpha starts at 1.

On a stationary series the innovations are as large as predicted and alpha stays near 1 (the
plain filter); after a jump they are larger, alpha grows, and the filter forgets the old weights
faster. alpha multiplies q, which is added to P, so the covariance grows linearly, not
geometrically, in the directions no label reaches. alpha uses past labels only, so the
predictive distributions stay one-step-ahead; 1 / (1 - beta) steps is the memory of the update.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
from jax import Array

from ..errors import number
from .label_noise import NoiseState, estimate
from .protocol import Batch

RATIO_RANGE = (1e-2, 1e2)  # one step's rho is clipped here: a wild label moves alpha by at most 100^(1 - beta)
SCALE_RANGE = (1.0, 1e4)  # alpha stays here


def check_fading(fading: float | None) -> float | None:
    """``fading`` (beta: how much of alpha's past each update keeps) in (0, 1), or None (fixed q)."""
    return None if fading is None else number("fading", fading, float, 0.0, 1.0, low_open=True, high_open=True)


def q_scale(level: Array | None) -> Array | float:
    """alpha: what the random walk's variance q is multiplied by (1 without fading)."""
    return 1.0 if level is None else level


def next_level(level: Array | None, fading: float | None, batch: Batch, info: Any, noise: NoiseState | None,
               r: Array | None) -> Array | None:
    """alpha after a step (unchanged without fading), from its labels' innovations: ``info``'s
    predictions and predictive variances, made with P + alpha q, and the label variance they
    used (``estimate(noise)`` where it is learnt, else ``r``)."""
    if fading is None or level is None:
        return level
    return moved_level(level, fading, *log_ratio(batch, info, noise, r))


def log_ratio(batch: Batch, info: Any, noise: NoiseState | None, r: Array | None) -> tuple[Array, Array]:
    """mean(log rho) over the step's valid labels (0 when there are none), and their count."""
    label_var = estimate(noise) if noise is not None else r
    assert label_var is not None  # a Kalman-type filter has a fixed or a learnt label variance
    state_part = jnp.maximum(info.predictive_var - label_var, 1e-30)  # h P- h^T
    rho = jnp.clip(((batch.d - info.prediction) ** 2 - label_var) / state_part, *RATIO_RANGE)
    valid = batch.valid.astype(info.predictive_var.dtype)
    count = jnp.sum(valid)
    return jnp.sum(valid * jnp.log(rho)) / jnp.maximum(count, 1.0), count


def moved_level(level: Array, fading: float, log_rho: Array, count: Array) -> Array:
    """alpha * exp(log_rho)^(1 - beta), kept in SCALE_RANGE; alpha itself when no label was seen."""
    updated = jnp.clip(level * jnp.exp((1.0 - fading) * log_rho), *SCALE_RANGE)
    return jnp.where(count > 0, updated, level)
