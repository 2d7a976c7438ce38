"""LSTM forward pass against a step-by-step NumPy reference, and exact padding invariance."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bayeslstm.model.layout import flatten, unflatten
from bayeslstm.model.lstm import lstm_layout, lstm_predict
from bayeslstm.model.gru import gru_layout, gru_predict
from bayeslstm.model.rnn import rnn_layout, rnn_predict


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def numpy_lstm(params, X, pooling):
    """Spec section 2, written out one step at a time in float64."""
    n = params["w_out"].shape[0]
    h, c = np.zeros(n), np.zeros(n)
    hs = []
    for x in X:
        z = np.tanh(params["W_z"] @ x + params["R_z"] @ h + params["b_z"])
        i = sigmoid(params["W_i"] @ x + params["R_i"] @ h + params["b_i"])
        f = sigmoid(params["W_f"] @ x + params["R_f"] @ h + params["b_f"])
        o = sigmoid(params["W_o"] @ x + params["R_o"] @ h + params["b_o"])
        c = i * z + f * c
        h = o * np.tanh(c)
        hs.append(h)
    hs = np.array(hs)
    pooled = {"mean": hs.mean(0), "last": hs[-1], "max": hs.max(0)}[pooling]
    return params["w_out"] @ pooled + params.get("b_out", 0.0)


@pytest.mark.parametrize("pooling", ["mean", "last", "max"])
@pytest.mark.parametrize("bias", [False, True])
def test_lstm_matches_numpy_reference(rng, pooling, bias):
    p, n, M = 3, 5, 9
    layout = lstm_layout(p, n, bias)
    assert layout.size == 4 * n * (n + p + 1) + n + int(bias)
    for trial in range(4):
        theta = rng.normal(0, 0.8, layout.size)
        length = int(rng.integers(1, M + 1))
        X = rng.normal(size=(M, p))
        mask = np.arange(M) < length
        params = {
            name: theta[at : at + int(np.prod(shape))].reshape(shape)
            for name, shape, at in zip(layout.names, layout.shapes, layout.offsets)
        }
        expected = numpy_lstm(params, X[:length], pooling)
        got = lstm_predict(layout, jnp.asarray(theta, jnp.float32), jnp.asarray(X, jnp.float32), jnp.asarray(mask), pooling)
        np.testing.assert_allclose(float(got), expected, rtol=1e-4, atol=1e-5)


def test_layout_round_trip(rng):
    layout = lstm_layout(4, 3, True)
    theta = jnp.asarray(rng.normal(size=(7, layout.size)), jnp.float32)
    named = unflatten(layout, theta)
    assert named["W_i"].shape == (7, 3, 4) and named["R_f"].shape == (7, 3, 3) and named["b_out"].shape == (7,)
    np.testing.assert_array_equal(np.asarray(flatten(layout, named)), np.asarray(theta))


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


def test_batched_over_particles_matches_single(rng):
    layout = lstm_layout(2, 3)
    thetas = jnp.asarray(rng.normal(size=(5, layout.size)), jnp.float32)
    X = jnp.asarray(rng.normal(size=(4, 2)), jnp.float32)
    mask = jnp.array([True, True, True, False])
    batched = jax.vmap(lambda t: lstm_predict(layout, t, X, mask))(thetas)
    single = np.array([float(lstm_predict(layout, t, X, mask)) for t in thetas])
    np.testing.assert_allclose(np.asarray(batched), single, rtol=1e-5, atol=1e-6)
