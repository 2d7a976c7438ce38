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

The pass over a batch's labels, :func:`sequential_update`, serves LoFi
(:mod:`bayeslstm.kernels.lofi`) as well: a :class:`ScalarUpdate` says how a covariance, full,
diagonal or a low-rank precision, takes in one label.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import Array
from jax.scipy.special import gammaln

from ..errors import ModelError, choose, number
from ..model.statespace import StateSpace
from .fading import check_fading, next_level, q_scale
from .label_noise import (
    DEFAULT_FORGETTING,
    VB_ITERATIONS,
    NoiseState,
    check_forgetting,
    check_sites,
    estimate,
    forget,
    initial_noise,
    label_variance,
)
from .protocol import Batch, Gaussian, Kernel, gaussian_log_density

COVARIANCES = ("full", "diagonal")
INITS = ("sample", "prior-mean")


class EKFState(NamedTuple):
    mean: Array  # (dim,)
    cov: Array  # (dim, dim) full, or (dim,) diagonal
    log_evidence: Array
    noise: NoiseState | None = None  # the label variance's posterior, when a static site sets it
    level: Array | None = None  # alpha, the learnt scale of q (bayeslstm.kernels.fading), when on


class EKFInfo(NamedTuple):
    prediction: Array  # (B,)
    predictive_var: Array  # (B,)
    log_pred_density: Array  # (B,)
    log_evidence_increment: Array
    robust_increment: Array | None = None  # with robust: the labels' log density as Student-t labels, same order


def posterior(state: EKFState) -> Gaussian:
    """The filter's Gaussian over theta."""
    return Gaussian(state.mean, state.cov, state.log_evidence, label_variance(state.noise), state.noise)


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


def value_and_jacobian(ssm: StateSpace, theta: Array, X: Array, mask: Array) -> tuple[Array, Array]:
    """The label's mean f(theta, X) and its gradient in theta (one reverse-mode pass)."""
    return jax.value_and_grad(lambda t: ssm.mean(t, X, mask))(theta)


def _project(cov: Array, H: Array) -> Array:
    """P H^T for a full or a diagonal P."""
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


class ScalarUpdate(NamedTuple):
    """How a Gaussian filter's covariance, in whatever form it keeps it, meets one scalar label."""

    times: Callable[[Any, Array], Array]  # (cov, h) -> Sigma h
    update: Callable[..., tuple]  # (mean, cov, h, residual, r) -> (mean, cov, s, h^T Sigma_post h)


def joseph_label_update(mean: Array, cov: Array, H: Array, residual: Array, r: Array) -> tuple:
    """:func:`joseph_update` in the form :class:`ScalarUpdate` asks for:
    (mean, cov, innovation variance s, H P_post H^T)."""
    mean, cov, s = joseph_update(mean, cov, H, residual, r)
    return mean, cov, s, H @ _project(cov, H)


JOSEPH = ScalarUpdate(_project, joseph_label_update)


def label_weight(residual: Array, predictive_var: Array, robust: float | None) -> Array:
    """How much one label counts: the weight (nu + 1) / (nu + z^2) a Student-t label with nu =
    ``robust`` degrees of freedom gives a standardised residual z (its iteratively reweighted
    Gaussian form); 1 when ``robust`` is None. A label 20 predictive standard deviations out
    counts about (nu + 1) / 400 of a label."""
    if robust is None:
        return jnp.ones_like(residual)
    return (robust + 1.0) / (robust + residual**2 / predictive_var)


def student_t_log_density(d: Array, mean: Array, var: Array, nu: float) -> Array:
    """log t_nu(d; mean, var): a Student-t density with nu degrees of freedom and squared scale
    ``var`` (the Gaussian predictive variance, as :func:`label_weight` standardises by), elementwise."""
    half = 0.5 * (nu + 1.0)
    return (gammaln(half) - gammaln(0.5 * nu) - 0.5 * jnp.log(nu * jnp.pi * var)
            - half * jnp.log1p((d - mean) ** 2 / (nu * var)))


def vb_update(mean: Array, cov: Any, H: Array, residual: Array, noise: NoiseState,
              form: ScalarUpdate = JOSEPH, robust: float | None = None, forgetting: float | None = None) -> tuple:
    """The variational-Bayes joint update of the weights and the label variance (Sarkka &
    Nummenmaa 2009) for one label: (mean, cov, predictive variance, noise).

    ``form`` says how the covariance is kept and updated (the EKF's Joseph form by default).
    The predictive variance is H P H^T + r with r the estimate before this label,
    ``estimate(noise)``: the variance of the label before it is seen, so that the evidence
    N(d; f, s) is a predictive density. (The fixed-point iterations' own innovation variances
    use r already updated with the label's residual; they serve the weight update only.)
    ``forgetting``: the posterior first keeps this share of itself (:func:`forget`)."""
    noise = forget(noise, forgetting)
    shape = noise.shape + 0.5
    rate = noise.rate
    predictive_var = H @ form.times(cov, H) + estimate(noise)
    weight = label_weight(residual, predictive_var, robust)
    for _ in range(VB_ITERATIONS):
        new_mean, new_cov, _, posterior_spread = form.update(mean, cov, H, residual, rate / shape / weight)
        posterior_residual = residual - H @ (new_mean - mean)
        rate = noise.rate + 0.5 * (weight * posterior_residual**2 + posterior_spread)
    return new_mean, new_cov, predictive_var, NoiseState(shape, rate)


def sequential_update(ssm: StateSpace, form: ScalarUpdate, mean: Array, cov: Any, noise: NoiseState | None,
                      batch: Batch, r: Array | None, robust: float | None = None,
                      forgetting: float | None = None) -> tuple[Array, Any, NoiseState | None, EKFInfo]:
    """Predict every entry of ``batch`` from the predicted ``mean`` and ``cov``, then take in
    its valid labels one at a time, in order: (mean, cov, noise, info).

    The label variance is ``r`` when ``noise`` is None, else learnt by :func:`vb_update`.
    Each label's Jacobian is taken at the mean its earlier entries left. ``robust`` (degrees of
    freedom nu of a Student-t label): each label counts with the weight of
    :func:`label_weight`, as if its variance were r / weight, and its squared residual adds to
    the learnt r with the same weight; scores stay those of the Gaussian predictive, and the
    info's ``robust_increment`` adds the labels' :func:`student_t_log_density` in the same order
    (what a Gaussian sum weighs its components by). ``forgetting``: see :func:`vb_update`."""
    f0, H0 = jax.vmap(lambda X, m: value_and_jacobian(ssm, mean, X, m))(batch.X, batch.mask)
    r_now = r if noise is None else estimate(noise)
    pred_var = jax.vmap(lambda h: h @ form.times(cov, h))(H0) + r_now
    log_pred = gaussian_log_density(batch.d, f0, pred_var)

    def one(carry, entry):
        mean, cov, increment, robust_increment, noise = carry
        index, X, mask, d, valid = entry
        f, H = jax.lax.cond(index == 0, lambda: (f0[0], H0[0]), lambda: value_and_jacobian(ssm, mean, X, mask))
        if noise is None and robust is None:
            new_mean, new_cov, s, _ = form.update(mean, cov, H, d - f, r)
            new_noise = None
        elif noise is None:  # the update as if the label's variance were r / weight; scored with r itself
            s = H @ form.times(cov, H) + r
            new_mean, new_cov, _, _ = form.update(mean, cov, H, d - f, r / label_weight(d - f, s, robust))
            new_noise = None
        else:
            new_mean, new_cov, s, new_noise = vb_update(mean, cov, H, d - f, noise, form, robust, forgetting)
        keep = lambda new, old: jnp.where(valid, new, old)  # noqa: E731
        increment = increment + jnp.where(valid, gaussian_log_density(d, f, s), 0.0)
        if robust is not None:
            robust_increment = robust_increment + jnp.where(valid, student_t_log_density(d, f, s, robust), 0.0)
        keep_all = partial(jax.tree_util.tree_map, keep)
        return (keep(new_mean, mean), keep_all(new_cov, cov), increment, robust_increment,
                keep_all(new_noise, noise)), None

    entries = (jnp.arange(batch.d.shape[0]), batch.X, batch.mask, batch.d, batch.valid)
    zero = jnp.zeros((), mean.dtype)
    carry = (mean, cov, zero, None if robust is None else zero, noise)
    (mean, cov, increment, robust_increment, noise), _ = jax.lax.scan(one, carry, entries)
    return mean, cov, noise, EKFInfo(f0, pred_var, log_pred, increment, robust_increment)


def initial_mean(ssm: StateSpace, key: Array, init: str) -> Array:
    """Where a Gaussian filter's mean starts: one prior draw (``"sample"``) or the prior mean."""
    if init == "sample":
        return ssm.sample_prior(key)
    if ssm.prior_mean is None:
        raise ModelError(f"init={init!r} needs the prior's mean; the declaration has no Gaussian prior moments")
    return ssm.prior_mean


def check_robust(robust: float | None) -> float | None:
    """``robust`` (a Student-t label's degrees of freedom) as a positive float, or None (a Gaussian label)."""
    return None if robust is None else number("robust", robust, float, 0.0, low_open=True)


def extended_kalman_filter(ssm: StateSpace, covariance: str = "full", init: str = "sample",
                           robust: float | None = None, fading: float | None = None,
                           noise_forgetting: float | None = DEFAULT_FORGETTING) -> Kernel:
    """EKF kernel. ``init="sample"`` starts the mean at one prior draw: for the LSTM a zero
    mean is a saddle point where every gradient vanishes; ``"prior-mean"`` starts at the
    prior mean (the exact Kalman filter's start on linear-Gaussian models). ``robust``: see
    :func:`sequential_update`; ``fading``: learnt process noise (:mod:`bayeslstm.kernels.fading`);
    ``noise_forgetting``: a learnt label variance that forgets (:mod:`bayeslstm.kernels.label_noise`)."""
    choose("EKF covariance", covariance, COVARIANCES)
    choose("EKF init", init, INITS)
    robust, fading, noise_forgetting = check_robust(robust), check_fading(fading), check_forgetting(noise_forgetting)
    learns_noise = require_gaussian(ssm)
    q, r, prior_var = ssm.transition_var, ssm.obs_var, ssm.prior_var
    assert q is not None and prior_var is not None  # require_gaussian refuses a declaration without them

    def init_fn(key: Array) -> EKFState:
        mean = initial_mean(ssm, key, init)
        var = prior_var.astype(mean.dtype)
        cov = jnp.diag(var) if covariance == "full" else var
        return EKFState(mean, cov, jnp.zeros((), mean.dtype), initial_noise(ssm, mean.dtype) if learns_noise else None,
                        None if fading is None else jnp.ones((), mean.dtype))

    def step(key: Array, state: EKFState, batch: Batch) -> tuple[EKFState, EKFInfo]:
        del key  # deterministic
        scaled_q = q_scale(state.level) * q
        cov = state.cov + (jnp.diag(scaled_q) if covariance == "full" else scaled_q).astype(state.cov.dtype)
        mean, cov, noise, info = sequential_update(ssm, JOSEPH, state.mean, cov, state.noise, batch, r, robust,
                                                   noise_forgetting)
        level = next_level(state.level, fading, batch, info, state.noise, r)
        return EKFState(mean, cov, state.log_evidence + info.log_evidence_increment, noise, level), info

    return Kernel(init_fn, step, "ekf", posterior)
