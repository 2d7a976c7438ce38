"""Other recurrent regressors in the same form as the LSTM: a GRU and a plain tanh RNN.

They share the LSTM's masking, pooling and read-out (:func:`bayeslstm.lstm.run_cell`), so a
declaration can swap the cell and every kernel runs unchanged.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import Array

from .layout import ParamLayout, unflatten
from .lstm import input_and_state, readout, run_cell


def gru_layout(features: int, hidden: int, output_bias: bool = False) -> ParamLayout:
    """GRU gates r (reset), u (update), c (candidate): 3n(n+p+1) + n parameters."""
    names, shapes = [], []
    for prefix, shape in (("W", (hidden, features)), ("R", (hidden, hidden)), ("b", (hidden,))):
        for gate in ("r", "u", "c"):
            names.append(f"{prefix}_{gate}")
            shapes.append(shape)
    names.append("w_out")
    shapes.append((hidden,))
    if output_bias:
        names.append("b_out")
        shapes.append(())
    return ParamLayout(tuple(names), tuple(shapes))


def gru_predict(layout: ParamLayout, theta: Array, X: Array, mask: Array, pooling: str = "mean") -> Array:
    p = unflatten(layout, theta)

    def step(carry, x):
        (h,) = carry
        r = jax.nn.sigmoid(p["W_r"] @ x + p["R_r"] @ h + p["b_r"])
        u = jax.nn.sigmoid(p["W_u"] @ x + p["R_u"] @ h + p["b_u"])
        c = jnp.tanh(p["W_c"] @ x + p["R_c"] @ (r * h) + p["b_c"])
        return ((1.0 - u) * c + u * h,)

    X, zeros = input_and_state(p, X)
    return readout(p, run_cell(step, (zeros,), X, mask, pooling))


def rnn_layout(features: int, hidden: int, output_bias: bool = False) -> ParamLayout:
    """Elman RNN h_j = tanh(W x_j + R h_{j-1} + b): n(n+p+1) + n parameters."""
    names = ["W", "R", "b", "w_out"] + (["b_out"] if output_bias else [])
    shapes = [(hidden, features), (hidden, hidden), (hidden,), (hidden,)] + ([()] if output_bias else [])
    return ParamLayout(tuple(names), tuple(shapes))


def rnn_predict(layout: ParamLayout, theta: Array, X: Array, mask: Array, pooling: str = "mean") -> Array:
    p = unflatten(layout, theta)

    def step(carry, x):
        (h,) = carry
        return (jnp.tanh(p["W"] @ x + p["R"] @ h + p["b"]),)

    X, zeros = input_and_state(p, X)
    return readout(p, run_cell(step, (zeros,), X, mask, pooling))
