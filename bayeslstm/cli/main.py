"""``bayeslstm run`` and ``compare`` from parsed arguments to written outputs: every check
before any work, the methods built once, each run in turn (a failure does not lose the
others), and the outputs written by process 0."""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence
from typing import Any, NamedTuple

from ..errors import BayesLSTMError, NumericalError, OptionError
from ..methods import baseline_names, distributed_names, method_options, method_specs
from .checks import check_early, check_model
from .flags import flag_names, model_args, option_flags
from .outputs import output_folder, run_config, unit_squared, write_outputs
from .parser import build_parser, given_arguments
from .resume import Where, checkpoints, restore_arguments, save_command
from .stream import read_stream

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
PROGRESS_CHUNK = 32  # steps per compiled chunk: the progress bar and the running TAE move this often


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help and --version (0), argparse's own errors (2, already printed)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    where = Where(args)
    try:
        if getattr(args, "resume", None):
            restore_arguments(args, given_arguments(argv))
        if args.command == "cache":
            return _cache(args)
        if args.command != "report":
            _check_arguments(args)  # mistakes are answered before JAX starts
        _start_jax(args)
        if args.command != "report":
            _import_report_modules_meanwhile()
        return _main(args, where)
    except BayesLSTMError as exc:
        print(f"bayeslstm: error: {flag_names(str(exc))}", file=sys.stderr)
        _join_to_leave(args)
        return _leave(EXIT_USAGE)  # multi-host: see bayeslstm.network.sharding.leave
    except KeyboardInterrupt:
        print(where.message(), file=sys.stderr)
        return _leave(EXIT_INTERRUPTED)
    except BaseException:
        if _joined():  # multi-host: this process ends now (its peers, waiting for it, then fail too)
            traceback.print_exc()
            _leave(EXIT_FAILED)
        raise


def _import_report_modules_meanwhile() -> None:
    """Import ArviZ and matplotlib (about 2 s) in a background thread while the methods
    compile and run, so writing the outputs does not begin by waiting for them."""
    import threading

    def load() -> None:
        try:
            import arviz  # noqa: F401
            import matplotlib.pyplot  # noqa: F401
        except Exception:  # noqa: BLE001  (the outputs import them again and report any error there)
            pass

    threading.Thread(target=load, name="bayeslstm-imports", daemon=True).start()


def _cache(args: argparse.Namespace) -> int:
    """``bayeslstm cache [--clear]``: the folder of compiled programs, its size, or emptied."""
    from ..engine.compilation_cache import cache_root, cache_size, clear_cache

    root = cache_root()
    if args.clear:
        files, size = clear_cache(root)
        print(f"removed {files} files ({size / 1e6:.1f} MB) from {root}")
    else:
        files, size = cache_size(root)
        print(f"{root}: {files} files, {size / 1e6:.1f} MB (bayeslstm cache --clear empties it)")
    return EXIT_OK


def _joined() -> bool:
    """Whether this process is part of a multi-host run (never, before JAX has started)."""
    if "bayeslstm.network.sharding" not in sys.modules:
        return False
    from ..network.sharding import joined

    return joined()


def _join_to_leave(args: argparse.Namespace) -> None:
    """Multi-host: a process refused before it joined the cluster joins it, so that leaving
    ends its peers at their next exchange instead of at their start-up timeout (minutes)."""
    cluster = [getattr(args, k, None) for k in ("coordinator", "num_processes", "process_id")]
    if _joined() or any(v is None for v in cluster) or getattr(args, "command", None) not in ("run", "compare"):
        return
    try:
        _start_jax(args)
    except Exception:  # noqa: BLE001  (the cluster itself is what is wrong: nothing to join)
        pass


def _leave(code: int) -> int:
    """End a multi-host process with ``code`` (see :func:`bayeslstm.network.sharding.leave`);
    a process that never started JAX just returns it."""
    if "bayeslstm.network.sharding" not in sys.modules:
        return code
    from ..network.sharding import leave

    return leave(code)


def _agree(code: int) -> int:
    """The exit code every process of a multi-host run agrees on (this one's when alone)."""
    from ..network.sharding import agree

    return agree(code)


def _check_arguments(args: argparse.Namespace) -> None:
    """The checks that need neither JAX nor the data: methods, their flags, the graph, faults,
    the record and the output folder."""
    output_folder(args.out)
    check_early(args)
    names = [args.method] if args.command == "run" else args.methods
    specs = method_specs(names, args.fusion)
    _method_flags(args, specs)
    _network_flags(args, any(fusion == "distributed" for _, _, fusion in specs))
    _run_extras(args, [fusion for _, _, fusion in specs])
    _record(args.record)
    if getattr(args, "average", None) is not None and args.record != "full":
        raise OptionError("--average mixes every step's predictions: it needs --record full")


def _start_jax(args: argparse.Namespace) -> None:
    """Settings JAX reads once, at start: precision, virtual CPU devices, the multi-host cluster."""
    import jax

    if getattr(args, "x64", False):
        jax.config.update("jax_enable_x64", True)
    devices = getattr(args, "devices", None)
    cluster: list[Any] = [getattr(args, k, None) for k in ("coordinator", "num_processes", "process_id")]
    if any(v is not None for v in cluster):
        if any(v is None for v in cluster):
            raise OptionError("multi-host runs need all of --coordinator HOST:PORT, --num-processes N and --process-id I")
        coordinator, processes, rank = cluster
        if not 0 <= rank < processes:
            raise OptionError(f"need 0 <= --process-id < --num-processes; got {rank} and {processes}")
        if devices is not None and devices % processes == 0 and devices // processes > 1:
            _cpu_devices(devices // processes)
        from ..network.sharding import initialize

        initialize(coordinator, processes, rank)
    elif devices is not None and devices > 1:
        _cpu_devices(devices)
    from ..engine.compilation_cache import use_compilation_cache

    use_compilation_cache(not getattr(args, "no_cache", False))


def _cpu_devices(count: int) -> None:
    """Ask for ``count`` virtual CPU devices (GPUs are used as they are). Once JAX has started
    (the CLI called from Python) the devices are what they are: the mesh then checks the count."""
    import jax

    try:
        jax.config.update("jax_num_cpu_devices", count)
    except RuntimeError:
        pass


class Plan(NamedTuple):
    """What a run or compare command will do, every argument checked."""

    names: list[str]
    options: dict[str, Any]
    model_options: dict[str, Any]
    distributed: bool
    record: Any
    stream: Any
    table: Any
    stream_config: dict
    checkpoints: dict[str, dict[str, Any]]


def _method_flags(args: argparse.Namespace, specs) -> dict[str, Any]:
    """The methods' options given as flags; ``run`` refuses one its method does not take."""
    flags = {name: getattr(args, name) for name in _option_dests(args) if getattr(args, name) is not None}
    if args.command == "run":
        label, method, fusion = specs[0]
        accepted = method_options(method, fusion)
        extra = [option for option in flags if option not in accepted]
        if extra:
            raise OptionError(f"--method {label} does not take {option_flags(extra)}; it takes {option_flags(accepted)}")
    return flags


def _option_dests(args: argparse.Namespace) -> list[str]:
    from ..methods import OPTIONS

    return [name for name, option in OPTIONS.items() if option.flag and hasattr(args, name)]


def _plan(args: argparse.Namespace) -> Plan:
    """Every check before any work (nothing is written until the runs are over)."""
    from ..engine.runner import record_stride

    check_model(args.model)
    model_options = model_args(args.model_arg, args.model)
    names = [args.method] if args.command == "run" else args.methods
    specs = method_specs(names, args.fusion)  # names and modes first: typos fail before any work
    flags = _method_flags(args, specs)
    distributed = any(fusion == "distributed" for _, _, fusion in specs)
    _network_flags(args, distributed)
    extras = _run_extras(args, [fusion for _, _, fusion in specs])
    record = _record(args.record)
    if args.checkpoint or args.resume:
        checkpoints(args, [label for label, _, _ in specs])  # refused before the data are read
    stream, table, stream_config = read_stream(args)
    record_stride(record, stream.steps)
    if table is not None and args.command == "compare":  # on real data the naive forecasts are the yardstick
        present = {method for _, method, _ in specs}
        names = list(names.split(",") if isinstance(names, str) else names)
        names += [b for b in baseline_names() if b not in present]
    found = checkpoints(args, [label for label, _, _ in method_specs(names, args.fusion)])
    return Plan(names, {**flags, **extras}, model_options, distributed, record, stream, table, stream_config, found)


def _run_each(args: argparse.Namespace, plan: Plan, built, where: Where) -> tuple[dict, dict]:
    """Run every built method in turn; a numerical failure or crash of one does not stop the others."""
    from ..engine.runner import run_method, table_data

    table = plan.table
    several = args.num_processes not in (None, 1)  # every process meets a NumericalError alike (replicated outputs)
    results, failures = {}, {}
    for assembled in built:
        label = assembled.label
        stream, units = (plan.stream, None) if table is None else table_data(table, label)
        where.label, where.folder, where.steps = label, (plan.checkpoints.get(label) or {}).get("checkpoint"), stream.steps
        try:
            results[label] = run_method(assembled.method, stream, seed=args.seed, chunk_size=PROGRESS_CHUNK,
                                        progress=not args.no_progress and args.process_id in (None, 0),
                                        layout=assembled.ssm.layout, config=assembled.config, record=plan.record,
                                        units=units, cache=not args.no_cache, **(plan.checkpoints.get(label) or {}))
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
        print(f"{label:>20s}  final TAE {result.network_tae[-1]:.5g}{unit_squared(table)}  ({result.seconds:.1f} s "
              f"running, {result.compile_seconds:.1f} s compiling)", flush=True)
    where.label = None
    return results, failures


def _main(args: argparse.Namespace, where: Where) -> int:
    if args.command == "report":
        from ..report.folder import rebuild_report

        files = rebuild_report(args.dir)
        print(f"wrote {files.report} and {len(files.figures)} figures")
        return EXIT_OK
    from ..engine.assembly import assemble

    out = output_folder(args.out)  # every check before any work, and nothing written until the runs are over
    plan = _plan(args)
    noise_var = None if plan.table is not None else args.noise_var
    built = assemble(plan.stream if plan.table is None else plan.table, plan.names, fusion=args.fusion,
                     model=args.model, model_options=plan.model_options, graph=args.graph,
                     rule=args.rule or "metropolis", allow_disconnected=args.allow_disconnected, seed=args.seed,
                     strict=False, describe={"noise_var": noise_var, "stream": plan.stream_config}, **plan.options)
    _check_sizes(args, plan, built)
    writer = args.process_id in (None, 0)
    config = run_config(args, built, plan.stream, plan.table, plan.stream_config, plan.model_options, plan.distributed)
    if args.checkpoint and writer:
        save_command(args)
    results, failures = _run_each(args, plan, built, where)
    if getattr(args, "average", None) is not None and len(results) >= 2:
        from ..engine.averaging import DEFAULT_FORGETTING, model_average

        forgetting = DEFAULT_FORGETTING if args.average == "learnt" else args.average
        results["average"] = model_average(results, forgetting=forgetting, pool=args.average_pool,
                                           score=args.average_score, calibrate=args.average_calibrate)
        print(f"{'average':>20s}  final TAE {results['average'].network_tae[-1]:.5g}{unit_squared(plan.table)}  "
              f"(of {len(results) - 1} methods, forgetting {args.average}, pooled over the {args.average_pool})", flush=True)
    code = EXIT_FAILED if failures else EXIT_OK
    if not writer:  # waits until process 0 has written the outputs, and ends as it does
        code = _agree(code)
        print(f"process {args.process_id}: done; process 0 wrote the outputs" if code == EXIT_OK else
              f"process {args.process_id}: done; the run failed (exit {code}): see process 0's messages")
        return code
    print(f"writing outputs to {out} ...", flush=True)
    files = write_outputs(args, out, config, built, results, failures)
    print(f"wrote {out}: summary.json, {files.report.name}, {len(files.figures)} figures and "
          f"{len(files.netcdf)} netCDF files")
    if failures:
        print(f"bayeslstm: {len(failures)} of {len(built)} methods failed: {', '.join(failures)} "
              f"(see {files.report})", file=sys.stderr)
    return _agree(code)


def _check_sizes(args: argparse.Namespace, plan: Plan, built) -> None:
    """Every method's state and the outputs' draws against the memory there is, before any run."""
    from ..engine.records import record_stride
    from ..engine.sizes import check_output_size, check_state_size

    stream = plan.stream
    for assembled in built:
        check_state_size(assembled.method, stream.nodes, assembled.label, assembled.options)
    rows = -(-stream.steps // record_stride(plan.record, stream.steps))
    check_output_size(args.draws, args.predictive_draws, stream.nodes, built[0].ssm.dim, rows)


def _network_flags(args: argparse.Namespace, distributed: bool) -> None:
    """The graph flags need a distributed method."""
    given = [flag for flag, on in (("--graph", args.graph is not None), ("--rule", args.rule is not None),
                                   ("--allow-disconnected", args.allow_disconnected)) if on]
    if given and not distributed:
        which = f"--method {args.method} uses none" if args.command == "run" else "none of --methods uses one"
        raise OptionError(f"{' and '.join(given)} set the graph of distributed methods ({', '.join(distributed_names())}, or "
                          f"NAME@distributed); {which}: leave {'them' if len(given) > 1 else 'it'} out")


def _run_extras(args: argparse.Namespace, fusions: list[str]) -> dict[str, Any]:
    """Fault and sharding options; the assembly gives each method those it can take (link
    failures need a graph, a centralized filter has no node axis to shard). They are refused
    where no method can take them."""
    which = f"--method {args.method} is not one" if args.command == "run" else "none of --methods is one"
    if args.link_failure and "distributed" not in fusions:
        raise OptionError(f"--link-failure needs a distributed method ({', '.join(distributed_names())}); {which}")
    if args.devices is not None and all(f == "centralized" for f in fusions):
        raise OptionError("a centralized method is one filter with no node axis: run it without --devices")
    extras: dict[str, Any] = {}
    if args.link_failure:
        extras["link_failure"] = args.link_failure
    if args.node_dropout:
        extras["node_dropout"] = args.node_dropout
    if args.partition:
        if "distributed" not in fusions:
            raise OptionError(f"--partition needs a distributed method ({', '.join(distributed_names())}); {which}")
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
