"""Tables to streams: windows, node assignment, online standardisation without leakage, errors.

Pure numpy/pandas: every expected value is worked out by hand on small frames.
"""

import numpy as np
import pandas as pd
import pytest

from bayeslstm.data.tables import WARMUP_ROWS, original_variance, parse_window, running_stats, table_stream, to_original_units
from bayeslstm.errors import InputError, OptionError


def series(n=10):
    """One series: x = row number, y = 100 + row number."""
    return pd.DataFrame({"x": np.arange(n, dtype=float), "y": 100.0 + np.arange(n)})


def grouped(rows=60, groups=3, seed=0):
    """Interleaved random series with a shuffled time column."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"g": rng.choice([f"s{i}" for i in range(groups)], rows), "time": rng.permutation(rows),
                          "a": rng.normal(5, 2, rows), "b": rng.normal(-3, 0.5, rows), "y": rng.normal(10, 3, rows)})
    return frame


def raw(frame, **kwargs):
    return table_stream(frame, standardize=False, **kwargs)


# ---- windows -------------------------------------------------------------------------------


def test_fixed_windows_are_the_rows_before_the_label():
    ts = raw(series(), target="y", features=["x"], window=(3, 3), horizon=1)
    s = ts.stream
    assert s.X.shape == (7, 1, 3, 1)  # ends at rows 2..8, labels at rows 3..9
    np.testing.assert_array_equal(s.X[:, 0, :, 0], [[t, t + 1, t + 2] for t in range(7)])
    np.testing.assert_array_equal(s.lengths[:, 0], 3)
    np.testing.assert_array_equal(ts.row_index[:, 0], np.arange(3, 10))
    np.testing.assert_array_equal(ts.labels[:, 0], 100.0 + np.arange(3, 10))
    np.testing.assert_array_equal(s.d[:, 0], ts.labels[:, 0])  # raw: offset 0, scale 1
    assert ts.features == ("x",) and ts.target == "y"


def test_horizon_offsets_the_label():
    ts = raw(series(), target="y", features=["x"], window=(2, 2), horizon=3)
    ends = ts.stream.X[:, 0, 1, 0]  # last input row
    np.testing.assert_array_equal(ts.row_index[:, 0], ends + 3)
    np.testing.assert_array_equal(ends, np.arange(1, 7))


def test_horizon_zero_uses_the_label_row_itself():
    ts = raw(series(5), target="y", features=["x"], window=(1, 1), horizon=0)
    np.testing.assert_array_equal(ts.stream.X[:, 0, 0, 0], np.arange(5))
    np.testing.assert_array_equal(ts.row_index[:, 0], np.arange(5))


def test_random_lengths_stay_in_range_and_are_contiguous_rows():
    ts = raw(series(200), target="y", features=["x"], window=(2, 5), horizon=1, seed=3)
    s = ts.stream
    assert s.lengths.min() == 2 and s.lengths.max() == 5 and s.max_len == 5
    for t in range(s.steps):
        L, label = s.lengths[t, 0], ts.row_index[t, 0]
        np.testing.assert_array_equal(s.X[t, 0, :L, 0], np.arange(label - L, label))
        assert not s.X[t, 0, L:].any()  # right padding is zero
    again = raw(series(200), target="y", features=["x"], window=(2, 5), horizon=1, seed=3)
    np.testing.assert_array_equal(again.stream.lengths, s.lengths)
    other = raw(series(200), target="y", features=["x"], window=(2, 5), horizon=1, seed=4)
    assert (other.stream.lengths != s.lengths).any()


def test_lengths_never_exceed_the_history():
    ts = raw(series(30), target="y", features=["x"], window=(1, 20), horizon=1, seed=0)
    assert (ts.stream.lengths <= ts.row_index).all()  # label row r has r rows before it


def test_all_windows_grow_within_a_group_and_are_capped():
    frame = pd.DataFrame({"g": list("aaaaabbbb"), "x": np.arange(9.0), "y": np.arange(9.0)})
    ts = raw(frame, target="y", features=["x"], group="g", window="all:3", nodes=2, assign="group")
    np.testing.assert_array_equal(ts.stream.lengths, [[1, 1], [2, 2], [3, 3], [3, 1]])
    np.testing.assert_array_equal(ts.stream.X[:, 1, :, 0], [[5, 0, 0], [5, 6, 0], [5, 6, 7], [0, 0, 0]])
    np.testing.assert_array_equal(ts.stream.X[3, 0, :, 0], [1, 2, 3])
    uncapped = raw(frame, target="y", features=["x"], group="g", window="all", nodes=2, assign="group")
    np.testing.assert_array_equal(uncapped.stream.lengths[:, 0], [1, 2, 3, 4])


def test_windows_never_cross_groups():
    frame = pd.DataFrame({"g": list("abababab"), "x": np.arange(8.0), "y": np.arange(8.0)})
    ts = raw(frame, target="y", features=["x"], group="g", window=(2, 2), horizon=1, nodes=2, assign="group")
    np.testing.assert_array_equal(ts.stream.X[:, 0, :, 0], [[0, 2], [2, 4]])
    np.testing.assert_array_equal(ts.stream.X[:, 1, :, 0], [[1, 3], [3, 5]])
    np.testing.assert_array_equal(ts.row_index, [[4, 5], [6, 7]])


def test_order_column_sorts_time():
    frame = series(6).assign(t=[5, 4, 3, 2, 1, 0])  # the table is in reverse time order
    ts = raw(frame, target="y", features=["x"], order="t", window=(2, 2), horizon=1)
    np.testing.assert_array_equal(ts.stream.X[:, 0, :, 0], [[5, 4], [4, 3], [3, 2], [2, 1]])
    np.testing.assert_array_equal(ts.row_index[:, 0], [3, 2, 1, 0])


@pytest.mark.parametrize("window,expected", [
    ((2, 5), (2, 5, False)), (4, (4, 4, False)), ("3:7", (3, 7, False)), ("all", (1, None, True)),
    (("all", 8), (1, 8, True)), ("all:8", (1, 8, True)), ("6", (6, 6, False)),
])
def test_window_forms(window, expected):
    assert tuple(parse_window(window)) == expected


# ---- node assignment -----------------------------------------------------------------------


def test_round_robin():
    ts = raw(series(), target="y", features=["x"], window=(1, 1), nodes=3)
    np.testing.assert_array_equal(ts.row_index, [[1, 2, 3], [4, 5, 6], [7, 8, 9]])
    assert ts.stream.observed.all()


def test_block_cuts_contiguous_pieces_and_pads():
    ts = raw(series(), target="y", features=["x"], window=(1, 1), nodes=2, assign="block")
    np.testing.assert_array_equal(ts.row_index, [[1, 6], [2, 7], [3, 8], [4, 9], [5, -1]])
    s = ts.stream
    assert not s.observed[4, 1] and s.observed.sum() == 9
    assert s.lengths[4, 1] == 1 and not s.X[4, 1].any() and s.d[4, 1] == 0
    assert np.isnan(ts.labels[4, 1]) and ts.label_offset[4, 1] == 0 and ts.label_scale[4, 1] == 1


def test_group_assignment_by_first_appearance():
    # series in time order: c first, then a, then b; c -> node 0, a -> node 1, b -> node 0
    frame = pd.DataFrame({"g": list("aaabbbccc"), "t": [3, 4, 5, 6, 7, 8, 0, 1, 2], "x": np.arange(9.0)})
    frame["y"] = frame["x"]
    ts = raw(frame, target="y", features=["x"], group="g", order="t", window=(1, 1), nodes=2, assign="group")
    np.testing.assert_array_equal(ts.row_index, [[7, 1], [8, 2], [4, -1], [5, -1]])


def test_group_assignment_interleaves_concurrent_series_in_time():
    frame = pd.DataFrame({"g": list("abcabcabc"), "x": np.arange(9.0), "y": np.arange(9.0)})
    ts = raw(frame, target="y", features=["x"], group="g", window=(1, 1), nodes=2, assign="group")
    np.testing.assert_array_equal(ts.row_index, [[3, 4], [5, 7], [6, -1], [8, -1]])


@pytest.mark.parametrize("assign", ["round-robin", "group", "block"])
def test_time_order_within_each_node(assign):
    frame = grouped(rows=80, groups=4, seed=1)
    ts = table_stream(frame, "y", features=["a", "y"], group="g", order="time", window=(1, 4), nodes=3, assign=assign)
    times = np.where(ts.stream.observed, frame["time"].to_numpy()[ts.row_index], np.inf)
    for k in range(3):
        observed = times[:, k][ts.stream.observed[:, k]]
        assert (np.diff(observed) > 0).all()
        assert ts.stream.observed[: len(observed), k].all()  # padding only at the end
    assert ts.stream.observed.sum() == ts.info["pairs"]


def test_max_steps_caps_the_stream():
    ts = raw(series(50), target="y", features=["x"], window=(1, 3), nodes=2, max_steps=4)
    assert ts.stream.steps == 4 and ts.info["pairs_used"] == 8 and ts.info["pairs"] == 49


# ---- online standardisation ----------------------------------------------------------------


def test_running_stats_match_pandas():
    rng = np.random.default_rng(0)
    values = rng.normal(1000.0, 3.0, size=(40, 2))
    seen = np.array([2, 5, 17, 40])
    mean, scale = running_stats(values, seen)
    for j, n in enumerate(seen):
        np.testing.assert_allclose(mean[j], values[:n].mean(axis=0), rtol=1e-12)
        np.testing.assert_allclose(scale[j], values[:n].std(axis=0, ddof=1), rtol=1e-9)


def test_running_stats_warm_up_and_constant_columns():
    values = np.array([[4.0, 7.0], [6.0, 7.0], [8.0, 7.0]])
    mean, scale = running_stats(values, np.array([0, 1, 3]))
    np.testing.assert_array_equal(mean, [[0, 0], [4, 7], [6, 7]])
    np.testing.assert_array_equal(scale, [[1, 1], [1, 1], [2, 1]])  # constant column: centred, not scaled


def test_labels_use_only_earlier_rows():
    ts = table_stream(series(12), "y", features=["x"], window=(1, 1), horizon=1)
    for t in range(ts.stream.steps):
        row = ts.row_index[t, 0]  # everything before the label row is known: rows 0..row-1
        previous = 100.0 + np.arange(row)
        assert ts.label_offset[t, 0] == pytest.approx(previous.mean())
        assert ts.label_scale[t, 0] == pytest.approx(previous.std(ddof=1))
    assert ts.info["warmup_pairs_skipped"] == 1  # label row 1: one row known, no std yet


def test_rows_at_the_same_time_count_as_unknown_for_a_label():
    # two series observed at the same times: at horizon 0 a label at time t may use neither
    # row at time t (the other series' label arrives with it), only times < t
    frame = pd.DataFrame({"g": list("abababab"), "t": [0, 0, 1, 1, 2, 2, 3, 3],
                          "x": np.arange(8.0), "y": [1.0, 3.0, 2.0, 8.0, 5.0, 1.0, 4.0, 4.0]})
    ts = table_stream(frame, "y", features=["x"], group="g", order="t", window=(1, 1), horizon=0, nodes=2,
                      assign="group")
    for t in range(ts.stream.steps):
        for k in range(2):
            time = frame["t"][ts.row_index[t, k]]
            known = frame["y"][frame["t"] < time]
            assert ts.label_offset[t, k] == pytest.approx(known.mean())
            assert ts.label_scale[t, k] == pytest.approx(known.std(ddof=1))
    assert ts.info["warmup_pairs_skipped"] == 2  # both rows at time 0: nothing known before


def perturb_from(frame, time, column="time", seed=9):
    """A copy in which every used value at a time >= ``time`` is huge and random."""
    rng = np.random.default_rng(seed)
    later = frame[column] >= time
    changed = frame.copy()
    for c in ("a", "b", "y"):
        changed.loc[later, c] = rng.normal(1e6, 1e5, later.sum())
    return changed


@pytest.mark.parametrize("assign", ["round-robin", "group"])
@pytest.mark.parametrize("cut", [20, 51])
def test_no_leakage_from_future_rows(assign, cut):
    # changing every row from time `cut` on must leave each pair labelled before `cut`
    # bit-identical, and each pair whose window ends before `cut` with the same inputs,
    # offset and scale (only its label may change)
    frame = grouped(rows=90, groups=3, seed=2)
    kwargs = dict(target="y", features=["a", "b", "y"], group="g", order="time", window=(2, 6), horizon=1, nodes=3,
                  assign=assign, seed=5)
    before, after = table_stream(frame, **kwargs), table_stream(perturb_from(frame, cut), **kwargs)
    np.testing.assert_array_equal(before.row_index, after.row_index)
    observed = before.stream.observed
    end_time = frame.sort_values("time").groupby("g")["time"].shift(1).sort_index().to_numpy()  # horizon 1
    label_time = np.where(observed, frame["time"].to_numpy()[before.row_index], np.inf)
    window_time = np.where(observed, end_time[before.row_index], np.inf)
    past, predicted_before = label_time < cut, window_time < cut
    assert 10 < past.sum() and (predicted_before & ~past).sum() >= 2
    for name in ("label_offset", "label_scale", "labels"):
        np.testing.assert_array_equal(getattr(before, name)[past], getattr(after, name)[past])
    for name in ("label_offset", "label_scale"):
        np.testing.assert_array_equal(getattr(before, name)[predicted_before], getattr(after, name)[predicted_before])
    np.testing.assert_array_equal(before.stream.X[predicted_before], after.stream.X[predicted_before])
    np.testing.assert_array_equal(before.stream.d[past], after.stream.d[past])
    later = ~predicted_before & observed
    assert not np.array_equal(before.stream.X[later], after.stream.X[later])


def test_inputs_and_statistics_use_nothing_after_the_window():
    # horizon 3: a pair is predicted when its window ends; rows between the window's end and
    # the label are in the future and must not move its inputs or its offset and scale
    frame = grouped(rows=60, groups=1, seed=3).assign(time=np.arange(60))
    kwargs = dict(target="y", features=["a", "y"], window=(1, 5), horizon=3, seed=1)
    before, after = table_stream(frame, **kwargs), table_stream(perturb_from(frame, 31), **kwargs)
    window_end = before.row_index - 3  # one series in table order
    known = before.stream.observed & (window_end <= 30)
    for name in ("label_offset", "label_scale"):
        np.testing.assert_array_equal(getattr(before, name)[known], getattr(after, name)[known])
    np.testing.assert_array_equal(before.stream.X[known], after.stream.X[known])
    label_later = known & (before.row_index > 30)
    assert label_later.sum() == 3 and (before.labels[label_later] != after.labels[label_later]).all()


def test_to_original_units_round_trip():
    ts = table_stream(grouped(seed=4), "y", features=["a", "b"], group="g", order="time", window=(1, 3), horizon=0,
                      nodes=2)
    mask = ts.stream.observed
    back = to_original_units(ts, ts.stream.d)
    np.testing.assert_allclose(back[mask], ts.labels[mask], rtol=1e-6)
    stacked = to_original_units(ts, np.stack([ts.stream.d, np.zeros_like(ts.stream.d)]))
    np.testing.assert_array_equal(stacked[1], ts.label_offset)
    np.testing.assert_array_equal(original_variance(ts, np.ones(mask.shape)), ts.label_scale**2)


def test_standardised_values_are_moderate():
    frame = grouped(rows=200, groups=2, seed=6)
    frame["a"] = frame["a"] * 1e4 + 5e6  # large offset and scale, removed by the running stats
    ts = table_stream(frame, "y", features=["a", "b", "y"], group="g", order="time", window=(1, 8), nodes=2)
    valid = np.arange(ts.stream.max_len)[None, None, :] < ts.stream.lengths[..., None]
    assert np.abs(ts.stream.X[valid]).max() < 10 and np.abs(ts.stream.d[ts.stream.observed]).max() < 10


# ---- inputs and defaults -------------------------------------------------------------------


def test_default_features():
    frame = grouped(seed=7).assign(name="text")
    forecast = table_stream(frame, "y", group="g", order="time", window=(1, 2))
    assert forecast.features == ("a", "b", "y")  # the target's past is an input for horizon >= 1
    regression = table_stream(frame, "y", group="g", order="time", window=(1, 1), horizon=0)
    assert regression.features == ("a", "b")


def test_csv_file_and_xarray_give_the_same_stream(tmp_path):
    frame = grouped(seed=8)
    path = tmp_path / "table.csv"
    frame.to_csv(path, index=False)
    kwargs = dict(target="y", features=["a", "y"], group="g", order="time", window=(1, 3), nodes=2)
    expected = table_stream(frame, **kwargs)
    from_file = table_stream(path, **kwargs)
    from_xarray = table_stream(frame.set_index("time").to_xarray(), **kwargs)
    np.testing.assert_array_equal(from_file.stream.X, expected.stream.X)
    np.testing.assert_array_equal(from_file.row_index, expected.row_index)
    np.testing.assert_array_equal(from_xarray.stream.X, expected.stream.X)  # rows come back sorted by time
    np.testing.assert_array_equal(from_xarray.labels, expected.labels)


def test_parquet_file(tmp_path):
    """A table read from a .parquet file gives the DataFrame's stream (pyarrow, the engine, is
    in the test extra, so this runs rather than skips)."""
    frame = grouped(seed=8)
    frame.to_parquet(tmp_path / "table.parquet")
    ts = table_stream(tmp_path / "table.parquet", "y", features=["a"], group="g", window=(1, 2))
    expected = table_stream(frame, "y", features=["a"], group="g", window=(1, 2))
    for got, want in zip(ts.stream, expected.stream):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(ts.labels, expected.labels)


def test_parquet_without_an_engine_says_what_to_install(tmp_path, monkeypatch):
    import importlib.util

    (tmp_path / "t.parquet").write_bytes(b"")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(InputError, match=r'pip install "bayeslstm\[parquet\]"'):
        table_stream(tmp_path / "t.parquet", "y")


def test_file_errors(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        table_stream(tmp_path / "missing.csv", "y")
    (tmp_path / "t.xlsx").write_bytes(b"")
    with pytest.raises(InputError, match=r"\.csv, \.tsv, \.parquet"):
        table_stream(tmp_path / "t.xlsx", "y")
    with pytest.raises(InputError, match="DataFrame"):
        table_stream([1, 2, 3], "y")


# ---- errors --------------------------------------------------------------------------------


def test_missing_columns_list_the_available_ones():
    with pytest.raises(InputError, match=r"\['z'\] not in the table; available: \['x', 'y'\]"):
        table_stream(series(), "y", features=["z"])
    with pytest.raises(InputError, match="'nope'"):
        table_stream(series(), "nope")
    with pytest.raises(InputError, match="'grp'"):
        table_stream(series(), "y", group="grp")


def test_non_numeric_columns():
    frame = series().assign(word=list("abcdefghij"))
    with pytest.raises(InputError, match="'word' is not numeric"):
        table_stream(frame, "y", features=["x", "word"])
    with pytest.raises(InputError, match="'word' is not numeric"):
        table_stream(frame, "word", features=["x"])


def test_too_short_series():
    frame = pd.DataFrame({"g": list("aabbb"), "x": np.arange(5.0), "y": np.arange(5.0)})
    with pytest.raises(InputError, match="at least 5 rows"):
        table_stream(frame, "y", features=["x"], group="g", window=(4, 6), horizon=1)
    ts = raw(frame, target="y", features=["x"], group="g", window=(2, 2), horizon=1)
    assert ts.info["skipped_groups"] == 1 and ts.info["groups"] == 2 and ts.info["min_rows_per_group"] == 3


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_fail_names_column_and_row(bad):
    frame = series()
    frame.loc[6, "x"] = bad
    with pytest.raises(InputError, match=r"column 'x' at row 6.*nan='drop'"):
        table_stream(frame, "y", features=["x"])


def test_nan_drop_counts_and_removes_rows():
    frame = series(12)
    frame.loc[[3, 7], "y"] = np.nan
    frame.loc[4, "x"] = np.nan
    ts = raw(frame, target="y", features=["x"], window=(1, 1), nan="drop")
    assert ts.info["dropped_nan_rows"] == 3 and ts.info["rows_used"] == 9
    assert not set(ts.row_index[:, 0]) & {3, 4, 7}
    np.testing.assert_array_equal(ts.stream.X[:, 0, 0, 0], [0, 1, 2, 5, 6, 8, 9, 10])  # row 2 is followed by 5
    frame.loc[0, "unused"] = np.nan  # a column that is not used does not matter
    assert table_stream(frame, "y", features=["x"], nan="drop").info["dropped_nan_rows"] == 3


def test_missing_group_value_is_refused():
    frame = grouped(seed=9)
    frame.loc[5, "g"] = None
    with pytest.raises(InputError, match="column 'g' at row 5"):
        table_stream(frame, "y", group="g")


def test_target_among_features_at_horizon_zero_is_a_leak():
    with pytest.raises(InputError, match="contain the label"):
        table_stream(series(), "y", features=["x", "y"], horizon=0)


@pytest.mark.parametrize("kwargs,error,message", [
    (dict(window=(3, 2)), InputError, "window must have MIN <= MAX"),
    (dict(window=(0, 2)), InputError, "whole numbers >= 1"),
    (dict(window="a:b"), InputError, "whole numbers >= 1"),
    (dict(window="1:2:3"), InputError, "MIN:MAX"),
    (dict(window=(1.5, 3)), InputError, "whole numbers >= 1"),
    (dict(horizon=-1), InputError, "horizon"),
    (dict(horizon=1.5), InputError, "horizon"),
    (dict(nodes=0), InputError, "nodes"),
    (dict(max_steps=0), InputError, "max_steps"),
    (dict(nodes=20), InputError, "only 8 pairs for 20 nodes"),
    (dict(assign="random"), OptionError, "round-robin, group, block"),
    (dict(nan="ignore"), OptionError, "fail, drop"),
])
def test_bad_options(kwargs, error, message):
    with pytest.raises(error, match=message):
        table_stream(series(), "y", features=["x"], **kwargs)


def test_group_assignment_needs_a_series_per_node():
    with pytest.raises(InputError, match="3 series cannot fill 4 nodes"):
        table_stream(grouped(seed=10), "y", group="g", nodes=4, assign="group")


def test_warmup_constant():
    assert WARMUP_ROWS == 2  # docs/data.md states it


def test_in_table_units_gives_the_labels_and_the_targets_column_as_given_up_to_one_affine_map():
    from bayeslstm.data.tables import in_table_units

    frame = pd.DataFrame({"y": [3.0, 5.0, 4.0, 10.0, 7.0, 8.0, 12.0], "u": [1.0, 0.0, 2.0, 1.0, 3.0, 0.0, 1.0]})
    ts = table_stream(frame, "y", features=["y", "u"], window=(2, 2), horizon=1)
    raw = in_table_units(ts)
    c, s = raw.label_offset[0, 0], raw.label_scale[0, 0]
    assert c == ts.label_offset[0, 0] and s == ts.label_scale[0, 0] and s != 1
    assert np.all(raw.label_offset == c) and np.all(raw.label_scale == s)  # one map for every step
    np.testing.assert_allclose(raw.stream.d[:, 0] * s + c, ts.labels[:, 0], rtol=1e-6)
    # each pair's last input row of the target column is the label one row earlier, as given
    last = raw.stream.X[np.arange(ts.stream.steps), 0, raw.stream.lengths[:, 0] - 1, 0] * s + c
    np.testing.assert_allclose(last, frame["y"].to_numpy()[ts.row_index[:, 0] - 1], rtol=1e-5)
    np.testing.assert_array_equal(raw.stream.X[..., 1], ts.stream.X[..., 1])  # other columns untouched
