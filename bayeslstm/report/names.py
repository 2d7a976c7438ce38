"""Names in a run's InferenceData: the dimensions of each weight block, one label per entry of
the flat weight vector, and file-safe stems for method labels."""

from __future__ import annotations

import re

import numpy as np

from ..model.layout import ParamLayout

_SEMANTIC = (
    (re.compile(r"^W(_\w+)?$"), ("hidden", "feature")),
    (re.compile(r"^R(_\w+)?$"), ("hidden", "hidden_prev")),
    (re.compile(r"^b(_(?!out$)\w+)?$"), ("hidden",)),
    (re.compile(r"^w_out$"), ("hidden",)),
    (re.compile(r"^b_out$"), ()),
)


def parameter_dims(layout: ParamLayout) -> dict[str, tuple[str, ...]]:
    """Dimension names of every block of ``layout``.

    Recurrent layouts (``W_*``: hidden x feature, ``R_*``: hidden x hidden_prev, ``b_*`` and
    ``w_out``: hidden) get those names when their sizes agree; any other block gets ArviZ's
    default ``<name>_dim_<i>``.
    """
    generic = {n: tuple(f"{n}_dim_{i}" for i in range(len(s))) for n, s in zip(layout.names, layout.shapes)}
    named: dict[str, tuple[str, ...]] = {}
    for name, shape in zip(layout.names, layout.shapes):
        for pattern, dims in _SEMANTIC:
            if pattern.match(name) and len(dims) == len(shape):
                named[name] = dims
                break
    shapes = dict(zip(layout.names, layout.shapes))
    sizes: dict[str, set[int]] = {}
    for name, block_dims in named.items():
        for dim, size in zip(block_dims, shapes[name]):
            sizes.setdefault("hidden" if dim == "hidden_prev" else dim, set()).add(size)
    if any(len(v) > 1 for v in sizes.values()):
        return generic
    return {**generic, **named}


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


