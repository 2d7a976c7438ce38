"""The kernel interface every inference method implements (BlackJAX style).

A kernel is a pair of pure functions over NamedTuple states:

* ``init(key) -> state``
* ``step(key, state, batch) -> (state, info)``

``batch`` holds the examples the filter conditions on at this step (one for a lone node,
all nodes' for a centralized filter, the neighbours' for diffusion). ``step`` first predicts
every entry of the batch with what it knew before (``info.prediction``,
``info.predictive_var``, ``info.log_pred_density``), then updates. Entries whose ``valid``
flag is False (padding of a neighbour table, missing data) are predicted but not learnt from.
Both functions jit and vmap over a leading node axis.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax.numpy as jnp
from jax import Array


class Batch(NamedTuple):
    """Examples seen in one step: X (B, m, p), mask (B, m), d (B,), valid (B,)."""

    X: Array
    mask: Array
    d: Array
    valid: Array


class Kernel(NamedTuple):
    """``init(key) -> state`` and ``step(key, state, batch) -> (state, info)``."""

    init: Callable[[Array], Any]
    step: Callable[[Array, Any, Batch], tuple[Any, Any]]
    name: str = "kernel"


def single(X: Array, mask: Array, d: Array) -> Batch:
    """A batch of one example (the local, non-cooperative case)."""
    return Batch(X[None], mask[None], jnp.reshape(d, (1,)), jnp.ones((1,), bool))


def gaussian_log_density(d: Array, mean: Array, var: Array) -> Array:
    """log N(d; mean, var), elementwise."""
    return -0.5 * (jnp.log(2.0 * jnp.pi * var) + (d - mean) ** 2 / var)
