"""Names in a run's InferenceData: the dimensions of each weight block, one label per entry of
the flat weight vector, and file-safe stems for method labels."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np

from ..errors import InputError
from ..model.layout import ParamLayout, block_dims

_SEMANTIC = (
    (re.compile(r"^W(_\w+)?$"), ("hidden", "feature")),
    (re.compile(r"^R(_\w+)?$"), ("hidden", "hidden_prev")),
    (re.compile(r"^b(_(?!out$)\w+)?$"), ("hidden",)),
    (re.compile(r"^w_out$"), ("hidden",)),
    (re.compile(r"^b_out$"), ()),
)


def parameter_dims(layout: ParamLayout, dims: Mapping[str, Sequence[str]] | None = None) -> dict[str, tuple[str, ...]]:
    """Dimension names of every block of ``layout``.

    In order of precedence: ``dims`` (block -> one name per dimension, as ``from_numpyro``
    takes them), the names the model gives (``layout.dims``: its plates and
    ``infer={"dims": ...}`` annotations, the built-in models' ``hidden``/``feature``), then
    for blocks named like a recurrent layout's (``W_*``, ``R_*``, ``b_*``, ``w_out``) those
    names when their sizes agree, and ArviZ's default ``<name>_dim_<i>`` for any other.
    A dimension name must keep one size across blocks.
    """
    shapes = dict(zip(layout.names, layout.shapes))
    given = _checked_override(shapes, {name: value for name, value in block_dims(layout).items() if value is not None})
    given.update(_checked_override(shapes, dims or {}))
    _refuse_size_clashes(shapes, given)
    generic = {n: tuple(f"{n}_dim_{i}" for i in range(len(s))) for n, s in shapes.items()}
    guessed = _guessed_dims({n: s for n, s in shapes.items() if n not in given})
    if _size_clashes(shapes, guessed, recurrent=True) or _size_clashes(shapes, {**given, **guessed}):
        guessed = {}
    return {**generic, **guessed, **given}


def _checked_override(shapes: Mapping[str, tuple[int, ...]], dims: Mapping[str, Sequence[str]]) -> dict[str, tuple[str, ...]]:
    """``dims=`` checked: known blocks, one name (a string) per dimension, no ``chain``/``draw``."""
    checked = {}
    for name, value in dims.items():
        if name not in shapes:
            raise InputError(f"dims names {name!r}, which is not a weight block of this run; its blocks are "
                             f"{sorted(shapes)}")
        value = (value,) if isinstance(value, str) else tuple(value)
        if len(value) != len(shapes[name]) or not all(isinstance(d, str) and d for d in value):
            raise InputError(f"dims[{name!r}] = {value!r}: {name!r} has shape {shapes[name]}, so it needs "
                             f"{len(shapes[name])} names (strings)")
        if {"chain", "draw"} & set(value):
            raise InputError(f"dims[{name!r}] = {value!r}: 'chain' and 'draw' are ArviZ's own dimensions")
        checked[name] = value
    return checked


def _size_clashes(shapes: Mapping[str, tuple[int, ...]], dims: Mapping[str, tuple[str, ...]],
                  recurrent: bool = False) -> dict[str, set[int]]:
    """Dimension names given more than one size (``recurrent``: ``hidden_prev`` counts as ``hidden``)."""
    sizes: dict[str, set[int]] = {}
    for name, names in dims.items():
        for dim, size in zip(names, shapes[name]):
            sizes.setdefault(dim, set()).add(size)
    if recurrent and "hidden_prev" in sizes:
        sizes.setdefault("hidden", set()).update(sizes["hidden_prev"])
    return {dim: found for dim, found in sizes.items() if len(found) > 1}


def _refuse_size_clashes(shapes: Mapping[str, tuple[int, ...]], dims: Mapping[str, tuple[str, ...]]) -> None:
    """An InputError naming the first dimension given two sizes."""
    clashes = _size_clashes(shapes, dims)
    if clashes:
        dim, found = sorted(clashes.items())[0]
        users = sorted(name for name, value in dims.items() if dim in value)
        raise InputError(f"dimension {dim!r} has sizes {sorted(found)} in {users}: a dimension keeps one size; "
                         "give the blocks different dimension names (dims=)")


def _guessed_dims(shapes: Mapping[str, tuple[int, ...]]) -> dict[str, tuple[str, ...]]:
    """The recurrent names of blocks named like a recurrent layout's, where the ranks agree."""
    named: dict[str, tuple[str, ...]] = {}
    for name, shape in shapes.items():
        for pattern, dims in _SEMANTIC:
            if pattern.match(name) and len(dims) == len(shape):
                named[name] = dims
                break
    return named


def parameter_labels(layout: ParamLayout) -> list[str]:
    """One label per entry of the flat vector theta, e.g. ``W_i[0,1]``."""
    labels: list[str] = []
    for name, shape in zip(layout.names, layout.shapes):
        labels += [f"{name}[{','.join(map(str, index))}]" for index in np.ndindex(*shape)] if shape else [name]
    return labels


def netcdf_name(label: str) -> str:
    """A file-system-safe stem for a method label: ``pf@centralized`` -> ``pf_centralized``."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", label).strip("._")
    return stem or "run"


