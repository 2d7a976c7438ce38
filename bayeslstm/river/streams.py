"""River streams as a network's stream: one river stream per node, or one stream split by a key.

Each node's step ``t`` reads its last ``window`` feature vectors up to and including its
``t``-th example (the sequence :class:`bayeslstm.river.regressor.Regressor` reads), so a distributed
method run with :func:`bayeslstm.run` on the result learns each river stream as the
regressor would, while the nodes talk over the graph::

    streams = split_by_key(datasets.Bikes().take(5000), "station")
    stream = network_stream(streams, window=8)     # a TableStream: results in the label's units
    result = bl.run(stream, "dekf", graph=nx.cycle_graph(stream.stream.nodes))
"""

from __future__ import annotations

import collections
import math
import numbers
from collections.abc import Hashable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import InputError

if TYPE_CHECKING:
    from ..data.tables import TableStream


def split_by_key(dataset: Iterable[tuple[dict, Any]], key: Hashable) -> list[list[tuple[dict, Any]]]:
    """One stream per value of feature ``key`` (in sorted order of the values), the key dropped from ``x``."""
    groups: dict[Any, list[tuple[dict, Any]]] = collections.defaultdict(list)
    for i, (x, y) in enumerate(dataset):
        if key not in x:
            raise InputError(f"example {i} has no feature {key!r} to split by")
        groups[x[key]].append(({k: v for k, v in x.items() if k != key}, y))
    if not groups:
        raise InputError("the dataset is empty")
    return [groups[value] for value in sorted(groups, key=repr)]


def network_stream(streams: Sequence[Iterable[tuple[dict, Any]]], window: int = 8,
                   features: Sequence[Hashable] | None = None, standardize: bool = True,
                   unit: str | None = None) -> TableStream:
    """A bayeslstm stream with one node per river stream of ``(x, y)`` pairs, cut by
    :func:`bayeslstm.table_stream` (so runs report in the label's units).

    Node ``k``'s step ``t`` reads its last ``window`` feature vectors up to and including its
    ``t``-th example, and predicts that example's label. ``features``: the input columns in
    order (default: every key seen, sorted); a missing key counts as 0. ``standardize``:
    features and labels scaled with statistics of the past only, as for any table (the first
    pairs, before the statistics exist, are skipped); False keeps the raw values, pair for
    pair the sequences :class:`~bayeslstm.river.regressor.Regressor` reads. Streams of
    different lengths run as long as the longest; a node whose stream has ended observes nothing.
    """
    import pandas as pd

    from ..data.tables import table_stream

    if isinstance(window, bool) or not isinstance(window, numbers.Integral) or window < 1:
        raise InputError(f"window must be a positive integer; got {window!r}")
    examples = [list(stream) for stream in streams]
    if not examples or any(not e for e in examples):
        raise InputError("network_stream needs at least one stream, and every stream at least one example")
    columns = list(features) if features is not None else sorted({k for e in examples for x, _ in e for k in x}, key=repr)
    if not columns:
        raise InputError("the streams have no features")
    names = [f"x{i}" for i in range(len(columns))]
    rows = [[*_row(x, columns, k, t), _label(y, k, t), k, t] for k, node in enumerate(examples) for t, (x, y) in enumerate(node)]
    frame = pd.DataFrame(rows, columns=[*names, "label", "node", "step"])
    return table_stream(frame, "label", features=names, group="node", order="step", window=("all", window), horizon=0,
                        nodes=len(examples), assign="group", standardize=standardize, unit=unit)


def finite_number(value: Any) -> bool:
    """Whether ``value`` is a real number (not a bool) and finite: what a feature or a label must be."""
    return not isinstance(value, bool) and isinstance(value, numbers.Real) and math.isfinite(value)


def _row(x: dict, columns: list, node: int, step: int) -> list[float]:
    values = []
    for key in columns:
        value = x.get(key, 0.0)
        if not finite_number(value):
            raise InputError(f"stream {node}, example {step}: feature {key!r} is {value!r}; features must be finite numbers")
        values.append(float(value))
    return values


def _label(y: Any, node: int, step: int) -> float:
    if not finite_number(y):
        raise InputError(f"stream {node}, example {step}: y is {y!r}; labels must be finite numbers")
    return float(y)
