"""Bootstrap SIR particle filter over the weights of a declared model.

Particles are propagated through the declaration's transition, the batch is predicted with
the posterior-predictive mixture, the log-likelihoods of the valid entries are added to the
log weights, and the particles are resampled when the ESS falls below ``ess_threshold * N``
(``ess_threshold=1`` resamples every step). Weights stay normalised in log space; the log
evidence increment log sum_i w_i p(d | theta_i) is exact for any resampling schedule.

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
from .protocol import Batch, Kernel, WeightedSample
from .resampling import Resampled, adaptive, get_scheme

DEFAULT_PARTICLES = 300  # every particle method's default: enough to learn, small enough for minutes-long runs
LOGLIK_FLOOR = -1e6  # distributed filters keep impossible particles finite so sums never meet inf - inf


class ParticleState(NamedTuple):
    particles: Array  # (N, dim)
    log_weights: Array  # (N,), normalised: logsumexp == 0
    log_evidence: Array  # scalar, log p(d_1..d_t)
    labels_seen: Array | None = None  # labels absorbed (merging groups keep the state that saw most)


class ParticleInfo(NamedTuple):
    prediction: Array  # (B,) posterior-predictive means, before the update
    predictive_var: Array  # (B,)
    log_pred_density: Array  # (B,) log p(d_b | past)
    log_evidence_increment: Array  # log p(valid entries of this batch | past)
    ess: Array  # after reweighting, before resampling
    resampled: Array  # bool
    collapsed: Array  # bool: every particle had zero likelihood; weights were kept


def init_particles(ssm: StateSpace, key: Array, num_particles: int) -> ParticleState:
    """N draws from the declaration's prior, equally weighted."""
    particles = jax.vmap(ssm.sample_prior)(jax.random.split(key, num_particles))
    log_w = jnp.full((num_particles,), -jnp.log(num_particles), particles.dtype)
    return ParticleState(particles, log_w, jnp.zeros((), particles.dtype))


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
    """The particles and weights an (adaptive) resampler chose."""
    return state._replace(particles=state.particles[resampled.indices], log_weights=resampled.log_weights)


def posterior(state: ParticleState) -> WeightedSample:
    """The particles with their weights."""
    return WeightedSample(state.particles, state.log_weights, state.log_evidence)


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
    static sites' (``"auto"``: static parameters are learnt only if something moves them), or
    none (``"none"``, or ``"auto"`` for a model without static sites)."""
    if move == "liu-west":
        return np.arange(ssm.dim)
    index = ssm.static_index
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
        state = state._replace(particles=particles)
        prediction, pred_var, log_pred = mixture_prediction(state.log_weights, mean, var, loglik)
        total = jnp.sum(jnp.where(batch.valid[None, :], loglik, 0.0), axis=1)
        log_w, increment, collapsed = reweight(state.log_weights, total)
        state = ParticleState(state.particles, log_w, state.log_evidence + increment)
        resampled = resample(key_resample, log_w)
        state = rejuvenate(jax.random.fold_in(key, MOVE_SALT), resample_state(state, resampled), resampled.resampled,
                           entries, discount)
        info = ParticleInfo(prediction, pred_var, log_pred, increment, resampled.ess, resampled.resampled, collapsed)
        return state, info

    return Kernel(init, step, "pf", posterior)


def weighted_mean(state: ParticleState) -> Array:
    """Posterior mean of theta under the current weights."""
    return jnp.exp(state.log_weights) @ state.particles
