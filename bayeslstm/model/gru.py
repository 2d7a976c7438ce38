"""A GRU regressor in the same form as the LSTM: same masking, pooling and read-out, so a
declaration can swap the cell and every kernel runs unchanged."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import Array

from .layout import ParamLayout, unflatten
from .recurrence import input_and_state, readout, recurrent_layout, run_cell


def gru_layout(features: int, hidden: int, output_bias: bool = False, skip: bool = False) -> ParamLayout:
    """GRU gates r (reset), u (update), c (candidate): 3n(n+p+1) + n parameters."""
    return recurrent_layout(features, hidden, ("r", "u", "c"), output_bias, skip)


def gru_predict(layout: ParamLayout, theta: Array, X: Array, mask: Array, pooling: str = "mean") -> Array:
    """Scalar prediction of the GRU regressor for one sequence."""
    p = unflatten(layout, theta)

    def step(carry, x):
        (h,) = carry
        r = jax.nn.sigmoid(p["W_r"] @ x + p["R_r"] @ h + p["b_r"])
        u = jax.nn.sigmoid(p["W_u"] @ x + p["R_u"] @ h + p["b_u"])
        c = jnp.tanh(p["W_c"] @ x + p["R_c"] @ (r * h) + p["b_c"])
        return ((1.0 - u) * c + u * h,)

    X, zeros = input_and_state(p, X)
    return readout(p, run_cell(step, (zeros,), X, mask, pooling), X, mask)
