"""Flat parameter vectors <-> named weights.

The filters work on one flat vector ``theta`` (the hidden state of the state-space model);
people and ArviZ want named weights (``W_i``, ``R_f``, ``w_out``...). A layout is the
ordered list of names and shapes that maps between the two.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import NamedTuple, TypeVar

import jax.numpy as jnp
import numpy as np
from jax import Array

ArrayT = TypeVar("ArrayT", Array, np.ndarray)  # JAX in, JAX out; NumPy in (reports), NumPy out


class ParamLayout(NamedTuple):
    """Ordered names and shapes of the blocks of a flat parameter vector, and where a block is
    kept in unconstrained coordinates (a positive noise scale as its logarithm, say), its
    support: a NumPyro constraint per block, None for real-valued blocks. ``dims``: the names
    of each block's dimensions where the model gives them (its plates, an ``infer={"dims": ...}``
    annotation, a built-in model's ``hidden``...), None for a block the model leaves unnamed;
    reports use them as ArviZ dimensions."""

    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    supports: tuple | None = None
    dims: tuple[tuple[str, ...] | None, ...] | None = None

    @property
    def size(self) -> int:
        return sum(math.prod(s) for s in self.shapes)

    @property
    def offsets(self) -> tuple[int, ...]:
        out, at = [], 0
        for shape in self.shapes:
            out.append(at)
            at += math.prod(shape)
        return tuple(out)


def block_dims(layout: ParamLayout) -> dict[str, tuple[str, ...] | None]:
    """The dimension names the model gives each block (None where it names none)."""
    return dict(zip(layout.names, layout.dims or (None,) * len(layout.names)))


def with_dims(names: tuple[str, ...], shapes: tuple[tuple[int, ...], ...], supports: tuple | None,
              dims: tuple[tuple[str, ...] | None, ...]) -> ParamLayout:
    """A layout whose ``dims`` is None when no block is named (so it equals the layout without)."""
    return ParamLayout(names, shapes, supports, dims if any(d is not None for d in dims) else None)


def unflatten(layout: ParamLayout, theta: ArrayT) -> dict[str, ArrayT]:
    """Split ``theta`` (..., size) into named blocks of shape (..., *block_shape)."""
    lead = theta.shape[:-1]
    return {
        name: theta[..., at : at + math.prod(shape)].reshape(*lead, *shape)
        for name, shape, at in zip(layout.names, layout.shapes, layout.offsets)
    }


def flatten(layout: ParamLayout, params: dict[str, Array]) -> Array:
    """Inverse of :func:`unflatten`."""
    first = params[layout.names[0]]
    lead = first.shape[: first.ndim - len(layout.shapes[0])]
    return jnp.concatenate(
        [jnp.reshape(params[name], (*lead, math.prod(shape))) for name, shape in zip(layout.names, layout.shapes)],
        axis=-1,
    )


def constrain(layout: ParamLayout, theta: ArrayT) -> Mapping[str, Array | np.ndarray]:
    """Named blocks of ``theta`` (..., size) in their own support: blocks kept in unconstrained
    coordinates are mapped back (``numpyro.distributions.transforms.biject_to``)."""
    blocks = unflatten(layout, theta)
    if layout.supports is None:
        return blocks
    from numpyro.distributions.transforms import biject_to

    return {name: value if support is None else biject_to(support)(value)
            for (name, value), support in zip(blocks.items(), layout.supports)}
