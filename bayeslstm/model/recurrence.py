"""The recurrence every built-in cell shares: masked steps, pooling and the linear read-out.

One sequence ``X`` (m, p) with a boolean ``mask`` (m,) goes through a recurrent ``step``
whose state starts at zero; the hidden states of the valid steps are pooled (mean by
default, as in Ergen & Kozat; last and max offered) and a linear read-out gives the scalar
prediction. Padded steps (mask False) leave the state and the pooled value exactly as if
they were absent: the carry is kept with ``where`` and the pooled sums add exact zeros.
Batches of sequences, nodes or particles are handled with ``vmap``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import Array

from ..errors import ModelError, choose
from .layout import ParamLayout

POOLINGS = ("mean", "last", "max")


def recurrent_layout(features: int, hidden: int, gates: tuple[str, ...], output_bias: bool = False,
                     skip: bool = False) -> ParamLayout:
    """Input weights ``W_g`` (n, p), recurrent weights ``R_g`` (n, n) and biases ``b_g`` (n,) for
    each gate g (named ``W``, ``R``, ``b`` for a single unnamed gate ``""``), then the read-out
    ``w_out`` (n,), optionally ``b_out``, and optionally ``w_skip`` (p,), a linear term of the
    sequence's last input row: len(gates) * n(n+p+1) + n (+1) (+p) parameters. Reports name
    their dimensions ``hidden``, ``feature`` and ``hidden_prev``."""
    names: list[str] = []
    shapes: list[tuple[int, ...]] = []
    dims: list[tuple[str, ...]] = []
    for prefix, shape, named in (("W", (hidden, features), ("hidden", "feature")),
                                 ("R", (hidden, hidden), ("hidden", "hidden_prev")), ("b", (hidden,), ("hidden",))):
        for gate in gates:
            names.append(f"{prefix}_{gate}" if gate else prefix)
            shapes.append(shape)
            dims.append(named)
    names.append("w_out")
    shapes.append((hidden,))
    dims.append(("hidden",))
    if output_bias:
        names.append("b_out")
        shapes.append(())
        dims.append(())
    if skip:
        names.append("w_skip")
        shapes.append((features,))
        dims.append(("feature",))
    return ParamLayout(tuple(names), tuple(shapes), dims=tuple(dims))


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


def input_and_state(params: dict[str, Array], X: Array) -> tuple[Array, Array]:
    """X in the weights' precision (float32 data with float64 weights) and a zero state."""
    dtype = jnp.result_type(X.dtype, params["w_out"].dtype)
    return X.astype(dtype), jnp.zeros(params["w_out"].shape[0], dtype)


def last_row(X: Array, mask: Array) -> Array:
    """The sequence's last valid input row (p,): valid steps come first."""
    return X[jnp.maximum(jnp.sum(mask.astype(jnp.int32)) - 1, 0)]


def naive_forecast(X: Array, mask: Array, column: int) -> Array:
    """The last valid value of input column ``column``: the naive forecast of a target that is
    among the features."""
    return last_row(X, mask)[column]


def readout(params: dict[str, Array], features: Array, X: Array | None = None, mask: Array | None = None) -> Array:
    """dhat = w_out^T hbar (+ b_out) (+ w_skip^T x_last) for the blocks the layout has."""
    out = params["w_out"] @ features
    if "b_out" in params:
        out = out + params["b_out"]
    if "w_skip" in params:
        if X is None or mask is None:
            raise ModelError("a read-out with w_skip needs the sequence X and its mask")
        out = out + params["w_skip"] @ last_row(X, mask).astype(out.dtype)
    return out
