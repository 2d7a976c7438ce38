"""The two references every kernel exists in (bayeslstm.network.references): ``local``, each node
alone on its own example, and ``centralized``, one filter conditioning on every node's example."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bayeslstm as bl
from bayeslstm.kernels.protocol import Kernel
from bayeslstm.network.method import StepData
from bayeslstm.network.references import centralized, local
from reference import kalman_filter, linear_gaussian_stream

R, S0 = 0.1, 1.0
SMALL = dict(model_options=dict(hidden=2))


@pytest.fixture(scope="module")
def stream():
    s, _ = bl.teacher_stream(steps=60, nodes=3, features=2, min_len=1, max_len=12, seed=4)
    return s


class Info(NamedTuple):
    prediction: jax.Array
    predictive_var: jax.Array
    log_pred_density: jax.Array
    learnt_from: jax.Array


def summing_kernel() -> Kernel:
    """A kernel whose state is the sum of the valid labels it was given, and which predicts every
    entry as that sum before the update."""

    def step(key, total, batch):
        prediction = jnp.full(batch.d.shape, total)
        info = Info(prediction, jnp.ones_like(prediction), jnp.zeros_like(prediction), jnp.sum(batch.valid))  # valid entries
        return total + jnp.sum(jnp.where(batch.valid, batch.d, 0.0)), info

    return Kernel(lambda key: jnp.zeros(()), step, "sum")


DATA = StepData(jnp.zeros((3, 2, 1)), jnp.ones((3, 2), bool), jnp.array([1.0, 10.0, 100.0]),
                jnp.array([True, True, False]))


def test_centralized_conditions_on_every_observed_node():
    """One filter sees the three nodes' examples: it learns 1 + 10 (node 2 has no label), every
    node's prediction is made before that, per entry; a reference that passed only one node's
    example, or learnt from the unobserved one, would fail."""
    method = centralized(summing_kernel())
    assert method.name == "sum-centralized" and method.node_step is None
    state = method.init(jax.random.key(0), 3)
    state, info = method.step(jax.random.key(1), state, DATA)
    assert float(state) == 11.0
    np.testing.assert_array_equal(np.asarray(info["prediction"]), [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(np.asarray(info["learnt_from"]), [2, 2, 2])  # a scalar, broadcast to the nodes
    _, info = method.step(jax.random.key(2), state, DATA)
    np.testing.assert_array_equal(np.asarray(info["prediction"]), [11.0, 11.0, 11.0])


def test_local_keeps_each_node_to_its_own_example():
    method = local(summing_kernel())
    state = method.init(jax.random.key(0), 3)
    assert state.shape == (3,) and method.name == "sum-local"
    state, info = method.step(jax.random.key(1), state, DATA)
    np.testing.assert_array_equal(np.asarray(state), [1.0, 10.0, 0.0])
    _, info = method.step(jax.random.key(2), state, DATA)
    np.testing.assert_array_equal(np.asarray(info["prediction"]), [1.0, 10.0, 0.0])
    np.testing.assert_array_equal(np.asarray(info["learnt_from"]), [1, 1, 0])


def test_centralized_ekf_with_static_weights_is_exact_kalman_on_all_data():
    """q = 0: one filter over every node's example equals the exact filter over all of them."""
    with jax.enable_x64(True):
        stream = linear_gaussian_stream(20, nodes=3, seed=5)
        res = bl.run(stream, "ekf", fusion="centralized", init="prior-mean", model="linear-gaussian",
                     model_options=dict(q=0.0, r=R, prior_scale=S0))
        flat = bl.make_stream(stream.X.reshape(-1, 1, *stream.X.shape[2:]), stream.lengths.reshape(-1, 1),
                              stream.d.reshape(-1, 1))
        kf = kalman_filter(flat, 0, 0.0, R, S0)
        np.testing.assert_allclose(np.asarray(res.final_state.mean), kf["mean"], atol=1e-8)
        np.testing.assert_allclose(float(res.final_state.log_evidence), kf["log_evidence"], rtol=1e-8)


def test_centralized_sees_all_nodes(stream):
    res = bl.run(stream, "ekf", fusion="centralized", **SMALL)
    assert res.predictions.shape == (stream.steps, stream.nodes)
    assert res.final_state.mean.ndim == 1  # one filter for the network
