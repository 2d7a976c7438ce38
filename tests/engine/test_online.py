"""The streaming API: step-by-step learning gives the batch runner's exact numbers, compiles once,
and refuses bad inputs with bayeslstm errors."""

import functools

import jax
import numpy as np
import pytest

import bayeslstm as bl
from bayeslstm.engine import online

SMALL = dict(model_options={"hidden": 2})


@pytest.fixture(scope="module")
def stream():
    s, _ = bl.teacher_stream(steps=9, nodes=3, features=1, min_len=1, max_len=2, seed=5)
    observed = np.ones_like(s.observed)
    observed[3:6, 1] = False  # missing labels: predicted and exchanged, not learnt
    d = np.where(observed, s.d, np.nan)
    return bl.make_stream(s.X, s.lengths, d, observed)


@pytest.mark.parametrize("method, options", [
    # the online learner wraps every method's step alike: a random kernel, a Gaussian one, a
    # diffusion, random walks across nodes, and a mixture agreed over the network
    ("pf", dict(num_particles=8)), ("ekf", {}), ("dekf", dict(graph="ring")),
    ("dpf", dict(graph="ring", num_particles=8, walk_steps=2)), ("dgspf", dict(graph="ring")),
])
def test_streaming_equals_batch(stream, method, options):
    """Fed step by step, every kind of method (local and distributed; deterministic, resampling,
    walking, perturbing) gives the batch run's predictions, variances and final state bit for
    bit: the same keys at the same steps, the same compiled step. The local EKF alone is
    compared to 1e-6: at the suite's XLA optimisation level 0 (tests/conftest.py) its one-step
    and four-step programs round a few products differently in the last bit (measured: 3e-8
    apart; bit-identical at the default level). So, with jax 0.10.2, is the diffusion EnKF's
    (one value of its final state 1e-7 apart, relative)."""
    same = np.testing.assert_array_equal
    if method in ("ekf", "denkf"):
        same = functools.partial(np.testing.assert_allclose, rtol=1e-6, atol=1e-7)
    batch = bl.run(stream, method, seed=3, chunk_size=4, **SMALL, **options)  # 3 chunks, the last padded
    learner = online.online_learner(method, nodes=3, features=1, max_len=stream.max_len, seed=3, **SMALL, **options)
    predicted, reported = [], []
    for t in range(stream.steps):
        length = stream.lengths[t].max()  # data as it arrives: no padding beyond this step's longest sequence
        X, lengths = stream.X[t, :, :length], stream.lengths[t]
        first, second = online.predict(learner, X, lengths), online.predict(learner, X, lengths)
        np.testing.assert_array_equal(first.mean, second.mean)  # predict changes nothing
        learner, info = online.update(learner, X, lengths, stream.d[t], stream.observed[t])
        predicted.append(first)
        reported.append(info["prediction"])
    same(np.array([p.mean for p in predicted]), batch.predictions)
    same(np.array([p.variance for p in predicted]), batch.diagnostics["predictive_var"])
    same(np.array(reported), batch.predictions)
    for a, b in zip(jax.tree.leaves(learner.state), jax.tree.leaves(batch.final_state)):
        same(np.asarray(a), np.asarray(b))
    assert learner.step == stream.steps
    assert learner.compilations == 1  # 27 calls, one compiled program


def test_bad_inputs_are_refused(stream):
    learner = online.online_learner("ekf", nodes=3, features=1, max_len=2, **SMALL)
    X, lengths = stream.X[0], stream.lengths[0]
    with pytest.raises(bl.InputError, match="max_len = 2"):
        online.predict(learner, np.zeros((3, 4, 1)), lengths)
    with pytest.raises(bl.InputError, match="nodes = 3"):
        online.predict(learner, X[:2], lengths[:2])
    with pytest.raises(bl.InputError, match="online step 0.*non-finite input"):
        online.update(learner, np.full_like(X, np.nan), lengths, stream.d[0])
    with pytest.raises(bl.InputError, match="non-finite label"):
        online.update(learner, X, lengths, np.full(3, np.inf))
    with pytest.raises(bl.InputError, match="exceeds"):
        online.update(learner, X[:, :1], np.full(3, 2), stream.d[0])
    with pytest.raises(bl.OptionError, match="unknown method"):
        online.online_learner("kalman", nodes=3, features=1, max_len=2)
    assert learner.compilations == 0 and learner.step == 0
