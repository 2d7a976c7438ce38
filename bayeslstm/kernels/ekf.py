"""Extended Kalman filter over the weights of a declared model.

Predict: P += Q (the declaration's random-walk variance). Update, once per valid batch entry
in order (the incremental update that diffusion uses): H = d f(theta, X) / d theta by one
reverse-mode gradient, s = H P H^T + r, K = P H^T / s, theta += K (d - f),
P = (I - K H) P (I - K H)^T + r K K^T (Joseph form, expanded as rank-one terms so the cost is
O(dim^2) and the result is symmetric by construction). A diagonal covariance is offered for
large models (the Joseph form's diagonal, exact for a diagonal P).

The evidence increment of a label is its predictive density before it is seen,
log N(d; f, H P H^T + r), with theta and P after the batch's earlier entries. When r is
learnt (:mod:`bayeslstm.kernels.label_noise`) that r is its estimate before the label: the
variational update's own innovation variance has already seen the label's residual.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import Array

from ..errors import ModelError, choose
from ..model.statespace import StateSpace
from .label_noise import VB_ITERATIONS, NoiseState, check_sites, estimate, initial_noise
from .protocol import Batch, Gaussian, Kernel, gaussian_log_density

COVARIANCES = ("full", "diagonal")
INITS = ("sample", "prior-mean")


class EKFState(NamedTuple):
    mean: Array  # (dim,)
    cov: Array  # (dim, dim) full, or (dim,) diagonal
    log_evidence: Array
    noise: NoiseState | None = None  # the label variance's posterior, when a static site sets it


class EKFInfo(NamedTuple):
    prediction: Array  # (B,)
    predictive_var: Array  # (B,)
    log_pred_density: Array  # (B,)
    log_evidence_increment: Array


def posterior(state: EKFState) -> Gaussian:
    """The filter's Gaussian over theta."""
    return Gaussian(state.mean, state.cov, state.log_evidence, None if state.noise is None else estimate(state.noise))


def require_gaussian(ssm: StateSpace) -> bool:
    """Refuse what the EKF cannot read; True when it learns the label variance."""
    missing = [
        what
        for what, value in (
            ("prior moments of every latent site", ssm.prior_var),
            ("a Gaussian random-walk transition theta_t ~ Normal(theta_prev, sqrt(q)) of every moving site",
             ssm.transition_var),
            ("a Normal label 'd'", ssm.label_var),
        )
        if value is None
    ]
    if missing:
        raise ModelError("the EKF needs " + ", ".join(missing) + "; use the particle filter for other declarations")
    return check_sites(ssm, "EKF")


def vb_update(mean: Array, cov: Array, H: Array, residual: Array, noise: NoiseState) -> tuple:
    """The variational-Bayes joint update of the weights and the label variance (Sarkka &
    Nummenmaa 2009) for one label: (mean, cov, predictive variance, noise).

    The predictive variance is H P H^T + r with r the estimate before this label,
    ``estimate(noise)``: the variance of the label before it is seen, so that the evidence
    N(d; f, s) is a predictive density. (The fixed-point iterations' own innovation variances
    use r already updated with the label's residual; they serve the weight update only.)"""
    shape = noise.shape + 0.5
    rate = noise.rate
    for _ in range(VB_ITERATIONS):
        new_mean, new_cov, _ = joseph_update(mean, cov, H, residual, rate / shape)
        posterior_residual = residual - H @ (new_mean - mean)
        rate = noise.rate + 0.5 * (posterior_residual**2 + H @ _project(new_cov, H))
    predictive_var = H @ _project(cov, H) + estimate(noise)
    return new_mean, new_cov, predictive_var, NoiseState(shape, rate)


def value_and_jacobian(ssm: StateSpace, theta: Array, X: Array, mask: Array) -> tuple[Array, Array]:
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
    learns_noise = require_gaussian(ssm)
    q, r = ssm.transition_var, ssm.obs_var

    def init_fn(key: Array) -> EKFState:
        mean = ssm.sample_prior(key) if init == "sample" else ssm.prior_mean
        var = ssm.prior_var.astype(mean.dtype)
        cov = jnp.diag(var) if covariance == "full" else var
        return EKFState(mean, cov, jnp.zeros((), mean.dtype), initial_noise(ssm, mean.dtype) if learns_noise else None)

    def step(key: Array, state: EKFState, batch: Batch) -> tuple[EKFState, EKFInfo]:
        del key  # deterministic
        cov = state.cov + (jnp.diag(q) if covariance == "full" else q).astype(state.cov.dtype)
        f0, H0 = jax.vmap(lambda X, m: value_and_jacobian(ssm, state.mean, X, m))(batch.X, batch.mask)
        r_now = estimate(state.noise) if learns_noise else r
        pred_var = jax.vmap(lambda h: h @ _project(cov, h))(H0) + r_now
        log_pred = gaussian_log_density(batch.d, f0, pred_var)

        def update(carry, entry):
            mean, cov, increment, noise = carry
            index, X, mask, d, valid = entry
            f, H = jax.lax.cond(
                index == 0,
                lambda: (f0[0], H0[0]),
                lambda: value_and_jacobian(ssm, mean, X, mask),
            )
            if learns_noise:
                new_mean, new_cov, s, new_noise = vb_update(mean, cov, H, d - f, noise)
                noise = jax.tree_util.tree_map(lambda new, old: jnp.where(valid, new, old), new_noise, noise)
            else:
                new_mean, new_cov, s = joseph_update(mean, cov, H, d - f, r)
            keep = lambda new, old: jnp.where(valid, new, old)  # noqa: E731
            increment = increment + jnp.where(valid, gaussian_log_density(d, f, s), 0.0)
            return (keep(new_mean, mean), keep(new_cov, cov), increment, noise), None

        entries = (jnp.arange(batch.d.shape[0]), batch.X, batch.mask, batch.d, batch.valid)
        zero = jnp.zeros((), state.mean.dtype)
        (mean, cov, increment, noise), _ = jax.lax.scan(update, (state.mean, cov, zero, state.noise), entries)
        new = EKFState(mean, cov, state.log_evidence + increment, noise)
        return new, EKFInfo(f0, pred_var, log_pred, increment)

    return Kernel(init_fn, step, "ekf", posterior)

