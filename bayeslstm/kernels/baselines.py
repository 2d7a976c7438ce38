"""Trivial baselines, so a reader can see that the learning is real.

* ``baseline-last``: the previous label seen (or, with ``target_feature=j``, the last value of
  input column j in the sequence, e.g. the target's own past when it is a feature);
* ``baseline-mean``: the running mean of the past labels.

Both are kernels like the filters (``init``/``step`` over a NamedTuple state), so they run in
the ``local`` (per node) and ``centralized`` (all nodes' labels) modes, and are scored the same
way. The predictive variance is the mean of the forecast's own past squared errors (of the
predictions made once a label had been seen), with two more: the running variance of the past
labels (1 before two labels) and 1, the variance of the frame the labels come in (standardised,
or a table's labels over its target's standard deviation). That gives each an honest log
predictive density, and so a fair weight in a model average (the last value of a persistent
series errs far less than the labels vary), and never a variance near 0 after a few exact
forecasts of a series that repeats its values.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
from jax import Array

from ..errors import OptionError, number
from .protocol import Batch, Kernel, gaussian_log_density

MIN_VAR = 1e-6


class BaselineState(NamedTuple):
    last: Array  # the last label seen (0 before any)
    count: Array  # type: ignore[assignment]  # labels seen (the field shadows tuple.count)
    mean: Array  # their running mean
    m2: Array  # sum of squared deviations (Chan et al.'s pairwise update)
    sq_errors: Array  # sum of the squared errors of the predictions made after a label was seen
    errors: Array  # how many such errors


class BaselineInfo(NamedTuple):
    prediction: Array  # (B,)
    predictive_var: Array  # (B,)
    log_pred_density: Array  # (B,)


def _last_input(batch: Batch, column: int) -> Array:
    """Input column ``column`` at each entry's last valid sequence step: (B,)."""
    last = jnp.maximum(jnp.sum(batch.mask, axis=1) - 1, 0)
    return jnp.take_along_axis(batch.X[..., column], last[:, None], axis=1)[:, 0]


def baseline(kind: str, ssm=None, target_feature: int | None = None) -> Kernel:
    """A ``last`` or ``mean`` baseline kernel (``ssm`` is accepted and unused: no model is learnt)."""
    if kind not in ("last", "mean"):
        raise OptionError(f"baseline kind must be 'last' or 'mean'; got {kind!r}")
    if target_feature is not None:
        target_feature = number("target_feature", target_feature, int, 0)

    def init(key: Array) -> BaselineState:
        zero = jnp.zeros((), jnp.result_type(float))
        return BaselineState(zero, zero, zero, zero, zero, zero)

    def step(key: Array, state: BaselineState, batch: Batch) -> tuple[BaselineState, BaselineInfo]:
        B = batch.d.shape[0]
        if kind == "mean":
            prediction = jnp.broadcast_to(state.mean, (B,))
        elif target_feature is None:
            prediction = jnp.broadcast_to(state.last, (B,))
        else:
            if target_feature >= batch.X.shape[-1]:
                raise OptionError(f"target_feature={target_feature} but the inputs have {batch.X.shape[-1]} columns")
            prediction = _last_input(batch, int(target_feature)).astype(state.mean.dtype)
        label_var = jnp.where(state.count > 1, state.m2 / jnp.maximum(state.count - 1, 1), 1.0)
        var = (state.sq_errors + label_var + 1.0) / (state.errors + 2)
        var = jnp.broadcast_to(jnp.maximum(var, MIN_VAR), (B,))
        info = BaselineInfo(prediction, var, gaussian_log_density(batch.d, prediction, var))
        valid = batch.valid.astype(state.mean.dtype)
        n = jnp.sum(valid)
        scored = valid * (state.count > 0)
        sq_errors = state.sq_errors + jnp.sum(scored * (batch.d - prediction) ** 2)
        errors = state.errors + jnp.sum(scored)
        batch_mean = jnp.sum(valid * batch.d) / jnp.maximum(n, 1)
        batch_m2 = jnp.sum(valid * (batch.d - batch_mean) ** 2)
        total = state.count + n
        delta = batch_mean - state.mean
        mean = jnp.where(n > 0, state.mean + delta * n / jnp.maximum(total, 1), state.mean)
        m2 = jnp.where(n > 0, state.m2 + batch_m2 + delta**2 * state.count * n / jnp.maximum(total, 1), state.m2)
        last_valid = jnp.max(jnp.where(batch.valid, jnp.arange(B), -1))
        last = jnp.where(last_valid >= 0, batch.d[jnp.maximum(last_valid, 0)], state.last)
        return BaselineState(last.astype(state.mean.dtype), total, mean, m2, sq_errors, errors), info

    return Kernel(init, step, f"baseline-{kind}")
