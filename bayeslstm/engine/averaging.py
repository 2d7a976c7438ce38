"""Online model averaging: the predictive densities of several runs on one stream, mixed with
weights learnt from how well each one forecast the earlier labels.

Every run's step-``t`` prediction was made before label ``t`` was seen, so a mixture whose
weights use the labels before ``t`` only is itself an online forecaster, and it can be formed
after the runs. Per node, with ``a_m`` the log weight of member ``m`` (0 at the start)::

    w_t = softmax(a)                                  # the weights step t predicts with
    mean_t = sum_m w_m mean_m,   var_t = sum_m w_m (var_m + mean_m^2) - mean_t^2
    a <- forgetting * a + s_m(d_t)                    # after label t (unobserved: a is kept)

The score ``s_m`` is a predictive log density of the label:

* ``score="mean"`` (the default): ``log N(d_t; mean_m, var_t)``, member m's mean scored at
  the mixture's own predictive variance. The weights are then exp(-sum of squared errors /
  (2 var)), the exponentially weighted forecaster of squared loss at the scale of the
  forecast, so the mixture follows whichever members have forecast best in squared error,
  which is what the TAE counts. The members' own variances still shape the mixture's density.
* ``score="density"``: ``log p_m(d_t)``, each member's own predictive log density. It also
  rewards a member for calibrated tails, so a member with wide tails and poor means can carry
  the mixture while its means cost squared error (measured in docs/paper_real.md).

``forgetting`` < 1 discounts old scores (an effective memory of 1 / (1 - forgetting) labels),
so the weights can move to another member when the series changes; 1 is Bayesian model
averaging. Several factors (the default, :data:`DEFAULT_FORGETTING`) form one mixture each,
and those mixtures are mixed by a second one with no forgetting and the same score: how fast
to forget is learnt from the series, as a stationary series wants a long memory and a
changing one a short memory. The mixture's score is its own log density, the log of the
weighted sum of the members' densities.

``pool="network"`` (the default) gives every node the same weights, learnt from the mean of
the scores of the nodes that saw a label at that step: the nodes of one network forecast one
process, so each learns which member to trust from every label the network has seen, not only
its own (in a deployment, one all-reduce of one number per member per step), so the weights
settle K times sooner on K nodes. ``pool="node"`` keeps the update above, each node on its own
labels.

``calibrate=True`` rescales the mixture's variance by c_t, the discounted mean over the earlier
labels (memory :data:`CALIBRATION_FORGETTING`, pooled like the weights) of the squared error
over the variance, and makes the predictive that Gaussian. Members that err differently
average their errors away, so the mixture errs less than they say they do and its intervals
are too wide; the rescaled ones cover what they claim, at the price of the mixture's shape.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import xarray as xr

from ..errors import InputError, OptionError, choose, number
from .metrics import accumulate_tae
from .records import RunResult

DEFAULT_FORGETTING = (1.0, 0.995, 0.99, 0.98, 0.95)  # memories from all labels down to about 20
CALIBRATION_FORGETTING = 0.99  # the memory of calibrate's variance scale: about 100 labels
POOLS = ("network", "node")
SCORES = ("mean", "density")
LOG_2PI = float(np.log(2.0 * np.pi))


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


def online_weights(score_at: Callable[[int, np.ndarray], np.ndarray], observed: np.ndarray, members: int,
                   forgetting: float, pool: str = "node") -> np.ndarray:
    """(member, T, K) weights each step predicts with: a softmax of the discounted sums of the
    earlier observed labels' scores, each node's own (``pool="node"``) or the network's mean at
    each step (``pool="network"``). ``score_at(t, weights_t)`` gives step t's (member, K) scores."""
    steps, nodes = observed.shape
    log_w = np.zeros((members, nodes))
    weights = np.empty((members, steps, nodes))
    for t in range(steps):
        shifted = np.exp(log_w - log_w.max(axis=0))
        weights[:, t] = shifted / shifted.sum(axis=0)
        if not observed[t].any():
            continue
        scores = np.where(observed[t], score_at(t, weights[:, t]), 0.0)
        if pool == "network":
            log_w = forgetting * log_w + scores.sum(axis=1, keepdims=True) / observed[t].sum()
        else:
            log_w = np.where(observed[t], forgetting * log_w + scores, log_w)
    return weights


def average_weights(scores: np.ndarray, observed: np.ndarray, forgetting: float, pool: str = "node") -> np.ndarray:
    """:func:`online_weights` from fixed (member, T, K) scores (``score="density"``)."""
    return online_weights(lambda t, _: scores[:, t], observed, scores.shape[0], forgetting, pool)


def mixture_moments(weights: np.ndarray, means: np.ndarray, variances: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mean and variance of the mixture with these weights (over the leading member axis)."""
    mean = np.sum(weights * means, axis=0)
    return mean, np.maximum(np.sum(weights * (variances + means**2), axis=0) - mean**2, 0.0)


def mean_scores(means: np.ndarray, variances: np.ndarray, labels: np.ndarray) -> Callable:
    """``score="mean"``: each member's mean scored by a Gaussian at the mixture's variance."""
    floor = np.finfo(np.float64).eps * np.maximum(1.0, np.max(np.abs(means), axis=0)) ** 2

    def score_at(t: int, weights: np.ndarray) -> np.ndarray:
        _, var = mixture_moments(weights, means[:, t], variances[:, t])
        var = np.maximum(var, floor[t])
        return -0.5 * (LOG_2PI + np.log(var) + (labels[t] - means[:, t]) ** 2 / var)
    return score_at


def mixture_log_density(weights: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """log sum_m w_m p_m(d), from the members' log densities, with no overflow."""
    with np.errstate(divide="ignore", invalid="ignore"):  # a weight of 0 is a log weight of -inf
        weighted = np.log(weights) + scores
        top = np.max(weighted, axis=0)
        return top + np.log(np.sum(np.exp(weighted - top), axis=0))


def learnt_weights(means, variances, scores, labels, observed, forgetting: tuple[float, ...], pool: str,
                   score: str) -> tuple[np.ndarray, np.ndarray | None]:
    """The members' (member, T, K) weights, and with several forgetting factors the second
    mixture's (factor, T, K) weights over the mixtures of each factor (else None)."""
    def level(m, v, s, factor):
        if score == "density":
            return average_weights(s, observed, factor, pool)
        return online_weights(mean_scores(m, v, labels), observed, len(m), factor, pool)

    per_factor = np.stack([level(means, variances, scores, f) for f in forgetting])
    if len(forgetting) == 1:
        return per_factor[0], None
    if score == "density":  # the second mixture scores each factor's mixture as the first scores members
        top = level(None, None, np.stack([mixture_log_density(w, scores) for w in per_factor]), 1.0)
    else:
        mixtures = [mixture_moments(w, means, variances) for w in per_factor]
        top = level(np.stack([m for m, _ in mixtures]), np.stack([v for _, v in mixtures]), None, 1.0)
    return np.einsum("ftk,fmtk->mtk", top, per_factor), top


def calibrated(mean: np.ndarray, var: np.ndarray, labels: np.ndarray, observed: np.ndarray,
               pool: str) -> np.ndarray:
    """``var`` scaled by c_t, the discounted mean over earlier labels of squared error over
    variance (1 before any label), pooled over the network or kept per node."""
    ratio = np.where(observed, (labels - mean) ** 2 / np.maximum(var, np.finfo(np.float64).tiny), 0.0)
    total, count = np.zeros(var.shape[1]), np.zeros(var.shape[1])
    out = np.empty_like(var)
    for t in range(var.shape[0]):
        out[t] = var[t] * np.where(count > 0, total / np.maximum(count, 1e-300), 1.0)
        if pool == "network":
            total = CALIBRATION_FORGETTING * total + ratio[t].sum()
            count = CALIBRATION_FORGETTING * count + observed[t].sum()
        else:
            total = np.where(observed[t], CALIBRATION_FORGETTING * total + ratio[t], total)
            count = np.where(observed[t], CALIBRATION_FORGETTING * count + 1.0, count)
    return out


def _forgetting_factors(forgetting: float | Sequence[float]) -> tuple[float, ...]:
    values = (forgetting,) if np.ndim(forgetting) == 0 else tuple(forgetting)  # type: ignore[arg-type]
    if not values:
        raise OptionError("forgetting needs at least one factor in (0, 1]")
    factors = tuple(number("forgetting", f, float, 0.0, 1.0, low_open=True) for f in values)
    if len(set(factors)) != len(factors):
        raise OptionError(f"forgetting factors must differ; got {values}")
    return factors


def model_average(results: Mapping[str, RunResult], forgetting: float | Sequence[float] = DEFAULT_FORGETTING,
                  name: str = "average", pool: str = "network", score: str = "mean",
                  calibrate: bool = False) -> RunResult:
    """The online mixture of ``results`` ({label: RunResult}, every one on the same stream, every
    step kept): a RunResult scored like any run, whose diagnostics hold the mixture's
    ``predictive_var`` and ``log_pred_density``, each member's weight (``weight``, over
    ``member``) and, with several forgetting factors, each factor's weight
    (``forgetting_weight``, over ``forgetting``). ``forgetting``: one factor in (0, 1] or
    several (learnt among them); ``pool``: "network" or "node"; ``score``: "mean" or
    "density"; ``calibrate``: rescale the variance to the errors. See the module docstring."""
    factors = _forgetting_factors(forgetting)
    pool, score = choose("pool", pool, POOLS), choose("score", score, SCORES)
    labels, means, variances, scores = _members(results)
    first = results[labels[0]]
    observed = first.observed
    if not np.isfinite(scores[:, observed]).all() or not np.isfinite(means[:, observed]).all():
        raise InputError("a member's forecast or log score is not finite at an observed label: it cannot be averaged")
    targets = np.where(observed, first.labels, 0.0)
    scores = np.where(observed, scores, 0.0)
    weights, factor_weights = learnt_weights(means, variances, scores, targets, observed, factors, pool, score)
    mean, var = mixture_moments(weights, means, variances)
    log_density = mixture_log_density(weights, scores)
    if calibrate:
        var = calibrated(mean, var, targets, observed, pool)
        log_density = -0.5 * (LOG_2PI + np.log(var) + (targets - mean) ** 2 / var)
    _, _, tae = accumulate_tae(None, None, mean, first.labels, observed)
    coords = {"time": np.asarray(first.diagnostics["time"]), "node": np.arange(mean.shape[1])}
    variables = {"prediction": (("time", "node"), mean), "predictive_var": (("time", "node"), var),
                 "log_pred_density": (("time", "node"), log_density),
                 "weight": (("member", "time", "node"), weights)}
    if factor_weights is not None:
        variables["forgetting_weight"] = (("forgetting", "time", "node"), factor_weights)
    extra = {"forgetting": np.asarray(factors)} if factor_weights is not None else {}
    diagnostics = xr.Dataset(variables, coords={**coords, "member": labels, **extra})
    return RunResult(
        method=name, predictions=mean, labels=first.labels, observed=observed,
        tae=xr.DataArray(tae.T, coords=coords, dims=("node", "time"), name="tae"), diagnostics=diagnostics,
        final_state=None, seconds=sum(r.seconds for r in results.values()), compilations=0,
        config={"method": name, "fusion": "average", "members": labels,
                "forgetting": factors[0] if len(factors) == 1 else list(factors), "pool": pool, "score": score,
                "calibrate": bool(calibrate), **{k: v for k, v in first.config.items() if k in ("unit", "stream")}},
        compile_seconds=sum(r.compile_seconds for r in results.values()))
