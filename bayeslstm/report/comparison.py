"""Several methods on one stream, side by side: a TAE dataset and a ranked table.

:func:`compare_results` takes ``{label: run}`` where a run is a
:class:`~bayeslstm.engine.runner.RunResult`, its ``InferenceData`` (see
:mod:`bayeslstm.report.inference_data`), a :class:`~bayeslstm.report.summary.RunSummary`, or a list of them
(replicates, e.g. one per seed), and
returns a :class:`Comparison`: an ``xarray.Dataset`` with dims (method, node, time) and a
``pandas.DataFrame`` ranked by final network-mean TAE (lower is better), one row per method
label, as ``az.compare`` returns its table.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import InputError
from .summary import RunSummary, replicates, summarize_run  # RunSummary and summarize_run: also imported from here


class Comparison(NamedTuple):
    """``dataset``: tae (method, node, time) and friends; ``table``: a DataFrame indexed by the
    method labels, best first (``rank`` 1), one column per measure (see :func:`compare_results`)."""

    dataset: xr.Dataset
    table: pd.DataFrame

    def rows(self) -> list[dict[str, Any]]:
        """The table as a list of dicts, best first, each with its ``method`` label."""
        return self.table.reset_index().to_dict("records")


def _sd(values: Sequence[float]) -> float:
    return float(np.std(values, ddof=1)) if len(values) > 1 else float("nan")


def compare_results(results: Mapping[str, Any]) -> Comparison:
    """Compare runs of several methods on the same stream.

    ``results``: ``{label: run or [runs...]}``; several runs of one label are replicates
    (different seeds) and are averaged. Every run must have the same nodes and steps.
    Each run may also be a :class:`RunSummary` (what a benchmark caches between calls).
    The dataset holds ``tae`` (method, node, time; replicate mean), ``final_tae``
    (method, node), ``network_tae`` (method, time), ``ess`` (method, node, time; NaN for
    methods without one) and per-method coordinates ``family``, ``fusion``,
    ``num_particles`` (0 if none), ``replicates``, ``ess_threshold`` (NaN for methods that
    resample at every step or not at all); its ``unit`` attribute is the label's unit. Table rows are ranked by ``final_tae``,
    the network mean at the last step (ties keep the given order); the table is a
    ``pandas.DataFrame`` indexed by label (``table.loc["dpf", "final_tae"]``), with ``rank``,
    ``fusion``, the final TAE's spread over
    nodes and over replicates, the ``late_mse`` (the mean squared error over the last quarter
    of each node's labels: where a method has got to), the prequential ``log_score``, the
    ``half_mse`` over the last half of each node's labels and, when the baselines are among
    the runs, the skill against the naive forecasts (:func:`add_skill`),
    ``seconds`` (running, compilation apart), ``ms_per_step``, ``compile_seconds`` and the traffic.
    """
    if not results:
        raise InputError("compare_results needs at least one run")
    summaries = {label: [summarize_run(r) for r in replicates(runs)] for label, runs in results.items()}
    partial = [label for label, group in summaries.items() if any(s.tae is None for s in group)]
    if partial:
        raise InputError(f"the summaries of {partial} keep only the network-mean TAE; compare their InferenceData")
    shapes = {label: {_tae(s).shape for s in group} for label, group in summaries.items()}
    if len(set().union(*shapes.values())) != 1:
        raise InputError(f"runs differ in (nodes, steps): {shapes}; compare runs on the same stream")
    rows = [_row(label, group) for label, group in summaries.items()]
    add_skill(rows, {label: group[0].family or group[0].method for label, group in summaries.items()})
    order = sorted(range(len(rows)), key=lambda i: (np.isnan(rows[i]["final_tae"]), np.nan_to_num(rows[i]["final_tae"], nan=0.0), i))
    table = pd.DataFrame([dict(rank=rank, **rows[i]) for rank, i in enumerate(order, start=1)]).set_index("method")
    return Comparison(_dataset(summaries), table)


def _tae(summary: RunSummary) -> np.ndarray:
    """A summary's per-node TAE (node, time), which compare_results has checked every run keeps."""
    if summary.tae is None:
        raise InputError(f"the summary of {summary.method!r} keeps only the network-mean TAE")
    return summary.tae


def _dataset(summaries: Mapping[str, list[RunSummary]]) -> xr.Dataset:
    """The replicate means of every method's curves, with its family, fusion and particles."""
    labels = list(summaries)
    K, T = _tae(summaries[labels[0]][0]).shape
    tae = np.stack([np.mean([_tae(s) for s in summaries[m]], axis=0) for m in labels])
    esses = {m: [s.ess for s in summaries[m] if s.ess is not None] for m in labels}
    ess = np.stack([
        np.mean(esses[m], axis=0) if len(esses[m]) == len(summaries[m]) else np.full((K, T), np.nan)
        for m in labels
    ])
    first = {m: summaries[m][0] for m in labels}
    coords = {
        "method": labels, "node": np.arange(K), "time": np.arange(1, T + 1),
        "family": ("method", [first[m].family or first[m].method for m in labels]),
        "fusion": ("method", [first[m].fusion for m in labels]),
        "num_particles": ("method", [first[m].num_particles or 0 for m in labels]),
        "replicates": ("method", [len(summaries[m]) for m in labels]),
        "ess_threshold": ("method", [np.nan if first[m].ess_threshold is None else first[m].ess_threshold for m in labels]),
    }
    unit = next((s.unit for s in first.values() if s.unit), None)
    edges = next((s.edges for s in first.values() if s.edges is not None), None)
    return xr.Dataset(
        {
            "tae": (("method", "node", "time"), tae),
            "final_tae": (("method", "node"), tae[:, :, -1]),
            "network_tae": (("method", "time"), tae.mean(axis=1)),
            "ess": (("method", "node", "time"), ess),
        },
        coords=coords,
        attrs={"edges": "" if edges is None else json.dumps([[int(a), int(b)] for a, b, *_ in edges]), "unit": unit or ""},
    )


def _row(label: str, group: list[RunSummary]) -> dict[str, Any]:
    """One method's row of the table: means (and spreads) over its replicates."""
    T = _tae(group[0]).shape[1]
    finals = [float(np.mean(_tae(s)[:, -1])) for s in group]
    lates = [s.late_mse for s in group]
    return {
        "method": label,
        "fusion": group[0].fusion,
        "final_tae": float(np.mean(finals)),
        "final_tae_sd_nodes": float(np.mean([np.std(_tae(s)[:, -1]) for s in group])),
        "final_tae_sd_seeds": _sd(finals),
        "late_mse": float(np.mean(lates)),
        "late_mse_sd_seeds": _sd(lates),
        "log_score": float(np.mean([s.log_score for s in group])),
        "seconds": float(np.mean([s.seconds for s in group])),
        "ms_per_step": 1e3 * float(np.mean([s.seconds / (s.steps or T) for s in group])),
        "compile_seconds": float(np.mean([s.compile_seconds for s in group])),
        "messages_per_step": float(np.mean([s.messages_per_step for s in group])),
        "floats_per_step": float(np.mean([s.floats_per_step for s in group])),
        "replicates": len(group),
        "half_mse": float(np.mean([s.half_mse for s in group])),
    }


BASELINES = {"last": "baseline-last", "mean": "baseline-mean"}


def add_skill(rows: list[dict[str, Any]], families: Mapping[str, str]) -> None:
    """Skill against the naive forecasts, in place: for every baseline among the rows,
    ``skill_<kind> = 1 - final TAE / the baseline's`` (the whole stream) and
    ``skill_<kind>_late = 1 - late-half MSE / the baseline's`` (the last half of each node's
    labels). Positive: better than the naive forecast; 0: no better."""
    by_family = {families[row["method"]]: row for row in rows}
    for kind, family in BASELINES.items():
        base = by_family.get(family)
        if base is None:
            continue
        for row in rows:
            row[f"skill_{kind}"] = 1.0 - row["final_tae"] / base["final_tae"]
            row[f"skill_{kind}_late"] = 1.0 - row["half_mse"] / base["half_mse"]


def edges_of(comparison: Comparison | xr.Dataset) -> list[tuple[int, int]] | None:
    """The graph's edge list stored by :func:`compare_results`, if any run had one."""
    dataset = comparison.dataset if isinstance(comparison, Comparison) else comparison
    text = dataset.attrs.get("edges", "")
    return [(a, b) for a, b in json.loads(text)] if text else None


COLUMNS = (
    ("rank", "rank", "{}"),
    ("method", "method", "{}"),
    ("final_tae", "final TAE", "{:.4g}"),
    ("final_tae_sd_nodes", "sd over nodes", "{:.2g}"),
    ("final_tae_sd_seeds", "sd over seeds", "{:.2g}"),
    ("late_mse", "late MSE", "{:.4g}"),
    ("log_score", "log score", "{:.3f}"),
    ("seconds", "seconds running", "{:.3g}"),
    ("ms_per_step", "ms/step", "{:.3g}"),
    ("compile_seconds", "seconds compiling", "{:.3g}"),
    ("skill_last", "skill vs last", "{:.3f}"),
    ("skill_last_late", "late skill vs last", "{:.3f}"),
    ("skill_mean", "skill vs mean", "{:.3f}"),
    ("skill_mean_late", "late skill vs mean", "{:.3f}"),
    ("messages_per_step", "messages/step", "{:.3g}"),
    ("floats_per_step", "floats/step", "{:.3g}"),
)


def table_markdown(table: pd.DataFrame | Sequence[dict[str, Any]]) -> str:
    """The ranked table (a :class:`Comparison`'s DataFrame, or its rows) as a Markdown table
    (the seeds column only when there are replicates)."""
    if isinstance(table, pd.DataFrame):
        table = table.reset_index().to_dict("records")
    table = [{k: v for k, v in row.items() if not (k.startswith("skill") and isinstance(v, float) and np.isnan(v))}
             for row in table]
    columns = [c for c in COLUMNS if (c[0] != "final_tae_sd_seeds" or any(r.get("replicates", 1) > 1 for r in table))
               and (not c[0].startswith("skill") or any(c[0] in r for r in table))]
    lines = ["| " + " | ".join(title for _, title, _ in columns) + " |",
             "| " + " | ".join("---" if key == "method" else "---:" for key, _, _ in columns) + " |"]
    for row in table:
        cells = []
        for key, _, fmt in columns:
            value = row.get(key)
            cells.append("" if value is None or (isinstance(value, float) and np.isnan(value)) else fmt.format(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def compare_log_scores(runs: Mapping[str, Any]) -> pd.DataFrame:
    """Rank runs by their summed prequential log score: a filter's answer to ``az.compare``.

    ``runs``: ``{label: InferenceData or RunResult}``, all on the same stream. A filter scores
    each label by its one-step predictive log density log p(d_t | d_1..t-1), made before the
    label was seen, so the sum is already an out-of-sample score of the whole run (for a
    Bayesian filter, its log evidence): nothing is left out and nothing is estimated. Returns a
    DataFrame indexed by label, best first: ``rank``, ``log_score`` (the sum over observed
    labels; higher is better), ``labels`` (how many were scored), ``mean_log_score``,
    ``difference`` (the best's sum minus this one's) and ``dse``, the standard error of that
    difference from the paired per-label differences (NaN when two runs did not score the
    same labels).
    """
    from .reading import log_scores

    if not runs:
        raise InputError("compare_log_scores needs at least one run: {label: InferenceData or RunResult}")
    scored: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for label, run in runs.items():
        scores, observed = log_scores(run, "compare_log_scores")
        scored[label] = (np.asarray(scores.values, np.float64), np.asarray(observed.values, bool))
    totals = {label: float(np.where(mask, score, 0.0).sum()) for label, (score, mask) in scored.items()}
    order = sorted(totals, key=lambda label: -totals[label])  # a stable sort: ties keep the given order
    best_score, best_mask = scored[order[0]]
    rows = []
    for rank, label in enumerate(order, start=1):
        score, mask = scored[label]
        paired = mask.shape == best_mask.shape and bool(np.array_equal(mask, best_mask)) and bool(mask.any())
        differences = (best_score - score)[mask] if paired else np.zeros(0)
        rows.append({"method": label, "rank": rank, "log_score": totals[label], "labels": int(mask.sum()),
                     "mean_log_score": totals[label] / max(int(mask.sum()), 1),
                     "difference": totals[order[0]] - totals[label],
                     "dse": float(np.sqrt(differences.size * differences.var())) if paired else float("nan")})
    return pd.DataFrame(rows).set_index("method")
