"""A plain tanh (Elman) RNN regressor in the same form as the LSTM."""

from __future__ import annotations

import jax.numpy as jnp
from jax import Array

from .layout import ParamLayout, unflatten
from .recurrence import input_and_state, readout, recurrent_layout, run_cell


def rnn_layout(features: int, hidden: int, output_bias: bool = False, skip: bool = False) -> ParamLayout:
    """Elman RNN h_j = tanh(W x_j + R h_{j-1} + b): n(n+p+1) + n parameters."""
    return recurrent_layout(features, hidden, ("",), output_bias, skip)


def rnn_predict(layout: ParamLayout, theta: Array, X: Array, mask: Array, pooling: str = "mean") -> Array:
    """Scalar prediction of the RNN regressor for one sequence."""
    p = unflatten(layout, theta)

    def step(carry, x):
        (h,) = carry
        return (jnp.tanh(p["W"] @ x + p["R"] @ h + p["b"]),)

    X, zeros = input_and_state(p, X)
    return readout(p, run_cell(step, (zeros,), X, mask, pooling), X, mask)
