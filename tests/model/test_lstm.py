"""The LSTM regressor (bayeslstm.model.lstm): its forward pass against a step-by-step NumPy
reference, and batching over particles."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayeslstm.model.lstm import lstm_layout, lstm_predict


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def numpy_lstm(params, X, pooling):
    """The LSTM of bayeslstm.model.lstm's docstring (no peepholes, zero initial state), pooled
    and read out, written out one step at a time in float64."""
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
    for _ in range(4):
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


def test_batched_over_particles_matches_single(rng):
    layout = lstm_layout(2, 3)
    thetas = jnp.asarray(rng.normal(size=(5, layout.size)), jnp.float32)
    X = jnp.asarray(rng.normal(size=(4, 2)), jnp.float32)
    mask = jnp.array([True, True, True, False])
    batched = jax.vmap(lambda t: lstm_predict(layout, t, X, mask))(thetas)
    single = np.array([float(lstm_predict(layout, t, X, mask)) for t in thetas])
    np.testing.assert_allclose(np.asarray(batched), single, rtol=1e-5, atol=1e-6)
