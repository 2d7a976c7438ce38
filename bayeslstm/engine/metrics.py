"""How runs are scored: the time-accumulated error, the late-window error, original units.

The metric of online learning is the time-accumulated (running mean) squared error of the
predictions each node made before seeing its labels,

    TAE_k(t) = (1 / #observed s <= t) * sum over observed s <= t of (d_{k,s} - dhat_{k,s})^2,

and its network mean. It keeps the early transient for ever, so :func:`late_mse` gives where
a method has got to: the mean squared error over the last part of each node's labels.
Table streams are standardised online; :func:`to_units` puts predictions, variances, log
densities and labels back in the label's original units before anything is scored.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..errors import OptionError


def accumulate_tae(sq_sum, count, predictions, labels, observed) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Continue running squared-error sums over more steps: (sum, count, TAE per step (n, K)).

    The sum is a cumulative sum seeded with the carried one, so the additions happen in step
    order and splitting the steps anywhere gives the same bits.
    """
    sq = np.where(observed, (np.asarray(labels, np.float64) - np.asarray(predictions, np.float64)) ** 2, 0.0)
    seed = np.zeros_like(sq[:1]) if sq_sum is None else np.asarray(sq_sum, sq.dtype)[None]
    sums = np.cumsum(np.concatenate([seed, sq]), axis=0)[1:]
    counts = (0 if count is None else count) + np.cumsum(observed, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        tae = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return sums[-1], counts[-1], tae


def time_accumulated_error(predictions: np.ndarray, labels: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """TAE_k(t) = mean over observed s <= t of (d - dhat)^2; (T, K). NaN before any label."""
    return accumulate_tae(None, None, predictions, labels, observed)[2]


def late_mse(predictions: np.ndarray, labels: np.ndarray, observed: np.ndarray, fraction: float = 0.25) -> float:
    """Mean squared error over the last ``fraction`` of each node's observed labels (at least
    one), averaged over the nodes that have any: (T, K) arrays in, one number out."""
    if not 0 < fraction <= 1:
        raise OptionError(f"fraction must be in (0, 1]; got {fraction}")
    sq = (np.asarray(labels, np.float64) - np.asarray(predictions, np.float64)) ** 2
    observed = np.asarray(observed, bool)
    per_node = []
    for k in range(sq.shape[1]):
        values = sq[observed[:, k], k]
        if values.size:
            per_node.append(values[-max(int(values.size * fraction), 1):].mean())
    return float(np.mean(per_node)) if per_node else float("nan")


class Units(NamedTuple):
    """Labels were standardised: original = offset + scale * standardised, per (step, node)."""

    offset: np.ndarray  # (T, K)
    scale: np.ndarray  # (T, K)


def to_units(infos: dict[str, np.ndarray], labels: np.ndarray, offset: np.ndarray, scale: np.ndarray) -> tuple[dict, np.ndarray]:
    """Predictions, predictive variances, log densities and labels in the original units."""
    infos = dict(infos, prediction=offset + scale * infos["prediction"])
    if "predictive_var" in infos:
        infos["predictive_var"] = infos["predictive_var"] * scale**2
    if "log_pred_density" in infos:
        infos["log_pred_density"] = infos["log_pred_density"] - np.log(scale)
    return infos, offset + scale * labels
