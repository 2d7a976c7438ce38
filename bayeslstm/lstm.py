"""The LSTM regressor of one node (spec section 2), as pure JAX functions.

One sequence ``X`` (m, p) with a boolean ``mask`` (m,) goes through an LSTM without
peepholes whose state starts at zero; the hidden states of the valid steps are pooled
(mean by default, as in the paper; last and max offered) and a linear read-out gives the
scalar prediction. Padded steps (mask False) leave the state and the pooled value exactly
as if they were absent: the carry is kept with ``where`` and the pooled sums add exact
zeros. Batches of sequences, nodes or particles are handled with ``vmap``.

The recurrence itself is generic (:func:`run_cell`) so that other cells (GRU, plain RNN in
:mod:`bayeslstm.recurrent`) reuse the masking and pooling.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
from jax import Array

from .errors import choose
from .layout import ParamLayout, unflatten

POOLINGS = ("mean", "last", "max")
GATES = ("z", "i", "f", "o")


def lstm_layout(features: int, hidden: int, output_bias: bool = False) -> ParamLayout:
    """Layout of theta = (W_*, R_*, b_*, w_out[, b_out]); size 4n(n+p+1) + n (+1)."""
    names, shapes = [], []
    for prefix, shape in (("W", (hidden, features)), ("R", (hidden, hidden)), ("b", (hidden,))):
        for gate in GATES:
            names.append(f"{prefix}_{gate}")
            shapes.append(shape)
    names.append("w_out")
    shapes.append((hidden,))
    if output_bias:
        names.append("b_out")
        shapes.append(())
    return ParamLayout(tuple(names), tuple(shapes))


def lstm_cell(params: dict[str, Array]) -> Callable[[tuple[Array, Array], Array], tuple[Array, Array]]:
    """The LSTM step (h, c), x -> (h', c') with the four gates fused in one matrix product."""
    weights = jnp.concatenate(
        [jnp.concatenate([params[f"W_{g}"], params[f"R_{g}"]], axis=1) for g in GATES], axis=0
    )  # (4n, p + n)
    bias = jnp.concatenate([params[f"b_{g}"] for g in GATES])

    def step(carry, x):
        h, c = carry
        pre = weights @ jnp.concatenate([x, h]) + bias
        z, i, f, o = jnp.split(pre, 4)
        c = jax.nn.sigmoid(i) * jnp.tanh(z) + jax.nn.sigmoid(f) * c
        h = jax.nn.sigmoid(o) * jnp.tanh(c)
        return h, c

    return step


def run_cell(step, init_carry, X: Array, mask: Array, pooling: str = "mean") -> Array:
    """Run a recurrent ``step`` over the valid steps of ``X`` and pool the hidden states.

    ``step(carry, x) -> carry`` where ``carry[0]`` is the hidden state ``h``; masked steps
    keep the previous carry exactly.
    """
    choose("pooling", pooling, POOLINGS)
    hidden = init_carry[0].shape[0]
    dtype = init_carry[0].dtype
    mask = mask.astype(bool)

    def body(state, inputs):
        carry, total, peak = state
        x, valid = inputs
        proposed = step(carry, x)
        carry = jax.tree_util.tree_map(lambda new, old: jnp.where(valid, new, old), proposed, carry)
        h = carry[0]
        total = total + jnp.where(valid, h, jnp.zeros_like(h))
        peak = jnp.where(valid, jnp.maximum(peak, h), peak)
        return (carry, total, peak), None

    start = (init_carry, jnp.zeros(hidden, dtype), jnp.full(hidden, -jnp.inf, dtype))
    (carry, total, peak), _ = jax.lax.scan(body, start, (X, mask))
    if pooling == "mean":
        return total / jnp.maximum(jnp.sum(mask), 1).astype(dtype)
    if pooling == "last":
        return carry[0]
    return jnp.where(jnp.isfinite(peak), peak, 0.0)


def lstm_features(params: dict[str, Array], X: Array, mask: Array, pooling: str = "mean") -> Array:
    """Pooled hidden state hbar (n,) of one sequence."""
    X, zeros = input_and_state(params, X)
    return run_cell(lstm_cell(params), (zeros, zeros), X, mask, pooling)


def input_and_state(params: dict[str, Array], X: Array) -> tuple[Array, Array]:
    """X in the weights' precision (float32 data with float64 weights) and a zero state."""
    dtype = jnp.result_type(X.dtype, params["w_out"].dtype)
    return X.astype(dtype), jnp.zeros(params["w_out"].shape[0], dtype)


def readout(params: dict[str, Array], features: Array) -> Array:
    """dhat = w_out^T hbar (+ b_out when the layout has one)."""
    out = params["w_out"] @ features
    return out + params["b_out"] if "b_out" in params else out


def lstm_predict(layout: ParamLayout, theta: Array, X: Array, mask: Array, pooling: str = "mean") -> Array:
    """Scalar prediction f(theta, X) of the LSTM regressor for one sequence."""
    params = unflatten(layout, theta)
    return readout(params, lstm_features(params, X, mask, pooling))
