"""Tables to streams: (variable-length sequence, label) pairs cut from rows, spread over nodes.

A table (a pandas DataFrame, a CSV or Parquet file, an xarray Dataset) is read in time
order: by the ``order`` column(s) when given, else in table order. One series per ``group``
value (a storm, a currency) or one series for the whole table. Each pair's input is the
last L rows of its series ending at some row i, its label the target ``horizon`` rows later
in the same series. Pairs go to nodes by a rule (round-robin, by group, in blocks) and each
node's pairs are its steps, in increasing label time.

Standardisation is online: a pair is standardised with the running mean and standard
deviation of the rows already seen when it is predicted, never with later rows (see
:func:`running_stats`), so a run on the stream uses no information from the future.
"""

from __future__ import annotations

import importlib.util
import os
from typing import NamedTuple

import numpy as np
import pandas as pd

from ..errors import InputError, choose
from .catalog import ASSIGNS, NAN_RULES
from .streams import Stream, make_stream
from .window import Window, parse_window, positive_int

WARMUP_ROWS = 2  # pairs predicted with fewer rows known are not emitted: no statistics yet
STD_FLOOR = 1e-8  # a running std below STD_FLOOR * max(1, |mean|) means "constant so far": scale 1


class TableStream(NamedTuple):
    """A standardised stream and what is needed to read it in the table's units.

    ``original = label_offset + label_scale * standardised``; ``labels`` are the labels in
    original units (NaN where unobserved); ``row_index`` is each label's row in the table as
    given (0-based position; -1 where unobserved); ``unit`` is the target's unit (e.g. ``"MPa"``),
    None when unknown or unitless: reports label their axes with it.
    """

    stream: Stream
    label_offset: np.ndarray  # (T, K)
    label_scale: np.ndarray  # (T, K)
    labels: np.ndarray  # (T, K), original units
    row_index: np.ndarray  # (T, K)
    features: tuple[str, ...]
    target: str
    info: dict
    unit: str | None = None


class Pairs(NamedTuple):
    """Pairs in label-time order; positions are rows of the time-sorted table."""

    end: np.ndarray  # (P,) last input row
    label: np.ndarray  # (P,) label row
    length: np.ndarray  # (P,) window length L
    group: np.ndarray  # (P,) group code
    rows: np.ndarray  # (P, M) input rows, oldest first, padded with the last one


def to_original_units(ts: TableStream, values) -> np.ndarray:
    """Standardised predictions (..., T, K) back in the target's units."""
    return ts.label_offset + ts.label_scale * np.asarray(values, np.float64)


def original_variance(ts: TableStream, var) -> np.ndarray:
    """Predictive variances (..., T, K) of standardised labels, in squared target units."""
    return np.asarray(var, np.float64) * ts.label_scale**2


def in_table_units(ts: TableStream) -> TableStream:
    """``ts`` with its labels, and the target's own input column, in the table's units up to one
    constant affine map: what a naive forecast learns from.

    A standardised label is scaled with the statistics of its own time, so averaging labels
    across steps in that frame mixes scales. Here ``d = (label - c) / s`` with ``c`` the table's
    running mean of the target when the first pair is predicted and ``s`` its first running
    standard deviation (past information only), and the returned offsets and scales are ``c`` and ``s``
    at every step: a method that predicts 0 before it has seen a label predicts ``c``, as it
    predicts the running mean in the standardised frame; running means, last values and
    variances are those of the labels as given, mapped by one fixed affine map, so their
    defaults (a variance of 1 before any data) mean one standard deviation of the target.
    """
    stream = ts.stream
    present = stream.observed & np.isfinite(ts.labels)
    c = float(ts.label_offset[present][0]) if present.any() else 0.0
    warm = ts.label_scale[present & np.isfinite(ts.label_scale) & (ts.label_scale > 0) & (ts.label_scale != 1.0)]
    s = float(warm[0]) if warm.size else 1.0  # the table's first running sd (its first rows have none: 1)
    d = np.where(present, (np.nan_to_num(ts.labels) - c) / s, 0.0).astype(stream.d.dtype)
    X = stream.X
    if ts.target in ts.features:
        j = ts.features.index(ts.target)
        X = X.copy()
        X[..., j] = (X[..., j] * ts.label_scale[..., None] + (ts.label_offset[..., None] - c)) / s
    shape = ts.label_offset.shape
    return ts._replace(stream=stream._replace(X=X, d=d), label_offset=np.full(shape, c), label_scale=np.full(shape, s))


def read_table(table) -> pd.DataFrame:
    """A DataFrame from a DataFrame, an xarray Dataset/DataArray or a CSV/TSV/Parquet path.

    The index is reset, so row positions are those of the table as given.
    """
    if isinstance(table, pd.DataFrame):
        return table.reset_index(drop=True)
    if hasattr(table, "to_dataframe"):  # xarray
        return table.to_dataframe().reset_index()
    if not isinstance(table, (str, os.PathLike)):
        raise InputError(f"table must be a DataFrame, an xarray Dataset or a file path; got {type(table).__name__}")
    path = os.fspath(table)
    if not os.path.isfile(path):
        raise InputError(f"no such file: {path}")
    name = os.path.basename(path).lower()
    if name.endswith((".parquet", ".pq")):
        if importlib.util.find_spec("pyarrow") is None and importlib.util.find_spec("fastparquet") is None:
            raise InputError(f"reading {path} needs a Parquet engine: pip install \"bayeslstm[parquet]\"")
        return _read(pd.read_parquet, path, "Parquet")
    if ".csv" in name or ".tsv" in name:
        tsv = ".tsv" in name
        return _read(lambda p: pd.read_csv(p, sep="\t" if tsv else ","), path, "TSV" if tsv else "CSV")
    raise InputError(f"cannot tell the format of {path}: use a .csv, .tsv, .parquet or .pq file")


def read_rows(table) -> pd.DataFrame:
    """:func:`read_table`, refusing a table without rows (a file with only its header)."""
    frame = read_table(table)
    if len(frame) == 0:
        raise InputError(f"the table has no rows, only the header {list(map(str, frame.columns))}")
    return frame


def _read(reader, path: str, form: str) -> pd.DataFrame:
    """``reader(path)``, with what goes wrong (a malformed or empty file, bytes that are not
    text) said as an InputError naming the file."""
    try:
        return reader(path)
    except pd.errors.EmptyDataError:
        raise InputError(f"{path} is empty: a {form} table needs a header row and data rows") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not a {form} text file (byte {exc.start} is not UTF-8)") from None
    except (pd.errors.ParserError, ValueError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{path} is not a readable {form} table: {first}") from None


def resolve_features(frame: pd.DataFrame, target: str, features, group, order: tuple[str, ...], horizon: int) -> tuple[str, ...]:
    """Check the named columns exist and are numeric; default features are every numeric
    column but the group and order columns (and the target when ``horizon == 0``)."""
    keys = ([group] if group is not None else []) + list(order)
    named = [target] + keys + ([] if features is None else list(features))
    missing = [c for c in named if c not in frame.columns]
    if missing:
        raise InputError(f"column(s) {missing} not in the table; available: {list(frame.columns)}")
    if features is None:
        skip = set(keys) | ({target} if horizon == 0 else set())
        features = [c for c in frame.columns if c not in skip and pd.api.types.is_numeric_dtype(frame[c])]
    features = tuple(features)
    if not features:
        raise InputError(f"no numeric feature columns; available: {list(frame.columns)}; name them with features=[...]")
    if len(set(features)) != len(features):
        raise InputError(f"features repeat a column: {list(features)}")
    if horizon == 0 and target in features:
        raise InputError(f"target {target!r} is among the features with horizon=0: the input would contain the "
                         "label; leave it out of features or forecast with horizon >= 1")
    for column in (target,) + features:
        if not pd.api.types.is_numeric_dtype(frame[column]):
            raise InputError(f"column {column!r} is not numeric (dtype {frame[column].dtype}); "
                             "convert it to numbers or leave it out")
    return features


def clean_rows(frame: pd.DataFrame, numeric: list[str], keys: list[str], nan: str) -> tuple[pd.DataFrame, int]:
    """Refuse (``nan="fail"``) or drop (``"drop"``) rows with NaN/inf in the used columns."""
    choose("nan rule", nan, NAN_RULES)
    values = frame[numeric].to_numpy(np.float64, na_value=np.nan)
    bad = ~np.isfinite(values)
    bad_keys = frame[keys].isna().to_numpy() if keys else np.zeros((len(frame), 0), bool)
    bad_rows = bad.any(axis=1) | bad_keys.any(axis=1)
    if not bad_rows.any():
        return frame, 0
    if nan == "fail":
        row = int(np.argmax(bad_rows))
        columns = [c for c, b in zip(numeric + keys, np.concatenate([bad[row], bad_keys[row]])) if b]
        raise InputError(f"missing or infinite value in column {columns[0]!r} at row {frame.index[row]} "
                         f"({int(bad_rows.sum())} such rows); clean the table or pass nan='drop'")
    return frame[~bad_rows], int(bad_rows.sum())


def time_sort(frame: pd.DataFrame, order: tuple[str, ...]) -> tuple[pd.DataFrame, np.ndarray]:
    """The table sorted stably by ``order`` and each row's time id (equal order values tie)."""
    if not order:
        return frame, np.arange(len(frame))
    frame = frame.sort_values(list(order), kind="stable")
    keys = frame[list(order)]
    changed = (keys.iloc[1:].to_numpy() != keys.iloc[:-1].to_numpy()).any(axis=1)
    return frame, np.concatenate([[0], np.cumsum(changed)])


def running_stats(values: np.ndarray, seen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and scale of the first ``seen[j]`` rows of ``values`` (N, C), per query j: (J, C).

    Prefix sums (shifted by the first row, in float64) give every query at once. Warm-up:
    no row seen gives mean 0, scale 1; one row gives its value as the mean and scale 1.
    A sample std below STD_FLOOR * max(1, |mean|) (a column constant so far) gives scale 1:
    centred, not blown up.
    """
    shift = values[:1]
    centred = values - shift
    sums = np.concatenate([np.zeros((1, values.shape[1])), np.cumsum(centred, axis=0)])
    squares = np.concatenate([np.zeros((1, values.shape[1])), np.cumsum(centred**2, axis=0)])
    n = seen[:, None].astype(np.float64)
    mean_c = sums[seen] / np.maximum(n, 1.0)
    var = np.maximum(squares[seen] - n * mean_c**2, 0.0) / np.maximum(n - 1.0, 1.0)
    mean = np.where(n >= 1, shift + mean_c, 0.0)
    std = np.sqrt(var)
    scale = np.where((n >= WARMUP_ROWS) & (std > STD_FLOOR * np.maximum(1.0, np.abs(mean))), std, 1.0)
    return mean, scale


def seen_rows(time_id: np.ndarray, end: np.ndarray, label: np.ndarray) -> np.ndarray:
    """Rows known when a pair is predicted: up to the window's end time, before the label time.

    With the table sorted by time, those are the first ``seen`` rows: every row at or before
    the end row's time, but none at or after the label row's time (for ``horizon=0`` the
    label row is the end row, and neither it nor rows tied with it count).
    """
    through_end = np.searchsorted(time_id, time_id[end], side="right")
    before_label = np.searchsorted(time_id, time_id[label], side="left")
    return np.minimum(through_end, before_label)


def make_pairs(codes: np.ndarray, window: Window, horizon: int, rng: np.random.Generator) -> Pairs:
    """Every (window, label) pair of every series, in label-time order, lengths drawn by ``rng``.

    ``codes``: the group code of each row of the time-sorted table.
    """
    by_group = np.argsort(codes, kind="stable")  # rows grouped, in time order within a group
    counts = np.bincount(codes)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    position = np.empty(len(codes), np.int64)
    position[by_group] = np.arange(len(codes)) - starts[codes[by_group]]
    history = position + 1
    keep = (history >= window.min_len) & (position + horizon < counts[codes])
    end = np.flatnonzero(keep)
    label = by_group[starts[codes[end]] + position[end] + horizon]
    by_time = np.argsort(label, kind="stable")
    end, label = end[by_time], label[by_time]
    upper = history[end] if window.max_len is None else np.minimum(history[end], window.max_len)
    length = upper if window.grow else rng.integers(window.min_len, upper + 1)
    width = int(length.max()) if len(end) else 1
    first = starts[codes[end]] + position[end] - length + 1
    offsets = np.minimum(np.arange(width)[None, :], length[:, None] - 1)
    return Pairs(end, label, length.astype(np.int32), codes[end], by_group[first[:, None] + offsets])


def rank_within(node: np.ndarray, nodes: int) -> np.ndarray:
    """Each pair's step: its rank among the pairs of its node, in pair order."""
    ordered = np.argsort(node, kind="stable")
    starts = np.concatenate([[0], np.cumsum(np.bincount(node, minlength=nodes))[:-1]])
    step = np.empty(len(node), np.int64)
    step[ordered] = np.arange(len(node)) - starts[node[ordered]]
    return step


def assign_nodes(pair_group: np.ndarray, nodes: int, assign: str) -> np.ndarray:
    """Node of each pair (pairs in label-time order) under round-robin, group or block."""
    count = len(pair_group)
    if assign == "round-robin":
        return np.arange(count) % nodes
    if assign == "group":
        used, index = np.unique(pair_group, return_inverse=True)  # codes follow first appearance
        if len(used) < nodes:
            raise InputError(f"{len(used)} series cannot fill {nodes} nodes with assign='group'; "
                             "use fewer nodes or assign='round-robin'")
        return index % nodes
    bounds = np.cumsum([len(b) for b in np.array_split(np.arange(count), nodes)])
    return np.searchsorted(bounds, np.arange(count), side="right")


def check_options(window, horizon, nodes, max_steps, assign: str, nan: str) -> tuple[Window, int, int, int | None]:
    """The parsed window and the checked horizon, nodes and max_steps; refuse anything else."""
    choose("assign rule", assign, ASSIGNS)
    choose("nan rule", nan, NAN_RULES)
    if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)) or horizon < 0:
        raise InputError(f"horizon must be an integer >= 0; got {horizon!r}")
    max_steps = None if max_steps is None else positive_int("max_steps", max_steps)
    return parse_window(window), int(horizon), positive_int("nodes", nodes), max_steps


def usable_pairs(time_id, codes, window: Window, horizon: int, nodes: int, standardize: bool, seed) -> tuple:
    """(pairs, rows seen per pair, warm-up pairs skipped): every pair that can be standardised."""
    pairs = make_pairs(codes, window, horizon, np.random.default_rng(seed))
    if len(pairs.end) == 0:
        raise InputError(f"no series is long enough: each needs at least {window.min_len + horizon} rows "
                         f"(the window's shortest input, {window.min_len}, + horizon {horizon}); the table has {len(codes)} usable "
                         f"rows in {len(np.unique(codes))} series")
    seen = seen_rows(time_id, pairs.end, pairs.label)
    warmup = seen < WARMUP_ROWS if standardize else np.zeros(len(seen), bool)
    pairs, seen = Pairs(*(field[~warmup] for field in pairs)), seen[~warmup]
    if len(pairs.end) < nodes:
        raise InputError(f"only {len(pairs.end)} pairs for {nodes} nodes ({int(warmup.sum())} more come before "
                         f"{WARMUP_ROWS} rows are known and are skipped); use fewer nodes or a longer table")
    return pairs, seen, int(warmup.sum())


def table_stream(
    table,
    target: str,
    features=None,
    group: str | None = None,
    order=None,
    window=(1, 16),
    horizon: int = 1,
    nodes: int = 1,
    assign: str = "round-robin",
    nan: str = "fail",
    standardize: bool = True,
    max_steps: int | None = None,
    seed: int = 0,
    unit: str | None = None,
) -> TableStream:
    """Cut ``table`` into per-node (sequence, label) pairs: a :class:`TableStream`.

    ``window``: (min_len, max_len) draws each length uniformly in [min_len, min(max_len,
    rows so far in the series)] with ``numpy.random.default_rng(seed)``; ``"all"`` or
    ``("all", max_len)`` takes all the series so far, capped to the last max_len rows
    (strings "MIN:MAX" and "all:MAX" work too). ``horizon``: the label is the target that
    many rows after the window's last row (0: the same row, for row regression; the target
    may then not be a feature). ``order``: column(s) giving time order (default: table
    order). ``assign``: round-robin (pair j to node j % nodes), group (series g to node
    g % nodes, series numbered by first appearance in time) or block (contiguous blocks of
    pairs). ``standardize``: online running statistics (module docstring; pairs predicted
    before WARMUP_ROWS rows are known are skipped); False keeps raw values (offset 0,
    scale 1). ``max_steps`` caps T. ``unit``: the target's unit, carried to reports and
    InferenceData (e.g. ``"kWh"``).
    """
    if unit is not None and not isinstance(unit, str):
        raise InputError(f"unit must be a string such as 'MPa'; got {unit!r}")
    window, horizon, nodes, max_steps = check_options(window, horizon, nodes, max_steps, assign, nan)
    order = (order,) if isinstance(order, str) else tuple(order or ())
    frame = read_rows(table)
    rows = len(frame)
    features = resolve_features(frame, target, features, group, order, horizon)
    numeric = list(dict.fromkeys(features + (target,)))
    frame, dropped = clean_rows(frame, numeric, list(dict.fromkeys(([group] if group else []) + list(order))), nan)
    frame, time_id = time_sort(frame, order)
    codes = pd.factorize(frame[group])[0] if group is not None else np.zeros(len(frame), np.int64)
    pairs, seen, warmup = usable_pairs(time_id, codes, window, horizon, nodes, standardize, seed)
    node = assign_nodes(pairs.group, nodes, assign)
    step = rank_within(node, nodes)
    kept = step < (max_steps or np.inf)
    values = frame[numeric].to_numpy(np.float64, na_value=np.nan)
    mean, scale = running_stats(values, seen[kept]) if standardize else (np.zeros((kept.sum(), len(numeric))),
                                                                          np.ones((kept.sum(), len(numeric))))
    columns, target_col = [numeric.index(c) for c in features], numeric.index(target)
    length = pairs.length[kept]
    X = (values[pairs.rows[kept][:, : length.max()]][..., columns] - mean[:, None, columns]) / scale[:, None, columns]
    label = pairs.label[kept]
    arrays = scatter(node[kept], step[kept], nodes, X, length, values[label, target_col], mean[:, target_col],
                     scale[:, target_col], frame.index.to_numpy()[label])
    groups = int(codes.max()) + 1 if len(codes) else 0
    info = {"rows": rows, "dropped_nan_rows": dropped, "rows_used": len(frame), "groups": groups,
            "skipped_groups": groups - len(np.unique(pairs.group)), "min_rows_per_group": window.min_len + horizon,
            "pairs": int(len(pairs.end)), "pairs_used": int(kept.sum()), "warmup_pairs_skipped": warmup,
            "window": tuple(window), "horizon": horizon, "assign": assign, "standardize": bool(standardize)}
    return TableStream(*arrays, features=features, target=target, info=info, unit=unit or None)


def scatter(node, step, nodes, X, length, y, offset, scale,
            row_index) -> tuple[Stream, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(stream, label_offset, label_scale, labels, row_index) laid out as (step, node)."""
    T = int(step.max()) + 1
    shape = (T, nodes)
    Xs = np.zeros(shape + X.shape[1:], np.float32)
    lengths = np.ones(shape, np.int32)
    d = np.zeros(shape, np.float32)
    observed = np.zeros(shape, bool)
    offsets, scales = np.zeros(shape), np.ones(shape)
    labels = np.full(shape, np.nan)
    rows = np.full(shape, -1, np.int64)
    Xs[step, node] = X
    lengths[step, node] = length
    d[step, node] = (y - offset) / scale
    observed[step, node] = True
    offsets[step, node], scales[step, node], labels[step, node], rows[step, node] = offset, scale, y, row_index
    return make_stream(Xs, lengths, d, observed), offsets, scales, labels, rows
