"""A comparison written to a folder: ``report.md``, its PNG figures, one netCDF per method.

:func:`write_report` draws the figures of :mod:`bayeslstm.plots` and writes a Markdown
report that embeds them with relative links; :func:`save_runs` writes each method's
``InferenceData`` to ``<label>.nc``; :func:`rebuild_report` redraws everything from those
files and ``summary.json`` alone (``bayeslstm report DIR``), without running anything:
TAE curves are recomputed from the stored predictions and labels.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any, Mapping, NamedTuple

from .comparison import compare_results, table_markdown
from ..errors import InputError
from .inference_data import netcdf_name, to_inference_data

FIGURES = {
    "tae": ("tae.png", "Network-mean TAE over time (log scale); lower is better."),
    "ess": ("ess.png", "Effective sample size of the particle methods, as a fraction of the particle count."),
    "weights": ("weights.png", "Posterior of the output weights at the last step, one colour per node."),
    "network": ("network.png", "The network per method, each node coloured by its final TAE."),
}
SUMMARY = "summary.json"
REPORT = "report.md"


class ReportFiles(NamedTuple):
    """Paths written by :func:`write_report`."""

    report: pathlib.Path
    figures: dict[str, pathlib.Path]


def _idata(run) -> Any:
    run = run[0] if isinstance(run, (list, tuple)) and not hasattr(run, "_fields") else run
    return run if hasattr(run, "observed_data") else to_inference_data(run)  # baselines have no posterior


def save_runs(out_dir, idatas: Mapping[str, Any]) -> dict[str, str]:
    """Write every ``InferenceData`` to ``OUT/<label>.nc`` (label made file-safe, clashes
    numbered); returns ``{label: file name}``."""
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names: dict[str, str] = {}
    for label, idata in idatas.items():
        stem, n = netcdf_name(label), 1
        name = f"{stem}.nc"
        while name in names.values():
            n += 1
            name = f"{stem}_{n}.nc"
        idata.to_netcdf(str(out / name))
        names[label] = name
    return names


def load_runs(out_dir) -> dict[str, Any]:
    """``{label: InferenceData}`` of a folder written by ``bayeslstm compare``, in
    ``summary.json``'s order."""
    import arviz as az

    out = pathlib.Path(out_dir)
    summary = read_summary(out)
    runs = {}
    for label, entry in summary["methods"].items():
        path = out / entry.get("netcdf", f"{netcdf_name(label)}.nc")
        if not path.is_file():
            raise InputError(f"{path} is missing: the report needs the netCDF file of every method in {out / SUMMARY}")
        runs[label] = az.from_netcdf(str(path))
    return runs


def read_summary(out_dir) -> dict:
    """``OUT/summary.json``, checked."""
    path = pathlib.Path(out_dir) / SUMMARY
    if not path.is_file():
        raise InputError(f"no {SUMMARY} in {pathlib.Path(out_dir)}; give the folder `bayeslstm compare --out` wrote")
    try:
        summary = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(summary, dict) or not isinstance(summary.get("methods"), dict) or not summary["methods"]:
        raise InputError(f"{path} has no methods")
    return summary


def _config_lines(config: Mapping[str, Any]) -> list[str]:
    keys = [k for k, v in config.items() if k not in ("edges", "out", "methods", "command", "no_progress") and not isinstance(v, (list, dict))]
    lines = ["| setting | value |", "| --- | --- |"]
    lines += [f"| {k} | {config[k]} |" for k in keys if config[k] is not None]
    for k in ("model_options",):
        if config.get(k):
            lines.append(f"| {k} | {json.dumps(config[k])} |")
    return lines


def write_report(
    out_dir,
    runs: Mapping[str, Any],
    config: Mapping[str, Any] | None = None,
    title: str = "bayeslstm comparison",
    edges=None,
    noise_floor: float | None = None,
    var_name: str = "w_out",
) -> ReportFiles:
    """Write ``OUT/report.md`` and its figures for ``{label: run}`` (RunResults,
    InferenceData, or lists of replicates). ``noise_floor`` defaults to the config's
    ``noise_var``; ``edges`` to the graph the runs stored."""
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "pdf", "svg", "ps", "cairo"):
        matplotlib.use("Agg")
    from . import plots

    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    config = dict(config or {})
    comparison = compare_results(runs)
    noise_floor = noise_floor if noise_floor is not None else config.get("noise_var")
    drawn = {
        "tae": plots.plot_tae(comparison, noise_floor=noise_floor),
        "ess": plots.plot_ess(comparison),
        "weights": plots.plot_weights({label: _idata(run) for label, run in runs.items()}, var_name=var_name),
        "network": plots.plot_network(comparison, edges=edges if edges is not None else config.get("edges")),
    }
    figures = {}
    for key, fig in drawn.items():
        if fig is not None:
            figures[key] = out / FIGURES[key][0]
            plots.save_figure(fig, figures[key])

    ds = comparison.dataset
    lines = [f"# {title}", ""]
    lines += [f"{len(runs)} methods, {ds.sizes['node']} nodes, {ds.sizes['time']} steps.", ""]
    if config:
        lines += ["## Setup", "", *_config_lines(config), ""]
    lines += [
        "## Ranking", "",
        table_markdown(comparison.table), "",
        "*final TAE*: network mean of the time-accumulated squared error at the last step (lower is better); "
        "*sd over nodes*: its spread across nodes; *log score*: mean one-step predictive log density per label "
        "(the prequential log score, higher is better); *messages/step*, *floats/step*: traffic per node and step.",
        "",
        "## Figures", "",
    ]
    for key, path in figures.items():
        lines += [f"![{key}]({path.name})", "", FIGURES[key][1], ""]
    names = [f"`{netcdf_name(label)}.nc`" for label in runs]
    lines += [
        "## Data", "",
        "Each method's run is an ArviZ InferenceData in " + ", ".join(names) + " "
        "(`arviz.from_netcdf`); see docs/arviz.md. `bayeslstm report DIR` redraws this page from them.", "",
    ]
    report = out / REPORT
    report.write_text("\n".join(lines))
    return ReportFiles(report, figures)


def rebuild_report(out_dir) -> ReportFiles:
    """Redraw ``report.md`` and the figures from ``summary.json`` and the netCDF files."""
    summary = read_summary(out_dir)
    return write_report(out_dir, load_runs(out_dir), config=summary.get("config"))
