"""Gaussian-sum particle filter over the weights of a declared model (after Alspach &
Sorenson 1972 and Kotecha & Djuric 2003).

C components, each an extended Kalman filter with its own mean and covariance, started from
C draws of the prior (the first one the EKF's own). Every step each component predicts and updates exactly as the EKF
does (:mod:`bayeslstm.kernels.ekf`), and its weight is multiplied by its own predictive
density of the batch, prod_b N(d_b; f(m_c, X_b), H P_c H^T + r) taken in the EKF's sequential
order, each label scored before it is seen (a learnt r is the component's estimate before
that label). Those densities are far flatter than a particle's point likelihood, so the weights do
not collapse the way a bootstrap filter's do; a component whose weight still falls below
``respawn_below`` (off by default) is re-spawned from a component drawn by weight: its mean
is that component's mean plus Gaussian noise of 0.1 times its marginal standard deviations,
its covariance a copy, and its weight ``respawn_below``. The prediction is the mixture's. With C = 1 the filter
is the EKF exactly.

``covariance`` chooses the components: ``"full"`` or ``"diagonal"`` EKFs, or ``"low-rank"``
LoFi filters (:mod:`bayeslstm.kernels.lofi`: a diagonal-plus-rank-``rank`` precision, cost
linear in the number of weights), for networks too large for a covariance per component.
With C = 1 and low-rank components the filter is LoFi exactly.

``robust=nu`` (outlier-robust updates, as the EKF's): each component takes in a label with the
Student-t weight of its own residual and predictive variance, and its weight is multiplied by
its Student-t predictive density t_nu(d_b; f_c, s_c) instead of the Gaussian one, so that one
wild label cannot hand the mixture to whichever component predicted widest; the evidence and
the scores stay those of the Gaussian predictive. ``fading=beta`` (learnt process noise,
:mod:`bayeslstm.kernels.fading`): one alpha per filter, shared by its components, which all
predict with P_c + alpha q; each step alpha moves by the average of the components' mean log
ratios weighted by the mixture weights the step predicted with. ``noise_forgetting=rho``: each
component's learnt label variance forgets as the EKF's does. With C = 1 all three are the
EKF's (LoFi's) exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import Array
from jax.scipy.special import logsumexp

from ..errors import choose, number
from ..model.statespace import StateSpace
from .ekf import COVARIANCES, EKFState, check_robust, extended_kalman_filter
from .fading import check_fading, log_ratio, moved_level
from .label_noise import DEFAULT_FORGETTING, NoiseState, label_variance
from .lofi import DEFAULT_RANK, LoFiState, low_rank_filter
from .protocol import Batch, GaussianMixture, Kernel, LowRankPrecision
from .resampling import effective_sample_size

DEFAULT_COMPONENTS = 2  # about twice the EKF's cost; more components learned a little better at proportionally more cost
DEFAULT_RESPAWN_BELOW = 0.0  # off: re-spawning did not help on the synthetic stream (docs/methods.md)


MIXTURE_COVARIANCES = COVARIANCES + ("low-rank",)


class GaussianSumState(NamedTuple):
    means: Array  # (C, dim)
    covs: Array | LowRankPrecision  # (C, dim, dim), or (C, dim) diagonal, or low-rank precisions
    log_weights: Array  # (C,), normalised
    log_evidence: Array
    noise: NoiseState | None = None  # each component's label-variance posterior, when a static site sets it
    labels_seen: Array | None = None  # labels absorbed (merging groups keep the weights that saw most)
    level: Array | None = None  # alpha, the learnt scale of q shared by the components, with fading


class GaussianSumInfo(NamedTuple):
    prediction: Array  # (B,) the mixture's mean, before the update
    predictive_var: Array  # (B,)
    log_pred_density: Array  # (B,)
    log_evidence_increment: Array
    ess: Array  # effective number of components after reweighting
    respawned: Array  # components re-spawned this step


def posterior(state: GaussianSumState) -> GaussianMixture:
    """The weighted components."""
    return GaussianMixture(state.means, state.covs, state.log_weights, state.log_evidence,
                           label_variance(state.noise), state.noise)


class ComponentFilter(NamedTuple):
    """The filter each component runs, and how a mixture's fields map to its state."""

    kernel: Kernel
    state: Callable  # (means, covs, noise, level) -> the components' kernel state, batched over C
    parts: Callable  # the components' kernel state -> (means, covs)


def component_filter(ssm: StateSpace, covariance: str, init: str, rank: int,
                     robust: float | None = None, noise_forgetting: float | None = DEFAULT_FORGETTING) -> ComponentFilter:
    """EKF components (full or diagonal covariance) or LoFi components (low-rank precision),
    with ``robust`` updates and ``noise_forgetting``. A component predicts with the mixture's ``level`` but leaves it
    alone (its kernel has no fading of its own): :func:`shared_level` moves it."""
    choose("Gaussian-sum covariance", covariance, MIXTURE_COVARIANCES)
    levels = lambda means, level: None if level is None else jnp.broadcast_to(level, means.shape[:1])  # noqa: E731
    if covariance == "low-rank":
        return ComponentFilter(
            low_rank_filter(ssm, rank, init, robust, noise_forgetting=noise_forgetting),
            lambda means, covs, noise, level: LoFiState(means, covs.diag, covs.factor, jnp.zeros(means.shape[:1], means.dtype),
                                                        noise, levels(means, level)),
            lambda state: (state.mean, LowRankPrecision(state.diag, state.factor)))
    return ComponentFilter(
        extended_kalman_filter(ssm, covariance, init, robust, noise_forgetting=noise_forgetting),
        lambda means, covs, noise, level: EKFState(means, covs, jnp.zeros(means.shape[:1], means.dtype), noise,
                                                   levels(means, level)),
        lambda state: (state.mean, state.cov))


def marginal_variances(covs: Array | LowRankPrecision) -> Array:
    """Each component's marginal variances (C, dim); for a low-rank precision the inverse of
    its diagonal part, an upper bound."""
    if isinstance(covs, LowRankPrecision):
        return 1.0 / covs.diag
    return covs if covs.ndim == 2 else jnp.diagonal(covs, axis1=1, axis2=2)


def check_mixture_options(num_components: int, respawn_below: float, robust: float | None = None,
                          fading: float | None = None) -> tuple[int, float | None, float | None]:
    """Refuse bad Gaussian-sum options before any work; return C as an int, robust and fading."""
    number("respawn_below", respawn_below, float, 0.0, 1.0, high_open=True)
    return number("num_components", num_components, int, 1), check_robust(robust), check_fading(fading)


def mixture_moments(log_weights: Array, prediction: Array, var: Array, log_density: Array) -> tuple[Array, Array, Array]:
    """Mean, variance and log density of the mixture per entry, from (C, B) component values.
    The variance is sum_c w_c (s_c + (f_c - mean)^2), so one component gives its own exactly."""
    w = jnp.exp(log_weights)[:, None]
    mean = jnp.sum(w * prediction, axis=0)
    spread = jnp.sum(w * (var + (prediction - mean) ** 2), axis=0)
    return mean, spread, logsumexp(log_weights[:, None] + log_density, axis=0)


def reweight_components(log_weights: Array, increments: Array) -> tuple[Array, Array]:
    """Weights times each component's evidence increment, renormalised: (log weights, the
    mixture's evidence increment)."""
    unnormalised = log_weights + increments
    total = logsumexp(unnormalised)
    return unnormalised - total, total


def robust_reweight(log_weights: Array, increments: Array, robust_increments: Array | None) -> tuple[Array, Array]:
    """:func:`reweight_components`, but with ``robust_increments`` (the components' Student-t
    densities, when robust) setting the weights; the evidence stays the Gaussian ``increments``'."""
    log_w, total = reweight_components(log_weights, increments)
    if robust_increments is not None:
        log_w = reweight_components(log_weights, robust_increments)[0]
    return log_w, total


def shared_level(level: Array | None, fading: float | None, log_weights: Array, batch: Batch, info,
                 noise: NoiseState | None, r: Array | None) -> Array | None:
    """The mixture's alpha after a step: moved by sum_c w_c mean(log rho_c), the components'
    covariance-matching ratios (:mod:`bayeslstm.kernels.fading`) weighted by the weights
    ``log_weights`` the step predicted with; unchanged without fading."""
    if fading is None or level is None:
        return level
    ratios, counts = jax.vmap(log_ratio, in_axes=(None, 0, 0, None))(batch, info, noise, r)
    return moved_level(level, fading, jnp.sum(jnp.exp(log_weights) * ratios), counts[0])


def respawn(key: Array, state: GaussianSumState, below: float) -> tuple[GaussianSumState, Array]:
    """Components whose weight is below ``below`` replaced by jittered copies of components
    drawn by weight (they take their source's weight; the weights are renormalised)."""
    count = state.log_weights.shape[0]
    collapsed = jnp.exp(state.log_weights) < below
    key_source, key_jitter = jax.random.split(key)
    sources = jax.random.categorical(key_source, state.log_weights, shape=(count,))
    variances = marginal_variances(jax.tree_util.tree_map(lambda c: c[sources], state.covs))
    jitter = jax.random.normal(key_jitter, state.means.shape, state.means.dtype)
    means = jnp.where(collapsed[:, None], state.means[sources] + 0.1 * jnp.sqrt(jnp.maximum(variances, 0.0)) * jitter,
                      state.means)
    covs = jax.tree_util.tree_map(lambda c: jnp.where(collapsed.reshape((count,) + (1,) * (c.ndim - 1)), c[sources], c),
                                  state.covs)
    log_w = jnp.where(collapsed, jnp.log(below).astype(state.log_weights.dtype), state.log_weights)
    noise = jax.tree_util.tree_map(lambda v: jnp.where(collapsed, v[sources], v), state.noise)
    return state._replace(means=means, covs=covs, log_weights=log_w - logsumexp(log_w), noise=noise), jnp.sum(collapsed)


def initial_mixture(component: ComponentFilter, key: Array, count: int, fading: float | None = None) -> GaussianSumState:
    """``count`` component starts, equally weighted; the first is the component filter's own
    start from ``key``, so that one component is that filter (the EKF, or LoFi). alpha starts
    at 1 with ``fading``."""
    keys = jnp.concatenate([key[None], jax.random.split(key, count - 1)]) if count > 1 else key[None]
    components = jax.vmap(component.kernel.init)(keys)
    means, covs = component.parts(components)
    flat = jnp.full((count,), -jnp.log(count), means.dtype)
    level = None if fading is None else jnp.ones((), means.dtype)
    return GaussianSumState(means, covs, flat, jnp.zeros((), means.dtype), components.noise, level=level)


def gaussian_sum_filter(ssm: StateSpace, num_components: int = DEFAULT_COMPONENTS, covariance: str = "full",
                        init: str = "sample", respawn_below: float = DEFAULT_RESPAWN_BELOW,
                        rank: int = DEFAULT_RANK, robust: float | None = None, fading: float | None = None,
                        noise_forgetting: float | None = DEFAULT_FORGETTING) -> Kernel:
    """Gaussian-sum filter of ``num_components`` EKFs (``covariance`` "full" or "diagonal",
    ``init`` as the EKF's) or LoFi filters of rank ``rank`` (``covariance="low-rank"``);
    ``robust``, ``fading`` and ``noise_forgetting`` as in the module docstring."""
    count, robust, fading = check_mixture_options(num_components, respawn_below, robust, fading)
    component = component_filter(ssm, covariance, init, rank, robust, noise_forgetting)

    def init_fn(key: Array) -> GaussianSumState:
        return initial_mixture(component, key, count, fading)

    def step(key: Array, state: GaussianSumState, batch: Batch) -> tuple[GaussianSumState, GaussianSumInfo]:
        components = component.state(state.means, state.covs, state.noise, state.level)
        updated, info = jax.vmap(component.kernel.step, in_axes=(None, 0, None))(key, components, batch)
        prediction, pred_var, log_pred = mixture_moments(state.log_weights, info.prediction, info.predictive_var,
                                                         info.log_pred_density)
        log_w, increment = robust_reweight(state.log_weights, info.log_evidence_increment, info.robust_increment)
        means, covs = component.parts(updated)
        level = shared_level(state.level, fading, state.log_weights, batch, info, state.noise, ssm.obs_var)
        new = GaussianSumState(means, covs, log_w, state.log_evidence + increment, updated.noise, level=level)
        ess = effective_sample_size(log_w)
        new, respawned = respawn(key, new, respawn_below) if count > 1 else (new, jnp.zeros((), jnp.int32))
        return new, GaussianSumInfo(prediction, pred_var, log_pred, increment, ess, respawned)

    return Kernel(init_fn, step, "gspf", posterior)
