"""Extended Kalman filter over the weights of a declared model.

Predict: P += Q (the declaration's random-walk variance). Update, once per valid batch entry
in order (the incremental update that diffusion uses): H = d f(theta, X) / d theta by one
reverse-mode gradient, s = H P H^T + r, K = P H^T / s, theta += K (d - f),
P = (I - K H) P (I - K H)^T + r K K^T (Joseph form, expanded as rank-one terms so the cost is
O(dim^2) and the result is symmetric by construction). A diagonal covariance is offered for
large models (the Joseph form's diagonal, exact for a diagonal P).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import Array

from ..errors import ModelError, choose
from ..model.statespace import StateSpace
from .protocol import Batch, Gaussian, Kernel, gaussian_log_density

COVARIANCES = ("full", "diagonal")
INITS = ("sample", "prior-mean")


class EKFState(NamedTuple):
    mean: Array  # (dim,)
    cov: Array  # (dim, dim) full, or (dim,) diagonal
    log_evidence: Array


class EKFInfo(NamedTuple):
    prediction: Array  # (B,)
    predictive_var: Array  # (B,)
    log_pred_density: Array  # (B,)
    log_evidence_increment: Array


def posterior(state: EKFState) -> Gaussian:
    """The filter's Gaussian over theta."""
    return Gaussian(state.mean, state.cov, state.log_evidence)


def _require_gaussian(ssm: StateSpace) -> None:
    missing = [
        what
        for what, value in (
            ("a Normal prior on 'theta'", ssm.prior_var),
            ("a Gaussian random-walk transition theta_t ~ Normal(theta_prev, sqrt(q))", ssm.transition_var),
            ("a Normal label 'd'", ssm.obs_var),
        )
        if value is None
    ]
    if missing:
        raise ModelError("the EKF needs " + ", ".join(missing) + "; use the particle filter for other declarations")


def _value_and_jacobian(ssm: StateSpace, theta: Array, X: Array, mask: Array) -> tuple[Array, Array]:
    return jax.value_and_grad(lambda t: ssm.mean(t, X, mask))(theta)


def _project(cov: Array, H: Array) -> Array:
    return cov @ H if cov.ndim == 2 else cov * H


def joseph_update(mean: Array, cov: Array, H: Array, residual: Array, r: Array) -> tuple[Array, Array, Array]:
    """One scalar-observation update. Returns (mean, cov, innovation variance s)."""
    u = _project(cov, H)  # P H^T
    s = H @ u + r
    gain = u / s
    mean = mean + gain * residual
    if cov.ndim == 2:
        cov = cov - jnp.outer(gain, u) - jnp.outer(u, gain) + s * jnp.outer(gain, gain)
        cov = 0.5 * (cov + cov.T)
    else:  # diag of (I - K H) P (I - K H)^T + r K K^T for diagonal P
        cov = (1.0 - gain * H) ** 2 * cov + gain**2 * (jnp.sum(H**2 * cov) - H**2 * cov + r)
    return mean, cov, s


def extended_kalman_filter(ssm: StateSpace, covariance: str = "full", init: str = "sample") -> Kernel:
    """EKF kernel. ``init="sample"`` starts the mean at one prior draw: for the LSTM a zero
    mean is a saddle point where every gradient vanishes; ``"prior-mean"`` starts at the
    prior mean (the exact Kalman filter's start on linear-Gaussian models)."""
    choose("EKF covariance", covariance, COVARIANCES)
    choose("EKF init", init, INITS)
    _require_gaussian(ssm)
    q, r = ssm.transition_var, ssm.obs_var

    def init_fn(key: Array) -> EKFState:
        mean = ssm.sample_prior(key) if init == "sample" else ssm.prior_mean
        var = ssm.prior_var.astype(mean.dtype)
        cov = jnp.diag(var) if covariance == "full" else var
        return EKFState(mean, cov, jnp.zeros((), mean.dtype))

    def step(key: Array, state: EKFState, batch: Batch) -> tuple[EKFState, EKFInfo]:
        del key  # deterministic
        cov = state.cov + (jnp.diag(q) if covariance == "full" else q).astype(state.cov.dtype)
        f0, H0 = jax.vmap(lambda X, m: _value_and_jacobian(ssm, state.mean, X, m))(batch.X, batch.mask)
        pred_var = jax.vmap(lambda h: h @ _project(cov, h))(H0) + r
        log_pred = gaussian_log_density(batch.d, f0, pred_var)

        def update(carry, entry):
            mean, cov, increment = carry
            index, X, mask, d, valid = entry
            f, H = jax.lax.cond(
                index == 0,
                lambda: (f0[0], H0[0]),
                lambda: _value_and_jacobian(ssm, mean, X, mask),
            )
            new_mean, new_cov, s = joseph_update(mean, cov, H, d - f, r)
            keep = lambda new, old: jnp.where(valid, new, old)  # noqa: E731
            increment = increment + jnp.where(valid, gaussian_log_density(d, f, s), 0.0)
            return (keep(new_mean, mean), keep(new_cov, cov), increment), None

        entries = (jnp.arange(batch.d.shape[0]), batch.X, batch.mask, batch.d, batch.valid)
        zero = jnp.zeros((), state.mean.dtype)
        (mean, cov, increment), _ = jax.lax.scan(update, (state.mean, cov, zero), entries)
        new = EKFState(mean, cov, state.log_evidence + increment)
        return new, EKFInfo(f0, pred_var, log_pred, increment)

    return Kernel(init_fn, step, "ekf", posterior)

