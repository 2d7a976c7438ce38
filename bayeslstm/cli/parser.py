"""The command line's parser: ``run``, ``compare`` and ``report``, with the methods' flags and
help read from the method registry, so that a registered method and its options appear here."""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Callable, Sequence

from ..data.catalog import ASSIGNS, DATASETS, NAN_RULES
from ..methods import FUSIONS, OPTIONS, describe_option, distributed_names, kernel_names, method_names, takers
from ..network.graph import RULES
from ..network.topology import DEFAULT_GRAPH
from ..version import __version__

# the paper's comparison, each distributed scheme with its local and centralized references, and
# beside it the distributed Gaussian-sum filter, the best particle method beyond the paper
DEFAULT_COMPARE = (
    "dpf", "pf@local", "pf@centralized",
    "dgspf", "gspf@local", "gspf@centralized",
    "dekf", "ekf@local", "ekf@centralized",
    "dsgd", "sgd@local", "sgd@centralized",
)
DEFAULT_CHECKPOINT_EVERY = 256
EXCHANGES = ("auto", "all-gather", "halo")  # bayeslstm.network.sharding's, named here without starting JAX

DESCRIPTION = """\
Online Bayesian training of LSTM regressors across a network of nodes: particle filters,
EKFs, ensemble and Gaussian-sum filters and gradient baselines, each alone on every node,
centralized, or fused over a graph; on a synthetic teacher stream or on a real table.

commands:
  run       run one method and write its outputs
  compare   run several methods on the same stream and rank them
  report    redraw report.md and the figures of an output folder
  cache     show or clear the folder of compiled programs (runs reuse them)

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


def partition_type(text: str) -> tuple[int, int, list[int]]:
    """An argparse type: START:STOP:NODES, NODES a comma list of ids and ranges (0-4,7)."""
    try:
        start, stop, spec = text.split(":")
        nodes: list[int] = []
        for part in spec.split(","):
            low, dash, high = part.partition("-")
            nodes.extend(range(int(low), int(high) + 1) if dash else [int(low)])
        return int(start), int(stop), nodes
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected START:STOP:NODES such as 100:200:0-4 or 100:200:0,2,5; got {text!r}"
                                         ) from None


partition_type.__name__ = "START:STOP:NODES"


def count(low: int) -> Callable[[str], int]:
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


def average_forgetting(text: str) -> float | str:
    """An argparse type: ``learnt`` or a forgetting factor in (0, 1]."""
    return text if text == "learnt" else forgetting_type(text)


def forgetting_type(text: str) -> float:
    """An argparse type: a number in (0, 1]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1]; got {text!r}") from None
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"must lie in (0, 1]; got {text}")
    return value


forgetting_type.__name__ = "number in (0, 1]"


def _real_data(parser: argparse.ArgumentParser) -> None:
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
    real.add_argument("--horizon", type=count(0), help="the label is this many rows after the window's last (default 1)")
    real.add_argument("--assign", choices=ASSIGNS, help="pairs to nodes (default round-robin)")
    real.add_argument("--nan", choices=NAN_RULES, help="rows with NaN: fail (default) or drop them")
    real.add_argument("--max-steps", type=count(1), metavar="N", help="use at most this many steps of the data")


def _synthetic_data(parser: argparse.ArgumentParser) -> None:
    data = parser.add_argument_group("synthetic teacher stream")
    data.add_argument("--steps", type=count(1), default=1000, help="time steps (default 1000)")
    data.add_argument("--nodes", type=count(1), default=None,
                      help="nodes K (default 10; a built-in dataset's own default with --dataset)")
    data.add_argument("--features", default=None,
                      help="input width p of the synthetic stream (default 4), or with --data the feature columns, "
                           "comma-separated")
    data.add_argument("--min-len", type=count(1), default=2, help="shortest sequence (default 2)")
    data.add_argument("--max-len", type=count(1), default=16, help="longest sequence (default 16)")
    data.add_argument("--noise-var", type=float, default=0.01, help="label noise variance r of the teacher (default 0.01)")
    data.add_argument("--teacher-scale", type=float, default=1.0, help="std of the teacher's weights (default 1.0)")
    model = parser.add_argument_group("model (see docs/models.md)")
    model.add_argument("--model", default="lstm",
                       help="lstm | gru | rnn | linear-gaussian | path/file.py:name | package.module:name (default lstm)")
    model.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE",
                       help="option of the model factory, e.g. hidden=8 or q=1e-5 (repeatable)")


def _method_options(parser: argparse.ArgumentParser) -> None:
    """One flag per registered option that some registered method takes (dest: the option's name)."""
    group = parser.add_argument_group("method options (given only to methods that take them; see docs/methods.md)")
    for option in OPTIONS.values():
        if not option.flag or not takers(option.name):
            continue
        kwargs: dict = {"dest": option.name, "help": describe_option(option.name)}
        if not option.choices:
            kwargs["metavar"] = option.flag.lstrip("-").upper().replace("-", "_")
        if option.choices:
            kwargs["choices"] = option.choices
        elif option.type is int and option.minimum is not None:
            kwargs["type"] = count(option.minimum)
        else:
            kwargs["type"] = option.type
        group.add_argument(option.flag, **kwargs)


def _network_and_run(parser: argparse.ArgumentParser) -> None:
    net = parser.add_argument_group("network (distributed methods only)")
    net.add_argument("--graph", default=None,
                     help="ring | star | grid | complete | path | erdos-renyi[:p=P] | geometric[:radius=R] | "
                          f"small-world[:k=K,p=P] | a graph file (.edgelist, .graphml, .gml, .adjlist); default {DEFAULT_GRAPH}")
    net.add_argument("--rule", choices=RULES, default=None, help="combination weights (default metropolis)")
    net.add_argument("--allow-disconnected", action="store_true", help="accept a disconnected graph (independent components)")
    run = parser.add_argument_group("run")
    run.add_argument("--fusion", choices=FUSIONS, default=None,
                     help=f"cooperation mode of {', '.join(kernel_names())} (default local)")
    run.add_argument("--seed", type=int, default=0,
                     help="seed of the synthetic stream, the filters' random steps and the outputs' draws (default 0)")
    run.add_argument("--x64", action="store_true", help="compute in float64 (default float32)")
    run.add_argument("--no-progress", action="store_true",
                     help="hide the progress bar (without a terminal it writes a line every tenth of the run, "
                          "at most every 30 s)")
    run.add_argument("--no-cache", action="store_true",
                     help="neither read nor write compiled programs in the cache folder (also: BAYESLSTM_NO_CACHE=1; "
                          "see `bayeslstm cache`)")
    run.add_argument("--record", default="full",
                     help="per-step rows kept: full | summary (about 1000) | N (every N-th); TAE stays exact")
    outputs = parser.add_argument_group("outputs")
    outputs.add_argument("--out", default="runs/latest", metavar="DIR",
                         help="output folder, created if missing; its previous outputs are replaced (default runs/latest)")
    outputs.add_argument("--draws", type=count(1), default=200,
                         help="posterior draws of Gaussian states (EKF, Gaussian sums) in the .nc files (default 200)")
    outputs.add_argument("--predictive-draws", type=count(1), default=100,
                         help="draws of each step's one-step predictive distribution in the .nc files (default 100)")


def _faults_and_scale(parser: argparse.ArgumentParser) -> None:
    faults = parser.add_argument_group("faults (distributed methods; see docs/faults.md)")
    faults.add_argument("--link-failure", type=float, default=0.0, help="probability that each edge is down at each step")
    faults.add_argument("--node-dropout", type=float, default=0.0, help="probability that each node is away at each step")
    faults.add_argument("--partition", type=partition_type, action="append", metavar="START:STOP:NODES",
                        help="cut NODES (e.g. 0-4 or 0,2,5) off the other nodes at steps START to STOP-1; repeatable")
    scale = parser.add_argument_group("devices and hosts (see docs/sharding.md)")
    scale.add_argument("--devices", type=count(1), help="shard the nodes over this many devices (on a CPU: virtual devices)")
    scale.add_argument("--exchange", choices=EXCHANGES, default="auto", help="neighbour exchange when sharded (default auto)")
    scale.add_argument("--coordinator", metavar="HOST:PORT", help="multi-host: the coordinator's address (jax.distributed)")
    scale.add_argument("--num-processes", type=count(1), help="multi-host: number of processes")
    scale.add_argument("--process-id", type=count(0), help="multi-host: this process's rank (0 writes the outputs)")
    saving = parser.add_argument_group("checkpoints (compare: one subfolder per method)")
    saving.add_argument("--checkpoint", metavar="DIR", help="save the complete run state to DIR as it runs")
    saving.add_argument("--checkpoint-every", type=count(1), metavar="S",
                        help=f"steps between checkpoints (default {DEFAULT_CHECKPOINT_EVERY}, or the checkpoint's own "
                             "when resuming)")
    saving.add_argument("--resume", metavar="DIR",
                        help="continue the run checkpointed in DIR with its own arguments (those given must match) "
                             "and keep saving there")


def _common(parser: argparse.ArgumentParser) -> None:
    for add in (_real_data, _synthetic_data, _method_options, _network_and_run, _faults_and_scale):
        add(parser)


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions as written; option help wrapped at spaces only, so that names such as
    ``baseline-last`` are never cut at their hyphen."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command, built from the registry as it is now."""
    raw = _HelpFormatter
    names = method_names()
    parser = argparse.ArgumentParser(prog="bayeslstm", description=DESCRIPTION, epilog=EPILOG, formatter_class=raw)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{run,compare,report,cache}")
    run = sub.add_parser("run", help="run one method and write its outputs", formatter_class=raw,
                         usage="%(prog)s [--method NAME] [options]   (--help lists them)",
                         description="Run one method on the stream; write OUT/summary.json, OUT/<label>.nc, "
                                     "OUT/report.md and its figures.", epilog=EPILOG)
    run.add_argument("--method", default="dpf", choices=names, metavar="NAME",
                     help=" | ".join(names) + " (default dpf; the baselines predict the last label or the running "
                          f"mean, for scale; distributed: {', '.join(distributed_names())})")
    _common(run)
    compare = sub.add_parser("compare", help="run several methods on the same stream and rank them", formatter_class=raw,
                             usage="%(prog)s [--methods NAME[@FUSION],...] [options]   (--help lists them)",
                             description="Run several methods on the same stream; write OUT/summary.json, one "
                                         "OUT/<label>.nc per method, and OUT/report.md ranking them, with figures.",
                             epilog=EPILOG)
    compare.add_argument("--methods", default=",".join(DEFAULT_COMPARE), metavar="NAME[@FUSION],...",
                         help=f"comma-separated; NAME: {' | '.join(names)}; FUSION: {' | '.join(FUSIONS)} "
                              f"(default: {','.join(DEFAULT_COMPARE)}; on real data the baselines are added)")
    compare.add_argument("--average", type=average_forgetting, nargs="?", const="learnt", default=None,
                         metavar="FORGETTING",
                         help="also score the online model average of the methods that finish: their predictive "
                              "densities mixed with weights from how well each forecast the earlier labels, "
                              "discounted by FORGETTING per label (1: Bayesian model averaging; default: learnt "
                              "among 1, 0.995, 0.99, 0.98 and 0.95); the report draws each method's weight over "
                              "time (average.png); needs --record full")
    compare.add_argument("--average-pool", choices=("network", "node"), default="network",
                         help="how --average weighs: every node by the network's mean score at each step "
                              "(network, the default: the nodes forecast one process) or each node by its own labels")
    compare.add_argument("--average-score", choices=("mean", "density"), default="mean",
                         help="what --average scores: each method's mean at the mixture's variance (mean, the "
                              "default: squared error) or each method's own predictive density")
    compare.add_argument("--average-calibrate", action="store_true",
                         help="rescale the --average's variance to its past errors (a Gaussian predictive whose "
                              "intervals cover what they claim)")
    _common(compare)
    report = sub.add_parser("report", help="redraw report.md and the figures of an output folder", formatter_class=raw,
                            description="Redraw OUT/report.md and its figures from OUT/summary.json and the netCDF "
                                        "files, without running anything.")
    report.add_argument("dir", help="the folder `bayeslstm run` or `bayeslstm compare` wrote (--out)")
    cache = sub.add_parser("cache", help="show or clear the folder of compiled programs", formatter_class=raw,
                           description="Runs keep their compiled programs in a cache folder, so that a second run of "
                                       "the same configuration starts at once. This shows the folder and its size, "
                                       "or empties it.")
    cache.add_argument("--clear", action="store_true", help="delete every cached program")
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
