"""Ensemble Kalman filter over the weights of a declared model (Evensen 1994; for network
weights, Kovachki & Stuart 2019).

N members theta_i carry the uncertainty. Each step they move through the declaration's
transition, every member predicts every batch entry (the same observation step a particle
filter takes: no gradients), and the members are shifted towards the labels with a gain
built from the ensemble's cross-covariance of weights and predictions:

* ``update="sqrt"`` (default): the deterministic square-root transform (ETKF, Bishop,
  Etherton & Majumdar 2001) in ensemble space. Its ensemble mean and covariance after the
  update are exactly the Kalman filter's for the ensemble's mean and covariance before it
  when the model is linear. Computed from a thin SVD of the (N, B) predictions: O(N B d).
* ``update="stochastic"``: perturbed observations d + eps_i, eps_i ~ N(0, r), and the gain
  C_ty (C_yy + r I)^-1: the Kalman filter's mean and covariance in expectation.

``inflation`` (>= 1) multiplies the members' spread around their mean after each transition
(before they predict), the usual remedy for an ensemble that grows overconfident. The prediction is the ensemble
mean, its variance the ensemble variance of the predictions plus r, and the evidence
increment the Gaussian log density of the valid labels under those moments.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import Array
from jax.typing import ArrayLike

from ..errors import ModelError, choose, number
from ..model.statespace import StateSpace
from .label_noise import NoiseState, check_sites, estimate, initial_noise, label_variance, observe_residuals
from .particle_filter import observe_all
from .protocol import Batch, Kernel, WeightedSample, gaussian_log_density

UPDATES = ("sqrt", "stochastic")
DEFAULT_MEMBERS = 64


class EnsembleState(NamedTuple):
    members: Array  # (N, dim)
    log_evidence: Array
    noise: NoiseState | None = None  # the label variance's posterior, when a static site sets it
    labels_seen: Array | None = None  # labels absorbed (merging groups keep the state that saw most)


class EnsembleInfo(NamedTuple):
    prediction: Array  # (B,) ensemble-mean predictions, before the update
    predictive_var: Array  # (B,)
    log_pred_density: Array  # (B,)
    log_evidence_increment: Array
    spread: Array  # mean variance of the weights across members, after the update


def posterior(state: EnsembleState) -> WeightedSample:
    """The members, equally weighted."""
    n = state.members.shape[-2]
    log_w = jnp.full(state.members.shape[:-1], -jnp.log(n), state.members.dtype)
    return WeightedSample(state.members, log_w, state.log_evidence, label_variance(state.noise), state.noise)


def check_ensemble_options(num_members: int, update: str, inflation: float) -> int:
    """Refuse bad ensemble options before any work; return N as an int."""
    choose("ensemble update", update, UPDATES)
    number("inflation", inflation, float, 1.0)
    return number("num_members", num_members, int, 2)


def require_gaussian_label(ssm: StateSpace, what: str) -> bool:
    """Refuse a non-Gaussian label and the sites ``what`` cannot learn; True when it learns the
    label variance."""
    if ssm.label_var is None:
        raise ModelError(f"the {what} needs a Normal label 'd' (its variance r); use the particle filter for other labels")
    return check_sites(ssm, what)


def learn_variance(noise: NoiseState, predictions: Array, d: Array, r: Array, valid: Array) -> NoiseState:
    """One variational-Bayes step for the label variance after an ensemble update: each valid
    label's squared residual to its posterior predictive mean plus that posterior variance,
    from the scalar Kalman formulas with the ensemble's predictive variance s."""
    mean, s = predictive_moments(predictions, 0.0)
    gain = s / (s + r)
    posterior_mean = mean + gain * (d - mean)
    return observe_residuals(noise, (d - posterior_mean) ** 2 + gain * r, valid)


def anomalies(values: Array, valid: Array | None = None) -> tuple[Array, Array]:
    """(mean over members, deviations from it); columns of invalid entries zeroed."""
    mean = jnp.mean(values, axis=0)
    deviations = values - mean
    return mean, deviations if valid is None else jnp.where(valid, deviations, 0.0)


def predictive_moments(predictions: Array, r: ArrayLike) -> tuple[Array, Array]:
    """Ensemble mean and variance (+ r) of each entry's predictions (N, B)."""
    n = predictions.shape[0]
    mean, dev = anomalies(predictions)
    return mean, jnp.sum(dev**2, axis=0) / (n - 1) + r


def joint_log_density(d: Array, mean: Array, deviations: Array, r: Array, valid: Array) -> Array:
    """log N(d_valid; mean_valid, C_yy + r I) of the valid entries under the ensemble's
    predictive Gaussian (deviations (N, B) already zeroed on invalid entries)."""
    n, b = deviations.shape
    cov = deviations.T @ deviations / (n - 1) + r * jnp.eye(b, dtype=deviations.dtype)
    cov = jnp.where(valid[:, None] & valid[None, :], cov, jnp.eye(b, dtype=cov.dtype))
    innovation = jnp.where(valid, d - mean, 0.0)
    chol = jnp.linalg.cholesky(cov)
    solved = jax.scipy.linalg.solve_triangular(chol, innovation, lower=True)
    log_det = 2.0 * jnp.sum(jnp.log(jnp.diagonal(chol)))
    count = jnp.sum(valid)
    return -0.5 * (jnp.sum(solved**2) + log_det + count * jnp.log(2.0 * jnp.pi))


def sqrt_update(members: Array, predictions: Array, d: Array, r: Array, valid: Array) -> Array:
    """The ETKF analysis of ``members`` (N, dim) given their ``predictions`` (N, B) of the
    labels ``d`` (B,) with noise variance ``r``; invalid entries change nothing.

    In ensemble space, with S = Y' / sqrt((N - 1) r) = U diag(s) V^T (thin SVD):
    (N - 1) P_a = I - U diag(s^2 / (1 + s^2)) U^T, the mean weights
    w = P_a Y'^T (d - ybar) / r, and the symmetric square root
    W = I + U diag(1 / sqrt(1 + s^2) - 1) U^T moves the deviations, so the mean of the
    deviations stays zero.
    """
    n = members.shape[0]
    mean, A = anomalies(members)
    ybar, Y = anomalies(predictions, valid)
    innovation = jnp.where(valid, d - ybar, 0.0)
    U, s, _ = jnp.linalg.svd(Y / jnp.sqrt((n - 1) * r), full_matrices=False)
    g = Y @ (innovation / r)  # (N,)
    weights = (g - U @ ((s**2 / (1.0 + s**2)) * (U.T @ g))) / (n - 1)
    shrink = 1.0 / jnp.sqrt(1.0 + s**2) - 1.0
    return mean + weights @ A + A + U @ (shrink[:, None] * (U.T @ A))


def stochastic_update(key: Array, members: Array, predictions: Array, d: Array, r: Array, valid: Array) -> Array:
    """The perturbed-observation EnKF analysis: theta_i += C_ty (C_yy + r I)^-1 (d + eps_i - y_i)."""
    n, b = predictions.shape
    _, A = anomalies(members)
    _, Y = anomalies(predictions, valid)
    noise = jnp.sqrt(r) * jax.random.normal(key, predictions.shape, predictions.dtype)
    innovations = jnp.where(valid, d + noise - predictions, 0.0)  # (N, B)
    c_yy = Y.T @ Y / (n - 1) + r * jnp.eye(b, dtype=Y.dtype)
    c_ty = A.T @ Y / (n - 1)  # (dim, B)
    return members + jnp.linalg.solve(c_yy, innovations.T).T @ c_ty.T


def inflate(members: Array, inflation: float) -> Array:
    """The members' deviations from their mean multiplied by ``inflation``."""
    if inflation == 1.0:
        return members
    mean, A = anomalies(members)
    return mean + inflation * A


def ensemble_kalman_filter(ssm: StateSpace, num_members: int = DEFAULT_MEMBERS, update: str = "sqrt",
                           inflation: float = 1.0) -> Kernel:
    """EnKF kernel with ``num_members`` members drawn from the declaration's prior."""
    n = check_ensemble_options(num_members, update, inflation)
    inflation = float(inflation)
    learns_noise = require_gaussian_label(ssm, "ensemble Kalman filter")
    r = ssm.obs_var

    def init(key: Array) -> EnsembleState:
        members = jax.vmap(ssm.sample_prior)(jax.random.split(key, n))
        return EnsembleState(members, jnp.zeros((), members.dtype), initial_noise(ssm, members.dtype) if learns_noise else None)

    def step(key: Array, state: EnsembleState, batch: Batch) -> tuple[EnsembleState, EnsembleInfo]:
        key_move, key_update = jax.random.split(key)
        members = inflate(ssm.propagate(key_move, state.members), inflation)
        predictions, _, _ = observe_all(ssm, members, batch)
        # init gives a NoiseState exactly when learns_noise
        rr = estimate(state.noise) if state.noise is not None else jnp.asarray(r, members.dtype)
        prediction, pred_var = predictive_moments(predictions, rr)
        log_pred = gaussian_log_density(batch.d, prediction, pred_var)
        ybar, deviations = anomalies(predictions, batch.valid)
        increment = joint_log_density(batch.d, ybar, deviations, rr, batch.valid)
        if update == "sqrt":
            members = sqrt_update(members, predictions, batch.d, rr, batch.valid)
        else:
            members = stochastic_update(key_update, members, predictions, batch.d, rr, batch.valid)
        spread = jnp.mean(jnp.var(members, axis=0))
        info = EnsembleInfo(prediction, pred_var, log_pred, increment, spread)
        noise = learn_variance(state.noise, predictions, batch.d, rr, batch.valid) if state.noise is not None else None
        return EnsembleState(members, state.log_evidence + increment, noise), info

    return Kernel(init, step, "enkf", posterior)
