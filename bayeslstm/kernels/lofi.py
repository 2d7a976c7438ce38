"""The low-rank extended Kalman filter LoFi (Chang, Duran-Martin, Shestopaloff, Jones & Murphy,
"Low-rank extended Kalman filtering for online learning of neural networks from streaming
data", 2023): an EKF whose cost grows linearly in the number of weights d.

The precision of the weights is kept as a diagonal plus a rank-R term,
Lambda = diag(u) + W W^T with W (d, R), never as a d x d matrix:

* predict (theta_t = theta_{t-1} + N(0, diag(q))): the diagonal becomes 1 / (1/u + q) and
  W is rescaled and rotated by an R x R Cholesky factor so that, in one dimension and
  whenever W spans directions the diagonal does not mix, the predicted precision is exact;
* update with one label (Jacobian h by one reverse-mode gradient, as the EKF's): the exact
  posterior precision is ``diag(u) + [W, h/sqrt(r)] [W, h/sqrt(r)]^T``, rank R + 1. The mean moves
  by the exact gain Sigma_post h / r (Woodbury: an (R+1) x (R+1) solve). Then the rank goes
  back to R by an SVD of the (d, R+1) factor: the R leading directions are kept and the
  discarded one's mass is added to the diagonal, so the precision's diagonal stays exact.

Cost per label O(d R^2), memory O(d R). With R >= d and q = 0 it is the EKF.

The evidence increment of a label is, as the EKF's, its predictive density before it is
seen, log N(d; f, h^T Sigma h + r), with r (when learnt) its estimate before the label.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
from jax import Array

from ..errors import ModelError, choose, number
from ..model.statespace import StateSpace
from .ekf import INITS, EKFInfo, ScalarUpdate, check_robust, initial_mean, require_gaussian, sequential_update
from .fading import check_fading, next_level, q_scale
from .label_noise import DEFAULT_FORGETTING, NoiseState, check_forgetting, initial_noise, label_variance
from .protocol import Batch, Kernel, LowRankGaussian, LowRankPrecision

DEFAULT_RANK = 10


class LoFiState(NamedTuple):
    mean: Array  # (d,)
    diag: Array  # (d,) the diagonal part of the precision
    factor: Array  # (d, R) the low-rank part: precision = diag(diag) + factor factor^T
    log_evidence: Array
    noise: NoiseState | None = None
    level: Array | None = None  # alpha, the learnt scale of q (bayeslstm.kernels.fading), when on


def posterior(state: LoFiState) -> LowRankGaussian:
    """The filter's Gaussian over theta, in precision form."""
    return LowRankGaussian(state.mean, state.diag, state.factor, state.log_evidence, label_variance(state.noise), state.noise)


def covariance_times(diag: Array, factor: Array, v: Array) -> Array:
    """Sigma v for Sigma = (diag(diag) + factor factor^T)^-1 (Woodbury, an R x R solve)."""
    scaled = factor / diag[:, None]
    inner = jnp.eye(factor.shape[1], dtype=factor.dtype) + factor.T @ scaled
    return v / diag - scaled @ jnp.linalg.solve(inner, scaled.T @ v)


def predict(diag: Array, factor: Array, q: Array) -> tuple[Array, Array]:
    """The precision after a random-walk step with variances ``q`` (d,)."""
    new_diag = 1.0 / (1.0 / diag + q)
    shrink = new_diag / diag
    rank = factor.shape[1]
    inner = jnp.eye(rank, dtype=factor.dtype) + factor.T @ ((q * shrink)[:, None] * factor)
    root = jnp.linalg.cholesky(jnp.linalg.inv(0.5 * (inner + inner.T)))
    return new_diag, (shrink[:, None] * factor) @ root


def truncate(diag: Array, wide: Array, rank: int) -> tuple[Array, Array]:
    """diag(diag) + wide wide^T (wide (d, R+1)) back to rank R: the R leading directions of
    the low-rank term (an SVD through its (R+1) x (R+1) Gram matrix), the rest onto the diagonal."""
    values, vectors = jnp.linalg.eigh(wide.T @ wide)  # ascending
    order = jnp.argsort(-values)
    values, vectors = jnp.maximum(values[order], 0.0), vectors[:, order]
    directions = wide @ vectors  # (d, R+1): columns u_i s_i, orthogonal
    # eigh fixes each direction only up to its sign, and the sign may differ between
    # batch layouts (sharded or not): make each column's largest entry positive
    largest = jnp.take_along_axis(directions, jnp.argmax(jnp.abs(directions), axis=0)[None, :], axis=0)
    directions = directions * jnp.where(largest < 0, -1.0, 1.0).astype(directions.dtype)
    return diag + jnp.sum(directions[:, rank:] ** 2, axis=1), directions[:, :rank]


def update(mean: Array, precision: LowRankPrecision, h: Array, residual: Array, r: Array) -> tuple:
    """One label: (mean, precision, innovation variance s, h^T Sigma_post h), where Sigma_post is
    the exact rank R + 1 posterior, before the truncation back to rank R."""
    diag, factor = precision
    prior_h = covariance_times(diag, factor, h)
    s = h @ prior_h + r
    wide = jnp.concatenate([factor, (h / jnp.sqrt(r))[:, None]], axis=1)
    post_h = covariance_times(diag, wide, h)
    mean = mean + post_h * residual / r
    return mean, LowRankPrecision(*truncate(diag, wide, factor.shape[1])), s, h @ post_h


def precision_times(precision: LowRankPrecision, v: Array) -> Array:
    """Sigma v for the covariance Sigma of ``precision``."""
    return covariance_times(precision.diag, precision.factor, v)


LOW_RANK = ScalarUpdate(precision_times, update)


def low_rank_filter(ssm: StateSpace, rank: int = DEFAULT_RANK, init: str = "sample", robust: float | None = None,
                    fading: float | None = None, noise_forgetting: float | None = DEFAULT_FORGETTING) -> Kernel:
    """LoFi kernel of rank ``rank`` (see the module docstring); ``init``, ``robust``,
    ``fading`` and ``noise_forgetting`` as the EKF's."""
    rank = number("rank", rank, int, 1)
    robust, fading, noise_forgetting = check_robust(robust), check_fading(fading), check_forgetting(noise_forgetting)
    choose("LoFi init", init, INITS)
    learns_noise = require_gaussian(ssm)
    q, r, prior_var = ssm.transition_var, ssm.obs_var, ssm.prior_var
    assert q is not None and prior_var is not None  # require_gaussian refuses a declaration without them
    if (np.asarray(prior_var) <= 0).any():
        raise ModelError("LoFi keeps a precision: every weight needs a prior variance above zero")

    def init_fn(key: Array) -> LoFiState:
        mean = initial_mean(ssm, key, init)
        diag = (1.0 / prior_var).astype(mean.dtype)
        return LoFiState(mean, diag, jnp.zeros((mean.shape[0], rank), mean.dtype), jnp.zeros((), mean.dtype),
                         initial_noise(ssm, mean.dtype) if learns_noise else None,
                         None if fading is None else jnp.ones((), mean.dtype))

    def step(key: Array, state: LoFiState, batch: Batch) -> tuple[LoFiState, EKFInfo]:
        del key  # deterministic
        prior = LowRankPrecision(*predict(state.diag, state.factor, (q_scale(state.level) * q).astype(state.diag.dtype)))
        mean, (diag, factor), noise, info = sequential_update(ssm, LOW_RANK, state.mean, prior, state.noise, batch, r, robust,
                                                               noise_forgetting)
        level = next_level(state.level, fading, batch, info, state.noise, r)
        return LoFiState(mean, diag, factor, state.log_evidence + info.log_evidence_increment, noise, level), info

    return Kernel(init_fn, step, "lofi", posterior)
