"""Draws from what a run learnt: posterior draws of the final weights (one chain per filter)
and draws from each step's one-step predictive distribution."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..errors import InputError, OptionError, number
from ..kernels.protocol import (
    Gaussian,
    GaussianMixture,
    LowRankGaussian,
    LowRankPrecision,
    PointEstimate,
    PosteriorForm,
    WeightedSample,
)

Labelled = tuple[tuple[str, ...], np.ndarray]  # (dimension names, values): an xarray variable


class Draws(NamedTuple):
    """Flat posterior draws of a final state and what else the state contributes."""

    theta: np.ndarray  # (chain, draw, dim)
    stats: dict[str, Labelled]  # per-draw sample_stats
    state: dict[str, Labelled]  # the filter_state group
    kind: str  # what a draw is


def resample_equally(log_weights: np.ndarray, seed: int = 0) -> np.ndarray:
    """N ancestor indices per chain ((chain, N) log weights in) by systematic resampling (one
    uniform per chain, from ``numpy.random.default_rng(seed)``); the identity for a chain whose
    weights are all equal. In NumPy: a report should not wait for a compilation."""
    log_weights = np.asarray(log_weights, np.float64)
    if not np.isfinite(log_weights).any(axis=-1).all():
        raise InputError("every particle has zero weight; nothing to resample")
    chains, n = log_weights.shape
    weights = np.exp(log_weights - log_weights.max(axis=-1, keepdims=True))
    cdf = np.cumsum(weights, axis=-1)
    positions = (np.random.default_rng(seed).uniform(size=(chains, 1)) + np.arange(n)) / n * cdf[:, -1:]
    drawn = np.stack([np.searchsorted(cdf[k], positions[k], side="right") for k in range(chains)])
    equal = np.all(log_weights == log_weights[:, :1], axis=-1)
    return np.where(equal[:, None], np.arange(n), np.minimum(drawn, n - 1))


def square_root(covs: np.ndarray) -> np.ndarray:
    """A factor L with L L^T = cov for each (..., d, d) covariance: Cholesky, or, where a
    covariance is not numerically positive definite, its eigendecomposition (negative
    eigenvalues from rounding clipped to 0). Cholesky is the fast path: several times cheaper."""
    covs = np.asarray(covs, np.float64)
    try:
        return np.linalg.cholesky(covs)
    except np.linalg.LinAlgError:
        vals, vecs = np.linalg.eigh(covs)
        return vecs * np.sqrt(np.maximum(vals, 0.0))[..., None, :]


def _chains(value, event_dims: int) -> np.ndarray:
    """``value`` with exactly one leading chain axis (a centralized state has none)."""
    value = np.asarray(value)
    return value[None] if value.ndim == event_dims else value


def _weighted_draws(form: WeightedSample, seed: int) -> Draws:
    values, log_w = _chains(form.values, 2), _chains(form.log_weights, 1)
    ancestors = resample_equally(log_w, seed)
    draws = np.take_along_axis(values, ancestors[..., None], axis=1)
    stats: dict[str, Labelled] = {
        "log_weight": (("chain", "draw"), np.take_along_axis(log_w, ancestors, axis=1)),
        "ancestor": (("chain", "draw"), ancestors.astype(np.int32)),
    }
    extra: dict[str, Labelled] = {"log_weights": (("chain", "particle"), log_w)}
    return Draws(draws, stats, extra, "resampled particles")


def _gaussian_draws(form: Gaussian, num_draws: int, rng: np.random.Generator) -> Draws:
    mean, cov = np.asarray(form.mean), np.asarray(form.cov)
    if mean.ndim == 1:  # one filter for the network
        mean, cov = mean[None], cov[None]
    diagonal = cov.ndim == 2
    z = rng.standard_normal((mean.shape[0], num_draws, mean.shape[1]))
    extra: dict[str, Labelled]
    if diagonal:
        draws = mean[:, None, :] + z * np.sqrt(np.maximum(cov.astype(np.float64), 0.0))[:, None, :]
        extra = {"mean": (("chain", "parameter"), mean), "var": (("chain", "parameter"), cov)}
    else:
        factor = square_root(cov)
        draws = mean[:, None, :] + np.einsum("kij,knj->kni", factor, z)
        extra = {"mean": (("chain", "parameter"), mean), "cov": (("chain", "parameter", "parameter_bis"), cov)}
    return Draws(draws.astype(mean.dtype), {}, extra, "gaussian draws")


def _pick_components(log_w: np.ndarray, num_draws: int, rng: np.random.Generator) -> np.ndarray:
    """(chain, draw) component indices drawn by weight from each chain's log weights (chain, C)."""
    weights = np.exp(log_w - log_w.max(axis=1, keepdims=True))
    weights /= weights.sum(axis=1, keepdims=True)
    return np.stack([rng.choice(log_w.shape[1], size=num_draws, p=w) for w in weights])


def _low_rank_mixture_draws(form: GaussianMixture, num_draws: int, rng: np.random.Generator) -> Draws:
    """Each draw picks a component by weight, then draws from its low-rank-precision Gaussian."""
    covs = form.covs
    assert isinstance(covs, LowRankPrecision)  # _mixture_draws sends only these here
    means, log_w = np.asarray(form.means), np.asarray(form.log_weights)
    diag, factor = np.asarray(covs.diag, np.float64), np.asarray(covs.factor, np.float64)
    if means.ndim == 2:  # one filter for the network
        means, diag, factor, log_w = means[None], diag[None], factor[None], log_w[None]
    chains, count, dim = means.shape
    picks = _pick_components(log_w, num_draws, rng)  # (chain, draw)
    z = rng.standard_normal((chains, num_draws, dim))
    draws = np.empty((chains, num_draws, dim))
    for k in range(chains):
        for c in range(count):
            chosen = picks[k] == c
            draws[k, chosen] = _low_rank_sample(means[k, c].astype(np.float64), diag[k, c], factor[k, c], z[k, chosen])
    stats: dict[str, Labelled] = {"component": (("chain", "draw"), picks.astype(np.int32))}
    extra: dict[str, Labelled] = {
        "component_means": (("chain", "component", "parameter"), means),
        "component_log_weights": (("chain", "component"), log_w),
        "component_precision_diags": (("chain", "component", "parameter"), diag),
        "component_precision_factors": (("chain", "component", "parameter", "rank"), factor),
    }
    return Draws(draws.astype(means.dtype), stats, extra, "gaussian-mixture draws (low-rank precisions)")


def _low_rank_sample(mean: np.ndarray, diag: np.ndarray, factor: np.ndarray, z: np.ndarray) -> np.ndarray:
    """mean + Sigma^1/2 z for Sigma = (diag(diag) + factor factor^T)^-1, each row of ``z`` one
    draw: with V = diag^-1/2 factor = U s G^T (thin SVD), Sigma^1/2 is
    diag^-1/2 (I + U ((1 + s^2)^-1/2 - 1) U^T)."""
    scale = 1.0 / np.sqrt(diag)
    U, s, _ = np.linalg.svd(scale[:, None] * factor, full_matrices=False)
    shrink = 1.0 / np.sqrt(1.0 + s**2) - 1.0
    return mean + scale * (z + ((z @ U) * shrink) @ U.T)


def _mixture_draws(form: GaussianMixture, num_draws: int, rng: np.random.Generator) -> Draws:
    """Each draw picks a component by weight, then draws from its Gaussian."""
    if isinstance(form.covs, LowRankPrecision):
        return _low_rank_mixture_draws(form, num_draws, rng)
    means, covs, log_w = np.asarray(form.means), np.asarray(form.covs), np.asarray(form.log_weights)
    if means.ndim == 2:  # one filter for the network
        means, covs, log_w = means[None], covs[None], log_w[None]
    chains, _, dim = means.shape
    diagonal = covs.ndim == 3
    picks = _pick_components(log_w, num_draws, rng)  # (chain, draw)
    z = rng.standard_normal((chains, num_draws, dim))
    if diagonal:
        scale = np.sqrt(np.maximum(covs.astype(np.float64), 0.0))  # (chain, C, dim)
        factors = None
    else:
        factors = square_root(covs)  # (chain, C, dim, dim)
    draws = np.empty((chains, num_draws, dim))
    for k in range(chains):
        centre = means[k][picks[k]]
        if factors is None:  # diagonal
            draws[k] = centre + z[k] * scale[k][picks[k]]
        else:
            draws[k] = centre + np.einsum("nij,nj->ni", factors[k][picks[k]], z[k])
    stats: dict[str, Labelled] = {"component": (("chain", "draw"), picks.astype(np.int32))}
    extra: dict[str, Labelled] = {"component_means": (("chain", "component", "parameter"), means),
                                  "component_log_weights": (("chain", "component"), log_w)}
    if diagonal:
        extra["component_vars"] = (("chain", "component", "parameter"), covs)
    else:
        extra["component_covs"] = (("chain", "component", "parameter", "parameter_bis"), covs)
    return Draws(draws.astype(means.dtype), stats, extra, "gaussian-mixture draws")


def _low_rank_draws(form: LowRankGaussian, num_draws: int, rng: np.random.Generator) -> Draws:
    """Draws from N(mean, (diag(u) + W W^T)^-1) without forming a d x d matrix: with
    V = diag(u)^-1/2 W = U s G^T (thin SVD), the covariance's square root is
    diag(u)^-1/2 (I + U ((1 + s^2)^-1/2 - 1) U^T)."""
    mean, diag, factor = (np.asarray(a, np.float64) for a in (form.mean, form.precision_diag, form.precision_factor))
    if mean.ndim == 1:  # one filter for the network
        mean, diag, factor = mean[None], diag[None], factor[None]
    z = rng.standard_normal((mean.shape[0], num_draws, mean.shape[1]))
    draws = np.stack([_low_rank_sample(mean[k], diag[k], factor[k], z[k]) for k in range(mean.shape[0])])
    extra: dict[str, Labelled] = {"mean": (("chain", "parameter"), mean), "precision_diag": (("chain", "parameter"), diag),
                                  "precision_factor": (("chain", "parameter", "rank"), factor)}
    return Draws(draws.astype(np.asarray(form.mean).dtype), {}, extra, "gaussian draws (low-rank precision)")


def _point_draws(form: PointEstimate) -> Draws:
    theta = _chains(form.value, 1)
    return Draws(theta[:, None, :], {}, {"theta": (("chain", "parameter"), theta)}, "point estimate")


def posterior_draws(form: PosteriorForm | None, num_draws: int = 200, seed: int = 0) -> Draws | None:
    """Flat draws ``theta`` (chain, draw, dim) of what a method's ``posterior(state)`` returned.

    A weighted sample (particles, ensemble members): one draw per particle after systematic
    resampling; a Gaussian or a Gaussian mixture: ``num_draws`` draws; a point estimate: one
    draw; None (a baseline): None. A
    form without a node axis (a centralized filter) gives one chain.
    """
    if isinstance(num_draws, bool) or int(num_draws) < 1:
        raise OptionError(f"num_draws must be a positive integer; got {num_draws}")
    if form is None:
        return None
    from threadpoolctl import threadpool_limits

    # one BLAS thread: these factorisations are small, and on a busy machine OpenBLAS's
    # spinning threads made a 148 x 148 Cholesky factorisation 20-40x slower (measured)
    with threadpool_limits(limits=1, user_api="blas"):
        return _draws_of(form, int(num_draws), seed)


def _draws_of(form: PosteriorForm, num_draws: int, seed: int) -> Draws | None:
    """The draws of one posterior form (see :func:`posterior_draws`)."""
    if isinstance(form, WeightedSample):
        out = _weighted_draws(form, seed)
    elif isinstance(form, Gaussian):
        out = _gaussian_draws(form, int(num_draws), np.random.default_rng(seed))
    elif isinstance(form, GaussianMixture):
        out = _mixture_draws(form, int(num_draws), np.random.default_rng(seed))
    elif isinstance(form, LowRankGaussian):
        out = _low_rank_draws(form, int(num_draws), np.random.default_rng(seed))
    elif isinstance(form, PointEstimate):
        out = _point_draws(form)
    else:
        raise InputError(f"cannot draw from a posterior of type {type(form).__name__}")
    if form.log_evidence is not None:
        out.state["log_evidence"] = (("chain",), np.atleast_1d(np.asarray(form.log_evidence)))
    return out


def label_site_draws(form: PosteriorForm, label_sites, picks: np.ndarray | None, draws: int,
                     seed: int = 0) -> dict[str, np.ndarray]:
    """Draws (chain, draw, *shape) of the static sites that set the label variance, from the
    inverse-gamma posterior IG(shape, rate) of r the filter keeps (``form.label_noise``): each
    draw takes r ~ IG (a mixture: that of the draw's component; particles: that of the draw's
    particle; ``picks``), then the site value
    that gives r (``label_sites``, the run's map from a form's ``label_var`` to the sites)."""
    import jax
    import jax.numpy as jnp

    noise = form.label_noise
    shape, rate = np.asarray(noise.shape, np.float64), np.asarray(noise.rate, np.float64)
    mixture = isinstance(form, GaussianMixture)
    per_chain = np.asarray(form.label_var).ndim == (2 if mixture else 1)
    if not per_chain:
        form, shape, rate = jax.tree_util.tree_map(lambda v: v[None], form), shape[None], rate[None]
    shape, rate = shape.reshape(shape.shape[0], -1), rate.reshape(rate.shape[0], -1)  # (chain, C)
    chains = shape.shape[0]
    picks = np.zeros((chains, draws), int) if picks is None else picks
    rng = np.random.default_rng([int(seed), 2])
    rows = np.arange(chains)[:, None]
    r = rate[rows, picks] / rng.gamma(shape[rows, picks])  # (chain, draw): IG(shape, rate) draws
    var_shape = np.asarray(form.label_var).shape[1:]

    def sites(one, r_one):
        return label_sites(one._replace(label_var=jnp.full(var_shape, r_one, one.label_var.dtype)))

    per_draw = jax.jit(jax.vmap(jax.vmap(sites, in_axes=(None, 0)), in_axes=(0, 0)))
    out = per_draw(form, jnp.asarray(r, jnp.asarray(form.label_var).dtype))
    return {name: np.asarray(value) for name, value in out.items()}


def predictive_samples(mean, var, num_draws: int = 100, seed: int = 0) -> np.ndarray:
    """``num_draws`` draws (draw, time, node) from the Gaussian one-step predictive N(mean,
    var) of every step and node (NumPy generator seeded with ``seed``; each step and node
    independently), in ``mean``'s dtype."""
    num_draws = number("predictive_draws", num_draws, int, 1)
    mean, var = np.asarray(mean), np.asarray(var)
    z = np.random.default_rng([int(seed), 1]).standard_normal((num_draws,) + mean.shape)
    return (mean + z * np.sqrt(np.maximum(var.astype(np.float64), 0.0))).astype(mean.dtype)


