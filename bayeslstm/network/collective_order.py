"""Collectives that run one after another, in program order, on every device.

XLA's CPU runtime starts a program's thunks as soon as their inputs are ready, on a thread
pool that the devices of one process share. Two collectives that do not depend on each other
(the diagnostics' all-gather and a halo exchange of the state, say) may then start in one order
on one device and in the other order on another. Each waits for its peers, and when the waiting
collectives hold every thread of the pool, the peers never come: with 4 CPU devices on 2 cores
a sharded run hung within minutes. XLA orders the collectives' starts, not their ends.

:func:`program_order` gives every collective of one traced step an input that depends on the
output of the one before it, so that on every device a collective starts only once the
previous one has finished. The dependency is a select on a condition that is false for every
value (NaN included) but that the compiler cannot prove false: the values exchanged are
unchanged, bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import Array
from jax.extend.core import get_opaque_trace_state


def _is_key(x: Array) -> bool:
    return jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def _scalar(x: Array) -> Array:
    """One float32 entry of ``x``: the token the next collective waits for."""
    data = jax.random.key_data(x) if _is_key(x) else x
    return jnp.ravel(data)[0].astype(jnp.float32)


def after(x: Array, token: Array) -> Array:
    """``x``, as computed only once ``token`` exists."""
    if _is_key(x):
        return jax.random.wrap_key_data(after(jax.random.key_data(x), token), impl=jax.random.key_impl(x))
    never = (token != token) & (token == token)  # noqa: PLR0124  (false even for NaN; not foldable)
    return jnp.where(never, jnp.zeros_like(x), x)


def program_order() -> Callable[[Callable], Callable]:
    """A wrapper for the collectives of one traced step: ``wrap(collective)`` is the collective
    run on inputs that wait for the previous wrapped collective's output.

    Call it inside the traced function. Inside a loop's body (its own trace) the first
    collective waits for the last one outside the loop, and the later ones for each other.
    """
    outer = get_opaque_trace_state()
    tokens: list[tuple[Any, Array]] = []  # (trace, token of the last collective in it)

    def token_here(here) -> Array | None:
        for trace, token in reversed(tokens):
            if trace == here:
                return token
        for trace, token in reversed(tokens):
            if trace == outer:  # an enclosing trace's value may be used in a nested one
                return token
        return None

    def record(here, token: Array) -> None:
        tokens[:] = [(trace, value) for trace, value in tokens if trace != here] + [(here, token)]

    def wrap(collective: Callable) -> Callable:
        def ordered(x, *args, **kwargs):
            here = get_opaque_trace_state()
            token = token_here(here)
            if token is not None:
                x = jax.tree_util.tree_map(lambda leaf: after(leaf, token), x)
            out = collective(x, *args, **kwargs)
            filled = [leaf for leaf in jax.tree_util.tree_leaves(out) if leaf.size]
            if filled:
                record(here, _scalar(filled[0]))
            return out

        return ordered

    return wrap
