"""Reading a run's InferenceData back: its configuration, predictions and labels, TAE, the
prequential log score, PIT values and per-step diagnostics. Every function takes the
InferenceData that :func:`~bayeslstm.report.inference_data.to_inference_data` wrote (or
``az.from_netcdf`` read), so a report can be redrawn without running anything."""

from __future__ import annotations

import json

import numpy as np
import xarray as xr

from ..engine.metrics import time_accumulated_error
from ..engine.records import RunResult
from ..errors import InputError, OptionError

LOG_SCORE = "log_pred_density"  # the per-step diagnostic that becomes the SCORE_GROUP group
SCORE_GROUP = "prequential_log_likelihood"  # one-step predictive log densities (time, node); not ArviZ's log_likelihood


def _arviz():
    import arviz as az  # imported lazily: arviz is slow to import and prints a FutureWarning

    return az


def is_inference_data(data) -> bool:
    """Whether ``data`` is an ``az.InferenceData`` (arviz is imported only when needed)."""
    return isinstance(data, _arviz().InferenceData)


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


def log_scores(data, caller: str = "log_scores") -> tuple[xr.DataArray, xr.DataArray]:
    """(scores, observed), (time, node) each: every label's one-step predictive log density
    log p(d_t | d_1..t-1) and which labels were observed, from an InferenceData (its
    ``prequential_log_likelihood`` group, or the ``log_likelihood`` group of files written
    before it) or a RunResult."""
    if isinstance(data, RunResult):
        score = data.diagnostics[LOG_SCORE]
        return score, xr.DataArray(np.asarray(data.observed, bool), dims=("time", "node"), coords=score.coords)
    if not is_inference_data(data):
        raise InputError(f"{caller} expects an InferenceData or RunResult; got {type(data).__name__}")
    if SCORE_GROUP in data.groups():
        score = data[SCORE_GROUP]["d"]
    elif "log_likelihood" in data.groups():  # files written before the prequential group
        score = data.log_likelihood["d"].isel(chain=0, draw=0, drop=True)
    else:
        raise InputError(f"this InferenceData has no {SCORE_GROUP} group: it was not written by bayeslstm")
    return score, data.constant_data["observed"]


def prequential_log_score(data) -> xr.DataArray:
    """Mean one-step predictive log density per observed label, per node: (node,).

    ``log p(d_t | d_1..t-1)`` averaged over each node's observed steps; ``.mean()`` gives the
    network's. Higher is better. Accepts an InferenceData or a RunResult. To rank runs by the
    summed scores, use :func:`~bayeslstm.report.comparison.compare_log_scores` (``az.compare``
    does not apply to a filter's output: see :func:`loo`).
    """
    score, mask = log_scores(data, "prequential_log_score")
    total = score.where(mask, 0.0).sum("time")
    count = mask.sum("time")
    return (total / count.where(count > 0)).rename("log_score")


NO_LOO = ("leave-one-out does not apply to an online run: each label was scored once, by the one-step "
          f"predictive density made before the label was seen (the {SCORE_GROUP} group), which is already "
          "out of sample; there is no log likelihood of every label under every posterior draw for az.loo, "
          "az.waic or az.compare. Use bayeslstm.report.reading.prequential_log_score(idata), or "
          "bayeslstm.report.comparison.compare_log_scores({label: idata, ...}) to rank runs")


def loo(idata, **kwargs):
    """``az.loo(idata, **kwargs)`` where it applies; a clear :class:`OptionError` for a run.

    Leave-one-out (and WAIC, and ``az.compare`` built on them) needs the log likelihood of
    every label under every posterior draw, from a posterior that saw all the labels. An
    online filter scores each label once, before it sees it: its
    ``prequential_log_likelihood`` group holds that one-step predictive density, which is
    already an out-of-sample score, so there is nothing to leave out. Use
    :func:`prequential_log_score`, or
    :func:`~bayeslstm.report.comparison.compare_log_scores` to rank runs by their summed scores.
    """
    log_likelihood = getattr(idata, "log_likelihood", None)
    if log_likelihood is not None and log_likelihood.sizes.get("chain", 1) * log_likelihood.sizes.get("draw", 1) > 1:
        return _arviz().loo(idata, **kwargs)
    raise OptionError(NO_LOO)


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



def weight_sites(idata) -> list[str]:
    """The names of the sites a run learnt: its posterior's and its point estimate's."""
    groups = [getattr(idata, group) for group in ("posterior", "point_estimate") if group in idata.groups()]
    return sorted({str(name) for group in groups for name in group.data_vars})


def weight_draws(idata, name: str) -> xr.DataArray | None:
    """Site ``name`` as draws over ``(chain, draw, ...)``: its posterior draws, or a point
    estimate as one draw per node (a centralized run's single estimate as one chain); None
    when the run learnt no such site."""
    if "posterior" in idata.groups() and name in idata.posterior:
        return idata.posterior[name]
    if "point_estimate" not in idata.groups() or name not in idata.point_estimate:
        return None
    site = idata.point_estimate[name]
    site = site.rename(node="chain") if "node" in site.dims else site.expand_dims(chain=[0])
    return site.expand_dims(draw=[0], axis=1)
