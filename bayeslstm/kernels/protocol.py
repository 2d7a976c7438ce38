"""The interface every inference kernel implements (BlackJAX style), and how a kernel
describes its posterior (as NumPyro's MCMC kernels declare their sample field).

A kernel is a :class:`Kernel` of pure functions over NamedTuple states:

* ``init(key) -> state``
* ``step(key, state, batch) -> (state, info)``
* ``posterior(state) -> WeightedSample | Gaussian | GaussianMixture | LowRankGaussian | PointEstimate | None``

``batch`` holds the examples the filter conditions on at this step (one for a lone node,
all nodes' for a centralized filter, the neighbours' for diffusion). ``step`` first predicts
every entry of the batch with what it knew before (``info.prediction``,
``info.predictive_var``, ``info.log_pred_density``), then updates. Entries whose ``valid``
flag is False (padding of a neighbour table, missing data) are predicted but not learnt from.
Both functions jit and vmap over a leading node axis.

``posterior`` says what the state holds about the weights theta, in one of a few forms that
reports know how to draw from, so that reporting never guesses from a state's field names.
It is written for one filter and works unchanged on states with leading (node) axes.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

import jax.numpy as jnp
from jax import Array


class Batch(NamedTuple):
    """Examples seen in one step: X (B, m, p), mask (B, m), d (B,), valid (B,)."""

    X: Array
    mask: Array
    d: Array
    valid: Array


class WeightedSample(NamedTuple):
    """Weighted draws of theta: ``values`` (N, dim) with normalised ``log_weights`` (N,)."""

    values: Array
    log_weights: Array
    log_evidence: Array | None = None
    label_var: Array | None = None  # the learnt label variance, where the filter learns it in closed form
    label_noise: Any = None  # the inverse-gamma posterior IG(shape, rate) of r behind label_var, where kept


class Gaussian(NamedTuple):
    """A Gaussian over theta: ``mean`` (dim,), ``cov`` (dim, dim), or its diagonal (dim,)."""

    mean: Array
    cov: Array
    log_evidence: Array | None = None
    label_var: Array | None = None
    label_noise: Any = None  # the inverse-gamma posterior IG(shape, rate) of r behind label_var, where kept


class LowRankPrecision(NamedTuple):
    """Precisions diag(``diag``) + ``factor`` ``factor``^T: a low-rank filter's, or one per
    component as the ``covs`` of a :class:`GaussianMixture` whose components are low-rank filters."""

    diag: Array  # (dim,), or (C, dim)
    factor: Array  # (dim, R), or (C, dim, R)


class GaussianMixture(NamedTuple):
    """A weighted sum of Gaussians: ``means`` (C, dim), ``covs`` (C, dim, dim) or their
    diagonals (C, dim) or a :class:`LowRankPrecision`, normalised ``log_weights`` (C,)."""

    means: Array
    covs: Array | LowRankPrecision
    log_weights: Array
    log_evidence: Array | None = None
    label_var: Array | None = None  # (C,) per component
    label_noise: Any = None  # the inverse-gamma posterior IG(shape, rate) of r behind label_var, where kept


class LowRankGaussian(NamedTuple):
    """A Gaussian over theta in precision form: ``mean`` (dim,), precision
    diag(``precision_diag``) + ``precision_factor`` ``precision_factor``^T with the factor
    (dim, R); the covariance is never formed (a low-rank filter of a large network)."""

    mean: Array
    precision_diag: Array
    precision_factor: Array
    log_evidence: Array | None = None
    label_var: Array | None = None
    label_noise: Any = None  # the inverse-gamma posterior IG(shape, rate) of r behind label_var, where kept


class PointEstimate(NamedTuple):
    """A single value of theta (dim,): what a gradient method learns."""

    value: Array
    log_evidence: Array | None = None
    label_var: Array | None = None
    label_noise: Any = None  # the inverse-gamma posterior IG(shape, rate) of r behind label_var, where kept


PosteriorForm = WeightedSample | Gaussian | GaussianMixture | LowRankGaussian | PointEstimate


class InitFn(Protocol):
    def __call__(self, key: Array) -> Any:
        """The state before any data."""


class StepFn(Protocol):
    def __call__(self, key: Array, state: Any, batch: Batch) -> tuple[Any, Any]:
        """Predict every entry of ``batch``, then condition on the valid ones."""


class PosteriorFn(Protocol):
    def __call__(self, state: Any) -> PosteriorForm | None:
        """What ``state`` holds about theta (None: the kernel learns no weights)."""


def no_posterior(state: Any) -> None:
    """For kernels that learn no weights (the trivial baselines)."""
    return None


class Kernel(NamedTuple):
    """``init(key) -> state``, ``step(key, state, batch) -> (state, info)`` and ``posterior(state)``."""

    init: InitFn
    step: StepFn
    name: str = "kernel"
    posterior: PosteriorFn = no_posterior


def single(X: Array, mask: Array, d: Array) -> Batch:
    """A batch of one example (the local, non-cooperative case)."""
    return Batch(X[None], mask[None], jnp.reshape(d, (1,)), jnp.ones((1,), bool))


def gaussian_log_density(d: Array, mean: Array, var: Array) -> Array:
    """log N(d; mean, var), elementwise."""
    return -0.5 * (jnp.log(2.0 * jnp.pi * var) + (d - mean) ** 2 / var)
