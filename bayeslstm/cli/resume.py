"""Checkpoints on the command line: where each method saves, the checks before any work, the
arguments saved beside a checkpoint so that ``--resume DIR`` alone continues a run, and what
Ctrl-C says about continuing."""

from __future__ import annotations

import argparse
import json
import pathlib
from typing import Any

from ..engine.encoding import json_default
from ..errors import CheckpointError, OptionError
from ..version import __version__
from .parser import DEFAULT_CHECKPOINT_EVERY

COMMAND_FILE = "command.json"  # beside a checkpoint: the arguments of the run it holds
MANIFEST_NAME = "manifest.json"  # bayeslstm.engine.checkpoint.MANIFEST, named here without starting JAX
NOT_RESTORED = ("command", "resume", "checkpoint", "checkpoint_every", "coordinator", "num_processes", "process_id")


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
        from ..engine.checkpoint import MANIFEST

        manifest = pathlib.Path(self.folder or folder) / MANIFEST
        try:
            step = json.loads(manifest.read_text())["step"]
        except (OSError, ValueError, KeyError, TypeError):
            return (f"{head}; {self.folder or folder} holds no checkpoint of it yet. Continue with: {again} "
                    "(methods without a checkpoint start afresh)" if args.command == "compare" else
                    f"{head}; no checkpoint had been written yet, so the run starts afresh with: {again}")
        of = f" of {self.steps}" if self.steps else ""
        return f"{head}; its last checkpoint, after step {step}{of}, is in {self.folder or folder}. Continue with: {again}"


def checkpoint_of(args: argparse.Namespace, label: str) -> dict[str, Any]:
    """run_method's checkpoint arguments for method ``label``: DIR for run, DIR/<label> for compare."""
    from ..engine.checkpoint import MANIFEST
    from ..report.names import netcdf_name

    folder = pathlib.Path(args.resume or args.checkpoint)
    if args.command == "compare":  # methods not reached before the interruption start afresh
        folder = folder / netcdf_name(label)
    resume = args.resume is not None and (folder / MANIFEST).exists()  # killed before its first checkpoint: afresh
    every = args.checkpoint_every
    if every is None and not resume:
        every = DEFAULT_CHECKPOINT_EVERY
    return {"checkpoint": folder, "checkpoint_every": every, "resume": resume}


def checkpoints(args: argparse.Namespace, labels: list[str]) -> dict[str, dict[str, Any]]:
    """Every method's checkpoint arguments, checked before any work: a folder to resume holds a
    checkpoint, a new checkpoint does not overwrite one."""
    from ..engine import checkpoint as ckpt

    folder = args.resume or args.checkpoint
    if args.resume and args.checkpoint and pathlib.Path(args.resume) != pathlib.Path(args.checkpoint):
        raise OptionError(f"--resume {args.resume} continues saving to its own folder; leave out --checkpoint "
                          f"{args.checkpoint} or give the same folder")
    if folder is None:
        if args.checkpoint_every is not None:
            raise OptionError("--checkpoint-every needs --checkpoint DIR (or --resume DIR)")
        return {}
    found = {label: checkpoint_of(args, label) for label in labels}
    if args.resume:
        path = pathlib.Path(folder)
        started = (path / ckpt.MANIFEST).exists() or (path / COMMAND_FILE).exists()
        if not path.is_dir() or args.command == "run" and not started:
            raise CheckpointError(f"there is no checkpoint in {folder} (no {ckpt.MANIFEST}); start the run with "
                                  f"--checkpoint {folder} first, or leave out --resume")
    else:
        for entry in found.values():
            ckpt.refuse_existing(entry["checkpoint"])
    return found


def save_command(args: argparse.Namespace) -> None:
    """Write the run's arguments beside its checkpoint, so that ``--resume DIR`` alone continues it."""
    folder = pathlib.Path(args.checkpoint)
    folder.mkdir(parents=True, exist_ok=True)
    arguments = {k: v for k, v in vars(args).items() if k not in NOT_RESTORED}
    text = json.dumps({"command": args.command, "bayeslstm_version": __version__, "arguments": arguments,
                       "checkpoint_every": args.checkpoint_every}, indent=1, default=json_default)
    (folder / COMMAND_FILE).write_text(text)


def restore_arguments(args: argparse.Namespace, given: set[str]) -> None:
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
    _same_methods(args, arguments, given, folder)
    for key, value in arguments.items():
        if key not in given and key not in NOT_RESTORED and hasattr(args, key):
            setattr(args, key, value)
    if "checkpoint_every" not in given and not (folder / MANIFEST_NAME).exists():  # started afresh: as it was
        args.checkpoint_every = stored.get("checkpoint_every")


def _same_methods(args: argparse.Namespace, arguments: dict, given: set[str], folder: pathlib.Path) -> None:
    """A resumed run keeps its methods: another one given with --resume is refused by name
    (not by the flags the checkpointed run had and the new method would not take)."""
    for key in ("method", "methods", "fusion"):
        if key in given and key in arguments and getattr(args, key) != arguments[key]:
            flag = "--" + key
            raise CheckpointError(f"the checkpoint in {folder} was written by a different run: {_saved_method(folder)}"
                                  f"{flag} {arguments[key]} in its command but {flag} {getattr(args, key)} now; leave out "
                                  f"{flag} to continue it, or give a new --checkpoint folder to start another run")


def _saved_method(folder: pathlib.Path) -> str:
    """``run.method is 'NAME' in the checkpoint, `` as the manifest has it (empty before the first checkpoint)."""
    try:
        method = json.loads((folder / MANIFEST_NAME).read_text())["config"]["run"]["method"]
    except (OSError, ValueError, KeyError, TypeError):
        return ""
    return f"run.method is {method!r} in the checkpoint, "
