"""A run as an ArviZ ``InferenceData``: named posterior draws, predictive draws, log scores.

:func:`to_inference_data` turns a :class:`~bayeslstm.engine.runner.RunResult` into the groups
ArviZ reads (``az.summary``, ``az.plot_forest``, ``az.plot_trace``, ``az.plot_ppc``,
``az.waic``, ``az.compare``, ``to_netcdf``...):

* ``posterior`` -- the final weights, one variable per block of the layout (``W_i``,
  ``R_f``, ``w_out``...), dims ``(chain, draw, hidden, feature)`` and the like. A chain is a
  filter: one per node for local and distributed methods (chain k is node k), one for a
  centralized method. The method says what its state holds (``result.posterior``: a
  weighted sample, a Gaussian or a point estimate). Draws: particle filters give their
  particles after a final systematic resampling by weight (equally weighted, one draw per
  particle; with equal weights the particles are kept as they are), EKFs ``num_draws``
  draws of their Gaussian, gradient methods their single point estimate. The trivial
  baselines learn no weights and have no posterior.
* ``sample_stats`` -- per draw, dims ``(chain, draw)``: ``log_weight`` (the filter's weight of
  the particle a draw copies, before that final resampling) and ``ancestor`` (that
  particle's index), or ``component`` (Gaussian sums); absent when a method has none.
* ``posterior_predictive`` -- ``d``: ``predictive_draws`` draws from each step's one-step-ahead
  predictive distribution (a Gaussian with the filter's predictive mean and variance, made
  before the label was seen), dims ``(chain, draw, time, node)`` with one chain: what
  ``az.plot_ppc`` and a PIT check read.
* ``log_likelihood`` -- ``d``: the one-step predictive log density log p(d_t | d_1..t-1) of
  each label (the *prequential* log score, 0 where unobserved), one chain and one draw:
  ``az.waic`` and ``az.compare(..., ic="waic")`` sum it; leave-one-out does not apply
  (see :func:`loo`).
* ``observed_data`` -- the labels ``d`` ``(time, node)``, NaN where unobserved;
  ``constant_data`` -- ``observed``, the label mask.
* ``diagnostics`` (an extra group) -- every per-step output of the run, dims ``(time, node)``:
  the exact predictive mean ``prediction`` and variance ``predictive_var``, and ``ess``,
  ``resampled``, ``log_evidence_increment``, ``messages``, ``floats``... as the method reports them.
* ``filter_state`` (an extra group) -- the final state in flat form over ``parameter``,
  dims ``(chain, ...)``: particle ``log_weights``; the EKF ``mean`` and ``cov`` (or diagonal
  ``var``); gradient ``theta``; and ``log_evidence``.

``chain`` always indexes the filters and ``node`` the data; only the predictive groups carry
both (their single chain is the axis ArviZ requires). On a table stream the label-valued
variables carry the label's unit as their ``units`` attribute. Every group has the attributes
ArviZ's converters write (``created_at``, ``arviz_version``, ``inference_library`` and
``inference_library_version``); the root attributes also hold the method, its ``label`` as
the command line writes it (``pf@centralized``), the configuration (JSON), the running and
compilation seconds and the compilation count.
"""

from __future__ import annotations

import json
import re
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from ..errors import InputError, OptionError, number
from ..kernels.protocol import (
    Gaussian, GaussianMixture, LowRankGaussian, LowRankPrecision, PointEstimate, PosteriorForm, WeightedSample,
)
from ..kernels.resampling import systematic
from ..model.layout import ParamLayout, constrain, unflatten
from ..engine.encoding import to_json
from ..engine.metrics import time_accumulated_error
from ..version import __version__

LOG_SCORE = "log_pred_density"  # the per-step diagnostic that becomes the log_likelihood group


def _arviz():
    import arviz as az  # imported lazily: arviz is slow to import and prints a FutureWarning

    return az


# --------------------------------------------------------------------------- names and dims

_SEMANTIC = (
    (re.compile(r"^W(_\w+)?$"), ("hidden", "feature")),
    (re.compile(r"^R(_\w+)?$"), ("hidden", "hidden_prev")),
    (re.compile(r"^b(_(?!out$)\w+)?$"), ("hidden",)),
    (re.compile(r"^w_out$"), ("hidden",)),
    (re.compile(r"^b_out$"), ()),
)


def parameter_dims(layout: ParamLayout) -> dict[str, tuple[str, ...]]:
    """Dimension names of every block of ``layout``.

    Recurrent layouts (``W_*``: hidden x feature, ``R_*``: hidden x hidden_prev, ``b_*`` and
    ``w_out``: hidden) get those names when their sizes agree; any other block gets ArviZ's
    default ``<name>_dim_<i>``.
    """
    generic = {n: tuple(f"{n}_dim_{i}" for i in range(len(s))) for n, s in zip(layout.names, layout.shapes)}
    named: dict[str, tuple[str, ...]] = {}
    for name, shape in zip(layout.names, layout.shapes):
        for pattern, dims in _SEMANTIC:
            if pattern.match(name) and len(dims) == len(shape):
                named[name] = dims
                break
    shapes = dict(zip(layout.names, layout.shapes))
    sizes: dict[str, set[int]] = {}
    for name, dims in named.items():
        for dim, size in zip(dims, shapes[name]):
            sizes.setdefault("hidden" if dim == "hidden_prev" else dim, set()).add(size)
    if any(len(v) > 1 for v in sizes.values()):
        return generic
    return {**generic, **named}


def parameter_labels(layout: ParamLayout) -> list[str]:
    """One label per entry of the flat vector theta, e.g. ``W_i[0,1]``."""
    labels: list[str] = []
    for name, shape in zip(layout.names, layout.shapes):
        labels += [f"{name}[{','.join(map(str, index))}]" for index in np.ndindex(*shape)] if shape else [name]
    return labels


def netcdf_name(label: str) -> str:
    """A file-system-safe stem for a method label: ``pf@centralized`` -> ``pf_centralized``."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", label).strip("._")
    return stem or "run"


# --------------------------------------------------------------------------- posterior draws


class Draws(NamedTuple):
    """Flat posterior draws of a final state and what else the state contributes."""

    theta: np.ndarray  # (chain, draw, dim)
    stats: dict[str, tuple[tuple[str, ...], np.ndarray]]  # per-draw sample_stats
    state: dict[str, tuple[tuple[str, ...], np.ndarray]]  # the filter_state group
    kind: str  # what a draw is


def resample_equally(log_weights: np.ndarray, seed: int = 0) -> np.ndarray:
    """N ancestor indices per chain ((chain, N) log weights in) by the package's systematic
    resampling; the identity for a chain whose weights are all equal."""
    log_weights = np.asarray(log_weights)
    if not np.isfinite(log_weights).any(axis=-1).all():
        raise InputError("every particle has zero weight; nothing to resample")
    n = log_weights.shape[-1]
    keys = jax.random.split(jax.random.key(seed), log_weights.shape[0])
    drawn = np.asarray(jax.vmap(lambda k, lw: systematic(k, lw, n))(keys, jnp.asarray(log_weights)))
    equal = np.all(log_weights == log_weights[:, :1], axis=-1)
    return np.where(equal[:, None], np.arange(n), drawn)


def _chains(value, event_dims: int) -> np.ndarray:
    """``value`` with exactly one leading chain axis (a centralized state has none)."""
    value = np.asarray(value)
    return value[None] if value.ndim == event_dims else value


def _weighted_draws(form: WeightedSample, seed: int) -> Draws:
    values, log_w = _chains(form.values, 2), _chains(form.log_weights, 1)
    ancestors = resample_equally(log_w, seed)
    draws = np.take_along_axis(values, ancestors[..., None], axis=1)
    stats = {
        "log_weight": (("chain", "draw"), np.take_along_axis(log_w, ancestors, axis=1)),
        "ancestor": (("chain", "draw"), ancestors.astype(np.int32)),
    }
    extra = {"log_weights": (("chain", "particle"), log_w)}
    return Draws(draws, stats, extra, "resampled particles")


def _gaussian_draws(form: Gaussian, num_draws: int, rng: np.random.Generator) -> Draws:
    mean, cov = np.asarray(form.mean), np.asarray(form.cov)
    if mean.ndim == 1:  # one filter for the network
        mean, cov = mean[None], cov[None]
    diagonal = cov.ndim == 2
    z = rng.standard_normal((mean.shape[0], num_draws, mean.shape[1]))
    if diagonal:
        draws = mean[:, None, :] + z * np.sqrt(np.maximum(cov.astype(np.float64), 0.0))[:, None, :]
        extra = {"mean": (("chain", "parameter"), mean), "var": (("chain", "parameter"), cov)}
    else:
        vals, vecs = np.linalg.eigh(cov.astype(np.float64))  # robust to a near-singular cov
        factor = vecs * np.sqrt(np.maximum(vals, 0.0))[:, None, :]
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
    means, log_w = np.asarray(form.means), np.asarray(form.log_weights)
    diag, factor = np.asarray(form.covs.diag, np.float64), np.asarray(form.covs.factor, np.float64)
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
    stats = {"component": (("chain", "draw"), picks.astype(np.int32))}
    extra = {"component_means": (("chain", "component", "parameter"), means),
             "component_log_weights": (("chain", "component"), log_w),
             "component_precision_diags": (("chain", "component", "parameter"), diag),
             "component_precision_factors": (("chain", "component", "parameter", "rank"), factor)}
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
        vals, vecs = np.linalg.eigh(covs.astype(np.float64))
        factors = vecs * np.sqrt(np.maximum(vals, 0.0))[..., None, :]  # (chain, C, dim, dim)
    draws = np.empty((chains, num_draws, dim))
    for k in range(chains):
        centre = means[k][picks[k]]
        if diagonal:
            draws[k] = centre + z[k] * scale[k][picks[k]]
        else:
            draws[k] = centre + np.einsum("nij,nj->ni", factors[k][picks[k]], z[k])
    stats = {"component": (("chain", "draw"), picks.astype(np.int32))}
    extra = {"component_means": (("chain", "component", "parameter"), means),
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
    extra = {"mean": (("chain", "parameter"), mean), "precision_diag": (("chain", "parameter"), diag),
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


# --------------------------------------------------------------------------- InferenceData


def _per_step(result) -> dict[str, xr.DataArray]:
    return {name: result.diagnostics[name] for name in result.diagnostics.data_vars}


def method_label(result) -> str:
    """The method's label as the command line writes it: the configuration's ``label``, else
    ``NAME@FUSION`` for a local or centralized kernel (``pf-local`` -> ``pf@local``) and the
    name of a distributed method."""
    config = dict(getattr(result, "config", None) or {})
    if config.get("label"):
        return str(config["label"])
    name = str(getattr(result, "method", "") or config.get("method", "run"))
    for mode in ("local", "centralized"):
        if name.endswith(f"-{mode}"):
            return f"{name[: -len(mode) - 1]}@{mode}"
    return name


def _group_attrs(extra: dict | None = None) -> dict:
    """The attributes ArviZ's converters give every group, with bayeslstm as the library."""
    from arviz.data.base import make_attrs

    import bayeslstm

    return make_attrs(extra, library=bayeslstm)


def predictive_samples(mean, var, num_draws: int = 100, seed: int = 0) -> np.ndarray:
    """``num_draws`` draws (draw, time, node) from the Gaussian one-step predictive N(mean,
    var) of every step and node (NumPy generator seeded with ``seed``; each step and node
    independently), in ``mean``'s dtype."""
    num_draws = number("predictive_draws", num_draws, int, 1)
    mean, var = np.asarray(mean), np.asarray(var)
    z = np.random.default_rng([int(seed), 1]).standard_normal((num_draws,) + mean.shape)
    return (mean + z * np.sqrt(np.maximum(var.astype(np.float64), 0.0))).astype(mean.dtype)


def to_inference_data(result, num_draws: int = 200, seed: int = 0, label: str | None = None,
                      predictive_draws: int = 100):
    """An ``az.InferenceData`` of ``result`` (a :class:`~bayeslstm.engine.runner.RunResult`).

    ``num_draws``: draws from an EKF's Gaussian (particle filters give one draw per particle,
    gradient methods one); ``predictive_draws``: draws from each step's one-step predictive
    distribution (the ``posterior_predictive`` group); ``seed``: the NumPy seed of all draws
    and of the final resampling; ``label``: the name reports use (default: the method's
    label, as the command line writes it). See the module docstring for the groups.
    """
    az = _arviz()
    if not hasattr(result, "final_state") or not hasattr(result, "diagnostics"):
        raise InputError(f"to_inference_data expects a RunResult; got {type(result).__name__}")
    predictive_draws = number("predictive_draws", predictive_draws, int, 1)
    predictions = np.asarray(result.predictions)
    T, K = predictions.shape
    config = dict(result.config or {})
    unit = config.get("unit")
    groups: dict[str, xr.Dataset] = {}

    layout = result.layout
    form = result.posterior(result.final_state)
    drawn = posterior_draws(form, num_draws, seed)
    chains = 1
    if drawn is not None:  # the baselines learn no weights: no posterior, no filter state
        theta = drawn.theta
        if layout is None:
            layout = ParamLayout(("theta",), ((theta.shape[-1],),))
        if layout.size != theta.shape[-1]:
            raise InputError(f"the layout has {layout.size} parameters but the state has {theta.shape[-1]}")
        chains, draws = theta.shape[:2]
        dims = parameter_dims(layout)
        blocks = {name: np.asarray(v) for name, v in constrain(layout, theta).items()}  # each block in its support
        if getattr(form, "label_var", None) is not None:  # a Kalman-type filter learnt the noise site through r
            for name in blocks:
                learnt = result.diagnostics.get(f"learnt_{name}")
                if learnt is not None:
                    last = np.asarray(learnt.isel(time=-1).values)[:chains]
                    blocks[name] = np.broadcast_to(last.reshape((chains, 1) + blocks[name].shape[2:]), blocks[name].shape).copy()
        chain_draw = {"chain": np.arange(chains), "draw": np.arange(draws)}
        posterior = xr.Dataset({name: (("chain", "draw") + dims[name], np.asarray(v)) for name, v in blocks.items()},
                               coords=chain_draw)
        for dim in set().union(*map(set, dims.values())):
            posterior = posterior.assign_coords({dim: np.arange(posterior.sizes[dim])})
        groups["posterior"] = posterior
        if drawn.stats:
            groups["sample_stats"] = xr.Dataset({name: (d, v) for name, (d, v) in drawn.stats.items()}, coords=chain_draw)
    centralized = chains == 1 and (K > 1 or config.get("fusion") == "centralized")

    time_node = ("time", "node")
    steps = result.tae["time"].values if hasattr(result, "tae") else np.arange(1, T + 1)
    coords = {"time": np.asarray(steps), "node": np.arange(K)}  # step numbers: strided runs keep some
    infos = _per_step(result)
    observed = np.asarray(result.observed, bool)
    labels = np.where(observed, np.asarray(result.labels), np.nan)
    log_score = np.where(observed, np.asarray(infos[LOG_SCORE].values), 0.0).astype(predictions.dtype)
    label_attrs = {"long_name": "label"} | ({"units": unit} if unit else {})

    samples = predictive_samples(infos["prediction"].values, infos["predictive_var"].values, predictive_draws, seed)
    groups["posterior_predictive"] = xr.Dataset(
        {"d": (("chain", "draw") + time_node, samples[None], label_attrs)},
        coords={"chain": [0], "draw": np.arange(predictive_draws), **coords})
    groups["log_likelihood"] = xr.Dataset(
        {"d": (("chain", "draw") + time_node, log_score[None, None], {"long_name": "one-step predictive log density"})},
        coords={"chain": [0], "draw": [0], **coords})
    groups["observed_data"] = xr.Dataset({"d": (time_node, labels, label_attrs)}, coords=coords)
    groups["constant_data"] = xr.Dataset({"observed": (time_node, observed)}, coords=coords)
    diagnostics = {name: value.drop_vars([c for c in value.coords]) for name, value in infos.items() if name != LOG_SCORE}
    diagnostics = xr.Dataset(diagnostics).assign_coords(coords)
    if unit:
        diagnostics["prediction"].attrs.update(units=unit)
        diagnostics["predictive_var"].attrs.update(units=f"({unit})^2")
    groups["diagnostics"] = diagnostics
    if drawn is not None:
        filter_state = xr.Dataset(
            {name: (d, v) for name, (d, v) in drawn.state.items()},
            coords={"chain": np.arange(chains), "parameter": parameter_labels(layout)},
        )
        if "parameter_bis" in filter_state.dims:
            filter_state = filter_state.assign_coords(parameter_bis=parameter_labels(layout))
        for dim in set(filter_state.dims) - {"chain", "parameter", "parameter_bis"}:
            filter_state = filter_state.assign_coords({dim: np.arange(filter_state.sizes[dim])})
        groups["filter_state"] = filter_state
    for dataset in groups.values():
        dataset.attrs.update(_group_attrs())

    name = str(config.get("method_name") or method_label(result).partition("@")[0])
    attrs = _group_attrs({
        "method": name,
        "fusion": str(config.get("fusion") or (method_label(result).partition("@")[2] or "distributed")),
        "label": label or method_label(result),
        "chain_is": ("none (a baseline learns no weights)" if drawn is None
                     else "centralized filter (one for the network)" if centralized else "node"),
        "draws_are": "none (a baseline learns no weights)" if drawn is None else drawn.kind,
        "seconds": float(result.seconds),
        "compile_seconds": float(result.compile_seconds),
        "compilations": int(result.compilations),
        "steps": T,
        "nodes": K,
        "config": to_json(config, sort_keys=True),
        "bayeslstm_version": __version__,
    })
    if unit:
        attrs["units"] = unit
    return az.InferenceData(attrs=attrs, **groups)


# --------------------------------------------------------------------------- reading back


def run_config(idata) -> dict:
    """The run's configuration stored in ``idata.attrs["config"]``."""
    return json.loads(idata.attrs.get("config", "{}"))


def predictive_arrays(idata) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(predictions, labels, observed), (time, node) each, as stored in ``idata``; labels are 0
    where unobserved."""
    mask = idata.constant_data["observed"].values.astype(bool)
    labels = np.where(mask, idata.observed_data["d"].values, 0.0)
    if "diagnostics" in idata.groups():
        predictions = idata.diagnostics["prediction"].values
    else:  # files written before the diagnostics group
        predictions = idata.predictions["d"].isel(chain=0, draw=0).values
    return predictions, labels, mask


def tae_from_inference_data(idata) -> xr.DataArray:
    """TAE (node, time), recomputed from the stored predictions, labels and mask."""
    tae = time_accumulated_error(*predictive_arrays(idata))
    return xr.DataArray(tae.T, dims=("node", "time"), name="tae",
                        coords={"node": idata.observed_data["node"].values, "time": idata.observed_data["time"].values})


def prequential_log_score(data) -> xr.DataArray:
    """Mean one-step predictive log density per observed label, per node: (node,).

    ``log p(d_t | d_1..t-1)`` averaged over each node's observed steps; ``.mean()`` gives the
    network's. Higher is better. Accepts an InferenceData or a RunResult. (``az.waic`` on the
    ``log_likelihood`` group gives the *sum* of the same scores as ``elpd_waic``, with
    ``p_waic = 0`` since there is one draw; see :func:`loo` for leave-one-out.)
    """
    if hasattr(data, "log_likelihood"):
        score = data.log_likelihood["d"].isel(chain=0, draw=0)
        mask = data.constant_data["observed"]
    elif hasattr(data, "diagnostics") and hasattr(data, "final_state"):
        score = data.diagnostics[LOG_SCORE]
        mask = xr.DataArray(np.asarray(data.observed, bool), dims=("time", "node"), coords=score.coords)
    else:
        raise InputError(f"prequential_log_score expects an InferenceData or RunResult; got {type(data).__name__}")
    total = score.where(mask, 0.0).sum("time")
    count = mask.sum("time")
    return (total / count.where(count > 0)).rename("log_score")


def loo(idata, **kwargs):
    """``az.loo(idata, **kwargs)`` where it applies; a clear :class:`OptionError` for a run.

    Leave-one-out needs the log likelihood of every label under every posterior draw, from a
    posterior that saw the label. An online filter scores each label once, before it sees
    it: its ``log_likelihood`` group holds that one-step predictive density (one draw), which
    is already an out-of-sample score, so there is nothing to leave out. Use
    :func:`prequential_log_score`, or ``az.waic`` / ``az.compare(..., ic="waic")``, whose
    ``elpd_waic`` is the sum of the same scores (``p_waic`` 0).
    """
    log_likelihood = getattr(idata, "log_likelihood", None)
    if log_likelihood is not None and log_likelihood.sizes.get("chain", 1) * log_likelihood.sizes.get("draw", 1) > 1:
        return _arviz().loo(idata, **kwargs)
    raise OptionError(
        "leave-one-out does not apply to an online run: each label was scored once, by the one-step "
        "predictive density made before the label was seen (the log_likelihood group, one draw), which is "
        "already out of sample. Use bayeslstm.report.inference_data.prequential_log_score(idata), or "
        "az.waic / az.compare(..., ic='waic'): elpd_waic is the sum of the same scores")


def pit(idata) -> xr.DataArray:
    """The probability integral transform of every observed label under its one-step predictive
    distribution, (time, node), NaN where unobserved: the share of ``posterior_predictive`` draws
    at or below the label. Calibrated predictions give uniform values; this is the PIT that
    ``az.plot_loo_pit`` draws (:func:`pit_arguments`), with no reweighting since no
    prediction saw its label."""
    draws = idata.posterior_predictive["d"].stack(sample=("chain", "draw"))
    labels = idata.observed_data["d"]
    values = (draws <= labels).mean("sample")
    return values.where(idata.constant_data["observed"]).rename("pit")


def pit_arguments(idata) -> dict[str, np.ndarray]:
    """``y``, ``y_hat`` and ``log_weights`` of the observed labels, for
    ``az.loo_pit(**pit_arguments(idata))`` and ``az.plot_loo_pit(**pit_arguments(idata))``:
    the labels, their one-step predictive draws and equal weights (a prediction made before its
    label needs no leave-one-out reweighting)."""
    mask = idata.constant_data["observed"].values.astype(bool)
    y = idata.observed_data["d"].values[mask]
    draws = idata.posterior_predictive["d"].stack(sample=("chain", "draw")).transpose("time", "node", "sample")
    y_hat = draws.values[mask]
    return {"y": y, "y_hat": y_hat, "log_weights": np.full(y_hat.shape, -np.log(y_hat.shape[-1]))}


def per_step(idata, name: str) -> xr.DataArray | None:
    """A per-step diagnostic (time, node) from the ``diagnostics`` group, or None if the run has none."""
    for group in ("diagnostics", "sample_stats"):  # sample_stats: files written before the diagnostics group
        stats = getattr(idata, group, None)
        if stats is not None and name in stats and "time" in stats[name].dims:
            return stats[name]
    return None


def mean_per_step(idata, name: str) -> float:
    """Mean of a per-step diagnostic over time and nodes (0.0 when the run has none)."""
    value = per_step(idata, name)
    return 0.0 if value is None else float(value.mean())


def num_particles(idata) -> int | None:
    """Particles per filter, for particle methods; None otherwise."""
    state = getattr(idata, "filter_state", None)
    return int(state.sizes["particle"]) if state is not None and "particle" in state.dims else None

