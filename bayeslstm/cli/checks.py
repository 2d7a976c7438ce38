"""The checks of ``run`` and ``compare`` that need neither JAX nor the data: numbers that must
be finite, the seed, the folders a run writes, the window of a table and the size of the
synthetic stream. Each mistake is answered with the flag the user gave."""

from __future__ import annotations

import argparse
import pathlib

from ..errors import MAX_SEED, ModelError, OptionError, number, writable_folder
from ..methods import OPTIONS

FINITE_FLAGS = ("link_failure", "node_dropout", "noise_var", "teacher_scale")  # besides the methods' float options


def check_early(args: argparse.Namespace) -> None:
    """Every check of this module, in the order of the help's groups."""
    _finite(args)
    number("seed", args.seed, int, 0, MAX_SEED)
    if args.checkpoint_every is not None and not (args.checkpoint or args.resume):
        raise OptionError("--checkpoint-every needs --checkpoint DIR (or --resume DIR)")
    if args.checkpoint:
        writable_folder("--checkpoint", args.checkpoint)
    if args.resume and pathlib.Path(args.resume).is_dir():
        writable_folder("--resume", args.resume)
    if args.coordinator is not None:
        _address(args.coordinator)
    if args.data or args.dataset:
        if args.window is not None:
            from ..data.window import parse_window

            parse_window(args.window)
    else:
        _synthetic(args)


def _finite(args: argparse.Namespace) -> None:
    """NaN and infinities are refused wherever a flag takes a number (ranges are checked where
    the option is used)."""
    floats = [name for name, option in OPTIONS.items() if option.flag and option.type is float]
    for name in (*floats, *FINITE_FLAGS):
        value = getattr(args, name, None)
        if value is not None:
            number(name, value, float)


def _address(text: str) -> None:
    """``--coordinator HOST:PORT``, refused here rather than by a connection that never comes."""
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise OptionError(f"--coordinator must be HOST:PORT with a port from 1 to 65535, e.g. 10.0.0.1:1234; got {text!r}")


def synthetic_width(args: argparse.Namespace) -> int:
    """``--features`` of the synthetic stream: a width, 4 by default."""
    try:
        width = 4 if args.features is None else int(args.features)
    except ValueError:
        raise OptionError(f"--features of the synthetic stream is a width (an integer); got {args.features!r} "
                          "(column names go with --data FILE)") from None
    return number("features", width, int, 1)


def _synthetic(args: argparse.Namespace) -> None:
    """The teacher stream's flags, and its size against the memory there is."""
    from ..engine.sizes import check_stream_size

    number("noise_var", args.noise_var, float, 0)
    number("teacher_scale", args.teacher_scale, float, 0, low_open=True)
    if args.min_len > args.max_len:
        raise OptionError(f"need --min-len <= --max-len; got --min-len {args.min_len} and --max-len {args.max_len}")
    nodes = 10 if args.nodes is None else args.nodes
    check_stream_size(args.steps, nodes, args.max_len, synthetic_width(args))


def check_model(model: str) -> None:
    """``--model``: a name, file or module that gives a declaration or a factory (JAX is
    imported with the model, so this runs after it starts)."""
    from ..model.declarations import check_factory, load_declaration
    from ..model.statespace import is_declaration

    try:
        fn = load_declaration(model)
        if not is_declaration(fn):
            check_factory(fn)
    except ModelError as exc:
        raise ModelError(f"--model {model}: {exc}") from None
