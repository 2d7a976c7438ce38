"""The recurrence every built-in cell shares (bayeslstm.model.recurrence): layouts, pooling,
the read-out, and padded steps that change nothing, exactly."""

import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bayeslstm.errors import OptionError
from bayeslstm.model.gru import gru_layout, gru_predict
from bayeslstm.model.lstm import lstm_layout, lstm_predict
from bayeslstm.model.recurrence import readout, recurrent_layout, run_cell
from bayeslstm.model.rnn import rnn_layout, rnn_predict


@settings(max_examples=25, deadline=None)
@given(
    length=st.integers(1, 6),
    extra=st.integers(1, 5),
    pooling=st.sampled_from(["mean", "last", "max"]),
    cell=st.sampled_from(["lstm", "gru", "rnn"]),
    seed=st.integers(0, 2**16),
    junk=st.floats(-1e3, 1e3),
)
def test_padding_changes_nothing_exactly(length, extra, pooling, cell, seed, junk):
    layout_fn, predict = {"lstm": (lstm_layout, lstm_predict), "gru": (gru_layout, gru_predict),
                          "rnn": (rnn_layout, rnn_predict)}[cell]
    p, n = 2, 3
    layout = layout_fn(p, n)
    r = np.random.default_rng(seed)
    theta = jnp.asarray(r.normal(size=layout.size), jnp.float32)
    X = r.normal(size=(length, p)).astype(np.float32)
    padded = np.concatenate([X, np.full((extra, p), junk, np.float32)])
    short = predict(layout, theta, jnp.asarray(X), jnp.ones(length, bool), pooling)
    long = predict(layout, theta, jnp.asarray(padded), jnp.arange(length + extra) < length, pooling)
    assert float(short) == float(long)


def test_recurrent_layout_names_and_shapes():
    named = recurrent_layout(3, 2, ("r", "u"), output_bias=True)
    assert named.names == ("W_r", "W_u", "R_r", "R_u", "b_r", "b_u", "w_out", "b_out")
    assert named.shapes == ((2, 3), (2, 3), (2, 2), (2, 2), (2,), (2,), (2,), ())
    assert named.size == 2 * 2 * (2 + 3 + 1) + 2 + 1
    single = recurrent_layout(3, 2, ("",))  # one unnamed gate: W, R, b
    assert single.names == ("W", "R", "b", "w_out") and single.size == 2 * (2 + 3 + 1) + 2


IDENTITY = lambda carry, x: (x,)  # noqa: E731  the hidden state is the input itself


@pytest.mark.parametrize("pooling", ["mean", "last", "max"])
def test_pooling_over_the_valid_steps(pooling):
    """With a cell whose state is its input, each pooling is a plain statistic of the valid rows;
    a pooling that counted the padded row (99) or the zero start would fail."""
    X = jnp.array([[1.0, -2.0], [3.0, -4.0], [2.0, -1.0], [99.0, 99.0]])
    mask = jnp.array([True, True, True, False])
    pooled = run_cell(IDENTITY, (jnp.zeros(2),), X, mask, pooling)
    expected = {"mean": [2.0, -7.0 / 3.0], "last": [2.0, -1.0], "max": [3.0, -1.0]}[pooling]
    np.testing.assert_allclose(np.asarray(pooled), expected, rtol=1e-6)
    empty = run_cell(IDENTITY, (jnp.zeros(2),), X, jnp.zeros(4, bool), pooling)  # no valid step: zeros
    np.testing.assert_array_equal(np.asarray(empty), [0.0, 0.0])


def test_unknown_pooling_is_refused():
    with pytest.raises(OptionError, match="unknown pooling 'sum'; choose one of: mean, last, max"):
        run_cell(IDENTITY, (jnp.zeros(2),), jnp.ones((3, 2)), jnp.ones(3, bool), "sum")


def test_readout_is_linear_with_an_optional_bias():
    features = jnp.array([2.0, -1.0])
    assert float(readout({"w_out": jnp.array([0.5, 3.0])}, features)) == -2.0
    assert float(readout({"w_out": jnp.array([0.5, 3.0]), "b_out": jnp.array(0.25)}, features)) == -1.75
