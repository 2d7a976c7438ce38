"""The GRU regressor (bayeslstm.model.gru) against a step-by-step NumPy reference."""

import jax.numpy as jnp
import numpy as np
import pytest

from bayeslstm.model.gru import gru_layout, gru_predict


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def numpy_gru(params, X, pooling):
    """r = sigmoid(W_r x + R_r h + b_r), u = sigmoid(W_u x + R_u h + b_u),
    c = tanh(W_c x + R_c (r * h) + b_c), h' = (1 - u) c + u h from h = 0, pooled and read out,
    one step at a time in float64."""
    h = np.zeros(params["w_out"].shape[0])
    hs = []
    for x in X:
        r = sigmoid(params["W_r"] @ x + params["R_r"] @ h + params["b_r"])
        u = sigmoid(params["W_u"] @ x + params["R_u"] @ h + params["b_u"])
        c = np.tanh(params["W_c"] @ x + params["R_c"] @ (r * h) + params["b_c"])
        h = (1.0 - u) * c + u * h
        hs.append(h)
    hs = np.array(hs)
    pooled = {"mean": hs.mean(0), "last": hs[-1], "max": hs.max(0)}[pooling]
    return params["w_out"] @ pooled + params.get("b_out", 0.0)


@pytest.mark.parametrize("pooling, bias", [("mean", False), ("last", True), ("max", False)])
def test_gru_matches_numpy_reference(rng, pooling, bias):
    """A reset gate applied after the recurrent product, or u and 1 - u swapped, would fail."""
    p, n, M = 3, 2, 6
    layout = gru_layout(p, n, bias)
    assert layout.size == 3 * n * (n + p + 1) + n + int(bias)
    for _ in range(3):
        theta = rng.normal(0, 0.8, layout.size)
        length = int(rng.integers(2, M + 1))
        X = rng.normal(size=(M, p))
        params = {name: theta[at: at + int(np.prod(shape))].reshape(shape)
                  for name, shape, at in zip(layout.names, layout.shapes, layout.offsets)}
        expected = numpy_gru(params, X[:length], pooling)
        got = gru_predict(layout, jnp.asarray(theta, jnp.float32), jnp.asarray(X, jnp.float32),
                          jnp.arange(M) < length, pooling)
        np.testing.assert_allclose(float(got), expected, rtol=1e-4, atol=1e-5)
