"""The runner (bayeslstm.engine.runner): reproducibility, compile counts, chunking, scoring,
refusing bad options early, and stopping on a non-finite state with its name."""

import math

import jax.numpy as jnp
import numpy as np
import pytest

import bayeslstm as bl
from bayeslstm.data.streams import bucket_lengths, step_buckets, used_buckets
from bayeslstm.errors import BayesLSTMError, ModelError, OptionError


@pytest.fixture(scope="module")
def stream():
    s, _ = bl.teacher_stream(steps=60, nodes=3, features=2, min_len=1, max_len=12, seed=4)
    return s


SMALL = dict(model_options=dict(hidden=2))


def test_same_seed_same_numbers(stream):
    a = bl.run(stream, "pf", num_particles=64, seed=7, **SMALL)
    b = bl.run(stream, "pf", num_particles=64, seed=7, **SMALL)
    c = bl.run(stream, "pf", num_particles=64, seed=8, **SMALL)
    np.testing.assert_array_equal(a.predictions, b.predictions)
    np.testing.assert_array_equal(np.asarray(a.final_state.particles), np.asarray(b.final_state.particles))
    assert not np.array_equal(a.predictions, c.predictions)


@pytest.mark.parametrize("method", ["pf", "ekf", "adam"])
def test_chunking_does_not_change_results(stream, method):
    options = dict(num_particles=32) if method == "pf" else {}
    a = bl.run(stream, method, chunk_size=7, **SMALL, **options)
    b = bl.run(stream, method, chunk_size=256, **SMALL, **options)
    np.testing.assert_allclose(a.predictions, b.predictions, rtol=1e-6, atol=1e-6)


def test_buckets_and_compile_count():
    for M in (1, 2, 5, 16, 20, 100):
        buckets = bucket_lengths(M)
        assert len(buckets) <= math.ceil(math.log2(M)) + 1 and buckets[-1] == M
        assert list(buckets) == sorted(set(buckets))
    s, _ = bl.teacher_stream(steps=80, nodes=2, features=2, min_len=1, max_len=20, seed=1)
    used = set(step_buckets(s.lengths, bucket_lengths(20)).tolist())
    assert len(used) >= 2  # the stream really exercises several buckets
    res = bl.run(s, "ekf", chunk_size=16, **SMALL)
    assert res.compilations <= math.ceil(math.log2(20)) + 1
    assert res.compilations == 1  # all buckets are branches of one program


def test_compiler_options_reach_the_compilation(stream):
    """Full optimisation inside the suite's optimisation level 0 (conftest): same numbers."""
    a = bl.run(stream, "ekf", **SMALL)
    b = bl.run(stream, "ekf", compiler_options={"xla_backend_optimization_level": 3}, **SMALL)
    np.testing.assert_allclose(a.predictions, b.predictions, rtol=1e-5, atol=1e-6)
    with pytest.raises(Exception, match="no_such_option"):
        bl.run(stream, "ekf", compiler_options={"xla_no_such_option": 1}, **SMALL)


def test_only_the_buckets_a_stream_uses_are_compiled():
    rng = np.random.default_rng(0)
    for M in (1, 3, 20, 33):
        lengths = rng.integers(0, M + 1, size=(50, 3))
        lengths[:, 0] = np.minimum(lengths[:, 0], M // 2)  # some buckets go unused
        everyone, used = bucket_lengths(M), used_buckets(lengths, M)
        assert set(used) <= set(everyone)
        # each step lands in the same bucket length as with every bucket compiled
        chosen = np.asarray(used)[step_buckets(lengths, used)]
        np.testing.assert_array_equal(chosen, np.asarray(everyone)[step_buckets(lengths, everyone)])
    assert used_buckets(np.full((10, 2), 20), 20) == (20,)  # one length: one branch, not six
    s, _ = bl.teacher_stream(steps=30, nodes=2, features=2, min_len=7, max_len=7, seed=1)
    assert bl.run(s, "ekf", **SMALL).config["buckets"] == [7]


def test_bucketed_equals_unbucketed(stream):
    """Cutting a step to its bucket changes nothing: compare with every step padded to the max."""
    res = bl.run(stream, "ekf", **SMALL)
    X = np.concatenate([stream.X, np.zeros(stream.X.shape[:2] + (20, stream.features), np.float32)], axis=2)
    padded = bl.make_stream(X, stream.lengths, stream.d)
    res2 = bl.run(padded, "ekf", **SMALL)
    np.testing.assert_allclose(res.predictions, res2.predictions, rtol=1e-5, atol=1e-6)


def test_tae_is_running_mean_of_squared_errors(stream):
    res = bl.run(stream, "sgd", **SMALL)
    err = (res.predictions - res.labels) ** 2
    expected = np.cumsum(err, axis=0) / np.arange(1, stream.steps + 1)[:, None]
    np.testing.assert_allclose(res.tae.values.T, expected, rtol=1e-5)
    assert res.final_tae == pytest.approx(expected[-1].mean(), rel=1e-5)


@pytest.mark.parametrize("method", ["ekf", "pf"])
def test_unobserved_labels_are_not_scored_or_learnt(stream, method):
    """Node 1's labels from step 10 on are missing (NaN here). Not scored: its TAE stays the
    mean squared error of its first 10 steps (a TAE that counted those steps would shrink).
    Not learnt: the EKF's mean stays where step 10 left it, so every later prediction is the
    model at the final mean, written out here; the particle filter's weights take in nothing,
    so its evidence increments are exactly 0 from step 10 and its evidence is the sum of the
    first 10. A filter that learnt from the missing labels (stored as 0) would move on."""
    from bayeslstm.engine.assembly import prepare_model

    options = dict(num_particles=32) if method == "pf" else {}
    observed = np.ones_like(stream.observed)
    observed[10:, 1] = False
    d = stream.d.copy()
    d[10:, 1] = np.nan  # a missing label may be NaN
    res = bl.run(bl.make_stream(stream.X, stream.lengths, d, observed), method, **SMALL, **options)
    assert np.isfinite(res.tae.values).all()
    first = np.mean((res.predictions[:10, 1].astype(np.float64) - stream.d[:10, 1]) ** 2)
    np.testing.assert_allclose(res.tae.values[1, 9:], first, rtol=1e-6)
    if method == "ekf":
        ssm = prepare_model(stream, None, SMALL["model_options"])
        mean = res.final_state.mean[1]
        mask = np.arange(stream.max_len)[None, :] < stream.lengths[10:, 1][:, None]
        later = [float(ssm.mean(mean, jnp.asarray(x), jnp.asarray(m))) for x, m in zip(stream.X[10:, 1], mask)]
        np.testing.assert_allclose(res.predictions[10:, 1], later, rtol=1e-5, atol=1e-6)
    else:
        increments = res.diagnostics["log_evidence_increment"].values[:, 1]
        np.testing.assert_array_equal(increments[10:], 0.0)
        assert float(res.final_state.log_evidence[1]) == pytest.approx(increments[:10].astype(np.float64).sum(),
                                                                       rel=1e-5)


def test_bad_options_are_refused_before_running(stream):
    with pytest.raises(OptionError, match="unknown method"):
        bl.run(stream, "kalman")
    with pytest.raises(OptionError, match="unknown fusion"):
        bl.run(stream, "pf", fusion="gossip")
    with pytest.raises(OptionError, match="no option"):
        bl.run(stream, "ekf", num_particles=10)
    with pytest.raises(OptionError, match="resampling scheme"):
        bl.run(stream, "pf", resampling="magic")
    with pytest.raises(OptionError, match="ess_threshold"):
        bl.run(stream, "pf", ess_threshold=0.0)
    with pytest.raises(ModelError, match="unknown model option"):
        bl.run(stream, "pf", model_options=dict(hiden=3))
    with pytest.raises(ModelError, match="unknown model"):
        bl.run(stream, "pf", model="transformer")
    assert issubclass(OptionError, BayesLSTMError) and issubclass(OptionError, ValueError)


def test_divergence_is_reported_not_silent(stream):
    with pytest.raises(bl.NumericalError, match=r"step \d+, node \d+"):
        bl.run(stream, "sgd", learning_rate=1e30, **SMALL)


def test_a_non_finite_state_stops_the_run_naming_quantity_node_and_step():
    import pytest

    from bayeslstm.engine.runner import check_state
    from bayeslstm.errors import NumericalError
    from bayeslstm.kernels.ekf import EKFState

    state = EKFState(jnp.zeros((3, 2)), jnp.ones((3, 2, 2)), jnp.array([0.0, -jnp.inf, 0.0]))
    check_state(state, 7, "ekf-local", per_node=True)  # a -inf log evidence is honest, not an error
    bad = state._replace(cov=state.cov.at[1, 0, 1].set(jnp.nan))
    with pytest.raises(NumericalError, match=r"non-finite cov .* after step 7, node 1"):
        check_state(bad, 7, "ekf-local", per_node=True)


def test_the_progress_bar_says_compiling_and_shows_the_running_tae(stream, capsys, monkeypatch):
    """With progress on a terminal, the bar names the compilation while it happens (seconds of
    silence otherwise), then moves every chunk with the network-mean TAE so far; the last value
    shown is the run's final TAE."""
    for where in ("bayeslstm.engine.progress.interactive", "bayeslstm.engine.runner.interactive"):
        monkeypatch.setattr(where, lambda stream=None: True)
    result = bl.run(stream, "ekf", model_options={"hidden": 2}, progress=True, chunk_size=8)
    err = capsys.readouterr().err
    assert "compiling" in err
    shown = [float(part.split()[0].rstrip("]")) for part in err.replace("\r", "\n").split("TAE ")[1:]
             if part.split() and part.split()[0] != "-"]
    assert len(shown) >= stream.steps // 8 and shown[-1] == pytest.approx(result.final_tae, rel=1e-3)
