"""An output folder: ``summary.json``, one netCDF per method, ``report.md`` and its PNG figures.

:func:`write_report` draws the figures of :mod:`bayeslstm.report.plots` and writes a
Markdown report that embeds them with relative links; :func:`save_runs` writes each
method's ``InferenceData`` to ``<label>.nc``; :func:`write_folder` writes all of it (what
``bayeslstm run`` and ``bayeslstm compare`` write) into a new folder that then replaces the
previous outputs, so that a folder never mixes two runs; :func:`rebuild_report` redraws the
report and the figures from ``summary.json`` and the netCDF files alone (``bayeslstm report
DIR``), without running anything: TAE curves are recomputed from the stored predictions and
labels. The baselines learn no weights and have no InferenceData: their per-node TAE is
kept in ``summary.json``.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import tempfile
from collections.abc import Mapping
from typing import Any, NamedTuple

from ..engine.encoding import json_default
from ..engine.records import RunResult
from ..errors import InputError
from .comparison import Comparison, compare_results, table_markdown
from .inference_data import to_inference_data
from .names import netcdf_name
from .reading import is_inference_data, weight_sites
from .summary import RunSummary, replicates, summarize_run

FIGURES = {
    "tae": ("tae.png", "Network-mean TAE over time (log scale); lower is better."),
    "ess": ("ess.png", "Effective sample size of the particle methods, as a fraction of the particle count; "
                       "the dotted line is the resampling threshold."),
    "weights": ("weights.png", "Posterior of {site} at the last step (a point estimate: its value), one colour per node."),
    "network": ("network.png", "The network per method, each node coloured by its final TAE."),
    "average": ("average.png", "The model average: the weight of each member's predictive density in the mixture "
                               "that predicts each step (network mean over nodes), learnt from how well each "
                               "member forecast the earlier labels; beside it, the weight of each forgetting "
                               "factor when the average learns how fast to forget."),
}
SUMMARY = "summary.json"
REPORT = "report.md"
WEIGHTS = "w_out"  # the site the weights figure draws unless told otherwise: the built-in models' output weights


class ReportFiles(NamedTuple):
    """Paths written by :func:`write_report`."""

    report: pathlib.Path
    figures: dict[str, pathlib.Path]


class FolderFiles(NamedTuple):
    """Paths written by :func:`write_folder`."""

    summary: pathlib.Path
    report: pathlib.Path
    figures: dict[str, pathlib.Path]
    netcdf: dict[str, pathlib.Path]  # {label: file}


def _idata(run) -> Any:
    """The InferenceData of a run, the first of replicates (None for a run without weights: a
    baseline, or a summary)."""
    run = replicates(run)[0]
    if isinstance(run, RunSummary):
        return None
    if isinstance(run, RunResult):
        return None if run.posterior(run.final_state) is None else to_inference_data(run)
    if is_inference_data(run):
        return run
    raise InputError(f"cannot report a {type(run).__name__}; give RunResults, InferenceData or RunSummaries")


def save_runs(out_dir, idatas: Mapping[str, Any]) -> dict[str, str]:
    """Write every ``InferenceData`` to ``OUT/<label>.nc`` (label made file-safe, clashes
    numbered), uncompressed, through the netCDF-C library (ArviZ's ``netcdf4`` engine: its
    per-variable cost is a third of h5netcdf's, and a run's file holds about 45 variables);
    returns ``{label: file name}``."""
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names: dict[str, str] = {}
    for label, idata in idatas.items():
        stem, n = netcdf_name(label), 1
        name = f"{stem}.nc"
        while name in names.values():
            n += 1
            name = f"{stem}_{n}.nc"
        idata.to_netcdf(str(out / name), compress=False, engine="netcdf4")
        names[label] = name
    return names


def load_runs(out_dir) -> dict[str, Any]:
    """``{label: InferenceData}`` of the methods that finished in a folder written by ``bayeslstm
    run`` or ``compare``, in ``summary.json``'s order (a baseline: the :class:`RunSummary` that
    summary.json keeps)."""
    import arviz as az

    out = pathlib.Path(out_dir)
    summary = read_summary(out)
    runs = {}
    for label, entry in summary["methods"].items():
        if entry.get("status") == "failed":
            continue
        if "netcdf" not in entry and "tae_per_node" in entry:
            runs[label] = RunSummary.from_json(entry, label, summary.get("config") or {})
            continue
        path = out / pathlib.Path(entry.get("netcdf", f"{netcdf_name(label)}.nc")).name
        if not path.is_file():
            raise InputError(f"{path} is missing: the report needs the netCDF file of every method in {out / SUMMARY}")
        runs[label] = az.from_netcdf(str(path))
    return runs


def read_summary(out_dir) -> dict:
    """``OUT/summary.json``, checked."""
    path = pathlib.Path(out_dir) / SUMMARY
    if not path.is_file():
        raise InputError(f"no {SUMMARY} in {pathlib.Path(out_dir)}; give the folder `bayeslstm run` or "
                         "`bayeslstm compare` wrote (--out)")
    try:
        summary = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(summary, dict) or not isinstance(summary.get("methods"), dict) or not summary["methods"]:
        raise InputError(f"{path} has no methods")
    return summary


# --------------------------------------------------------------------------- the report's text


def _number(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _options(options: Mapping[str, Any] | None) -> str:
    return ", ".join(f"{k}={_number(v)}" for k, v in (options or {}).items() if v is not None) or "-"


def _setup_lines(config: Mapping[str, Any], entries: Mapping[str, RunSummary]) -> list[str]:
    """The settings a reader needs to reproduce the runs: the data, the model and its settings,
    the graph (when a distributed method ran), faults, seed and precision, then each method's
    options in force."""
    rows: list[tuple[str, Any]] = []
    stream = config.get("stream") or {}
    if config.get("dataset"):
        rows.append(("data", f"built-in dataset {config['dataset']}"))
    elif config.get("data"):
        rows.append(("data", f"table {config['data']}"))
    elif "noise_var" in config and config.get("noise_var") is not None:
        rows.append(("data", "synthetic teacher stream"))
    target = config.get("target") or stream.get("target")
    if target:
        unit = config.get("unit") or stream.get("unit")
        rows.append(("target", f"{target} ({unit})" if unit else f"{target} (no unit given)"))
    for key, name in (("steps", "steps"), ("nodes", "nodes")):
        if config.get(key) is not None:
            rows.append((name, config[key]))
    features = config.get("features")
    if features is not None:
        rows.append(("features", ", ".join(map(str, features)) if isinstance(features, (list, tuple)) else features))
    if config.get("min_len") is not None and config.get("max_len") is not None:
        rows.append(("sequence lengths", f"{config['min_len']} to {config['max_len']}"))
    if stream.get("window"):
        rows.append(("window, horizon", f"{stream['window']}, {stream.get('horizon', 1)}"))
    if config.get("noise_var") is not None:
        rows.append(("teacher's label noise r", _number(config["noise_var"])))
    if config.get("model"):
        rows.append(("model", config["model"]))
    settings = config.get("model_settings") or config.get("model_options") or {}
    if settings:
        rows.append(("model settings", ", ".join(f"{k}={_number(v)}" for k, v in settings.items())))
    if config.get("parameters"):
        rows.append(("weights per model", config["parameters"]))
    distributed = any(e.fusion == "distributed" for e in entries.values())
    if distributed and config.get("graph"):
        edges = config.get("edges")
        rows.append(("graph", f"{config['graph']}" + (f", {len(edges)} edges" if edges else "")
                     + (f", {config['rule']} weights" if config.get("rule") else "")))
    faults = [f"{name} {config[key]:g}" for key, name in (("link_failure", "link failure"), ("node_dropout", "node dropout"))
              if config.get(key)]
    if faults:
        rows.append(("faults", ", ".join(faults)))
    for key, name in (("seed", "seed"), ("dtype", "precision"), ("record", "rows kept")):
        if config.get(key) is not None:
            rows.append((name, config[key]))
    lines = ["| setting | value |", "| --- | --- |"] + [f"| {name} | {value} |" for name, value in rows]
    if entries:
        lines += ["", "| method | fusion | options in force |", "| --- | --- | --- |"]
        lines += [f"| {label} | {e.fusion or ''} | {_options(e.options)} |" for label, e in entries.items()]
    return lines


def _unit_of(config: Mapping[str, Any], comparison: Comparison | None) -> str | None:
    unit = config.get("unit") or (comparison.dataset.attrs.get("unit") if comparison is not None else None)
    return unit or None


def _heading_lines(title: str, comparison: Comparison | None, finished: int, failed: int) -> list[str]:
    """The title and what ran: methods, nodes and steps, and how many failed."""
    if comparison is None:
        return [f"# {title}", "", "No method finished: every one failed (below).", ""]
    ds = comparison.dataset
    methods = f"{finished} method{'s' if finished != 1 else ''}"
    return [f"# {title}", "", f"{methods}, {ds.sizes['node']} nodes, {ds.sizes['time']} steps kept"
            + (f"; {failed} failed (below)." if failed else "."), ""]


def _failed_lines(failed: Mapping[str, RunSummary]) -> list[str]:
    """The methods that stopped with an error, and the error's first line."""
    if not failed:
        return []
    lines = ["## Failed methods", "",
             "These methods stopped with an error while running; the results of the others are complete.", "",
             "| method | error |", "| --- | --- |"]
    lines += [f"| {label} | {str(e.error or 'failed').replace('|', '/').splitlines()[0]} |" for label, e in failed.items()]
    return lines + [""]


def weights_site(idatas: Mapping[str, Any], var_name: str | None = None) -> tuple[str | None, str | None]:
    """The site the weights figure draws, and when it draws none, the report's line saying why.

    ``var_name`` (default: ``w_out`` when a run has it) must be a site of some run's
    posterior or point estimate; a model without ``w_out`` gets no figure and a line naming its sites.
    """
    sites = sorted({name for idata in idatas.values() if idata is not None for name in weight_sites(idata)})
    if var_name is not None:
        if var_name not in sites:
            raise InputError(f"var_name={var_name!r}: no run has a weight site of that name; "
                             + (f"their sites are {sites}" if sites else "no run has a posterior"))
        return var_name, None
    if not sites or WEIGHTS in sites:
        return (WEIGHTS if sites else None), None
    listed = ", ".join(f"`{site}`" for site in sites)
    return None, (f"No weights figure: the model has no site `{WEIGHTS}`, the output weights the figure draws by "
                  f"default. Its sites are {listed}; `rebuild_report(DIR, var_name=...)` or "
                  "`write_report(..., var_name=...)` (bayeslstm.report.folder) draws the one you name.")


def _figure_lines(figures: Mapping[str, pathlib.Path], site: str | None, note: str | None) -> list[str]:
    """Each figure with its caption, and why the weights figure is missing when it is."""
    lines = ["## Figures", ""]
    for key, path in figures.items():
        caption = FIGURES[key][1]
        if key == "weights":
            caption = caption.format(site="the output weights" if site == WEIGHTS else f"`{site}`")
        lines += [f"![{key}]({path.name})", "", caption, ""]
    return lines + ([note, ""] if note else [])


def _ranking_lines(comparison: Comparison, unit: str | None) -> list[str]:
    """The ranked table and what its columns mean."""
    squared = f" in {unit}^2" if unit else ""
    lines = [
        "## Ranking", "",
        table_markdown(comparison.table), "",
        f"*final TAE*: network mean of the time-accumulated squared error at the last step{squared} (lower is "
        f"better); *sd over nodes*: its spread across nodes; *late MSE*: mean squared error over the last "
        f"quarter of each node's labels{squared}; *log score*: mean one-step predictive log density per label "
        "(the prequential log score, higher is better); *seconds running*: the steps' wall time, compilation "
        "excluded; *ms/step*: the same per step; *seconds compiling*: the one compilation of the method's "
        "program; *messages/step*, *floats/step*: traffic per node and step.",
        "",
    ]
    return lines


def _data_lines(written: list[str], finished: int, entries: Mapping[str, RunSummary]) -> list[str]:
    """Where each method's InferenceData is, and where the baselines' numbers are."""
    names = [f"`{(entries[label].netcdf if label in entries else None) or netcdf_name(label) + '.nc'}`"
             for label in written]
    data = []
    if names:
        data.append("Each method's run is an ArviZ InferenceData in " + ", ".join(names) + " (`arviz.from_netcdf`; "
                    "see the ArviZ page of the documentation).")
    averages = sum(e.fusion == "average" and e.status != "failed" for e in entries.values())
    if finished - len(written) > averages:
        data.append(f"The baselines learn no weights, so they have no InferenceData: their numbers are in `{SUMMARY}`.")
    if averages:
        data.append("The model average learns no weights of its own and has no InferenceData: its numbers, with "
                    f"each member's weight per step, are in `{SUMMARY}`.")
    data.append(f"`bayeslstm report DIR` redraws this page from `{SUMMARY}` and the netCDF files.")
    return ["## Data", "", " ".join(data), ""]


def _draw_figures(comparison: Comparison, idatas: Mapping[str, Any], edges, noise_floor: float | None,
                  site: str | None, unit: str | None, summaries: Mapping[str, RunSummary]) -> dict[str, Any]:
    """The report's figures, on figures that pyplot does not track (no backend is touched);
    None for one with nothing to draw (the weights figure when ``site`` is None, the model
    average's when no run is one)."""
    from . import plots

    averages = {label: s for label, s in summaries.items() if s.member_weights is not None}
    return {
        "tae": plots.plot_tae(comparison, noise_floor=noise_floor, unit=unit, detached=True),
        "ess": plots.plot_ess(comparison, detached=True),
        "weights": None if site is None else plots.plot_weights({k: v for k, v in idatas.items() if v is not None},
                                                                var_name=site, detached=True),
        "network": plots.plot_network(comparison, edges=edges, detached=True),
        "average": plots.plot_average_weights(averages, detached=True) if averages else None,
    }


def _save_figures(out: pathlib.Path, drawn: Mapping[str, Any]) -> dict[str, pathlib.Path]:
    """Save every drawn figure as ``OUT/<name>.png``; remove an earlier report's that this one
    does not draw."""
    from .plots import save_figure

    figures = {}
    for key, fig in drawn.items():
        if fig is not None:
            figures[key] = out / FIGURES[key][0]
            save_figure(fig, figures[key])
    for key, (name, _) in FIGURES.items():
        if key not in figures:
            (out / name).unlink(missing_ok=True)
    return figures


def write_report(
    out_dir,
    runs: Mapping[str, Any],
    config: Mapping[str, Any] | None = None,
    title: str = "bayeslstm comparison",
    edges=None,
    noise_floor: float | None = None,
    var_name: str | None = None,
    methods: Mapping[str, Mapping[str, Any]] | None = None,
) -> ReportFiles:
    """Write ``OUT/report.md`` and its figures for ``{label: run}`` (RunResults,
    InferenceData, RunSummaries, or lists of replicates). ``noise_floor`` defaults to the
    config's ``noise_var``; ``edges`` to the graph the runs stored; ``var_name``: the weight
    site the weights figure draws (default ``w_out``; without one, the report says so and
    names the sites, see :func:`weights_site`); ``methods``: what
    summary.json says of every method (options, fusion, and ``status``/``error`` of those that
    failed), by default read from the runs. Figures of an earlier report that this one does
    not draw are removed. Matplotlib's backend is left as it is."""
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    config = dict(config or {})
    summaries = {label: [summarize_run(r) for r in replicates(run)] for label, run in runs.items()}
    entries = ({label: RunSummary.from_json(e, label, config) for label, e in methods.items()} if methods is not None
               else {label: group[0] for label, group in summaries.items()})
    failed = {label: e for label, e in entries.items() if e.status == "failed"}
    comparison = compare_results(summaries) if summaries else None
    unit = _unit_of(config, comparison)
    idatas = {label: _idata(run) for label, run in runs.items()}
    site, note = weights_site(idatas, var_name)
    drawn = {} if comparison is None else _draw_figures(
        comparison, idatas, edges if edges is not None else config.get("edges"),
        noise_floor if noise_floor is not None else config.get("noise_var"), site, unit,
        {label: group[0] for label, group in summaries.items()})
    figures = _save_figures(out, drawn)
    lines = _heading_lines(title, comparison, len(runs), len(failed))
    if config or entries:
        lines += ["## Setup", "", *_setup_lines(config, entries), ""]
    lines += _failed_lines(failed)
    if comparison is not None:
        lines += _ranking_lines(comparison, unit) + _figure_lines(figures, site, note)
    lines += _data_lines([label for label, idata in idatas.items() if idata is not None], len(runs), entries)
    report = out / REPORT
    report.write_text("\n".join(lines))
    return ReportFiles(report, figures)


# --------------------------------------------------------------------------- whole folders


def previous_outputs(out_dir) -> list[pathlib.Path]:
    """The files an earlier ``bayeslstm run``/``compare`` wrote in ``out_dir``: summary.json, the
    report, its figures and the netCDF files summary.json names (nothing else)."""
    out = pathlib.Path(out_dir)
    names = {SUMMARY, REPORT, *(name for name, _ in FIGURES.values())}
    try:
        methods = json.loads((out / SUMMARY).read_text()).get("methods", {})
        for label, entry in methods.items():
            names.add(pathlib.Path(str(entry.get("netcdf") or f"{netcdf_name(label)}.nc")).name)
    except (OSError, ValueError, AttributeError):
        pass
    return [out / name for name in sorted(names) if (out / name).is_file()]


def write_folder(out_dir, summary: dict, idatas: Mapping[str, Any], runs: Mapping[str, Any],
                 title: str = "bayeslstm comparison") -> FolderFiles:
    """Write ``summary.json`` (``{"config": ..., "methods": {label: entry}}``), one netCDF file
    per InferenceData in ``idatas`` (each entry gets its ``netcdf`` name), and the report of
    ``runs`` (the methods that finished) into ``out_dir``, replacing its previous outputs: all
    of it is written into a new folder first, then the earlier outputs
    (:func:`previous_outputs`) are removed and the new files moved in. Other files are left alone."""
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(tempfile.mkdtemp(prefix=".bayeslstm-new-", dir=out))
    try:
        names = save_runs(staging, idatas)
        for label, name in names.items():
            summary["methods"][label]["netcdf"] = name
        (staging / SUMMARY).write_text(json.dumps(summary, indent=1, default=json_default))
        files = write_report(staging, runs, config=summary.get("config"), title=title, methods=summary["methods"])
        for path in previous_outputs(out):
            path.unlink(missing_ok=True)
        for path in staging.iterdir():
            os.replace(path, out / path.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return FolderFiles(out / SUMMARY, out / REPORT, {key: out / path.name for key, path in files.figures.items()},
                       {label: out / name for label, name in names.items()})


def rebuild_report(out_dir, var_name: str | None = None) -> ReportFiles:
    """Redraw ``report.md`` and the figures from ``summary.json`` and the netCDF files;
    ``var_name``: the weight site the weights figure draws (default ``w_out``)."""
    summary = read_summary(out_dir)
    config = summary.get("config") or {}
    labels = list(summary["methods"])
    title = f"bayeslstm run: {labels[0]}" if config.get("command") == "run" else "bayeslstm comparison"
    return write_report(out_dir, load_runs(out_dir), config=config, title=title, methods=summary["methods"],
                        var_name=var_name)
