"""The label variance r learnt in closed form, for the Gaussian filters and gradient methods.

When a static site of the declaration sets the variance of the Gaussian label (a noise scale
``sigma`` with ``d ~ Normal(f, sigma)``, say), a Kalman-type filter cannot learn it through
the label's mean: the mean does not depend on it. So they learn r itself, with an
inverse-gamma posterior IG(alpha, beta) that starts as the moment match of the site's prior
and is updated in closed form with every label. The Kalman filters use the variational
Bayes update of Sarkka & Nummenmaa (2009): a few fixed-point iterations between the weight
update (with r = beta / alpha) and beta = beta_prior + (residual^2 + H P_post H^T) / 2.
Those iterations' r has seen the label, so the filters' evidence of a label does not use it:
it is the label's predictive density before it is seen, N(d; f, H P H^T + r) with r the
estimate before this label, :func:`estimate` of the posterior it starts from.
Particle filters integrate r out instead (Rao-Blackwellisation, as in Storvik's filter and
particle learning): each particle keeps the exact IG posterior of r given its own past
residuals, weighs a label by the Student-t predictive that posterior gives
(:func:`marginal_log_likelihood`), and adds the label's squared residual to it. A value of r
carried in the particles would be copied by every resampling and never renewed, so it would
collapse onto one value per filter.

The Kalman-type and Gaussian-sum filters forget (``noise_forgetting=rho``, 0.99 by default): before
each label the posterior's shape and rate are both multiplied by rho (the heuristic dynamics
of the variance in Sarkka & Nummenmaa's variational filter), which keeps the estimate
rate / shape and lowers its weight, so the posterior remembers about 1 / (1 - rho) labels. A
learner's first residuals are larger than its late ones; without forgetting they stay in r for
ever, and its intervals stay wider than its late errors ask for. ``noise_forgetting=1`` (or
None) remembers every label: the exact posterior of a static r.

:func:`check_sites` refuses, with the site and the method named, the sites a Gaussian filter
cannot learn: a noise site that moves with theta_prev or also moves the mean, more than one
noise site, or a site that changes neither the label's mean nor its variance (a prior scale:
the particle filters learn it).
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
from jax import Array
from jax.scipy.special import gammaln

from ..errors import ModelError, number
from ..model.statespace import StateSpace

VB_ITERATIONS = 3
DEFAULT_FORGETTING = 0.99  # the label variance's memory: about 100 labels


class NoiseState(NamedTuple):
    """Inverse-gamma posterior of the label variance: r ~ IG(shape, rate); r estimate = rate / shape."""

    shape: Array
    rate: Array


def check_sites(ssm: StateSpace, what: str) -> bool:
    """Refuse the sites ``what`` cannot learn (see the module docstring); True when it learns
    the label variance."""
    noise = ssm.noise_sites
    for site in ssm.sites:
        if site.affects_variance and not site.static:
            raise ModelError(f"site {site.name!r} sets the label's variance and changes with theta_prev; the {what} "
                             "learns a label variance only from a static site: use the particle filter")
        if site.affects_variance and site.affects_mean:
            raise ModelError(f"site {site.name!r} sets both the label's mean and its variance; the {what} cannot "
                             "learn it: use the particle filter")
        if not site.affects_variance and not site.affects_mean:
            raise ModelError(f"site {site.name!r} changes neither the label's mean nor its variance (a prior scale?); "
                             f"the {what} cannot learn it: use the particle filter")
    if len(noise) > 1 or any(site.size != 1 for site in noise):
        names = ", ".join(repr(site.name) for site in noise)
        raise ModelError(f"the {what} learns one scalar label variance; sites {names} set it: use the particle filter")
    return bool(noise)


def initial_noise(ssm: StateSpace, dtype) -> NoiseState | None:
    """The prior IG(shape, rate) of the label variance, or None when it is fixed."""
    if ssm.obs_var is not None or ssm.label_var_prior is None:
        return None
    shape, rate = ssm.label_var_prior
    return NoiseState(jnp.asarray(shape, dtype), jnp.asarray(rate, dtype))


def check_forgetting(forgetting: float | None) -> float | None:
    """``noise_forgetting`` (rho: the share of the label variance's posterior each label keeps)
    in (1/2, 1], or None; 1 and None both mean a static r that remembers every label (None is
    returned for both). Above 1/2 the stored shape (after each label) stays above 1, so the
    inverse-gamma reported for r has a finite mean: it tends to 1 / (2 (1 - rho))."""
    if forgetting is None:
        return None
    rho = number("noise_forgetting", forgetting, float, 0.5, 1.0, low_open=True)
    return None if rho == 1.0 else rho


def forget(noise: NoiseState, forgetting: float | None) -> NoiseState:
    """The posterior before a label: shape and rate times rho (unchanged without forgetting)."""
    if forgetting is None:
        return noise
    return NoiseState(forgetting * noise.shape, forgetting * noise.rate)


def estimate(noise: NoiseState) -> Array:
    """The label variance the filter uses: rate / shape (the inverse of E[1 / r])."""
    return noise.rate / noise.shape


def observe_residuals(noise: NoiseState, squared: Array, valid: Array) -> NoiseState:
    """Count each valid label's squared residual (plus its posterior predictive variance)
    once: shape += 1/2, rate += squared / 2 per label."""
    weight = valid.astype(noise.shape.dtype)
    return NoiseState(noise.shape + 0.5 * jnp.sum(weight), noise.rate + 0.5 * jnp.sum(weight * squared))


def label_variance(noise: NoiseState | None) -> Array | None:
    """The learnt label variance a posterior reports: :func:`estimate`, or None when r is fixed."""
    return None if noise is None else estimate(noise)


def marginalisable(ssm: StateSpace) -> bool:
    """Whether a particle filter integrates the label variance out of the particles: one static
    scalar site sets it and nothing else (every other site leaves the variance alone), with the
    inverse-gamma prior the declaration implies."""
    noise = ssm.noise_sites
    return (ssm.obs_var is None and ssm.label_var_prior is not None and len(noise) == 1 and noise[0].size == 1
            and noise[0].static and not noise[0].affects_mean)


def marginal_log_likelihood(noise: NoiseState, squared_sum: Array, count: Array) -> Array:
    """log p(labels) of ``count`` labels with residuals whose squares sum to ``squared_sum``,
    r ~ IG(shape, rate) integrated out: lgamma(a + n/2) - lgamma(a) + a log b
    - (a + n/2) log(b + S/2) - (n/2) log(2 pi). One label: the Student-t density with 2a
    degrees of freedom and scale^2 b / a. ``count`` may be fractional (a tempered likelihood).
    Written as -a log1p(S / 2b) - (n/2) log(b + S/2) + ...: after thousands of labels a log b
    and (a + n/2) log(b + S/2) are each near 1e5, and their float32 difference would carry
    errors of 0.01 nats that differ between particles."""
    a, b = noise.shape, noise.rate
    half = 0.5 * count
    return (gammaln(a + half) - gammaln(a) - a * jnp.log1p(0.5 * squared_sum / b)
            - half * jnp.log(b + 0.5 * squared_sum) - half * jnp.log(2.0 * jnp.pi))


def predictive_variance(noise: NoiseState) -> Array:
    """The variance r adds to a label's predictive: E[r] = rate / (shape - 1) (the Student-t's
    variance; the shape starts above 1 and only grows)."""
    return noise.rate / (noise.shape - 1.0)
