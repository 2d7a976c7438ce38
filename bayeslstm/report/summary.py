"""One run's numbers in one record: what ``summary.json`` keeps of each method and what a
comparison reads.

A :class:`RunSummary` is built from a finished run (:meth:`RunSummary.from_result`), from its
InferenceData (:meth:`RunSummary.from_inference_data`), from an entry of ``summary.json``
(:meth:`RunSummary.from_json`), or for a method that stopped with an error
(:meth:`RunSummary.failed`); :meth:`RunSummary.to_json` gives the ``summary.json`` entry.
:func:`summarize_run` picks the right constructor for whatever it is given.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from ..engine import metrics
from ..engine.records import RunResult
from ..errors import InputError
from ..kernels.protocol import WeightedSample
from .reading import (
    is_inference_data,
    mean_per_step,
    num_particles,
    per_step,
    predictive_arrays,
    prequential_log_score,
    run_config,
    tae_from_inference_data,
    weight_sites,
)

NAN = float("nan")


class RunSummary(NamedTuple):
    """One method's run: its settings and numbers, or why it failed.

    ``tae`` is per node, (node, time); ``network_tae`` its network mean, (time,), as
    ``summary.json`` keeps it. A summary read back from ``summary.json`` has ``tae`` only for
    the baselines (``has_weights`` False): the other methods keep theirs in their netCDF file.
    """

    method: str  # method name: pf, dpf, dekf...
    fusion: str  # local | centralized | distributed
    tae: np.ndarray | None = None  # (node, time)
    ess: np.ndarray | None = None  # (node, time)
    seconds: float = NAN  # running, compilation apart
    messages_per_step: float = 0.0
    floats_per_step: float = 0.0
    log_score: float = NAN  # mean prequential log density per observed label
    num_particles: int | None = None
    edges: list | None = None
    family: str | None = None  # the kernel family (pf, ekf...), as the run recorded it
    late_mse: float = NAN  # mean squared error over the last quarter of each node's labels
    compile_seconds: float = NAN
    steps: int | None = None  # the last step run (the TAE may keep fewer: record=)
    half_mse: float = NAN  # mean squared error over the last half of each node's labels
    ess_threshold: float | None = None  # resample when ESS < this * N (particle filters that have one)
    unit: str | None = None  # the label's unit (table streams)
    network_tae: np.ndarray | None = None  # (time,)
    time: np.ndarray | None = None  # the step numbers kept
    compilations: int | None = None
    options: dict | None = None  # the method's options in force
    has_weights: bool = True  # False for a baseline: no weights, no InferenceData
    status: str = "ok"  # ok | failed
    error: str | None = None  # why a failed method stopped
    netcdf: str | None = None  # the file of its InferenceData, in the output folder
    member_weights: dict[str, np.ndarray] | None = None  # a model average: {member: its weight per step, network mean}
    memory_weights: dict[str, np.ndarray] | None = None  # one that learns its forgetting: {factor: weight per step}

    @classmethod
    def failed(cls, method: str, fusion: str, options: Mapping[str, Any] | None, error: str) -> RunSummary:
        """A method that stopped with ``error`` before it finished."""
        return cls(method=method, fusion=fusion, options=None if options is None else dict(options),
                   status="failed", error=str(error))

    @classmethod
    def from_result(cls, result: RunResult, method: str | None = None, fusion: str | None = None,
                    options: Mapping[str, Any] | None = None, family: str | None = None,
                    unit: str | None = None) -> RunSummary:
        """The summary of a finished run. ``method``, ``fusion``, ``options``, ``family`` and
        ``unit`` default to what the run's configuration says."""
        config = dict(result.config or {})
        name, mode = _method_and_fusion(config, result.method)
        diag = result.diagnostics
        form = result.posterior(result.final_state)
        return cls(
            method=method or name, fusion=fusion or mode,
            tae=np.asarray(result.tae.transpose("node", "time").values, float),
            ess=np.asarray(diag["ess"].values, float).T if "ess" in diag else None,
            seconds=float(result.seconds),
            messages_per_step=float(diag["messages"].mean()) if "messages" in diag else 0.0,
            floats_per_step=float(diag["floats"].mean()) if "floats" in diag else 0.0,
            log_score=float(prequential_log_score(result).mean()),
            num_particles=np.shape(form.values)[-2] if isinstance(form, WeightedSample) else None,
            edges=_edges(config), family=family or config.get("family"),
            late_mse=result.late_mse(), compile_seconds=float(result.compile_seconds),
            steps=int(result.tae["time"][-1]), half_mse=result.late_mse(0.5), ess_threshold=_ess_threshold(config),
            unit=unit or config.get("unit"), network_tae=np.asarray(result.network_tae, float),
            time=np.asarray(result.tae["time"].values, int), compilations=int(result.compilations),
            options=dict(options) if options is not None else config.get("options") or _average_options(config),
            has_weights=form is not None, member_weights=_member_weights(diag),
            memory_weights=_member_weights(diag, "forgetting_weight", "forgetting"),
        )

    @classmethod
    def from_inference_data(cls, idata, netcdf: str | None = None) -> RunSummary:
        """The summary of a run read back from its InferenceData (TAE recomputed from the stored
        predictions and labels); ``netcdf``: the file it was read from."""
        config = run_config(idata)
        name, mode = _method_and_fusion(config, str(idata.attrs.get("method", "")))
        tae = np.asarray(tae_from_inference_data(idata).values, float)
        ess = per_step(idata, "ess")
        arrays = predictive_arrays(idata)
        compilations = idata.attrs.get("compilations")
        return cls(
            method=name, fusion=mode, tae=tae,
            ess=None if ess is None else np.asarray(ess.transpose("node", "time").values, float),
            seconds=float(idata.attrs.get("seconds", NAN)),
            messages_per_step=mean_per_step(idata, "messages"), floats_per_step=mean_per_step(idata, "floats"),
            log_score=float(prequential_log_score(idata).mean()),
            num_particles=num_particles(idata), edges=_edges(config), family=config.get("family"),
            late_mse=metrics.late_mse(*arrays), compile_seconds=float(idata.attrs.get("compile_seconds", NAN)),
            steps=int(idata.observed_data["time"][-1]), half_mse=metrics.late_mse(*arrays, fraction=0.5),
            ess_threshold=_ess_threshold(config), unit=config.get("unit"), network_tae=tae.mean(axis=0),
            time=np.asarray(idata.observed_data["time"].values, int),
            compilations=None if compilations is None else int(compilations), options=config.get("options"),
            has_weights=bool(weight_sites(idata)), netcdf=netcdf,
        )

    @classmethod
    def from_json(cls, entry: Mapping[str, Any], label: str = "", config: Mapping[str, Any] | None = None
                  ) -> RunSummary:
        """A summary read from ``summary.json``'s entry of method ``label``; ``config``: the
        file's ``config`` (the label's unit, when the entry has none)."""
        per_node, network, time = entry.get("tae_per_node"), entry.get("tae"), entry.get("time")
        compilations = entry.get("compilations")
        return cls(
            method=entry.get("method", label.partition("@")[0]), fusion=entry.get("fusion", "local"),
            tae=None if per_node is None else np.asarray(per_node, float),
            seconds=float(entry.get("seconds", NAN)),
            messages_per_step=float(entry.get("messages_per_step", 0.0)),
            floats_per_step=float(entry.get("floats_per_step", 0.0)),
            log_score=float(entry.get("log_score", NAN)), family=entry.get("family"),
            late_mse=float(entry.get("late_mse", NAN)), compile_seconds=float(entry.get("compile_seconds", NAN)),
            steps=int(time[-1]) if time else None, half_mse=float(entry.get("half_mse", NAN)),
            unit=entry.get("unit") or (config or {}).get("unit"),
            network_tae=None if network is None else np.asarray(network, float),
            time=None if time is None else np.asarray(time, int),
            compilations=None if compilations is None else int(compilations), options=entry.get("options"),
            has_weights=per_node is None, status=entry.get("status", "ok"), error=entry.get("error"),
            netcdf=entry.get("netcdf"),
            member_weights=None if "member_weights" not in entry else
            {member: np.asarray(w, float) for member, w in entry["member_weights"].items()},
            memory_weights=None if "memory_weights" not in entry else
            {factor: np.asarray(w, float) for factor, w in entry["memory_weights"].items()},
        )

    def to_json(self) -> dict[str, Any]:
        """The ``summary.json`` entry: status, method, fusion and options; then, for a failed
        method, the error; for a finished one, the final and network-mean TAE, timings,
        traffic, log score and late MSE; for a baseline also the per-node TAE; for a model average
        each member's weight per step (network mean) and, when it learns its forgetting, each
        factor's; and the netCDF file's name once one is
        written."""
        entry: dict[str, Any] = {"status": self.status, "method": self.method, "fusion": self.fusion,
                                 "options": self.options}
        if self.status == "failed":
            return {**entry, "error": self.error}
        network = self.network_tae if self.network_tae is not None else np.asarray(self.tae, float).mean(axis=0)
        entry.update(
            final_tae=float(network[-1]), tae=[float(v) for v in network], seconds=float(self.seconds),
            compile_seconds=float(self.compile_seconds), compilations=self.compilations,
            messages_per_step=float(self.messages_per_step), floats_per_step=float(self.floats_per_step),
            log_score=float(self.log_score), late_mse=float(self.late_mse),
        )
        if not self.has_weights:
            if self.time is None:
                raise InputError(f"the summary of baseline {self.method!r} has a per-node TAE but no time steps")
            entry.update(time=[int(t) for t in self.time], tae_per_node=np.asarray(self.tae, float).tolist(),
                         half_mse=float(self.half_mse), family=self.family, unit=self.unit)
        for name in ("member_weights", "memory_weights"):
            weights = getattr(self, name)
            if weights is not None:
                entry[name] = {key: [float(v) for v in w] for key, w in weights.items()}
        if self.netcdf is not None:
            entry["netcdf"] = self.netcdf
        return entry


def summarize_run(run) -> RunSummary:
    """A :class:`RunSummary` of a RunResult or an InferenceData (a RunSummary is returned as it is)."""
    if isinstance(run, RunSummary):
        return run
    if isinstance(run, RunResult):
        return RunSummary.from_result(run)
    if is_inference_data(run):
        return RunSummary.from_inference_data(run)
    raise InputError(f"cannot compare a {type(run).__name__}; give RunResults or InferenceData (or lists of them)")


def replicates(runs) -> list:
    """``runs`` as a list: a list or plain tuple of replicates as it is, one run as a list of one."""
    if isinstance(runs, list) or type(runs) is tuple:
        if not runs:
            raise InputError("an empty list of runs was given for a method")
        return list(runs)
    return [runs]


def _method_and_fusion(config: Mapping[str, Any], fallback: str) -> tuple[str, str]:
    """The method's name and fusion from its configuration, or from its older combined name
    (``pf-local``, ``pf-centralized``, ``dpf``)."""
    name = config.get("method_name")
    fusion = config.get("fusion")
    if name is None or fusion is None:
        base, _, mode = fallback.partition("-")
        if mode in ("local", "centralized"):
            name, fusion = name or base, fusion or mode
        else:
            name, fusion = name or fallback, fusion or "distributed"
    return name, fusion


def _member_weights(diagnostics, name: str = "weight", over: str = "member") -> dict[str, np.ndarray] | None:
    """A model average's weight of each member per step, network mean (``weight`` over
    ``(member, time, node)`` in its diagnostics), or of each forgetting factor it learns among
    (``forgetting_weight`` over ``forgetting``, keyed by the factor as text); None otherwise."""
    if name not in diagnostics or over not in diagnostics[name].dims:
        return None
    mean = diagnostics[name].mean("node").transpose(over, "time")
    return {_key(value): np.asarray(w, float) for value, w in zip(mean[over].values, mean.values)}


def _key(value) -> str:
    return f"{value:g}" if isinstance(value, (float, np.floating)) else str(value)


def _average_options(config: Mapping[str, Any]) -> dict | None:
    """A model average's options (its forgetting, how the nodes pool their scores, what it
    scores and whether it rescales its variance)."""
    if config.get("fusion") != "average":
        return None
    return {k: config[k] for k in ("forgetting", "pool", "score", "calibrate") if k in config} or None


def _edges(config: Mapping[str, Any]) -> list | None:
    graph = config.get("graph")
    if isinstance(graph, dict) and graph.get("edges") is not None:
        return graph["edges"]
    return config.get("edges")


def _ess_threshold(config: Mapping[str, Any]) -> float | None:
    value = (config.get("options") or {}).get("ess_threshold")
    return None if value is None else float(value)
