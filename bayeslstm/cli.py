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


from .errors import BayesLSTMError, OptionError
from .methods import DISTRIBUTED, METHODS
from .kernels.enkf import DEFAULT_MEMBERS
from .kernels.gaussian_sum import DEFAULT_COMPONENTS, DEFAULT_RESPAWN_BELOW
from .kernels.lofi import DEFAULT_RANK
from .kernels.particle_filter import DEFAULT_PARTICLES
from .engine.assembly import DEFAULT_GRAPH
from .engine.encoding import json_default

# the paper's comparison, each distributed scheme with its local and centralized references, and
# beside it the distributed Gaussian-sum filter, the best particle method beyond the paper
DEFAULT_COMPARE = (
    "dpf", "pf@local", "pf@centralized",
    "dgspf", "gspf@local", "gspf@centralized",
    "dekf", "ekf@local", "ekf@centralized",
    "dsgd", "sgd@local", "sgd@centralized",
)

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
    "flood_rounds": "flood_rounds",
    "move": "move",
    "discount": "discount",
    "members": "num_members",
    "ensemble_update": "update",
    "inflation": "inflation",
    "components": "num_components",
    "respawn_below": "respawn_below",
    "rank": "rank",
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
    real = parser.add_argument_group("real data (instead of the synthetic stream)")
    real.add_argument("--dataset", help="a built-in dataset: storms | garch | elecdemand | concrete (needs bayeslstm[data])")
    real.add_argument("--data", metavar="FILE", help="a CSV or Parquet table to stream (see docs/data.md)")
    real.add_argument("--target", help="the label column (--data)")
    real.add_argument("--group", help="one series per value of this column (--data)")
    real.add_argument("--order", help="sort by this time column first (--data)")
    real.add_argument("--window", help="input rows per pair: MIN:MAX, or all[:MAX] for everything so far in a group")
    real.add_argument("--horizon", type=int, help="the label is this many rows after the window's last (default 1)")
    real.add_argument("--assign", help="pairs to nodes: round-robin | group | block")
    real.add_argument("--nan", help="rows with NaN: fail (default) | drop")
    real.add_argument("--max-steps", type=int, help="use at most this many steps of the data")
    data = parser.add_argument_group("synthetic teacher stream")
    data.add_argument("--steps", type=int, default=1000, help="time steps (default 1000)")
    data.add_argument("--nodes", type=int, default=None,
                      help="nodes K (default 10; a built-in dataset's own default with --dataset)")
    data.add_argument("--features", default=None,
                      help="input width p of the synthetic stream (default 4), or with --data the feature columns, comma-separated")
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
                      help=f"particles per filter (pf, dpf, dpf-consensus; default {DEFAULT_PARTICLES})")
    kern.add_argument("--resampling", help="systematic | stratified | multinomial | residual (pf, dpf, dpf-consensus)")
    kern.add_argument("--ess-threshold", type=float, help="resample when ESS < this * N (pf, dpf-consensus; default 0.5)")
    kern.add_argument("--move", help="none | liu-west: rejuvenate the particles after resampling (pf, dpf, dpf-consensus; "
                                     "default none)")
    kern.add_argument("--discount", type=float, help="Liu-West discount delta in (0, 1) (with --move liu-west; default 0.98)")
    kern.add_argument("--covariance", help="full | diagonal (ekf, dekf, gspf, dgspf)")
    kern.add_argument("--rank", type=int, help=f"rank of the low-rank precision (lofi, dlofi; default {DEFAULT_RANK})")
    kern.add_argument("--ekf-init", help="sample | prior-mean (ekf, dekf, gspf, dgspf)")
    kern.add_argument("--learning-rate", type=float, help="step size (sgd 0.05, adam 0.01 by default)")
    kern.add_argument("--walk-steps", type=int, help="random-walk steps S per time step (dpf; default 10)")
    kern.add_argument("--consensus-iters", type=int,
                      help="consensus iterations L per time step (dpf-consensus, dgspf, denkf-consensus; default 20)")
    kern.add_argument("--flood-rounds", type=int,
                      help="flooding rounds that make consensus exact (dpf-consensus, dgspf, denkf-consensus; "
                           "default: the graph's diameter)")
    kern.add_argument("--members", type=int, help=f"ensemble members (enkf, denkf, denkf-consensus; default {DEFAULT_MEMBERS})")
    kern.add_argument("--ensemble-update", help="sqrt (ETKF) | stochastic (perturbed observations) (enkf, denkf, "
                                                "denkf-consensus; default sqrt)")
    kern.add_argument("--inflation", type=float, help="multiplies the ensemble's spread each step, >= 1 (enkf, denkf, "
                                                      "denkf-consensus; default 1)")
    kern.add_argument("--components", type=int,
                      help=f"Gaussian components, each an EKF (gspf, dgspf; default {DEFAULT_COMPONENTS})")
    kern.add_argument("--respawn-below", type=float,
                      help=f"re-spawn components whose weight falls below this (gspf, dgspf; default {DEFAULT_RESPAWN_BELOW:g}, "
                           "0 turns it off)")
    net = parser.add_argument_group("network")
    net.add_argument("--graph", default=None,
                     help="ring | star | grid | complete | path | erdos-renyi[:p=P] | geometric[:radius=R] | "
                          f"small-world[:k=K,p=P] | a graph file (.edgelist, .graphml, .gml, .adjlist); default {DEFAULT_GRAPH}")
    net.add_argument("--rule", default="metropolis", help="combination weights: metropolis | uniform")
    net.add_argument("--allow-disconnected", action="store_true", help="accept a disconnected graph (independent components)")
    run = parser.add_argument_group("run")
    run.add_argument("--fusion", default=None, help="local | centralized | distributed (default: local for pf/ekf/sgd/adam)")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--out", default="runs/latest", help="output folder (default runs/latest)")
    run.add_argument("--x64", action="store_true", help="compute in float64 (default float32)")
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    run.add_argument("--record", default="full",
                     help="per-step rows kept: full | summary (about 1000) | N (every N-th); TAE stays exact")
    faults = parser.add_argument_group("faults (see docs/faults.md)")
    faults.add_argument("--link-failure", type=float, default=0.0, help="probability that each edge is down at each step")
    faults.add_argument("--node-dropout", type=float, default=0.0, help="probability that each node is away at each step")
    scale = parser.add_argument_group("devices and hosts (see docs/sharding.md)")
    scale.add_argument("--devices", type=int, help="shard the nodes over this many devices (on a CPU: virtual devices)")
    scale.add_argument("--exchange", default="auto", help="neighbour exchange when sharded: auto | all-gather | halo")
    scale.add_argument("--coordinator", metavar="HOST:PORT", help="multi-host: the coordinator's address (jax.distributed)")
    scale.add_argument("--num-processes", type=int, help="multi-host: number of processes")
    scale.add_argument("--process-id", type=int, help="multi-host: this process's rank (0 writes the outputs)")
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
    run.add_argument("--method", default="dpf", help=" | ".join(METHODS) + " (default dpf)")
    _common(run)
    compare = sub.add_parser("compare", help="run several methods on the same stream")
    compare.add_argument("--methods", default=",".join(DEFAULT_COMPARE),
                         help="comma-separated; NAME or NAME@FUSION (default: " + ",".join(DEFAULT_COMPARE) + ")")
    _common(compare)
    compare.add_argument("--draws", type=int, default=200, help="posterior draws of Gaussian (EKF) states in the .nc files (default 200)")
    report = sub.add_parser("report", help="redraw report.md and the figures of a compare folder from its files")
    report.add_argument("dir", help="the folder `bayeslstm compare --out` wrote (summary.json and *.nc)")
    return parser


def _start_jax(args: argparse.Namespace) -> None:
    """Settings JAX reads once, at start: precision, virtual CPU devices, the multi-host cluster."""
    import jax

    if getattr(args, "x64", False):
        jax.config.update("jax_enable_x64", True)
    devices = getattr(args, "devices", None)
    if devices is not None and devices < 1:
        raise OptionError(f"--devices must be a positive integer; got {devices}")
    cluster = [getattr(args, k, None) for k in ("coordinator", "num_processes", "process_id")]
    if any(v is not None for v in cluster):
        if any(v is None for v in cluster):
            raise OptionError("multi-host runs need all of --coordinator HOST:PORT, --num-processes N and --process-id I")
        coordinator, processes, rank = cluster
        if processes < 1 or not 0 <= rank < processes:
            raise OptionError(f"need --num-processes >= 1 and 0 <= --process-id < it; got {processes}, {rank}")
        if devices is not None and devices % processes == 0 and devices // processes > 1:
            _cpu_devices(devices // processes)
        from .network.sharding import initialize

        initialize(coordinator, processes, rank)
    elif devices is not None and devices > 1:
        _cpu_devices(devices)


def _cpu_devices(count: int) -> None:
    """Ask for ``count`` virtual CPU devices (GPUs are used as they are). Once JAX has started
    (the CLI called from Python) the devices are what they are: the mesh then checks the count."""
    import jax

    try:
        jax.config.update("jax_num_cpu_devices", count)
    except RuntimeError:
        pass


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        _start_jax(args)
        return _main(args)
    except BayesLSTMError as exc:
        print(f"bayeslstm: error: {exc}", file=sys.stderr)
        return 2


def _main(args: argparse.Namespace) -> int:
    if args.command == "report":
        from .report.folder import rebuild_report

        files = rebuild_report(args.dir)
        print(f"wrote {files.report} and {len(files.figures)} figures")
        return 0
    from .methods import method_options, method_specs
    from .engine.assembly import assemble
    from .engine.metrics import Units
    from .engine.runner import run_method

    if args.command == "compare" and args.draws < 1:
        raise OptionError(f"--draws must be a positive integer; got {args.draws}")
    model_options = _model_args(args.model_arg)
    flags = {opt: getattr(args, flag) for flag, opt in KERNEL_FLAGS.items() if getattr(args, flag) is not None}
    names = [args.method] if args.command == "run" else args.methods
    specs = method_specs(names, args.fusion)  # names and modes first: typos fail before any work
    if args.command == "run":
        _label, method, fusion = specs[0]
        accepted = method_options(method, fusion)
        extra = sorted(set(flags) - set(accepted))
        if extra:
            raise OptionError(f"method {method!r} does not take {extra}; it accepts {accepted}")
    extras = _run_extras(args, [fusion for _, _, fusion in specs])
    _checkpointing(args, specs[0][0])
    stream, table, stream_config = _stream(args)
    if table is not None and args.command == "compare":  # on real data the naive forecasts are the yardstick
        present = {method for _, method, _ in method_specs(names, args.fusion)}
        names = list(names.split(",") if isinstance(names, str) else names)
        names += [b for b in ("baseline-last", "baseline-mean") if b not in present]
    noise_var = None if table is not None else args.noise_var
    built = assemble(stream if table is None else table, names, fusion=args.fusion, model=args.model,
                     model_options=model_options, graph=args.graph, rule=args.rule,
                     allow_disconnected=args.allow_disconnected, seed=args.seed, strict=False,
                     describe={"noise_var": noise_var, "stream": stream_config}, **flags, **extras)
    writer = args.process_id in (None, 0)

    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    network = next((a.network for a in built if a.network is not None), None)
    config = {k: v for k, v in vars(args).items() if k not in ("command",)}
    config.update(command=args.command, parameters=built[0].ssm.dim, model_options=model_options, stream=stream_config,
                  graph=args.graph or DEFAULT_GRAPH,
                  edges=None if network is None else [list(e) for e in network.graph.edges])
    if table is not None:  # real data: no known noise floor, and the synthetic flags do not apply
        config.update(noise_var=None, nodes=stream.nodes, steps=stream.steps)
        for key in ("min_len", "max_len", "teacher_scale", "features"):
            config.pop(key, None)
    summary: dict[str, Any] = {"config": config, "methods": {}}
    idatas = {}
    units = None if table is None else Units(table.label_offset, table.label_scale)
    for assembled in built:
        label = assembled.label
        result = run_method(assembled.method, stream, seed=args.seed, progress=not args.no_progress and writer,
                            layout=assembled.ssm.layout, config=assembled.config, record=_record(args.record),
                            units=units, **_checkpointing(args, label))
        tae = result.network_tae
        summary["methods"][label] = {
            "method": assembled.name,
            "fusion": assembled.fusion,
            "options": assembled.options,
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
            from .report.inference_data import to_inference_data

            idatas[label] = to_inference_data(result, num_draws=args.draws, seed=args.seed, label=label)
    if not writer:
        print(f"process {args.process_id}: done; process 0 writes the outputs")
        return 0
    if idatas:
        from .report.folder import save_runs

        for label, name in save_runs(out, idatas).items():
            summary["methods"][label]["netcdf"] = name
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=json_default))
    print(f"wrote {out / 'summary.json'}")
    if idatas:
        from .report.folder import write_report

        files = write_report(out, idatas, config=config)
        print(f"wrote {files.report}, {len(files.figures)} figures and {len(idatas)} netCDF files")
    return 0


DATA_FLAGS = ("target", "group", "order", "window", "horizon", "assign", "nan")


def _stream(args: argparse.Namespace):
    """(stream, table stream or None, description) from --dataset, --data or the synthetic flags."""
    from .data.teacher import teacher_stream

    given = {k: getattr(args, k) for k in DATA_FLAGS if getattr(args, k) is not None}
    if args.dataset and args.data:
        raise OptionError("give either --dataset NAME or --data FILE, not both")
    if args.dataset or args.data:
        if args.dataset:
            from .data.datasets import load_dataset

            if args.features is not None:
                given["features"] = tuple(c.strip() for c in args.features.split(",") if c.strip())
            table = load_dataset(args.dataset, nodes=args.nodes, max_steps=args.max_steps, seed=args.seed, **given)
        else:
            from .data.tables import table_stream

            if "target" not in given:
                raise OptionError("--data needs --target COLUMN (the label)")
            features = None if args.features is None else [c.strip() for c in args.features.split(",") if c.strip()]
            table = table_stream(args.data, features=features, nodes=args.nodes or 10, max_steps=args.max_steps,
                                 seed=args.seed, **given)
        description = {"dataset": args.dataset, "data": args.data, **{k: str(v) for k, v in given.items()},
                       "shape": list(table.stream.X.shape), "target": table.target, "features": list(table.features),
                       "info": {k: v for k, v in table.info.items() if isinstance(v, (int, float, str))}}
        return table.stream, table, description
    if given or args.max_steps is not None:
        raise OptionError(f"{sorted(given) or ['max_steps']} describe a table: add --data FILE or --dataset NAME")
    try:
        features = 4 if args.features is None else int(args.features)
    except ValueError:
        raise OptionError(f"--features of the synthetic stream is a width (an integer); got {args.features!r} "
                          "(column names go with --data FILE)") from None
    nodes = 10 if args.nodes is None else args.nodes
    stream, _ = teacher_stream(steps=args.steps, nodes=nodes, features=features, min_len=args.min_len,
                               max_len=args.max_len, noise_var=args.noise_var, seed=args.seed,
                               teacher_scale=args.teacher_scale)
    description = {"steps": args.steps, "nodes": nodes, "features": features, "min_len": args.min_len,
                   "max_len": args.max_len, "noise_var": args.noise_var, "teacher_scale": args.teacher_scale}
    return stream, None, description


def _run_extras(args: argparse.Namespace, fusions: list[str]) -> dict[str, Any]:
    """Fault and sharding options; the assembly gives each method those it can take (link
    failures need a graph, a centralized filter has no node axis to shard). ``run`` refuses
    them for a method that cannot take them."""
    if args.command == "run" and args.link_failure and fusions[0] != "distributed":
        raise OptionError(f"--link-failure needs a distributed method ({', '.join(DISTRIBUTED)})")
    if args.command == "run" and args.devices is not None and fusions[0] == "centralized":
        raise OptionError("a centralized method is one filter with no node axis: run it without --devices")
    extras: dict[str, Any] = {}
    if args.link_failure:
        extras["link_failure"] = args.link_failure
    if args.node_dropout:
        extras["node_dropout"] = args.node_dropout
    if args.devices is not None:
        extras.update(mesh=args.devices, exchange=args.exchange)
    return extras


def _record(text: str):
    if text in ("full", "summary"):
        return text
    try:
        return int(text)
    except ValueError:
        raise OptionError(f"--record must be full, summary or a positive integer; got {text!r}") from None


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
        from .report.inference_data import netcdf_name
        from .engine.checkpoint import MANIFEST

        folder = pathlib.Path(folder) / netcdf_name(label)
        resume = resume and (folder / MANIFEST).exists()
    return {"checkpoint": folder, "checkpoint_every": args.checkpoint_every, "resume": resume}


if __name__ == "__main__":
    raise SystemExit(main())
