"""Bootstrap SIR particle filter over the weights of a declared model.

Particles are propagated through the declaration's transition, the batch is predicted with
the posterior-predictive mixture, the log-likelihoods of the valid entries are added to the
log weights, and the particles are resampled when the ESS falls below ``ess_threshold * N``
(``ess_threshold=1`` resamples every step). Weights stay normalised in log space; the log
evidence increment log sum_i w_i p(d | theta_i) is exact for any resampling schedule.

When one static scalar site sets the label's variance r (a learnt noise scale), the filter
integrates r out rather than carrying it in the particles: each particle keeps the
inverse-gamma posterior of r given its own past residuals (``ParticleState.noise``), a label
is weighed by the Student-t predictive it gives, and resampling copies it with the particle
(see :mod:`~bayeslstm.kernels.label_noise`). A value of r carried in the particles is never
renewed once resampling has copied it, so every particle of a filter would soon hold the same
one; the posterior of r then was a single value.

The pieces (:func:`move_and_observe`, :func:`observe_all`, :func:`mixture_prediction`, :func:`reweight`,
:func:`resample_state`) are public so that the distributed particle filters reuse them
rather than copy them.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.scipy.special import logsumexp

from ..errors import OptionError, choose, number
from ..model.noise import random_walk_noise
from ..model.statespace import StateSpace
from .label_noise import (
    NoiseState,
    estimate,
    initial_noise,
    marginal_log_likelihood,
    marginalisable,
    observe_residuals,
    predictive_variance,
)
from .protocol import Batch, Kernel, WeightedSample
from .resampling import Resampled, adaptive, get_scheme

DEFAULT_PARTICLES = 300  # every particle method's default: enough to learn, small enough for minutes-long runs
LOGLIK_FLOOR = -1e6  # distributed filters keep impossible particles finite so sums never meet inf - inf
SQUARED_CEILING = 2e6  # and their squared residuals, where r is integrated out (2 r |LOGLIK_FLOOR| at r = 1)


class ParticleState(NamedTuple):
    particles: Array  # (N, dim)
    log_weights: Array  # (N,), normalised: logsumexp == 0
    log_evidence: Array  # scalar, log p(d_1..d_t)
    labels_seen: Array | None = None  # labels absorbed (merging groups keep the state that saw most)
    noise: NoiseState | None = None  # (N,) each: each particle's IG posterior of r, where r is integrated out


class ParticleInfo(NamedTuple):
    prediction: Array  # (B,) posterior-predictive means, before the update
    predictive_var: Array  # (B,)
    log_pred_density: Array  # (B,) log p(d_b | past)
    log_evidence_increment: Array  # log p(valid entries of this batch | past)
    ess: Array  # after reweighting, before resampling
    resampled: Array  # bool
    collapsed: Array  # bool: every particle had zero likelihood; weights were kept


def init_particles(ssm: StateSpace, key: Array, num_particles: int) -> ParticleState:
    """N draws from the declaration's prior, equally weighted; each with the prior IG of r when
    the filter integrates r out."""
    particles = jax.vmap(ssm.sample_prior)(jax.random.split(key, num_particles))
    log_w = jnp.full((num_particles,), -jnp.log(num_particles), particles.dtype)
    noise = initial_noise(ssm, particles.dtype) if marginalisable(ssm) else None
    if noise is not None:
        noise = jax.tree_util.tree_map(lambda a: jnp.full((num_particles,), a), noise)
    return ParticleState(particles, log_w, jnp.zeros((), particles.dtype), noise=noise)


def integrate_noise(noise: NoiseState | None, mean: Array, var: Array, loglik: Array,
                    batch: Batch) -> tuple[Array, Array, Array]:
    """(var, loglik, total): each entry's predictive variance and log density, and each
    particle's log likelihood of the batch's valid entries ((N, B), (N, B), (N,)). With r
    integrated out (``noise``): r's predictive variance, each label's Student-t density, and the
    batch's joint density (one r shared by its labels); otherwise the model's own."""
    if noise is None:
        return var, loglik, jnp.sum(jnp.where(batch.valid[None, :], loglik, 0.0), axis=1)
    column = jax.tree_util.tree_map(lambda a: a[:, None], noise)
    squared = (batch.d[None, :] - mean) ** 2
    entry = marginal_log_likelihood(column, squared, jnp.ones_like(squared))
    entry = jnp.where(jnp.isnan(entry), -jnp.inf, entry)
    total = marginal_log_likelihood(noise, jnp.sum(jnp.where(batch.valid[None, :], squared, 0.0), axis=1),
                                    jnp.sum(batch.valid).astype(mean.dtype))
    total = jnp.where(jnp.isnan(total), -jnp.inf, total)
    return jnp.broadcast_to(predictive_variance(column), mean.shape), entry, total


def capped_squares(d: Array, mean: Array) -> Array:
    """(d - mean)^2, kept finite: an impossible particle (a NaN output) gets SQUARED_CEILING, so
    its posterior of r stays finite and sums over nodes never meet inf - inf."""
    return jnp.minimum(jnp.nan_to_num((d - mean) ** 2, nan=SQUARED_CEILING), SQUARED_CEILING)


def absorb_residuals(noise: NoiseState | None, mean: Array, batch: Batch) -> NoiseState | None:
    """Each particle's IG posterior of r after the batch's valid labels (None when r is not
    integrated out)."""
    if noise is None:
        return None
    squared = jnp.where(batch.valid[None, :], capped_squares(batch.d[None, :], mean), 0.0)
    return jax.vmap(lambda n, s: observe_residuals(n, s, batch.valid))(noise, squared)


def observe_all(ssm: StateSpace, particles: Array, batch: Batch) -> tuple[Array, Array, Array]:
    """Means, variances and log-likelihoods of every batch entry under every particle: (N, B).

    Through :meth:`StateSpace.observe_particles`, which takes the particles in cache-sized blocks.
    """
    mean, var, loglik = ssm.observe_particles(particles, batch.X, batch.mask, batch.d)
    loglik = jnp.where(jnp.isnan(loglik), -jnp.inf, loglik)  # a NaN output is an impossible particle
    return mean, var, loglik


def move_and_observe(ssm: StateSpace, key: Array, particles: Array, batch: Batch) -> tuple[Array, tuple[Array, Array, Array]]:
    """Particles propagated through the transition, and their (mean, var, loglik) on ``batch``."""
    moved = ssm.propagate(key, particles)
    return moved, observe_all(ssm, moved, batch)


def mixture_prediction(log_weights: Array, mean: Array, var: Array, loglik: Array) -> tuple[Array, Array, Array]:
    """Posterior-predictive mean, variance and log density per entry from (N, B) arrays."""
    w = jnp.exp(log_weights)[:, None]
    prediction = jnp.sum(w * mean, axis=0)
    second = jnp.sum(w * (var + mean**2), axis=0)
    log_pred = logsumexp(log_weights[:, None] + loglik, axis=0)
    return prediction, jnp.maximum(second - prediction**2, 0.0), log_pred


def reweight(log_weights: Array, loglik: Array) -> tuple[Array, Array, Array]:
    """Add per-particle log-likelihoods; renormalise. Returns (log_w, increment, collapsed).

    If every particle has zero likelihood the weights are kept (and ``collapsed`` is set)
    instead of becoming NaN; the increment is then -inf, the honest evidence.
    """
    unnormalised = log_weights + loglik
    increment = logsumexp(unnormalised)
    collapsed = ~jnp.isfinite(increment)
    new = jnp.where(collapsed, log_weights, unnormalised - increment)
    return new, jnp.where(jnp.isnan(increment), -jnp.inf, increment), collapsed


def resample_state(state: ParticleState, resampled: Resampled) -> ParticleState:
    """The particles and weights an (adaptive) resampler chose (with each one's IG posterior of r)."""
    noise = None if state.noise is None else jax.tree_util.tree_map(lambda a: a[resampled.indices], state.noise)
    return state._replace(particles=state.particles[resampled.indices], log_weights=resampled.log_weights, noise=noise)


def posterior(state: ParticleState) -> WeightedSample:
    """The particles with their weights, and where r is integrated out, each particle's IG
    posterior of it (``label_noise``) and their weighted estimate of r (``label_var``)."""
    if state.noise is None:
        return WeightedSample(state.particles, state.log_weights, state.log_evidence)
    label_var = jnp.sum(jnp.exp(state.log_weights) * estimate(state.noise), axis=-1)
    return WeightedSample(state.particles, state.log_weights, state.log_evidence, label_var, state.noise)


MOVES = ("auto", "none", "liu-west")
MOVE_SALT = 7  # the move's key is fold_in(step key, MOVE_SALT): runs without moves keep their keys
DEFAULT_DISCOUNT = 0.98


def liu_west(key: Array, particles: Array, log_weights: Array, discount: float = DEFAULT_DISCOUNT) -> Array:
    """Kernel shrinkage (Liu & West 2001): theta_i <- a theta_i + (1 - a) mean + h eps_i with
    eps_i ~ N(0, V), mean and V the weighted mean and covariance of the cloud,
    a = (3 delta - 1) / (2 delta) for the discount delta and h^2 = 1 - a^2. The moved cloud
    keeps the weighted mean and covariance (in expectation over eps) and gets fresh diversity.

    eps_i = sum_j z_ij sqrt(w_j) (theta_j - mean) with z_ij ~ N(0, 1) has covariance V exactly
    and needs no factorisation of V (singular after resampling duplicates particles): one
    (N, N) x (N, dim) product.
    """
    a = (3.0 * discount - 1.0) / (2.0 * discount)
    h = (1.0 - a**2) ** 0.5
    w = jnp.exp(log_weights - logsumexp(log_weights))
    mean = w @ particles
    scaled = jnp.sqrt(w)[:, None] * (particles - mean)
    n = particles.shape[0]
    noise = random_walk_noise(key, (n, n), particles.dtype) @ scaled
    return a * particles + (1.0 - a) * mean + h * noise


def moved_entries(ssm: StateSpace, move: str) -> np.ndarray | None:
    """The entries of theta that Liu-West moves rejuvenate: all of them (``"liu-west"``), the
    static sites' (``"auto"``: static parameters are learnt only if something moves them; not
    a label variance the filter integrates out), or none (``"none"``, or ``"auto"`` for a model
    without such sites)."""
    if move == "liu-west":
        return np.arange(ssm.dim)
    integrated = ssm.noise_sites[0].index if marginalisable(ssm) else np.zeros(0, np.int64)
    index = np.setdiff1d(ssm.static_index, integrated)
    return index if move == "auto" and index.size else None


def rejuvenate(key: Array, state: ParticleState, resampled: Array, entries: np.ndarray | None,
               discount: float) -> ParticleState:
    """The Liu-West move of ``entries`` (see :func:`moved_entries`) on the steps that resampled."""
    if entries is None:
        return state

    start, stop = int(entries[0]), int(entries[-1]) + 1
    contiguous = stop - start == entries.size  # a slice, not a gather and a scatter

    def move(particles):
        if contiguous:
            part = liu_west(key, particles[:, start:stop], state.log_weights, discount)
            return part if entries.size == particles.shape[1] else particles.at[:, start:stop].set(part)
        return particles.at[:, entries].set(liu_west(key, particles[:, entries], state.log_weights, discount))

    return state._replace(particles=jax.lax.cond(resampled, move, lambda p: p, state.particles))


def check_particle_options(num_particles: int, resampling: str, ess_threshold: float | None = None,
                           move: str = "auto", discount: float = DEFAULT_DISCOUNT) -> int:
    """Refuse bad particle-filter options before any work; return N as an int."""
    get_scheme(resampling)
    choose("move", move, MOVES)
    number("discount", discount, float, 0.0, 1.0, low_open=True, high_open=True)
    if ess_threshold is not None:
        if isinstance(ess_threshold, str):  # the kernel uses the value as given
            raise OptionError(f"ess_threshold must be a number in (0, 1]; got the string {ess_threshold!r}")
        number("ess_threshold", ess_threshold, float, 0.0, 1.0, low_open=True)
    return number("num_particles", num_particles, int, 1)


def particle_filter(
    ssm: StateSpace,
    num_particles: int = DEFAULT_PARTICLES,
    resampling: str = "systematic",
    ess_threshold: float = 0.5,
    move: str = "auto",
    discount: float = DEFAULT_DISCOUNT,
) -> Kernel:
    """Bootstrap SIR kernel. ``ess_threshold`` in (0, 1]; 1 resamples every step.
    ``move="liu-west"`` rejuvenates the particles after each resampling (:func:`liu_west`,
    with ``discount`` delta); ``"auto"`` (the default) moves only the static sites' entries,
    when the declaration has static sites."""
    num_particles = check_particle_options(num_particles, resampling, ess_threshold, move, discount)
    resample = adaptive(get_scheme(resampling), ess_threshold)
    entries = moved_entries(ssm, move)

    def init(key: Array) -> ParticleState:
        return init_particles(ssm, key, num_particles)

    def step(key: Array, state: ParticleState, batch: Batch) -> tuple[ParticleState, ParticleInfo]:
        key_move, key_resample = jax.random.split(key)
        particles, (mean, var, loglik) = move_and_observe(ssm, key_move, state.particles, batch)
        var, loglik, total = integrate_noise(state.noise, mean, var, loglik, batch)
        prediction, pred_var, log_pred = mixture_prediction(state.log_weights, mean, var, loglik)
        log_w, increment, collapsed = reweight(state.log_weights, total)
        state = ParticleState(particles, log_w, state.log_evidence + increment,
                              noise=absorb_residuals(state.noise, mean, batch))
        resampled = resample(key_resample, log_w)
        state = rejuvenate(jax.random.fold_in(key, MOVE_SALT), resample_state(state, resampled), resampled.resampled,
                           entries, discount)
        info = ParticleInfo(prediction, pred_var, log_pred, increment, resampled.ess, resampled.resampled, collapsed)
        return state, info

    return Kernel(init, step, "pf", posterior)


def weighted_mean(state: ParticleState) -> Array:
    """Posterior mean of theta under the current weights."""
    return jnp.exp(state.log_weights) @ state.particles
