"""The ``bayeslstm`` command line: ``run`` one method, ``compare`` several on one stream,
``report`` to redraw the report of an output folder.

``run`` and ``compare`` write the same output folder ``OUT`` (``--out``, default ``runs/latest``):

* ``OUT/summary.json``::

    {"config": {...}, "methods": {"<label>": {"status": "ok", "final_tae": float, "tae": [...],
                                              "seconds": float, "netcdf": "<label>.nc", ...}}}

  a method that failed while running has ``"status": "failed"`` and its ``"error"``;
* ``OUT/<label>.nc``: each method's ArviZ InferenceData (the label made file-safe:
  ``pf@centralized`` -> ``pf_centralized.nc``); the baselines learn no weights, so their
  numbers are in ``summary.json`` only;
* ``OUT/report.md`` and its figures ``OUT/*.png``.

The outputs are written once the runs are over, into a new folder inside ``OUT`` that then
replaces the previous outputs (files of other origins are left alone), so a folder never
mixes two runs; nothing is written when the arguments are refused. ``report DIR`` rebuilds
the report and the figures from ``summary.json`` and the netCDF files.

Exit status: 0 done; 1 a method failed while running (the others' outputs are written);
2 bad arguments or data (nothing written); 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import pathlib
import re
import sys
import traceback
from typing import Any, Sequence

from .errors import BayesLSTMError, CheckpointError, NumericalError, OptionError
from .methods import DISTRIBUTED, FUSIONS, KERNELS, METHODS
from .kernels.ekf import INITS as EKF_INITS
from .kernels.enkf import DEFAULT_MEMBERS, UPDATES
from .kernels.gaussian_sum import DEFAULT_COMPONENTS, DEFAULT_RESPAWN_BELOW, MIXTURE_COVARIANCES
from .kernels.lofi import DEFAULT_RANK
from .kernels.particle_filter import DEFAULT_PARTICLES, MOVES
from .kernels.resampling import SCHEMES
from .data.datasets import DATASETS
from .data.tables import ASSIGNS, NAN_RULES
from .network.graph import RULES
from .network.agreement import CONSENSUS
from .network.sharding import EXCHANGES, agree, joined, leave
from .engine.assembly import DEFAULT_GRAPH
from .engine.encoding import json_default
from .version import __version__

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
    "consensus": "consensus",
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
# the library's parameter names -> the flags that set them, for messages
PARAMETER_FLAGS = {
    **{option: "--" + flag.replace("_", "-") for flag, option in KERNEL_FLAGS.items()},
    "link_failure": "--link-failure", "node_dropout": "--node-dropout", "partition": "--partition",
    "mesh": "--devices", "exchange": "--exchange", "num_draws": "--draws", "predictive_draws": "--predictive-draws", "checkpoint_every": "--checkpoint-every",
    "max_steps": "--max-steps", "noise_var": "--noise-var", "teacher_scale": "--teacher-scale",
    "min_len": "--min-len", "max_len": "--max-len", "record": "--record", "steps": "--steps", "nodes": "--nodes",
    "features": "--features", "horizon": "--horizon", "window": "--window", "nan": "--nan", "assign": "--assign",
    "target": "--target", "group": "--group", "order": "--order", "fusion": "--fusion", "rule": "--rule",
    "graph": "--graph", "seed": "--seed", "unit": "--unit", "model_options": "--model-arg",
}

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
COMMAND_FILE = "command.json"  # beside a checkpoint: the arguments of the run it holds
NOT_RESTORED = ("command", "resume", "checkpoint", "checkpoint_every", "coordinator", "num_processes", "process_id")
PROGRESS_CHUNK = 32  # steps per compiled chunk: the progress bar and the running TAE move this often
DEFAULT_CHECKPOINT_EVERY = 256
BASELINES = tuple(name for name in KERNELS if name.startswith("baseline-"))

DESCRIPTION = """\
Online Bayesian training of LSTM regressors across a network of nodes: particle filters,
EKFs, ensemble and Gaussian-sum filters and gradient baselines, each alone on every node,
centralized, or fused over a graph; on a synthetic teacher stream or on a real table.

commands:
  run       run one method and write its outputs
  compare   run several methods on the same stream and rank them
  report    redraw report.md and the figures of an output folder

examples:
  bayeslstm run --method dpf --graph ring --nodes 8 --out runs/dpf
  bayeslstm compare --methods dpf,pf@local,pf@centralized --out runs/cmp
  bayeslstm compare --dataset concrete --methods ekf,dekf      # needs bayeslstm[data]
  bayeslstm run --method dekf --steps 100000 --checkpoint ckpt
  bayeslstm run --resume ckpt                                   # continue it after an interruption
  bayeslstm report runs/cmp
"""
EPILOG = """\
outputs: OUT/summary.json, OUT/report.md with its figures, and one ArviZ netCDF file per
method (OUT/<label>.nc); they replace the previous outputs in OUT.

exit status: 0 done; 1 a method failed while running (the other methods' outputs are
written, the failure is marked in summary.json and report.md); 2 bad arguments or data
(nothing is written); 130 interrupted.
"""


# --------------------------------------------------------------------------- values


def _partition(text: str) -> tuple[int, int, list[int]]:
    """An argparse type: START:STOP:NODES, NODES a comma list of ids and ranges (0-4,7)."""
    try:
        start, stop, spec = text.split(":")
        nodes = []
        for part in spec.split(","):
            low, dash, high = part.partition("-")
            nodes.extend(range(int(low), int(high) + 1) if dash else [int(low)])
        return int(start), int(stop), nodes
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected START:STOP:NODES such as 100:200:0-4 or 100:200:0,2,5; got {text!r}"
                                         ) from None


_partition.__name__ = "START:STOP:NODES"


def _count(low: int):
    """An argparse type: a whole number >= low."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number; got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be a positive integer; got {value}" if low == 1 else
                                             f"must be an integer >= {low}; got {value}")
        return value

    parse.__name__ = "positive integer" if low == 1 else f"integer >= {low}"
    return parse


def _parse_value(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


TYPE_NAMES = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}


def _expected_type(parameter: inspect.Parameter) -> type | None:
    """int, float, bool or str from a factory parameter's annotation (or its default), else None."""
    note = parameter.annotation
    if isinstance(note, str):
        kinds = [part.strip() for part in note.split("|") if part.strip() != "None"]
        note = {"int": int, "float": float, "bool": bool, "str": str}.get(kinds[0]) if len(kinds) == 1 else None
    if note in TYPE_NAMES:
        return note
    default = parameter.default
    return type(default) if type(default) in TYPE_NAMES else None


def _model_args(pairs: Sequence[str], model: str | None) -> dict[str, Any]:
    """``--model-arg KEY=VALUE`` pairs as the model factory's options, each checked against the
    factory's parameters (name and type) so that a mistake names the flag and the option."""
    raw: dict[str, str] = {}
    for pair in pairs:
        if "=" not in pair:
            raise OptionError(f"--model-arg expects key=value; got {pair!r}")
        key, value = pair.split("=", 1)
        raw[key.strip()] = value.strip()
    if not raw:
        return {}
    from .model.declarations import load_declaration
    from .model.statespace import is_declaration

    factory = load_declaration("lstm" if model is None else model)
    name = model or "lstm"
    if is_declaration(factory):
        raise OptionError(f"--model-arg {', '.join(raw)}: the model {name} is a declaration, not a factory, "
                          "so it takes no options")
    parameters = {k: p for k, p in inspect.signature(factory).parameters.items()
                  if p.default is not inspect.Parameter.empty and k != "features"}
    out: dict[str, Any] = {}
    for key, text in raw.items():
        if key not in parameters:
            raise OptionError(f"--model-arg {key}={text}: the model {name} has no option {key!r}; it takes "
                              f"{', '.join(sorted(parameters)) or 'none'}")
        value, kind = _parse_value(text), _expected_type(parameters[key])
        default = parameters[key].default
        if kind is str:
            value = text
        elif kind is bool and not isinstance(value, bool) or kind is int and (isinstance(value, bool) or not isinstance(value, int)) \
                or kind is float and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise OptionError(f"--model-arg {key}={text}: {key} of the model {name} is {TYPE_NAMES[kind]} "
                              f"(default {default!r}); got {text!r}")
        elif kind is float:
            value = float(value)
        out[key] = value
    return out


def flag_names(message: str) -> str:
    """A library message with its parameter names as the command line's flags:
    ``num_particles`` -> ``--particles``, ``nan='drop'`` -> ``--nan drop``."""
    names = "|".join(sorted(map(re.escape, PARAMETER_FLAGS), key=len, reverse=True))
    message = re.sub(r"(?<![\w-])[a-z_]+=(?:'[^']*'|[^\s(]+) \((--[^)]*)\)", r"\1", message)  # x=1 (--x 1): the flag
    message = re.sub(rf"(?<![\w-])({names})=(?:'([^']*)'|\"([^\"]*)\"|([^\s,;)\]]+))",
                     lambda m: f"{PARAMETER_FLAGS[m[1]]} {next(g for g in m.groups()[1:] if g is not None)}", message)
    message = re.sub(rf"(?:^|(?<=: )|(?<=; ))({names})(?= must\b)", lambda m: PARAMETER_FLAGS[m[1]], message)
    underscored = "|".join(sorted((re.escape(k) for k in PARAMETER_FLAGS if "_" in k), key=len, reverse=True))
    message = re.sub(rf"(?<![\w.-])({underscored})(?![\w-])", lambda m: PARAMETER_FLAGS[m[1]], message)
    message = re.sub(r"'(--[\w-]+)'", r"\1", message)
    return re.sub(r"\[((?:--[\w-]+(?:, )?)+)\]", r"\1", message)


def _kernel_flags(options) -> str:
    """Kernel option names as their flags (options without a flag are left out)."""
    flags = {option: flag for flag, option in KERNEL_FLAGS.items()}
    return ", ".join("--" + flags[o].replace("_", "-") for o in options if o in flags) or "none of the kernel flags"


# --------------------------------------------------------------------------- the parser


def _common(parser: argparse.ArgumentParser) -> None:
    real = parser.add_argument_group("real data (instead of the synthetic stream; see docs/data.md)")
    real.add_argument("--dataset", choices=sorted(DATASETS), metavar="NAME",
                      help=f"a built-in dataset: {' | '.join(DATASETS)} (needs bayeslstm[data])")
    real.add_argument("--data", metavar="FILE", help="a CSV, TSV or Parquet table to stream")
    real.add_argument("--target", metavar="COLUMN", help="the label column (--data)")
    real.add_argument("--unit", help="the target's unit, for the report's axes and tables (e.g. MPa; a built-in "
                                     "dataset knows its own)")
    real.add_argument("--group", metavar="COLUMN", help="one series per value of this column (--data)")
    real.add_argument("--order", metavar="COLUMN", help="sort by this time column first (--data)")
    real.add_argument("--window", help="input rows per pair: MIN:MAX, or all[:MAX] for everything so far in a group")
    real.add_argument("--horizon", type=_count(0), help="the label is this many rows after the window's last (default 1)")
    real.add_argument("--assign", choices=ASSIGNS, help="pairs to nodes (default round-robin)")
    real.add_argument("--nan", choices=NAN_RULES, help="rows with NaN: fail (default) or drop them")
    real.add_argument("--max-steps", type=_count(1), metavar="N", help="use at most this many steps of the data")
    data = parser.add_argument_group("synthetic teacher stream")
    data.add_argument("--steps", type=_count(1), default=1000, help="time steps (default 1000)")
    data.add_argument("--nodes", type=_count(1), default=None,
                      help="nodes K (default 10; a built-in dataset's own default with --dataset)")
    data.add_argument("--features", default=None,
                      help="input width p of the synthetic stream (default 4), or with --data the feature columns, "
                           "comma-separated")
    data.add_argument("--min-len", type=_count(1), default=2, help="shortest sequence (default 2)")
    data.add_argument("--max-len", type=_count(1), default=16, help="longest sequence (default 16)")
    data.add_argument("--noise-var", type=float, default=0.01, help="label noise variance r of the teacher (default 0.01)")
    data.add_argument("--teacher-scale", type=float, default=1.0, help="std of the teacher's weights (default 1.0)")
    model = parser.add_argument_group("model (see docs/models.md)")
    model.add_argument("--model", default="lstm",
                       help="lstm | gru | rnn | linear-gaussian | path/file.py:name | package.module:name (default lstm)")
    model.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE",
                       help="option of the model factory, e.g. hidden=8 or q=1e-5 (repeatable)")
    kern = parser.add_argument_group("kernel options (given only to methods that take them)")
    kern.add_argument("--particles", type=_count(1),
                      help=f"particles per filter (pf, dpf, dpf-consensus; default {DEFAULT_PARTICLES})")
    kern.add_argument("--resampling", choices=tuple(SCHEMES), help="resampling scheme (pf, dpf, dpf-consensus; default systematic)")
    kern.add_argument("--ess-threshold", type=float, help="resample when ESS < this * N (pf, dpf-consensus; default 0.5)")
    kern.add_argument("--move", choices=MOVES, help="rejuvenate the particles after resampling (pf, dpf, dpf-consensus; "
                                                    "default: none)")
    kern.add_argument("--discount", type=float, help="Liu-West discount delta in (0, 1) (with --move liu-west; default 0.98)")
    kern.add_argument("--covariance", choices=MIXTURE_COVARIANCES,
                      help="the EKF's covariance (ekf, dekf: full or diagonal), or the Gaussian-sum filters' "
                           "components (gspf, dgspf: also low-rank, LoFi components of --rank); default full")
    kern.add_argument("--rank", type=int, help=f"rank of the low-rank precision (lofi, dlofi, and gspf, dgspf with "
                                               f"--covariance low-rank; default {DEFAULT_RANK})")
    kern.add_argument("--ekf-init", choices=EKF_INITS, help="the EKF's starting mean (ekf, dekf, gspf, dgspf, lofi, dlofi)")
    kern.add_argument("--learning-rate", type=float, help="step size (sgd 0.05, adam 0.01 by default)")
    kern.add_argument("--walk-steps", type=_count(1), help="random-walk steps S per time step (dpf; default 10)")
    kern.add_argument("--consensus", choices=CONSENSUS,
                      help="how each live group agrees on its sums: exact (over a spanning tree of the group) or average "
                           "(the paper's --consensus-iters rounds of average consensus) (dpf-consensus, dgspf, "
                           "denkf-consensus; default exact)")
    kern.add_argument("--consensus-iters", type=_count(0),
                      help="average-consensus rounds L per time step with --consensus average (default 20)")
    kern.add_argument("--flood-rounds", type=_count(0),
                      help="flooding rounds that find each live group and its leader (dpf-consensus, dgspf, "
                           "denkf-consensus; default: until nothing changes)")
    kern.add_argument("--members", type=_count(2), help=f"ensemble members (enkf, denkf, denkf-consensus; default {DEFAULT_MEMBERS})")
    kern.add_argument("--ensemble-update", choices=UPDATES, help="sqrt (ETKF) or stochastic (perturbed observations) "
                                                                 "(enkf, denkf, denkf-consensus; default sqrt)")
    kern.add_argument("--inflation", type=float, help="multiplies the ensemble's spread each step, >= 1 (enkf, denkf, "
                                                      "denkf-consensus; default 1)")
    kern.add_argument("--components", type=_count(1),
                      help=f"Gaussian components, each an EKF (gspf, dgspf; default {DEFAULT_COMPONENTS})")
    kern.add_argument("--respawn-below", type=float,
                      help=f"re-spawn components whose weight falls below this (gspf, dgspf; default {DEFAULT_RESPAWN_BELOW:g}, "
                           "0 turns it off)")
    net = parser.add_argument_group("network (distributed methods only)")
    net.add_argument("--graph", default=None,
                     help="ring | star | grid | complete | path | erdos-renyi[:p=P] | geometric[:radius=R] | "
                          f"small-world[:k=K,p=P] | a graph file (.edgelist, .graphml, .gml, .adjlist); default {DEFAULT_GRAPH}")
    net.add_argument("--rule", choices=RULES, default=None, help="combination weights (default metropolis)")
    net.add_argument("--allow-disconnected", action="store_true", help="accept a disconnected graph (independent components)")
    run = parser.add_argument_group("run")
    run.add_argument("--fusion", choices=FUSIONS, default=None,
                     help="cooperation mode of pf, ekf, enkf, gspf, lofi, sgd, adam and the baselines (default local)")
    run.add_argument("--seed", type=int, default=0,
                     help="seed of the synthetic stream, the filters' random steps and the outputs' draws (default 0)")
    run.add_argument("--x64", action="store_true", help="compute in float64 (default float32)")
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    run.add_argument("--record", default="full",
                     help="per-step rows kept: full | summary (about 1000) | N (every N-th); TAE stays exact")
    outputs = parser.add_argument_group("outputs")
    outputs.add_argument("--out", default="runs/latest", metavar="DIR",
                         help="output folder, created if missing; its previous outputs are replaced (default runs/latest)")
    outputs.add_argument("--draws", type=_count(1), default=200,
                         help="posterior draws of Gaussian states (EKF, Gaussian sums) in the .nc files (default 200)")
    outputs.add_argument("--predictive-draws", type=_count(1), default=100,
                         help="draws of each step's one-step predictive distribution in the .nc files (default 100)")
    faults = parser.add_argument_group("faults (distributed methods; see docs/faults.md)")
    faults.add_argument("--link-failure", type=float, default=0.0, help="probability that each edge is down at each step")
    faults.add_argument("--node-dropout", type=float, default=0.0, help="probability that each node is away at each step")
    faults.add_argument("--partition", type=_partition, action="append", metavar="START:STOP:NODES",
                        help="cut NODES (e.g. 0-4 or 0,2,5) off the other nodes at steps START to STOP-1; repeatable")
    scale = parser.add_argument_group("devices and hosts (see docs/sharding.md)")
    scale.add_argument("--devices", type=_count(1), help="shard the nodes over this many devices (on a CPU: virtual devices)")
    scale.add_argument("--exchange", choices=EXCHANGES, default="auto", help="neighbour exchange when sharded (default auto)")
    scale.add_argument("--coordinator", metavar="HOST:PORT", help="multi-host: the coordinator's address (jax.distributed)")
    scale.add_argument("--num-processes", type=_count(1), help="multi-host: number of processes")
    scale.add_argument("--process-id", type=_count(0), help="multi-host: this process's rank (0 writes the outputs)")
    saving = parser.add_argument_group("checkpoints (compare: one subfolder per method)")
    saving.add_argument("--checkpoint", metavar="DIR", help="save the complete run state to DIR as it runs")
    saving.add_argument("--checkpoint-every", type=_count(1), metavar="S",
                        help=f"steps between checkpoints (default {DEFAULT_CHECKPOINT_EVERY}, or the checkpoint's own "
                             "when resuming)")
    saving.add_argument("--resume", metavar="DIR",
                        help="continue the run checkpointed in DIR with its own arguments (those given must match) "
                             "and keep saving there")


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions as written; option help wrapped at spaces only, so that names such as
    ``baseline-last`` are never cut at their hyphen."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        import textwrap

        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)


def build_parser() -> argparse.ArgumentParser:
    raw = _HelpFormatter
    parser = argparse.ArgumentParser(prog="bayeslstm", description=DESCRIPTION, epilog=EPILOG, formatter_class=raw)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{run,compare,report}")
    run = sub.add_parser("run", help="run one method and write its outputs", formatter_class=raw,
                         usage="%(prog)s [--method NAME] [options]   (--help lists them)",
                         description="Run one method on the stream; write OUT/summary.json, OUT/<label>.nc, "
                                     "OUT/report.md and its figures.", epilog=EPILOG)
    run.add_argument("--method", default="dpf", choices=METHODS, metavar="NAME",
                     help=" | ".join(METHODS) + " (default dpf; the baselines predict the last label or the running "
                          "mean, for scale)")
    _common(run)
    compare = sub.add_parser("compare", help="run several methods on the same stream and rank them", formatter_class=raw,
                             usage="%(prog)s [--methods NAME[@FUSION],...] [options]   (--help lists them)",
                             description="Run several methods on the same stream; write OUT/summary.json, one "
                                         "OUT/<label>.nc per method, and OUT/report.md ranking them, with figures.",
                             epilog=EPILOG)
    compare.add_argument("--methods", default=",".join(DEFAULT_COMPARE), metavar="NAME[@FUSION],...",
                         help=f"comma-separated; NAME: {' | '.join(METHODS)}; FUSION: {' | '.join(FUSIONS)} "
                              f"(default: {','.join(DEFAULT_COMPARE)}; on real data the baselines are added)")
    _common(compare)
    report = sub.add_parser("report", help="redraw report.md and the figures of an output folder", formatter_class=raw,
                            description="Redraw OUT/report.md and its figures from OUT/summary.json and the netCDF "
                                        "files, without running anything.")
    report.add_argument("dir", help="the folder `bayeslstm run` or `bayeslstm compare` wrote (--out)")
    return parser


def _parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found += _parsers(sub)
    return found


def given_arguments(argv: Sequence[str]) -> set[str]:
    """The destinations of the arguments given on the command line (not left to their defaults)."""
    parser = build_parser()
    for each in _parsers(parser):
        for action in each._actions:
            if action.dest not in ("help", "version", "command"):
                action.default = argparse.SUPPRESS
    return set(vars(parser.parse_args(list(argv)))) - {"command"}


# --------------------------------------------------------------------------- main


class Where:
    """Where a command is, for the message on Ctrl-C."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args, self.label, self.folder = args, None, None
        self.steps: int | None = None

    def message(self) -> str:
        args = self.args
        head = "bayeslstm: interrupted" + (f" while running {self.label}" if self.label else "")
        if args.command == "report" or self.label is None:
            return f"{head}; nothing was written."
        folder = getattr(args, "resume", None) or getattr(args, "checkpoint", None)
        again = f"bayeslstm {args.command} --resume {folder}"
        if folder is None:
            return (f"{head}; nothing was written to {args.out}. To be able to continue a long run, start it with "
                    f"--checkpoint DIR, then continue it with: bayeslstm {args.command} --resume DIR")
        from .engine.checkpoint import MANIFEST

        manifest = pathlib.Path(self.folder or folder) / MANIFEST
        try:
            step = json.loads(manifest.read_text())["step"]
        except (OSError, ValueError, KeyError, TypeError):
            return (f"{head}; {self.folder or folder} holds no checkpoint of it yet. Continue with: {again} "
                    "(methods without a checkpoint start afresh)" if args.command == "compare" else
                    f"{head}; no checkpoint had been written yet, so the run starts afresh with: {again}")
        of = f" of {self.steps}" if self.steps else ""
        return f"{head}; its last checkpoint, after step {step}{of}, is in {self.folder or folder}. Continue with: {again}"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help and --version (0), argparse's own errors (2, already printed)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    where = Where(args)
    try:
        if getattr(args, "resume", None):
            _restore_arguments(args, given_arguments(argv))
        _start_jax(args)
        return _main(args, where)
    except BayesLSTMError as exc:
        print(f"bayeslstm: error: {flag_names(str(exc))}", file=sys.stderr)
        return leave(EXIT_USAGE)  # multi-host: see leave
    except KeyboardInterrupt:
        print(where.message(), file=sys.stderr)
        return leave(EXIT_INTERRUPTED)
    except BaseException:
        if joined():  # multi-host: this process ends now (its peers, waiting for it, then fail too)
            traceback.print_exc()
            leave(EXIT_FAILED)
        raise


def _start_jax(args: argparse.Namespace) -> None:
    """Settings JAX reads once, at start: precision, virtual CPU devices, the multi-host cluster."""
    import jax

    if getattr(args, "x64", False):
        jax.config.update("jax_enable_x64", True)
    devices = getattr(args, "devices", None)
    cluster = [getattr(args, k, None) for k in ("coordinator", "num_processes", "process_id")]
    if any(v is not None for v in cluster):
        if any(v is None for v in cluster):
            raise OptionError("multi-host runs need all of --coordinator HOST:PORT, --num-processes N and --process-id I")
        coordinator, processes, rank = cluster
        if not 0 <= rank < processes:
            raise OptionError(f"need 0 <= --process-id < --num-processes; got {rank} and {processes}")
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


def _main(args: argparse.Namespace, where: Where) -> int:
    if args.command == "report":
        from .report.folder import rebuild_report

        files = rebuild_report(args.dir)
        print(f"wrote {files.report} and {len(files.figures)} figures")
        return EXIT_OK
    from .methods import method_options, method_specs
    from .engine.assembly import assemble
    from .engine.metrics import Units
    from .engine.runner import record_stride, run_method

    out = _output_folder(args.out)  # every check before any work, and nothing written until the runs are over
    model_options = _model_args(args.model_arg, args.model)
    flags = {opt: getattr(args, flag) for flag, opt in KERNEL_FLAGS.items() if getattr(args, flag) is not None}
    names = [args.method] if args.command == "run" else args.methods
    specs = method_specs(names, args.fusion)  # names and modes first: typos fail before any work
    if args.command == "run":
        label, method, fusion = specs[0]
        accepted = method_options(method, fusion)
        extra = [option for option in flags if option not in accepted]
        if extra:
            raise OptionError(f"--method {label} does not take {_kernel_flags(extra)}; it takes {_kernel_flags(accepted)}")
    distributed = any(fusion == "distributed" for _, _, fusion in specs)
    _network_flags(args, distributed)
    extras = _run_extras(args, [fusion for _, _, fusion in specs])
    record = _record(args.record)
    if args.checkpoint or args.resume:
        _checkpoints(args, [label for label, _, _ in specs])  # refused before the data are read
    stream, table, stream_config = _stream(args)
    record_stride(record, stream.steps)
    if table is not None and args.command == "compare":  # on real data the naive forecasts are the yardstick
        present = {method for _, method, _ in specs}
        names = list(names.split(",") if isinstance(names, str) else names)
        names += [b for b in BASELINES if b not in present]
    checkpoints = _checkpoints(args, [label for label, _, _ in method_specs(names, args.fusion)])
    noise_var = None if table is not None else args.noise_var
    built = assemble(stream if table is None else table, names, fusion=args.fusion, model=args.model,
                     model_options=model_options, graph=args.graph, rule=args.rule or "metropolis",
                     allow_disconnected=args.allow_disconnected, seed=args.seed, strict=False,
                     describe={"noise_var": noise_var, "stream": stream_config}, **flags, **extras)
    writer = args.process_id in (None, 0)
    several = args.num_processes not in (None, 1)  # every process meets a NumericalError alike (replicated outputs)
    config = _config(args, built, stream, table, stream_config, model_options, distributed)
    if args.checkpoint and writer:
        _save_command(args)

    units = None if table is None else Units(table.label_offset, table.label_scale)
    results, failures = {}, {}
    for assembled in built:
        label = assembled.label
        where.label, where.folder, where.steps = label, (checkpoints.get(label) or {}).get("checkpoint"), stream.steps
        try:
            results[label] = run_method(assembled.method, stream, seed=args.seed, chunk_size=PROGRESS_CHUNK,
                                        progress=not args.no_progress and writer, layout=assembled.ssm.layout,
                                        config=assembled.config, record=record, units=units,
                                        **(checkpoints.get(label) or {}))
        except (NumericalError, MemoryError) as exc:  # this method failed; the others go on
            if several and not isinstance(exc, NumericalError):
                raise  # multi-host: what one process met alone, the others cannot go on without
            failures[label] = f"{type(exc).__name__}: {exc}"
        except BayesLSTMError:  # a refused checkpoint or input: the command's own mistake
            raise
        except Exception as exc:  # noqa: BLE001  (a crash of one method must not lose the others)
            if several:
                raise
            traceback.print_exc()
            failures[label] = f"{type(exc).__name__}: {exc}"
        if label in failures:
            print(f"{label:>20s}  FAILED: {failures[label]}", file=sys.stderr, flush=True)
            continue
        result = results[label]
        print(f"{label:>20s}  final TAE {result.network_tae[-1]:.5g}{_unit_squared(table)}  ({result.seconds:.1f} s "
              f"running, {result.compile_seconds:.1f} s compiling)", flush=True)
    where.label = None
    code = EXIT_FAILED if failures else EXIT_OK
    if not writer:  # waits until process 0 has written the outputs, and ends as it does
        code = agree(code)
        print(f"process {args.process_id}: done; process 0 wrote the outputs" if code == EXIT_OK else
              f"process {args.process_id}: done; the run failed (exit {code}): see process 0's messages")
        return code
    files = _write_outputs(args, out, config, built, results, failures)
    print(f"wrote {out}: summary.json, {files.report.name}, {len(files.figures)} figures and "
          f"{len(files.netcdf)} netCDF files")
    if failures:
        print(f"bayeslstm: {len(failures)} of {len(built)} methods failed: {', '.join(failures)} "
              f"(see {files.report})", file=sys.stderr)
    return agree(code)


def _unit_squared(table) -> str:
    return f" {table.unit}^2" if table is not None and table.unit else ""


def _output_folder(text: str) -> pathlib.Path:
    """``--out`` checked before any work: a folder, or a path where one can be made."""
    out = pathlib.Path(text)
    if out.exists() and not out.is_dir():
        raise OptionError(f"--out {text} is a file, not a folder: give a folder (it is created if missing)")
    parent = out
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise OptionError(f"--out {text}: {parent} is a file, so the folder cannot be made there")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OptionError(f"--out {text}: {parent} is not writable")
    return out


def _network_flags(args: argparse.Namespace, distributed: bool) -> None:
    """The graph flags need a distributed method."""
    given = [flag for flag, on in (("--graph", args.graph is not None), ("--rule", args.rule is not None),
                                   ("--allow-disconnected", args.allow_disconnected)) if on]
    if given and not distributed:
        which = f"--method {args.method} uses none" if args.command == "run" else "none of --methods uses one"
        raise OptionError(f"{' and '.join(given)} set the graph of distributed methods ({', '.join(DISTRIBUTED)}, or "
                          f"NAME@distributed); {which}: leave {'them' if len(given) > 1 else 'it'} out")


def _config(args, built, stream, table, stream_config, model_options, distributed) -> dict[str, Any]:
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

    from .model.declarations import load_declaration, model_options as factory_options
    from .model.statespace import is_declaration

    factory = load_declaration("lstm" if model is None else model)
    settings = {} if is_declaration(factory) else {k: v for k, v in factory_options(factory).items() if k != "features"}
    settings.update(assembled.config.get("model_options") or {})
    ssm = assembled.ssm
    for key, value in (("q", ssm.transition_var), ("r", ssm.obs_var)):
        if key not in settings and value is not None:
            values = np.unique(np.asarray(value))
            settings[key] = float(values[0]) if values.size == 1 else f"{values.min():g} to {values.max():g}"
    return {k: v for k, v in settings.items() if isinstance(v, (int, float, str, bool)) or v is None}


def _write_outputs(args, out: pathlib.Path, config: dict, built, results: dict, failures: dict):
    """summary.json, the netCDF files and the report, replacing the folder's previous outputs."""
    import numpy as np

    from .report.folder import write_folder
    from .report.inference_data import prequential_log_score, to_inference_data

    methods: dict[str, dict[str, Any]] = {}
    idatas, runs = {}, {}
    for assembled in built:
        label = assembled.label
        entry: dict[str, Any] = {"method": assembled.name, "fusion": assembled.fusion, "options": assembled.options}
        if label in failures:
            methods[label] = {"status": "failed", **entry, "error": failures[label]}
            continue
        result = results[label]
        tae = result.network_tae
        entry.update(
            final_tae=float(tae[-1]),
            tae=[float(v) for v in tae],
            seconds=result.seconds,
            compile_seconds=result.compile_seconds,
            compilations=result.compilations,
            messages_per_step=float(result.diagnostics["messages"].mean()) if "messages" in result.diagnostics else 0.0,
            floats_per_step=float(result.diagnostics["floats"].mean()) if "floats" in result.diagnostics else 0.0,
            log_score=float(prequential_log_score(result).mean()),
            late_mse=result.late_mse(),
        )
        if result.posterior(result.final_state) is None:  # a baseline: no weights, so no InferenceData
            entry.update(time=[int(t) for t in result.tae["time"].values],
                         tae_per_node=np.asarray(result.tae.transpose("node", "time").values, float).tolist(),
                         half_mse=result.late_mse(0.5), family=assembled.config.get("family"), unit=config.get("unit"))
            runs[label] = result
        else:
            idatas[label] = runs[label] = to_inference_data(result, num_draws=args.draws, seed=args.seed, label=label,
                                                            predictive_draws=args.predictive_draws)
        methods[label] = {"status": "ok", **entry}
    title = f"bayeslstm run: {built[0].label}" if args.command == "run" else "bayeslstm comparison"
    return write_folder(out, {"config": config, "methods": methods}, idatas, runs, title=title)


DATA_FLAGS = ("target", "group", "order", "window", "horizon", "assign", "nan", "unit")


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
                       "unit": table.unit,
                       "info": {k: v for k, v in table.info.items() if isinstance(v, (int, float, str))}}
        return table.stream, table, description
    if given or args.max_steps is not None:
        flags = [PARAMETER_FLAGS[k] for k in sorted(given)] or ["--max-steps"]
        raise OptionError(f"{', '.join(flags)} describe{'s' if len(flags) == 1 else ''} a table: add --data FILE or "
                          "--dataset NAME")
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
    failures need a graph, a centralized filter has no node axis to shard). They are refused
    where no method can take them."""
    which = f"--method {args.method} is not one" if args.command == "run" else "none of --methods is one"
    if args.link_failure and "distributed" not in fusions:
        raise OptionError(f"--link-failure needs a distributed method ({', '.join(DISTRIBUTED)}); {which}")
    if args.devices is not None and all(f == "centralized" for f in fusions):
        raise OptionError("a centralized method is one filter with no node axis: run it without --devices")
    extras: dict[str, Any] = {}
    if args.link_failure:
        extras["link_failure"] = args.link_failure
    if args.node_dropout:
        extras["node_dropout"] = args.node_dropout
    if args.partition:
        if "distributed" not in fusions:
            raise OptionError(f"--partition needs a distributed method ({', '.join(DISTRIBUTED)}); {which}")
        extras["partition"] = args.partition
    if args.devices is not None:
        extras.update(mesh=args.devices, exchange=args.exchange)
    return extras


def _record(text: str):
    if text in ("full", "summary"):
        return text
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise OptionError(f"--record must be full, summary or a positive integer; got {text!r}")
    return value


# --------------------------------------------------------------------------- checkpoints


def _checkpoint_of(args: argparse.Namespace, label: str) -> dict[str, Any]:
    """run_method's checkpoint arguments for method ``label``: DIR for run, DIR/<label> for compare."""
    from .engine.checkpoint import MANIFEST
    from .report.inference_data import netcdf_name

    folder = pathlib.Path(args.resume or args.checkpoint)
    resume = args.resume is not None
    if args.command == "compare":  # methods not reached before the interruption start afresh
        folder = folder / netcdf_name(label)
        resume = resume and (folder / MANIFEST).exists()
    every = args.checkpoint_every
    if every is None and not resume:
        every = DEFAULT_CHECKPOINT_EVERY
    return {"checkpoint": folder, "checkpoint_every": every, "resume": resume}


def _checkpoints(args: argparse.Namespace, labels: list[str]) -> dict[str, dict[str, Any]]:
    """Every method's checkpoint arguments, checked before any work: a folder to resume holds a
    checkpoint, a new checkpoint does not overwrite one."""
    from .engine import checkpoint as ckpt

    folder = args.resume or args.checkpoint
    if args.resume and args.checkpoint and pathlib.Path(args.resume) != pathlib.Path(args.checkpoint):
        raise OptionError(f"--resume {args.resume} continues saving to its own folder; leave out --checkpoint "
                          f"{args.checkpoint} or give the same folder")
    if folder is None:
        if args.checkpoint_every is not None:
            raise OptionError("--checkpoint-every needs --checkpoint DIR (or --resume DIR)")
        return {}
    found = {label: _checkpoint_of(args, label) for label in labels}
    if args.resume:
        single = args.command == "run"
        if not pathlib.Path(folder).is_dir() or single and not (pathlib.Path(folder) / ckpt.MANIFEST).exists():
            raise CheckpointError(f"there is no checkpoint in {folder} (no {ckpt.MANIFEST}); start the run with "
                                  f"--checkpoint {folder} first, or leave out --resume")
    else:
        for entry in found.values():
            ckpt.refuse_existing(entry["checkpoint"])
    return found


def _save_command(args: argparse.Namespace) -> None:
    """Write the run's arguments beside its checkpoint, so that ``--resume DIR`` alone continues it."""
    folder = pathlib.Path(args.checkpoint)
    folder.mkdir(parents=True, exist_ok=True)
    arguments = {k: v for k, v in vars(args).items() if k not in NOT_RESTORED}
    text = json.dumps({"command": args.command, "bayeslstm_version": __version__, "arguments": arguments},
                      indent=1, default=json_default)
    (folder / COMMAND_FILE).write_text(text)


def _restore_arguments(args: argparse.Namespace, given: set[str]) -> None:
    """``--resume DIR``: every argument not given takes the value the checkpointed run had;
    those given stay, and the checkpoint refuses them if they change the run."""
    folder = pathlib.Path(args.resume)
    path = folder / COMMAND_FILE
    if not path.is_file():  # no checkpoint (refused later), or one written without its arguments
        return
    try:
        stored = json.loads(path.read_text())
        arguments = dict(stored["arguments"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{path} is unreadable ({type(exc).__name__}: {exc}); give every argument of the run "
                              "again with --resume") from exc
    if stored.get("command") != args.command:
        raise CheckpointError(f"{folder} holds a checkpoint of `bayeslstm {stored.get('command')}`; continue it with: "
                              f"bayeslstm {stored.get('command')} --resume {folder}")
    for key, value in arguments.items():
        if key not in given and key not in NOT_RESTORED and hasattr(args, key):
            setattr(args, key, value)


if __name__ == "__main__":
    raise SystemExit(main())
