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

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from ..errors import ModelError, choose, number
from ..model.statespace import StateSpace
from .ekf import EKFInfo, INITS, require_gaussian, value_and_jacobian
from .label_noise import VB_ITERATIONS, NoiseState, estimate, initial_noise
from .protocol import Batch, Kernel, LowRankGaussian, gaussian_log_density

DEFAULT_RANK = 10


class LoFiState(NamedTuple):
    mean: Array  # (d,)
    diag: Array  # (d,) the diagonal part of the precision
    factor: Array  # (d, R) the low-rank part: precision = diag(diag) + factor factor^T
    log_evidence: Array
    noise: NoiseState | None = None


def posterior(state: LoFiState) -> LowRankGaussian:
    """The filter's Gaussian over theta, in precision form."""
    return LowRankGaussian(state.mean, state.diag, state.factor, state.log_evidence,
                           None if state.noise is None else estimate(state.noise))


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


def update(mean: Array, diag: Array, factor: Array, h: Array, residual: Array, r: Array) -> tuple:
    """One label: (mean, diag, factor, innovation variance s, h^T Sigma_post h)."""
    prior_h = covariance_times(diag, factor, h)
    s = h @ prior_h + r
    wide = jnp.concatenate([factor, (h / jnp.sqrt(r))[:, None]], axis=1)
    post_h = covariance_times(diag, wide, h)
    mean = mean + post_h * residual / r
    new_diag, new_factor = truncate(diag, wide, factor.shape[1])
    return mean, new_diag, new_factor, s, h @ post_h


def low_rank_filter(ssm: StateSpace, rank: int = DEFAULT_RANK, init: str = "sample") -> Kernel:
    """LoFi kernel of rank ``rank`` (see the module docstring); ``init`` as the EKF's."""
    rank = number("rank", rank, int, 1)
    choose("LoFi init", init, INITS)
    learns_noise = require_gaussian(ssm)
    q, r = ssm.transition_var, ssm.obs_var
    if (np.asarray(ssm.prior_var) <= 0).any():
        raise ModelError("LoFi keeps a precision: every weight needs a prior variance above zero")

    def init_fn(key: Array) -> LoFiState:
        mean = ssm.sample_prior(key) if init == "sample" else ssm.prior_mean
        diag = (1.0 / ssm.prior_var).astype(mean.dtype)
        return LoFiState(mean, diag, jnp.zeros((mean.shape[0], rank), mean.dtype), jnp.zeros((), mean.dtype),
                         initial_noise(ssm, mean.dtype) if learns_noise else None)

    def step(key: Array, state: LoFiState, batch: Batch) -> tuple[LoFiState, EKFInfo]:
        del key  # deterministic
        diag, factor = predict(state.diag, state.factor, q.astype(state.diag.dtype))
        f0, H0 = jax.vmap(lambda X, m: value_and_jacobian(ssm, state.mean, X, m))(batch.X, batch.mask)
        r_now = estimate(state.noise) if learns_noise else r
        pred_var = jax.vmap(lambda h: h @ covariance_times(diag, factor, h))(H0) + r_now
        log_pred = gaussian_log_density(batch.d, f0, pred_var)

        def one(carry, entry):
            mean, diag, factor, increment, noise = carry
            index, X, mask, d, valid = entry
            f, H = jax.lax.cond(index == 0, lambda: (f0[0], H0[0]), lambda: value_and_jacobian(ssm, mean, X, mask))
            if learns_noise:
                shape, rate = noise.shape + 0.5, noise.rate
                for _ in range(VB_ITERATIONS):
                    new = update(mean, diag, factor, H, d - f, rate / shape)
                    posterior_residual = d - f - H @ (new[0] - mean)
                    rate = noise.rate + 0.5 * (posterior_residual**2 + new[4])
                new_noise = jax.tree_util.tree_map(lambda a, b: jnp.where(valid, a, b), NoiseState(shape, rate), noise)
                # the evidence is the label's density before it is seen: r as estimated before
                # it, not the iterations' r that has already seen its residual
                s = H @ covariance_times(diag, factor, H) + estimate(noise)
            else:
                new, new_noise = update(mean, diag, factor, H, d - f, r), noise
                s = new[3]
            keep = lambda a, b: jnp.where(valid, a, b)  # noqa: E731
            increment = increment + jnp.where(valid, gaussian_log_density(d, f, s), 0.0)
            return (keep(new[0], mean), keep(new[1], diag), keep(new[2], factor), increment, new_noise), None

        entries = (jnp.arange(batch.d.shape[0]), batch.X, batch.mask, batch.d, batch.valid)
        zero = jnp.zeros((), state.mean.dtype)
        (mean, diag, factor, increment, noise), _ = jax.lax.scan(one, (state.mean, diag, factor, zero, state.noise), entries)
        return LoFiState(mean, diag, factor, state.log_evidence + increment, noise), EKFInfo(f0, pred_var, log_pred, increment)

    return Kernel(init_fn, step, "lofi", posterior)
