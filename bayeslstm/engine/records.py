"""What a run keeps of its steps, and what it returns (:class:`RunResult`): the rows of every ``stride``-th step and the running TAE.

``record`` bounds what a long run keeps: every step (``"full"``), every ``s``-th step (an
integer) or about :data:`SUMMARY_ROWS` evenly spaced steps (``"summary"``); the TAE is exact
at every kept step because running error sums are carried over all steps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import xarray as xr

from ..errors import OptionError
from ..kernels.protocol import PosteriorFn, no_posterior
from ..model.layout import ParamLayout
from .metrics import Units, accumulate_tae, late_mse, to_units

SUMMARY_ROWS = 1000  # record="summary" keeps about this many evenly spaced steps (and the last)


class Trace(NamedTuple):
    """What a run keeps of its steps: the kept rows, chunk by chunk, and running error sums.

    Each row dict holds every info field, ``step`` (1-based step numbers) and ``tae``;
    ``sq_sum`` and ``count`` are the (K,) squared-error sum and label count over all steps
    so far (None before the first step).
    """

    rows: tuple[dict[str, np.ndarray], ...] = ()
    sq_sum: np.ndarray | None = None
    count: np.ndarray | None = None  # type: ignore[assignment]  # the field shadows tuple.count; renaming would break callers

    def merged(self) -> dict[str, np.ndarray]:
        """The kept rows as one dict of arrays."""
        return {name: np.concatenate([r[name] for r in self.rows]) for name in self.rows[0]} if self.rows else {}


def running_tae(trace: Trace) -> str:
    """The network-mean TAE so far, for the progress bar."""
    if trace.count is None or trace.sq_sum is None:  # no step run yet
        return "TAE -"
    with np.errstate(invalid="ignore", divide="ignore"):
        per_node = np.where(trace.count > 0, trace.sq_sum / np.maximum(trace.count, 1), np.nan)
    return f"TAE {np.nanmean(per_node):.4g}" if np.isfinite(per_node).any() else "TAE -"


def record_stride(record: str | int, steps: int) -> int:
    """Steps between kept rows for ``record`` = "full" | "summary" | a positive integer."""
    if record == "full":
        return 1
    if record == "summary":
        return max(1, -(-steps // SUMMARY_ROWS))
    if isinstance(record, (int, np.integer)) and not isinstance(record, bool) and record >= 1:
        return int(record)
    raise OptionError(f"record must be 'full', 'summary' or a positive integer stride; got {record!r}")


def keep(trace: Trace, infos: dict[str, np.ndarray], t0: int, labels, observed, stride: int, steps: int,
         units: Units | None = None) -> Trace:
    """Add steps t0+1.. (their infos, labels and flags) to ``trace``, keeping every ``stride``-th and the last.

    A node reported absent (``present`` False, under faults) is not scored at that step;
    with ``units``, everything is kept and scored in the labels' original units.
    """
    n = len(labels)
    if units is not None:
        infos, labels = to_units(infos, labels, units.offset[t0:t0 + n], units.scale[t0:t0 + n])
    scored = observed & infos["present"] if "present" in infos else observed
    sq_sum, count, tae = accumulate_tae(trace.sq_sum, trace.count, infos["prediction"], labels, scored)
    numbers = np.arange(t0 + 1, t0 + n + 1)
    kept = (numbers % stride == 0) | (numbers == steps)
    extra = {"step": numbers[kept], "tae": tae[kept], "label": labels[kept], "scored": scored[kept]}
    row = {name: value[kept] for name, value in infos.items()} | extra
    return Trace(trace.rows + (row,), sq_sum, count)


class RunResult(NamedTuple):
    """Everything a run produced. Arrays are (time, node) over the kept steps (all by default)."""

    method: str
    predictions: np.ndarray
    labels: np.ndarray
    observed: np.ndarray
    tae: xr.DataArray  # (node, time): running mean of squared errors; ``time`` holds the step numbers
    diagnostics: xr.Dataset  # every per-step info field, (time, node)
    final_state: Any
    seconds: float  # running time, compilation excluded
    compilations: int
    config: dict
    layout: ParamLayout | None = None  # names and shapes of the blocks of theta, for reports
    compile_seconds: float = 0.0
    posterior: PosteriorFn = no_posterior  # reads the final state's posterior over theta
    label_sites: Callable[[Any], dict] | None = None  # one filter's form -> the sites that set r, from its label_var

    @property
    def final_tae(self) -> float:
        """Network mean of TAE at the last step."""
        return float(self.tae.isel(time=-1).mean())

    def late_mse(self, fraction: float = 0.25) -> float:
        """Mean squared error over the last ``fraction`` of each node's scored labels (of the kept
        steps), averaged over nodes: where the method has got to, without the early transient."""
        return late_mse(self.predictions, self.labels, self.observed, fraction)

    @property
    def network_tae(self) -> np.ndarray:
        """Network-mean TAE per kept step."""
        return self.tae.mean("node").values
