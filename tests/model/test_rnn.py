"""The plain tanh (Elman) RNN regressor (bayeslstm.model.rnn) against a NumPy reference."""

import jax.numpy as jnp
import numpy as np
import pytest

from bayeslstm.model.rnn import rnn_layout, rnn_predict


def numpy_rnn(params, X, pooling):
    """h_j = tanh(W x_j + R h_{j-1} + b) from h_0 = 0, pooled and read out, in float64."""
    h = np.zeros(params["w_out"].shape[0])
    hs = []
    for x in X:
        h = np.tanh(params["W"] @ x + params["R"] @ h + params["b"])
        hs.append(h)
    hs = np.array(hs)
    pooled = {"mean": hs.mean(0), "last": hs[-1], "max": hs.max(0)}[pooling]
    return params["w_out"] @ pooled + params.get("b_out", 0.0)


@pytest.mark.parametrize("pooling, bias", [("mean", True), ("last", False), ("max", True)])
def test_rnn_matches_numpy_reference(rng, pooling, bias):
    p, n, M = 2, 3, 5
    layout = rnn_layout(p, n, bias)
    assert layout.names[:3] == ("W", "R", "b") and layout.size == n * (n + p + 1) + n + int(bias)
    for _ in range(3):
        theta = rng.normal(0, 0.8, layout.size)
        length = int(rng.integers(2, M + 1))
        X = rng.normal(size=(M, p))
        params = {name: theta[at: at + int(np.prod(shape))].reshape(shape)
                  for name, shape, at in zip(layout.names, layout.shapes, layout.offsets)}
        expected = numpy_rnn(params, X[:length], pooling)
        got = rnn_predict(layout, jnp.asarray(theta, jnp.float32), jnp.asarray(X, jnp.float32),
                          jnp.arange(M) < length, pooling)
        np.testing.assert_allclose(float(got), expected, rtol=1e-4, atol=1e-5)
