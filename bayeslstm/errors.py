"""One exception hierarchy for everything a user can get wrong.

Every error a user can cause is raised before any computation starts and is a subclass of
:class:`BayesLSTMError`, so ``except BayesLSTMError`` catches all of them, while the
``ValueError`` / ``RuntimeError`` bases keep ordinary handlers working.
"""

from __future__ import annotations

import os
import pathlib
import tempfile
from typing import Any

MAX_SEED = 2**63 - 1  # the largest seed both NumPy and JAX take


class BayesLSTMError(Exception):
    """Base class of every error bayeslstm raises on purpose."""


class InputError(BayesLSTMError, ValueError):
    """Malformed data: wrong shapes, NaN/inf values, empty sequences."""


class OptionError(BayesLSTMError, ValueError):
    """An unknown method, option or option value."""


class ModelError(BayesLSTMError, ValueError):
    """A NumPyro declaration that is not in the state-space form the kernels read."""


class GraphError(BayesLSTMError, ValueError):
    """A graph or combination matrix that cannot be used for the requested fusion."""


class NumericalError(BayesLSTMError, RuntimeError):
    """A non-finite value appeared during a run; the message names where."""


class CheckpointError(BayesLSTMError, ValueError):
    """A checkpoint that cannot be resumed: missing, corrupt, or written by a different run."""


def choose(name: str, value: str, allowed) -> str:
    """Return ``value`` if it is one of ``allowed``, else raise an OptionError listing them."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise OptionError(f"unknown {name} {value!r}; choose one of: {', '.join(map(str, allowed))}")
    return value


def number(name: str, value, kind: type = float, low: float | None = None, high: float | None = None,
           low_open: bool = False, high_open: bool = False):
    """``value`` as ``kind`` (int or float) within [low, high] (open ends where asked), else an OptionError.

    Options come from Python and from the command line: strings that do not parse, booleans,
    NaN and fractional counts are refused here with the option's name, never by a raw ValueError.
    """
    import math

    bad = isinstance(value, bool) or value is None
    converted: Any = None  # whatever kind() returns; only read while not bad
    try:
        converted = kind(value) if not bad else None
    except (TypeError, ValueError, OverflowError):
        bad = True
    if not bad and kind is int and float(value) != converted:
        bad = True
    if not bad and kind is float and not math.isfinite(converted):
        bad = True
    if not bad and low is not None and (converted < low or (low_open and converted == low)):
        bad = True
    if not bad and high is not None and (converted > high or (high_open and converted == high)):
        bad = True
    if bad:
        what = "a whole number" if kind is int else "a finite number"
        lo = "" if low is None else f"{'>' if low_open else '>='} {low}"
        hi = "" if high is None else f"{'<' if high_open else '<='} {high}"
        bounds = " and ".join(filter(None, (lo, hi)))
        raise OptionError(f"{name} must be {what}{' ' + bounds if bounds else ''}; got {value!r}")
    return converted


def writable_folder(name: str, path) -> pathlib.Path:
    """``path`` as a :class:`pathlib.Path` if it is a folder that can be written, or one that
    can be made, else an OptionError naming ``name``. A temporary file is made and removed in
    the nearest folder that exists, so that read-only and virtual file systems are refused
    before any work (permission bits alone do not say so for every user)."""
    try:
        folder = pathlib.Path(path)
    except TypeError:
        raise OptionError(f"{name} must be a folder path; got {path!r}") from None
    if folder.exists() and not folder.is_dir():
        raise OptionError(f"{name} {path} is a file, not a folder: give a folder (it is created if missing)")
    parent = folder
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise OptionError(f"{name} {path}: {parent} is a file, so the folder cannot be made there")
    try:
        with tempfile.TemporaryFile(dir=parent):
            pass
    except OSError as exc:
        raise OptionError(f"{name} {path}: {parent} is not writable ({os.strerror(exc.errno or 0)})") from None
    return folder
