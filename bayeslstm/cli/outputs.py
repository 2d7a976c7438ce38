"""What a command writes: the output folder (checked before any work), the run's configuration
as summary.json gives it, and the folder's files."""

from __future__ import annotations

import pathlib
from typing import Any

from ..errors import writable_folder
from ..network.topology import DEFAULT_GRAPH


def unit_squared(table) -> str:
    return f" {table.unit}^2" if table is not None and table.unit else ""


def output_folder(text: str) -> pathlib.Path:
    """``--out`` checked before any work: a folder, or a path where one can be made, writable."""
    return writable_folder("--out", text)


def run_config(args, built, stream, table, stream_config, model_options, distributed) -> dict[str, Any]:
    """The run's configuration as summary.json and the report give it: the arguments, and the
    values actually used (nodes, features, the model's settings, the graph when one is used)."""
    network = next((a.network for a in built if a.network is not None), None)
    config = {k: v for k, v in vars(args).items() if k not in ("command", "rule")}
    features = list(table.features) if table is not None else stream.features
    config.update(command=args.command, methods=[a.label for a in built], parameters=built[0].ssm.dim,
                  model_options=model_options, model_settings=_model_settings(args.model, built[0]), stream=stream_config,
                  nodes=stream.nodes, steps=stream.steps, features=features,
                  dtype=built[0].config.get("dtype"),
                  graph=(args.graph or DEFAULT_GRAPH) if distributed else None,
                  rule=(args.rule or "metropolis") if distributed else None,
                  edges=None if network is None else [list(e) for e in network.graph.edges])
    if table is not None:  # real data: no known noise floor, and the synthetic flags do not apply
        config.update(noise_var=None, target=table.target, unit=table.unit)
        for key in ("min_len", "max_len", "teacher_scale"):
            config.pop(key, None)
    return config


def _model_settings(model: str | None, assembled) -> dict[str, Any]:
    """The model's options in force (the factory's defaults under the ones given) and the
    random-walk variance q and label variance r the filters read."""
    import numpy as np

    from ..model.declarations import load_declaration
    from ..model.declarations import model_options as factory_options
    from ..model.statespace import is_declaration

    factory = load_declaration("lstm" if model is None else model)
    settings = {} if is_declaration(factory) else {k: v for k, v in factory_options(factory).items() if k != "features"}
    settings.update(assembled.config.get("model_options") or {})
    ssm = assembled.ssm
    for key, value in (("q", ssm.transition_var), ("r", ssm.obs_var)):
        if key not in settings and value is not None:
            values = np.unique(np.asarray(value))
            settings[key] = float(values[0]) if values.size == 1 else f"{values.min():g} to {values.max():g}"
    return {k: v for k, v in settings.items() if isinstance(v, (int, float, str, bool)) or v is None}


def write_outputs(args, out: pathlib.Path, config: dict, built, results: dict, failures: dict):
    """summary.json, the netCDF files and the report, replacing the folder's previous outputs."""
    from ..report.folder import write_folder
    from ..report.inference_data import to_inference_data
    from ..report.summary import RunSummary

    methods: dict[str, dict[str, Any]] = {}
    idatas, runs = {}, {}
    for assembled in built:
        label = assembled.label
        if label in failures:
            methods[label] = RunSummary.failed(assembled.name, assembled.fusion, assembled.options,
                                               failures[label]).to_json()
            continue
        result = results[label]
        summary = RunSummary.from_result(result, method=assembled.name, fusion=assembled.fusion,
                                         options=assembled.options, family=assembled.config.get("family"),
                                         unit=config.get("unit"))
        methods[label] = summary.to_json()
        if summary.has_weights:
            idatas[label] = runs[label] = to_inference_data(result, num_draws=args.draws, seed=args.seed, label=label,
                                                            predictive_draws=args.predictive_draws)
        else:  # a baseline: no weights, so no InferenceData; summary.json keeps its per-node TAE
            runs[label] = result
    for label in set(results) - {assembled.label for assembled in built}:  # the model average: no weights of its own
        result = results[label]
        methods[label] = RunSummary.from_result(result, fusion="average", unit=config.get("unit")).to_json()
        runs[label] = result
    title = f"bayeslstm run: {built[0].label}" if args.command == "run" else "bayeslstm comparison"
    return write_folder(out, {"config": config, "methods": methods}, idatas, runs, title=title)
