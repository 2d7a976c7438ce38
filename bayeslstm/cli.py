"""The ``bayeslstm`` command line: ``run`` one method, ``compare`` several on one stream,
``report`` to redraw a comparison's report.

``run`` and ``compare`` write ``OUT/summary.json``::

    {"config": {...}, "methods": {"<name>": {"final_tae": float, "tae": [...], "seconds": float, ...}}}

``compare`` also writes each method's ArviZ InferenceData (``OUT/<name>.nc``, the name made
file-safe: ``pf@centralized`` -> ``pf_centralized.nc``), the figures (``OUT/*.png``) and
``OUT/report.md``; ``report DIR`` rebuilds the last two from the first two.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
from typing import Any, Sequence

import numpy as np

from .errors import BayesLSTMError, OptionError
from .methods import resolve

# the paper's comparison: each distributed scheme with its local and centralized references
DEFAULT_COMPARE = (
    "dpf", "pf@local", "pf@centralized",
    "dekf", "ekf@local", "ekf@centralized",
    "dsgd", "sgd@local", "sgd@centralized",
)

CLI_PARTICLES = 300  # smaller than the library's 1000 so that `bayeslstm compare` takes minutes

# command-line flag -> kernel option
KERNEL_FLAGS = {
    "particles": "num_particles",
    "resampling": "resampling",
    "ess_threshold": "ess_threshold",
    "covariance": "covariance",
    "ekf_init": "init",
    "learning_rate": "learning_rate",
    "walk_steps": "walk_steps",
    "consensus_iters": "consensus_iters",
}


def _parse_value(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def _model_args(pairs: Sequence[str]) -> dict[str, Any]:
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise OptionError(f"--model-arg expects key=value; got {pair!r}")
        key, value = pair.split("=", 1)
        out[key.strip()] = _parse_value(value.strip())
    return out


def _common(parser: argparse.ArgumentParser) -> None:
    data = parser.add_argument_group("synthetic teacher stream")
    data.add_argument("--steps", type=int, default=1000, help="time steps (default 1000)")
    data.add_argument("--nodes", type=int, default=10, help="nodes K (default 10)")
    data.add_argument("--features", type=int, default=4, help="input width p (default 4)")
    data.add_argument("--min-len", type=int, default=2, help="shortest sequence (default 2)")
    data.add_argument("--max-len", type=int, default=16, help="longest sequence (default 16)")
    data.add_argument("--noise-var", type=float, default=0.01, help="label noise variance r of the teacher (default 0.01)")
    data.add_argument("--teacher-scale", type=float, default=1.0, help="std of the teacher's weights (default 1.0)")
    model = parser.add_argument_group("model")
    model.add_argument("--model", default="lstm", help="lstm | gru | rnn | linear-gaussian | path/file.py:name | module:name")
    model.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE",
                       help="option of the model factory, e.g. hidden=8 or q=1e-5 (repeatable)")
    kern = parser.add_argument_group("kernel options (given only to methods that take them)")
    kern.add_argument("--particles", type=int,
                      help=f"particles per filter (pf, dpf, dpf-consensus; default {CLI_PARTICLES})")
    kern.add_argument("--resampling", help="systematic | stratified | multinomial | residual (pf)")
    kern.add_argument("--ess-threshold", type=float, help="resample when ESS < this * N (pf; default 0.5)")
    kern.add_argument("--covariance", help="full | diagonal (ekf)")
    kern.add_argument("--ekf-init", help="sample | prior-mean (ekf)")
    kern.add_argument("--learning-rate", type=float, help="step size (sgd 0.05, adam 0.01 by default)")
    kern.add_argument("--walk-steps", type=int, help="random-walk steps S per time step (dpf; default 10)")
    kern.add_argument("--consensus-iters", type=int, help="consensus iterations L per time step (dpf-consensus; default 20)")
    net = parser.add_argument_group("network")
    net.add_argument("--graph", default="small-world",
                     help="ring | star | grid | complete | path | erdos-renyi[:p=P] | geometric[:radius=R] | "
                          "small-world[:k=K,p=P] | a graph file (.edgelist, .graphml, .gml, .adjlist); default small-world")
    net.add_argument("--rule", default="metropolis", help="combination weights: metropolis | uniform")
    net.add_argument("--allow-disconnected", action="store_true", help="accept a disconnected graph (independent components)")
    run = parser.add_argument_group("run")
    run.add_argument("--fusion", default=None, help="local | centralized | distributed (default: local for pf/ekf/sgd/adam)")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--out", default="runs/latest", help="output folder (default runs/latest)")
    run.add_argument("--x64", action="store_true", help="compute in float64 (default float32)")
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    saving = parser.add_argument_group("checkpoints (compare: one subfolder per method)")
    saving.add_argument("--checkpoint", metavar="DIR", help="save the complete run state to DIR as it runs")
    saving.add_argument("--checkpoint-every", type=int, metavar="S",
                        help="steps between checkpoints (default 256, or the checkpoint's own when resuming)")
    saving.add_argument("--resume", metavar="DIR",
                        help="continue the run checkpointed in DIR (same other arguments) and keep saving there")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bayeslstm", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run one method on the stream")
    run.add_argument("--method", default="dpf",
                     help="dpf | dpf-consensus | dekf | dsgd | dadam | pf | ekf | sgd | adam (default dpf)")
    _common(run)
    compare = sub.add_parser("compare", help="run several methods on the same stream")
    compare.add_argument("--methods", default=",".join(DEFAULT_COMPARE),
                         help="comma-separated; NAME or NAME@FUSION (default: " + ",".join(DEFAULT_COMPARE) + ")")
    _common(compare)
    compare.add_argument("--draws", type=int, default=200, help="posterior draws of Gaussian (EKF) states in the .nc files (default 200)")
    report = sub.add_parser("report", help="redraw report.md and the figures of a compare folder from its files")
    report.add_argument("dir", help="the folder `bayeslstm compare --out` wrote (summary.json and *.nc)")
    return parser


def _method_specs(args: argparse.Namespace) -> list[tuple[str, str, str]]:
    """(label, method, fusion) for every method asked for."""
    names = [args.method] if args.command == "run" else [m.strip() for m in args.methods.split(",") if m.strip()]
    if not names:
        raise OptionError("--methods is empty")
    specs = []
    for name in names:
        method, _, fusion = name.partition("@")
        method, fusion = resolve(method, fusion or args.fusion)
        label = method if fusion in ("distributed", "local") and "@" not in name else f"{method}@{fusion}"
        specs.append((label, method, fusion))
    return specs


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "x64", False):
        import jax

        jax.config.update("jax_enable_x64", True)
    try:
        return _main(args)
    except BayesLSTMError as exc:
        print(f"bayeslstm: error: {exc}", file=sys.stderr)
        return 2


def _main(args: argparse.Namespace) -> int:
    if args.command == "report":
        from .report import rebuild_report

        files = rebuild_report(args.dir)
        print(f"wrote {files.report} and {len(files.figures)} figures")
        return 0
    from .methods import build_method, method_options
    from .runner import prepare_model, prepare_network, run_method
    from .streams import teacher_stream

    if args.command == "compare" and args.draws < 1:
        raise OptionError(f"--draws must be a positive integer; got {args.draws}")
    model_options = _model_args(args.model_arg)
    flags = {opt: getattr(args, flag) for flag, opt in KERNEL_FLAGS.items() if getattr(args, flag) is not None}
    specs = _method_specs(args)  # names and modes first: typos fail before any work
    _checkpointing(args, specs[0][0])
    network = None
    if any(fusion == "distributed" for _, _, fusion in specs):
        network = prepare_network(args.graph, args.nodes, args.seed, args.rule, args.allow_disconnected)
    stream, _ = teacher_stream(
        steps=args.steps, nodes=args.nodes, features=args.features, min_len=args.min_len,
        max_len=args.max_len, noise_var=args.noise_var, seed=args.seed, teacher_scale=args.teacher_scale,
    )
    ssm = prepare_model(stream, args.model, model_options)
    built = []
    for label, method, fusion in specs:  # build everything first: bad options fail before any run
        accepted = method_options(method, fusion)
        options = {k: v for k, v in flags.items() if k in accepted}
        if args.command == "run" and len(options) < len(flags):
            extra = sorted(set(flags) - set(options))
            raise OptionError(f"method {method!r} does not take {extra}; it accepts {accepted}")
        if "num_particles" in accepted:
            options.setdefault("num_particles", CLI_PARTICLES)
        built.append((label, build_method(method, ssm, fusion, network, **options), method, fusion, options))

    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    config = {k: v for k, v in vars(args).items() if k not in ("command",)}
    config.update(command=args.command, parameters=ssm.dim, model_options=model_options,
                  edges=None if network is None else [list(e) for e in network.graph.edges])
    summary: dict[str, Any] = {"config": config, "methods": {}}
    idatas = {}
    for label, network_method, method, fusion, options in built:
        run_config = {
            "label": label, "method_name": method, "fusion": fusion, "options": options, "model": args.model,
            "model_options": model_options, "parameters": ssm.dim, "noise_var": args.noise_var,
            "stream": {k: getattr(args, k) for k in ("steps", "nodes", "features", "min_len", "max_len", "noise_var", "teacher_scale")},
            "graph": None if fusion != "distributed" else {"rule": network.rule, "edges": config["edges"]},
        }
        result = run_method(network_method, stream, seed=args.seed, progress=not args.no_progress, layout=ssm.layout,
                            config=run_config, **_checkpointing(args, label))
        tae = result.network_tae
        summary["methods"][label] = {
            "method": method,
            "fusion": fusion,
            "options": options,
            "final_tae": float(tae[-1]),
            "tae": [float(v) for v in tae],
            "seconds": result.seconds,
            "compile_seconds": result.compile_seconds,
            "compilations": result.compilations,
            "messages_per_step": float(result.diagnostics["messages"].mean()) if "messages" in result.diagnostics else 0.0,
            "floats_per_step": float(result.diagnostics["floats"].mean()) if "floats" in result.diagnostics else 0.0,
        }
        print(f"{label:>20s}  final TAE {tae[-1]:.5f}  ({result.seconds:.1f} s running, "
              f"{result.compile_seconds:.1f} s compiling)", flush=True)
        if args.command == "compare":
            from .reporting import to_inference_data

            idatas[label] = to_inference_data(result, num_draws=args.draws, seed=args.seed, label=label)
    if idatas:
        from .report import save_runs

        for label, name in save_runs(out, idatas).items():
            summary["methods"][label]["netcdf"] = name
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=_json_default))
    print(f"wrote {out / 'summary.json'}")
    if idatas:
        from .report import write_report

        files = write_report(out, idatas, config=config)
        print(f"wrote {files.report}, {len(files.figures)} figures and {len(idatas)} netCDF files")
    return 0


def _checkpointing(args: argparse.Namespace, label: str) -> dict[str, Any]:
    """run_method's checkpoint arguments for method ``label``: DIR for run, DIR/<label> for compare."""
    folder = args.resume or args.checkpoint
    if args.resume and args.checkpoint and pathlib.Path(args.resume) != pathlib.Path(args.checkpoint):
        raise OptionError(f"--resume {args.resume} continues saving to its own folder; leave out --checkpoint "
                          f"{args.checkpoint} or give the same folder")
    if folder is None:
        if args.checkpoint_every is not None:
            raise OptionError("--checkpoint-every needs --checkpoint DIR (or --resume DIR)")
        return {}
    resume = args.resume is not None
    if args.command == "compare":  # methods not reached before the interruption start afresh
        from .checkpoint import MANIFEST
        from .reporting import netcdf_name

        folder = pathlib.Path(folder) / netcdf_name(label)
        resume = resume and (folder / MANIFEST).exists()
    return {"checkpoint": folder, "checkpoint_every": args.checkpoint_every, "resume": resume}


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.generic,)):
        return value.item()
    return str(value)


if __name__ == "__main__":
    raise SystemExit(main())
