"""Online model averaging: the predictive densities of several runs on one stream, mixed with
weights learnt from each one's predictive log score.

Every run's step-``t`` prediction was made before label ``t`` was seen, so a mixture whose
weights use the scores of steps before ``t`` only is itself an online forecaster, and it can be
formed after the runs. Per node, with ``a_m`` the log weight of member ``m`` (0 at the start)::

    w_t = softmax(a)                                  # the weights step t predicts with
    mean_t = sum_m w_m mean_m,   var_t = sum_m w_m (var_m + mean_m^2) - mean_t^2
    a <- forgetting * a + log p_m(d_t)                # after label t (unobserved: a is kept)

``forgetting`` < 1 discounts old scores (an effective memory of 1 / (1 - forgetting) labels),
so the weights can move to another member when the series changes; 1 is Bayesian model
averaging. The mixture's score is its own predictive log density, the log of the weighted sum.

``pool="network"`` (the default) gives every node the same weights, learnt from the mean of
the scores of the nodes that saw a label at that step: the nodes of one network forecast one
process, so each learns which member to trust from every label the network has seen, not only
its own (in a deployment, one all-reduce of one number per member per step), so the weights
settle K times sooner on K nodes. ``pool="node"`` keeps the update above, each node on its own
labels.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import xarray as xr

from ..errors import InputError, OptionError, number
from .metrics import accumulate_tae
from .records import RunResult

DEFAULT_FORGETTING = 0.98
POOLS = ("network", "node")


def _members(results: Mapping[str, RunResult]) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """Labels, and (member, T, K) predictions, variances and log densities, checked alike."""
    if len(results) < 2:
        raise InputError(f"model averaging needs at least two runs; got {len(results)}")
    labels = list(results)
    first = results[labels[0]]
    steps = np.asarray(first.diagnostics["time"])
    if not np.array_equal(steps, np.arange(1, len(steps) + 1)):  # step numbers count from 1
        raise InputError("model averaging needs every step of every run: run the members with record='full'")
    means, variances, scores = [], [], []
    for label in labels:
        run = results[label]
        same = run.labels.shape == first.labels.shape and np.array_equal(run.observed, first.observed) and \
            np.allclose(np.where(first.observed, run.labels, 0.0), np.where(first.observed, first.labels, 0.0))
        if not same or not np.array_equal(np.asarray(run.diagnostics["time"]), steps):
            raise InputError(f"run {label!r} was not made on the same stream as {labels[0]!r}")
        for name in ("predictive_var", "log_pred_density"):
            if name not in run.diagnostics:
                raise InputError(f"run {label!r} has no {name}: it cannot be averaged")
        means.append(np.asarray(run.predictions, np.float64))
        variances.append(np.asarray(run.diagnostics["predictive_var"].values, np.float64))
        scores.append(np.asarray(run.diagnostics["log_pred_density"].values, np.float64))
    return labels, np.stack(means), np.stack(variances), np.stack(scores)


def average_weights(scores: np.ndarray, observed: np.ndarray, forgetting: float, pool: str = "node") -> np.ndarray:
    """(member, T, K) weights each step predicts with, from the members' (member, T, K) log
    scores: a softmax of the discounted sums of the scores of the earlier observed labels, each
    node's own (``pool="node"``) or the network's mean at each step (``pool="network"``)."""
    members, steps, nodes = scores.shape
    log_w = np.zeros((members, nodes))
    weights = np.empty_like(scores)
    for t in range(steps):
        shifted = np.exp(log_w - log_w.max(axis=0))
        weights[:, t] = shifted / shifted.sum(axis=0)
        if pool == "network":
            seen = observed[t].sum()
            if seen:
                log_w = forgetting * log_w + np.where(observed[t], scores[:, t], 0.0).sum(axis=1, keepdims=True) / seen
        else:
            log_w = np.where(observed[t], forgetting * log_w + scores[:, t], log_w)
    return weights


def model_average(results: Mapping[str, RunResult], forgetting: float = DEFAULT_FORGETTING,
                  name: str = "average", pool: str = "network") -> RunResult:
    """The online mixture of ``results`` ({label: RunResult}, every one on the same stream, every
    step kept): a RunResult scored like any run, whose diagnostics hold the mixture's
    ``predictive_var`` and ``log_pred_density`` and each member's weight (``weight``, over
    ``member``). ``pool``: "network" (the nodes share their scores) or "node". See the module
    docstring for the update."""
    forgetting = number("forgetting", forgetting, float, 0.0, 1.0, low_open=True)
    if pool not in POOLS:
        raise OptionError(f"pool must be one of {POOLS}; got {pool!r}")
    labels, means, variances, scores = _members(results)
    first = results[labels[0]]
    if not np.isfinite(scores[:, first.observed]).all():
        raise InputError("a member's log score is not finite at an observed label: it cannot be averaged")
    weights = average_weights(np.where(first.observed, scores, 0.0), first.observed, forgetting, pool)
    mean = np.sum(weights * means, axis=0)
    var = np.maximum(np.sum(weights * (variances + means**2), axis=0) - mean**2, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):  # a weight of 0 is a log weight of -inf
        weighted = np.log(weights) + scores
        top = np.max(weighted, axis=0)
        log_density = top + np.log(np.sum(np.exp(weighted - top), axis=0))
    _, _, tae = accumulate_tae(None, None, mean, first.labels, first.observed)
    coords = {"time": np.asarray(first.diagnostics["time"]), "node": np.arange(mean.shape[1])}
    diagnostics = xr.Dataset({"prediction": (("time", "node"), mean), "predictive_var": (("time", "node"), var),
                              "log_pred_density": (("time", "node"), log_density),
                              "weight": (("member", "time", "node"), weights)}, coords={**coords, "member": labels})
    return RunResult(
        method=name, predictions=mean, labels=first.labels, observed=first.observed,
        tae=xr.DataArray(tae.T, coords=coords, dims=("node", "time"), name="tae"), diagnostics=diagnostics,
        final_state=None, seconds=sum(r.seconds for r in results.values()), compilations=0,
        config={"method": name, "fusion": "average", "members": labels, "forgetting": forgetting, "pool": pool,
                **{k: v for k, v in first.config.items() if k in ("unit", "stream")}},
        compile_seconds=sum(r.compile_seconds for r in results.values()))
