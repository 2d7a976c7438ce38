"""A run as an ArviZ ``InferenceData``: named posterior draws, predictive draws, log scores.

:func:`to_inference_data` turns a :class:`~bayeslstm.engine.runner.RunResult` into the groups
ArviZ reads (``az.summary``, ``az.plot_forest``, ``az.plot_trace``, ``az.plot_ppc``,
``to_netcdf``...):

* ``posterior`` -- the final weights, one variable per block of the layout (``W_i``,
  ``R_f``, ``w_out``...), dims ``(chain, draw, hidden, feature)`` and the like: the names
  the model gives (its plates, ``infer={"dims": ...}``) or ``dims=`` gives. A chain is a
  filter: one per node for local and distributed methods (chain k is node k), one for a
  centralized method. The method says what its state holds (``result.posterior``: a
  weighted sample, a Gaussian or a point estimate). Draws: particle filters give their
  particles after a final systematic resampling by weight (equally weighted, one draw per
  particle; with equal weights the particles are kept as they are), EKFs ``num_draws``
  draws of their Gaussian. Gradient methods learn a point estimate, not a posterior: their
  weights are in ``point_estimate`` instead, and their ``posterior`` holds only the noise
  sites learnt through the label variance (draws of the inverse-gamma posterior of r they
  keep), when the model has one. The trivial baselines learn no weights and have no posterior.
* ``point_estimate`` (an extra group, gradient methods only) -- the learnt weights, one
  variable per block, dims ``(node, ...)``: one value per node, or a centralized method's
  single value with no node axis. Never a chain of one draw, which ArviZ would diagnose.
* ``sample_stats`` -- per draw, dims ``(chain, draw)``: ``log_weight`` (the filter's weight of
  the particle a draw copies, before that final resampling) and ``ancestor`` (that
  particle's index), or ``component`` (Gaussian sums); absent when a method has none.
* ``posterior_predictive`` -- ``d``: ``predictive_draws`` draws from each step's one-step-ahead
  predictive distribution (a Gaussian with the filter's predictive mean and variance, made
  before the label was seen), dims ``(chain, draw, time, node)`` with one chain: what
  ``az.plot_ppc`` and a PIT check read.
* ``prequential_log_likelihood`` (an extra group) -- ``d``: the one-step predictive log
  density log p(d_t | d_1..t-1) of each label (the *prequential* log score, 0 where
  unobserved), dims ``(time, node)``. It is not a ``log_likelihood`` group: that holds the
  log likelihood of every label under every posterior draw, which ``az.loo``, ``az.waic``
  and ``az.compare`` need and a filter does not have (see :func:`loo`); they say so.
  :func:`~bayeslstm.report.comparison.compare_log_scores` ranks runs by these scores.
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

The draws live in :mod:`~bayeslstm.report.draws`, the names in :mod:`~bayeslstm.report.names`
and the functions that read an InferenceData back in :mod:`~bayeslstm.report.reading`; this
module builds it and still answers to every one of those names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from ..engine.encoding import to_json
from ..engine.records import RunResult
from ..errors import InputError, number
from ..kernels.protocol import PointEstimate, WeightedSample
from ..model.layout import ParamLayout, constrain
from ..version import __version__
from .draws import Draws, label_site_draws, posterior_draws, predictive_samples, resample_equally
from .names import netcdf_name, parameter_dims, parameter_labels
from .reading import (
    LOG_SCORE,
    SCORE_GROUP,
    loo,
    mean_per_step,
    num_particles,
    per_step,
    pit,
    pit_arguments,
    predictive_arrays,
    prequential_log_score,
    run_config,
    tae_from_inference_data,
    weight_draws,
    weight_sites,
)

__all__ = [  # the building here; the rest is re-exported from draws, names and reading, where it lives
    "method_label", "to_inference_data",
    "Draws", "posterior_draws", "predictive_samples", "resample_equally",
    "netcdf_name", "parameter_dims", "parameter_labels",
    "LOG_SCORE", "SCORE_GROUP", "loo", "mean_per_step", "num_particles", "per_step", "pit", "pit_arguments", "predictive_arrays",
    "prequential_log_score", "run_config", "tae_from_inference_data", "weight_draws", "weight_sites",
]


def method_label(result: RunResult) -> str:
    """The method's label as the command line writes it: the configuration's ``label``, else
    ``NAME@FUSION`` for a local or centralized kernel (``pf-local`` -> ``pf@local``) and the
    name of a distributed method."""
    config = dict(result.config or {})
    if config.get("label"):
        return str(config["label"])
    name = str(result.method or config.get("method", "run"))
    for mode in ("local", "centralized"):
        if name.endswith(f"-{mode}"):
            return f"{name[: -len(mode) - 1]}@{mode}"
    return name


def _group_attrs(extra: dict | None = None) -> dict:
    """The attributes ArviZ's converters give every group, with bayeslstm as the library."""
    from arviz.data.base import make_attrs

    import bayeslstm

    return make_attrs(extra, library=bayeslstm)


def _learnt_blocks(result: RunResult, form: Any, drawn: Draws, blocks: dict[str, np.ndarray],
                   seed: int) -> dict[str, np.ndarray]:
    """The blocks a filter learnt through its label variance: drawn from the inverse-gamma
    posterior of r it keeps (a Gaussian sum: that of each draw's component; a particle filter:
    that of each draw's particle); from a result without that posterior (read back from an
    older file), every draw holds the learnt value of the last step."""
    chains, draws = drawn.theta.shape[:2]
    if getattr(form, "label_noise", None) is not None and result.label_sites is not None:
        picks = drawn.stats.get("component", (None, None))[1]
        if isinstance(form, WeightedSample) and np.ndim(form.label_noise.shape) == np.ndim(form.log_weights):
            picks = drawn.stats["ancestor"][1]  # one posterior of r per particle (an ensemble keeps one per filter)
        found = label_site_draws(form, result.label_sites, picks, draws, seed)
        return {**blocks, **{name: v.reshape(blocks[name].shape) for name, v in found.items() if name in blocks}}
    for name, last in _last_learnt(result, blocks, chains).items():
        blocks[name] = np.broadcast_to(last.reshape((chains, 1) + blocks[name].shape[2:]), blocks[name].shape).copy()
    return blocks


def _last_learnt(result: RunResult, blocks: Mapping[str, np.ndarray], chains: int) -> dict[str, np.ndarray]:
    """Each block's ``learnt_<name>`` diagnostic at the last step, one row per chain (the
    blocks with none left out)."""
    found = {name: result.diagnostics.get(f"learnt_{name}") for name in blocks}
    return {name: np.asarray(learnt.isel(time=-1).values)[:chains] for name, learnt in found.items() if learnt is not None}


def _posterior_groups(result: RunResult, form: Any, drawn: Draws, layout: ParamLayout,
                      names: Mapping[str, Sequence[str]] | None = None, seed: int = 0) -> dict[str, xr.Dataset]:
    """``posterior`` (one variable per block, each in its support, with the dimension names of
    :func:`parameter_dims`) and, when the draws have per-draw statistics, ``sample_stats``."""
    theta = drawn.theta
    chains, draws = theta.shape[:2]
    dims = parameter_dims(layout, names)
    blocks = {name: np.asarray(v) for name, v in constrain(layout, theta).items()}
    if getattr(form, "label_var", None) is not None:  # the filter learnt the noise site through r
        blocks = _learnt_blocks(result, form, drawn, blocks, seed)
    chain_draw = {"chain": np.arange(chains), "draw": np.arange(draws)}
    posterior = xr.Dataset({name: (("chain", "draw") + dims[name], np.asarray(v)) for name, v in blocks.items()},
                           coords=chain_draw)
    groups = {"posterior": _name_axes(posterior)}
    if drawn.stats:
        groups["sample_stats"] = xr.Dataset({name: (d, v) for name, (d, v) in drawn.stats.items()}, coords=chain_draw)
    return groups


POINT_KIND = "none: the weights are a point estimate (the point_estimate group)"
LABEL_NOISE_KIND = "; the label noise sites are drawn from the inverse-gamma posterior of r"


def _point_estimate_groups(result: RunResult, form: PointEstimate, drawn: Draws, layout: ParamLayout, centralized: bool,
                           names: Mapping[str, Sequence[str]] | None, num_draws: int, seed: int) -> dict[str, xr.Dataset]:
    """A gradient method's weights as what they are, one value per node: the ``point_estimate``
    group, dims ``(node, ...)`` (no node axis for a centralized method's single estimate), never
    a posterior chain of one draw. A noise site learnt through the label variance r, whose
    inverse-gamma posterior the kernel keeps, is a posterior: ``num_draws`` draws of it in the
    ``posterior`` group (chain = node, as for every method)."""
    chains = drawn.theta.shape[0]
    dims = parameter_dims(layout, names)
    blocks = {name: np.asarray(v)[:, 0] for name, v in constrain(layout, drawn.theta).items()}
    drawn_sites: dict[str, np.ndarray] = {}
    if form.label_var is not None:
        if form.label_noise is not None and result.label_sites is not None:
            found = label_site_draws(form, result.label_sites, None, num_draws, seed)
            drawn_sites = {name: v.reshape((chains, num_draws) + blocks[name].shape[1:])
                           for name, v in found.items() if name in blocks}
        else:  # read back from a file without the posterior of r: the learnt value of the last step
            blocks.update({name: last.reshape(blocks[name].shape) for name, last in _last_learnt(result, blocks, chains).items()})
    lead = () if centralized else ("node",)
    point = xr.Dataset({name: (lead + dims[name], v[0] if centralized else v)
                        for name, v in blocks.items() if name not in drawn_sites})
    groups = {"point_estimate": _name_axes(point)}
    if drawn_sites:
        chain_draw = {"chain": np.arange(chains), "draw": np.arange(num_draws)}
        groups["posterior"] = _name_axes(xr.Dataset(
            {name: (("chain", "draw") + dims[name], v) for name, v in drawn_sites.items()}, coords=chain_draw))
    return groups


def _name_axes(dataset: xr.Dataset) -> xr.Dataset:
    """``dataset`` with an integer coordinate on every axis that has none."""
    return dataset.assign_coords({dim: np.arange(dataset.sizes[dim]) for dim in dataset.dims if dim not in dataset.coords})


def _filter_state_group(drawn: Draws, layout: ParamLayout, chains: int) -> xr.Dataset:
    """The final state in flat form over ``parameter``, one row per chain."""
    filter_state = xr.Dataset(
        {name: (d, v) for name, (d, v) in drawn.state.items()},
        coords={"chain": np.arange(chains), "parameter": parameter_labels(layout)},
    )
    if "parameter_bis" in filter_state.dims:
        filter_state = filter_state.assign_coords(parameter_bis=parameter_labels(layout))
    for dim in set(filter_state.dims) - {"chain", "parameter", "parameter_bis"}:
        filter_state = filter_state.assign_coords({dim: np.arange(filter_state.sizes[dim])})
    return filter_state


def _data_groups(result: RunResult, unit: str | None, predictive_draws: int, seed: int) -> dict[str, xr.Dataset]:
    """The groups over (time, node): predictive draws, log scores, labels, mask and diagnostics."""
    predictions = np.asarray(result.predictions)
    T, K = predictions.shape
    time_node = ("time", "node")
    coords = {"time": np.asarray(result.tae["time"].values), "node": np.arange(K)}  # strided runs keep some steps
    infos = {name: result.diagnostics[name] for name in result.diagnostics.data_vars}
    observed = np.asarray(result.observed, bool)
    labels = np.where(observed, np.asarray(result.labels), np.nan)
    log_score = np.where(observed, np.asarray(infos[LOG_SCORE].values), 0.0).astype(predictions.dtype)
    label_attrs = {"long_name": "label"} | ({"units": unit} if unit else {})
    samples = predictive_samples(infos["prediction"].values, infos["predictive_var"].values, predictive_draws, seed)
    variables = {name: value.drop_vars([c for c in value.coords]) for name, value in infos.items() if name != LOG_SCORE}
    diagnostics = xr.Dataset(variables).assign_coords(coords)
    if unit:
        diagnostics["prediction"].attrs.update(units=unit)
        diagnostics["predictive_var"].attrs.update(units=f"({unit})^2")
    return {
        "posterior_predictive": xr.Dataset(
            {"d": (("chain", "draw") + time_node, samples[None], label_attrs)},
            coords={"chain": [0], "draw": np.arange(predictive_draws), **coords}),
        SCORE_GROUP: xr.Dataset(
            {"d": (time_node, log_score, {"long_name": "one-step predictive log density"})}, coords=coords),
        "observed_data": xr.Dataset({"d": (time_node, labels, label_attrs)}, coords=coords),
        "constant_data": xr.Dataset({"observed": (time_node, observed)}, coords=coords),
        "diagnostics": diagnostics,
    }


def _root_attrs(result: RunResult, drawn: Draws | None, centralized: bool, label: str | None) -> dict[str, Any]:
    """The method, its label, what chains and draws are, timings and the configuration."""
    config = dict(result.config or {})
    T, K = np.shape(result.predictions)
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
    if config.get("unit"):
        attrs["units"] = config["unit"]
    return attrs


def to_inference_data(result: RunResult, num_draws: int = 200, seed: int = 0, label: str | None = None,
                      predictive_draws: int = 100, dims: Mapping[str, Sequence[str]] | None = None):
    """An ``az.InferenceData`` of ``result`` (a :class:`~bayeslstm.engine.runner.RunResult`).

    ``num_draws``: draws from an EKF's Gaussian (particle filters give one draw per particle;
    gradient methods' weights are a point estimate, and only their learnt label noise is
    drawn); ``predictive_draws``: draws from each step's one-step predictive distribution (the
    ``posterior_predictive`` group); ``seed``: the NumPy seed of all draws
    and of the final resampling; ``label``: the name reports use (default: the method's
    label, as the command line writes it); ``dims``: site -> the names of its dimensions
    (``{"Wh": ("hidden", "gate")}``), over the names the model gives (its plates and
    ``infer={"dims": ...}``; ``<site>_dim_<k>`` where nothing names one). See the module
    docstring for the groups.
    """
    import arviz as az  # imported lazily: arviz is slow to import and prints a FutureWarning

    if not isinstance(result, RunResult):
        raise InputError(f"to_inference_data expects a RunResult; got {type(result).__name__}")
    predictive_draws = number("predictive_draws", predictive_draws, int, 1)
    config = dict(result.config or {})
    form = result.posterior(result.final_state)
    drawn = posterior_draws(form, num_draws, seed)
    groups: dict[str, xr.Dataset] = {}
    chains = 1
    if drawn is not None:  # the baselines learn no weights: no posterior, no filter state
        layout = result.layout or ParamLayout(("theta",), ((drawn.theta.shape[-1],),))
        if layout.size != drawn.theta.shape[-1]:
            raise InputError(f"the layout has {layout.size} parameters but the state has {drawn.theta.shape[-1]}")
        chains = drawn.theta.shape[0]
    centralized = chains == 1 and (np.shape(result.predictions)[1] > 1 or config.get("fusion") == "centralized")
    if drawn is not None and isinstance(form, PointEstimate):
        groups.update(_point_estimate_groups(result, form, drawn, layout, centralized, dims, num_draws, seed))
        drawn = drawn._replace(kind=POINT_KIND + (LABEL_NOISE_KIND if "posterior" in groups else ""))
    elif drawn is not None:
        groups.update(_posterior_groups(result, form, drawn, layout, dims, seed))
    groups.update(_data_groups(result, config.get("unit"), predictive_draws, seed))
    if drawn is not None:
        groups["filter_state"] = _filter_state_group(drawn, layout, chains)
    for dataset in groups.values():
        dataset.attrs.update(_group_attrs())
    return az.InferenceData(attrs=_root_attrs(result, drawn, centralized, label), warn_on_custom_groups=False, **groups)
