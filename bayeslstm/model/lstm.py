"""The LSTM regressor of one node, as pure JAX functions.

A standard LSTM without peepholes whose state starts at zero for every sequence:

    z = tanh(W_z x + R_z h + b_z),   i = sigmoid(W_i x + R_i h + b_i)
    f = sigmoid(W_f x + R_f h + b_f), o = sigmoid(W_o x + R_o h + b_o)
    c' = i * z + f * c,               h' = o * tanh(c')

pooled over the valid steps and read out linearly (:mod:`bayeslstm.model.recurrence`); the
parameter vector theta = (W_*, R_*, b_*, w_out) has 4n(n+p+1) + n entries.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import Array

from .layout import ParamLayout, unflatten
from .recurrence import input_and_state, readout, recurrent_layout, run_cell

GATES = ("z", "i", "f", "o")


def lstm_layout(features: int, hidden: int, output_bias: bool = False, skip: bool = False) -> ParamLayout:
    """Layout of theta = (W_*, R_*, b_*, w_out[, b_out]); size 4n(n+p+1) + n (+1)."""
    return recurrent_layout(features, hidden, GATES, output_bias, skip)


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


def lstm_features(params: dict[str, Array], X: Array, mask: Array, pooling: str = "mean") -> Array:
    """Pooled hidden state hbar (n,) of one sequence."""
    X, zeros = input_and_state(params, X)
    return run_cell(lstm_cell(params), (zeros, zeros), X, mask, pooling)


def lstm_predict(layout: ParamLayout, theta: Array, X: Array, mask: Array, pooling: str = "mean") -> Array:
    """Scalar prediction f(theta, X) of the LSTM regressor for one sequence."""
    params = unflatten(layout, theta)
    return readout(params, lstm_features(params, X, mask, pooling), X, mask)
