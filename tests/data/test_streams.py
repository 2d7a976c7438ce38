"""Data streams (bayeslstm.data.streams): malformed streams refused with the first problem
named, padded rows made inert, the length buckets, and float32 data checked under x64."""

import warnings

import jax
import numpy as np
import pytest

import bayeslstm as bl
from bayeslstm.data.streams import bucket_lengths, make_stream, step_buckets
from bayeslstm.errors import InputError


@pytest.fixture(scope="module")
def stream():
    s, _ = bl.teacher_stream(steps=60, nodes=3, features=2, min_len=1, max_len=12, seed=4)
    return s


@pytest.mark.parametrize(
    "change, error",
    [
        (lambda X, L, d: (X, L, np.where(np.arange(d.size).reshape(d.shape) == 3, np.nan, d)), "non-finite label"),
        (lambda X, L, d: (np.where(np.indices(X.shape)[2] == 0, np.inf, X), L, d), "non-finite input"),
        (lambda X, L, d: (X, np.where(np.arange(L.size).reshape(L.shape) == 5, 0, L), d), "empty sequence"),
        (lambda X, L, d: (X[0], L, d), "shape"),
        (lambda X, L, d: (X, L[:, :1], d), "lengths must have shape"),
        (lambda X, L, d: (X, L + 100, d), "exceeds"),
    ],
)
def test_bad_streams_are_refused(stream, change, error):
    X, L, d = change(stream.X.copy(), stream.lengths.copy(), stream.d.copy())
    with pytest.raises(InputError, match=error):
        bl.make_stream(X, L, d)


def test_float32_data_under_x64_is_checked_without_warnings():
    """Under x64 the magnitude limit (1e150) is beyond float32: comparing float32 data with it
    must not cast it to inf with an overflow warning, and 1e30 (fine in float64) passes."""
    stream = bl.teacher_stream(steps=3, nodes=1, features=2, max_len=3)[0]
    with jax.enable_x64(True), warnings.catch_warnings():
        warnings.simplefilter("error")
        checked = make_stream(stream.X, stream.lengths, np.full_like(stream.d, 1e30))
    assert checked.d.dtype == np.float32 and np.all(checked.d == np.float32(1e30))


def test_padded_rows_are_zeroed_and_unobserved_labels_cleared():
    """Whatever users leave past a sequence's length (even NaN) or in an unobserved label
    becomes an exact zero, so it cannot leak into a run."""
    X = np.full((1, 2, 3, 1), 7.0, np.float32)
    X[0, 0, :2], X[0, 1, :1], X[0, 1, 2] = 1.0, 2.0, np.nan
    s = make_stream(X, [[2, 1]], [[0.5, np.nan]], [[True, False]])
    np.testing.assert_array_equal(s.X[0, :, :, 0], [[1.0, 1.0, 0.0], [2.0, 0.0, 0.0]])
    np.testing.assert_array_equal(s.d, [[0.5, 0.0]])
    assert s.lengths.dtype == np.int32 and (s.steps, s.nodes, s.max_len, s.features) == (1, 2, 3, 1)


def test_length_buckets_are_powers_of_two_then_the_maximum():
    assert bucket_lengths(1) == (1,)
    assert bucket_lengths(16) == (1, 2, 4, 8, 16)
    assert bucket_lengths(20) == (1, 2, 4, 8, 16, 20)
    lengths = np.array([[1, 1], [3, 2], [9, 20], [16, 4]])  # each step goes to its longest sequence's bucket
    np.testing.assert_array_equal(step_buckets(lengths, bucket_lengths(20)), [0, 2, 5, 4])
