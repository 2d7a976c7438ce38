"""The stream a command runs on: a built-in dataset, a table file, or the synthetic teacher."""

from __future__ import annotations

import argparse

from ..errors import InputError, OptionError
from .checks import synthetic_width
from .flags import RUN_FLAGS

DATA_FLAGS = ("target", "group", "order", "window", "horizon", "assign", "nan", "unit")


def read_stream(args: argparse.Namespace):
    """(stream, table stream or None, description) from --dataset, --data or the synthetic flags."""
    from ..data.teacher import teacher_stream

    given = {k: getattr(args, k) for k in DATA_FLAGS if getattr(args, k) is not None}
    if args.dataset and args.data:
        raise OptionError("give either --dataset NAME or --data FILE, not both")
    if args.dataset or args.data:
        if args.dataset:
            from ..data.datasets import load_dataset

            if args.features is not None:
                given["features"] = tuple(c.strip() for c in args.features.split(",") if c.strip())
            table = load_dataset(args.dataset, nodes=args.nodes, max_steps=args.max_steps, seed=args.seed, **given)
        else:
            from ..data.tables import read_rows, table_stream

            if "target" not in given:
                raise OptionError("--data needs --target COLUMN (the label)")
            features = None if args.features is None else [c.strip() for c in args.features.split(",") if c.strip()]
            try:
                frame = read_rows(args.data)
            except InputError as exc:
                raise InputError(f"--data: {exc}") from None
            table = table_stream(frame, features=features, nodes=args.nodes or 10, max_steps=args.max_steps,
                                 seed=args.seed, **given)
        description = {"dataset": args.dataset, "data": args.data, **{k: str(v) for k, v in given.items()},
                       "shape": list(table.stream.X.shape), "target": table.target, "features": list(table.features),
                       "unit": table.unit,
                       "info": {k: v for k, v in table.info.items() if isinstance(v, (int, float, str))}}
        return table.stream, table, description
    if given or args.max_steps is not None:
        flags = [RUN_FLAGS[k] for k in sorted(given)] or ["--max-steps"]
        raise OptionError(f"{', '.join(flags)} describe{'s' if len(flags) == 1 else ''} a table: add --data FILE or "
                          "--dataset NAME")
    width = synthetic_width(args)
    nodes = 10 if args.nodes is None else args.nodes
    stream, _ = teacher_stream(steps=args.steps, nodes=nodes, features=width, min_len=args.min_len,
                               max_len=args.max_len, noise_var=args.noise_var, seed=args.seed,
                               teacher_scale=args.teacher_scale)
    description = {"steps": args.steps, "nodes": nodes, "features": width, "min_len": args.min_len,
                   "max_len": args.max_len, "noise_var": args.noise_var, "teacher_scale": args.teacher_scale}
    return stream, None, description
