"""The window of a table stream: how many rows each pair's input takes, read from the forms
users write (``(2, 8)``, ``"2:8"``, ``4``, ``"all"``, ``"all:32"``). It imports neither
pandas nor JAX, so that the command line checks ``--window`` before starting either."""

from __future__ import annotations

import numbers
from typing import NamedTuple

from ..errors import InputError

FORMS = "MIN:MAX, a length L, all or all:MAX"


class Window(NamedTuple):
    """Window lengths: drawn uniformly in [min_len, max_len], or all the history (``grow``)."""

    min_len: int
    max_len: int | None  # None: uncapped ("all" only)
    grow: bool


def parse_window(window) -> Window:
    """``(min, max)``, ``L``, ``"MIN:MAX"``, ``"all"``, ``("all", max)`` or ``"all:MAX"``."""
    given = window
    if isinstance(window, str):
        parts = window.split(":")
        if len(parts) > 2 or not all(parts):
            raise InputError(f"window must be {FORMS}; got {given!r}")
        window = parts[0] if len(parts) == 1 else tuple(parts)
    if isinstance(window, str) or _is_int(window):
        window = (window, window) if window != "all" else ("all", None)
    if not isinstance(window, (tuple, list)) or len(window) != 2:
        raise InputError(f"window must be {FORMS} (or a pair (min_len, max_len) in Python); got {given!r}")
    low, high = window
    if (low != "all" and _length(low) is None) or (high is not None and _length(high) is None):
        raise InputError(f"window must be {FORMS}, with whole numbers >= 1; got {given!r}")
    high = None if high is None else _length(high)
    if low == "all":
        return Window(1, high, True)
    low = _length(low)
    if high is None or low is None or high < low:
        raise InputError(f"window must have MIN <= MAX; got {given!r}")
    return Window(low, high, False)


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _length(value) -> int | None:
    """``value`` as an int >= 1 (an int or a string of digits), else None."""
    text = str(value).strip()
    if isinstance(value, bool) or not (_is_int(value) or text.isdigit()) or int(text) < 1:
        return None
    return int(text)


def positive_int(name: str, value) -> int:
    """``value`` as an int >= 1 (an int or a string of digits), else an InputError."""
    checked = _length(value)
    if checked is None:
        raise InputError(f"{name} must be a positive integer; got {value!r}")
    return checked
