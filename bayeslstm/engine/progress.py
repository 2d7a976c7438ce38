"""A run's progress where it goes: a live bar on a terminal; in a log (no terminal), a line at
most every tenth of the run and at most every 30 seconds, each on a line of its own."""

from __future__ import annotations

import sys
from typing import IO

from tqdm.auto import tqdm

LOG_SECONDS = 30.0  # without a terminal, at most one progress line this often
LOG_FRACTION = 0.1  # and at most one per this fraction of the run


class LogLines:
    """A stream for tqdm that writes each refresh as a line (a log keeps no carriage returns)."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def write(self, text: str) -> None:
        line = text.replace("\r", "").rstrip()
        if line:
            self.stream.write(line + "\n")

    def flush(self) -> None:
        self.stream.flush()


def interactive(stream: IO[str] | None = None) -> bool:
    """Whether ``stream`` (default stderr) is a terminal."""
    stream = sys.stderr if stream is None else stream
    return bool(getattr(stream, "isatty", lambda: False)())


def progress_bar(total: int, initial: int, enabled: bool, label: str, stream: IO[str] | None = None) -> tqdm:
    """A tqdm bar over a run's steps, live on a terminal and sparse in a log."""
    stream = sys.stderr if stream is None else stream
    if interactive(stream):
        return tqdm(total=total, initial=initial, disable=not enabled, desc=label, unit="step", leave=False,
                    dynamic_ncols=True, file=stream)
    every = max(1, int(total * LOG_FRACTION))
    return tqdm(total=total, initial=initial, disable=not enabled, desc=label, unit="step", leave=False,
                file=LogLines(stream), mininterval=LOG_SECONDS, miniters=every, ncols=100)
