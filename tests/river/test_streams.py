"""River streams as a network's stream: the windows, unequal lengths and splitting by a key."""

import numpy as np
import pytest

import bayeslstm as bl
from bayeslstm.errors import InputError
from bayeslstm.river.streams import network_stream, split_by_key


def test_each_step_reads_the_nodes_last_window_of_examples():
    a = [({"u": float(t)}, 10.0 + t) for t in range(5)]
    b = [({"u": -float(t), "v": 1.0}, -1.0 - t) for t in range(3)]
    stream = network_stream([a, b], window=2, standardize=False).stream
    assert stream.X.shape == (5, 2, 2, 2) and stream.nodes == 2  # features: u, v (sorted union)
    np.testing.assert_array_equal(stream.lengths[:, 0], [1, 2, 2, 2, 2])
    np.testing.assert_array_equal(stream.X[3, 0, :, 0], [2.0, 3.0])  # steps 2 and 3 of node 0
    np.testing.assert_array_equal(stream.X[3, 0, :, 1], [0.0, 0.0])  # v missing: 0
    np.testing.assert_array_equal(stream.X[2, 1, :, 1], [1.0, 1.0])
    np.testing.assert_array_equal(stream.d[:, 0], [10, 11, 12, 13, 14])
    np.testing.assert_array_equal(stream.observed[:, 1], [True, True, True, False, False])  # node 1 has ended


def test_standardised_streams_report_in_the_labels_units():
    a = [({"u": float(t)}, 100.0 + 3 * t) for t in range(12)]
    table = network_stream([a, a], window=3, unit="kWh")
    assert table.unit == "kWh" and abs(table.stream.d).max() < 10  # scaled labels, original units kept
    result = bl.run(table, "baseline-last")
    np.testing.assert_allclose(result.labels[:, 0], [100.0 + 3 * t for t in range(12)][-result.labels.shape[0]:])


def test_split_by_key_gives_one_stream_per_value_without_the_key():
    data = [({"site": s, "u": float(i)}, float(i)) for i, s in enumerate("abab")]
    streams = split_by_key(data, "site")
    assert [[x["u"] for x, _ in s] for s in streams] == [[0.0, 2.0], [1.0, 3.0]]
    assert all("site" not in x for s in streams for x, _ in s)


@pytest.mark.parametrize("streams, window, message", [
    ([], 2, "at least one stream"),
    ([[({"u": 1.0}, 1.0)], []], 2, "every stream at least one example"),
    ([[({"u": "x"}, 1.0)]], 2, "feature 'u' is 'x'"),
    ([[({"u": 1.0}, None)]], 2, "y is None"),
    ([[({"u": 1.0}, 1.0)]], 0, "window must be a positive integer"),
])
def test_bad_streams_are_refused(streams, window, message):
    with pytest.raises(InputError, match=message):
        network_stream(streams, window=window)


def test_split_by_a_missing_key_is_refused():
    with pytest.raises(InputError, match="example 0 has no feature 'site'"):
        split_by_key([({"u": 1.0}, 1.0)], "site")
