"""Reading NumPyro declarations (bayeslstm.model.statespace): built-ins, a user's own file, bad
declarations, and the particles observed in blocks with the numbers of one ``vmap``."""

import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest

import bayeslstm as bl
from bayeslstm.errors import ModelError
from bayeslstm.kernels import particle_filter as pf
from bayeslstm.kernels.protocol import Batch
from bayeslstm.model import statespace
from bayeslstm.model.declarations import build_model
from bayeslstm.model.statespace import log_likelihood, particle_blocks, read_model
from bayeslstm.models.lstm import lstm_regression

ROOT = pathlib.Path(__file__).resolve().parents[2]
X = jnp.ones((5, 3))
MASK = jnp.array([1, 1, 1, 0, 0], bool)


@pytest.mark.parametrize("name, size", [("lstm", 4 * 2 * 6 + 2), ("gru", 3 * 2 * 6 + 2), ("rnn", 2 * 6 + 2), ("linear-gaussian", 3)])
def test_builtin_declarations_are_read(name, size):
    options = {} if name == "linear-gaussian" else dict(hidden=2)
    ssm = read_model(build_model(name, 3, q=1e-4, r=0.02, **options), X, MASK)
    assert ssm.dim == size
    np.testing.assert_allclose(ssm.transition_var, 1e-4, rtol=1e-6)
    assert float(ssm.obs_var) == pytest.approx(0.02, rel=1e-6)
    theta = jax.jit(ssm.sample_prior)(jax.random.key(0))
    mean, ll = jax.jit(ssm.observe)(theta, X, MASK, 0.3)
    expected = -0.5 * (np.log(2 * np.pi * 0.02) + (0.3 - float(mean)) ** 2 / 0.02)
    assert float(ll) == pytest.approx(expected, rel=1e-5)
    loglik = jax.jit(lambda t: log_likelihood(ssm, t, X, MASK, 0.3))(theta)
    assert float(loglik) == pytest.approx(float(ll), rel=1e-6)
    moved = jax.jit(ssm.propagate)(jax.random.key(1), jnp.tile(theta, (4000, 1)))
    np.testing.assert_allclose(np.var(np.asarray(moved - theta), axis=0).mean(), 1e-4, rtol=0.1)


def test_general_transition_uses_the_declared_sampler():
    def drifting(X, mask, theta_prev=None, d=None):
        if theta_prev is None:
            theta = numpyro.sample("theta", dist.Normal(jnp.zeros(2), 1.0).to_event(1))
        else:
            theta = numpyro.sample("theta", dist.Laplace(0.9 * theta_prev, 0.1).to_event(1))
        numpyro.sample("d", dist.Normal(theta @ (mask @ X[:, :2]), 0.1), obs=d)

    ssm = read_model(drifting, X, MASK)
    assert ssm.transition_var is None  # not a Gaussian random walk: the PF samples it generically
    moved = jax.jit(ssm.propagate)(jax.random.key(0), jnp.ones((3000, 2)))
    np.testing.assert_allclose(np.asarray(moved).mean(0), 0.9, atol=0.01)
    with pytest.raises(ModelError, match="EKF needs"):
        from bayeslstm.kernels.ekf import extended_kalman_filter

        extended_kalman_filter(ssm)


def test_user_model_file_runs_with_every_kernel():
    """The MLP of models/my_mlp.py runs with every kernel, and it is that model that runs: the
    EKF, SGD and Adam all start at node k from the prior draw of key fold_in(fold_in(seed, 0), k),
    and their first predictions are w2 . tanh(W1 xbar + b1) at that draw, written out here. A
    file read as another model, or a start drawn with other keys, would fail."""
    from bayeslstm.engine.assembly import prepare_model

    stream, _ = bl.teacher_stream(steps=20, nodes=2, features=3, max_len=5, seed=0)
    spec = f"{ROOT / 'models' / 'my_mlp.py'}:mlp_regression"
    ssm = prepare_model(stream, spec, dict(width=3))
    expected = []
    for k in range(2):
        theta = np.asarray(ssm.sample_prior(jax.random.fold_in(jax.random.fold_in(jax.random.key(0), 0), k)), np.float64)
        W1, b1, w2 = theta[:9].reshape(3, 3), theta[9:12], theta[12:]
        xbar = stream.X[0, k, :stream.lengths[0, k]].astype(np.float64).mean(axis=0)
        expected.append(w2 @ np.tanh(W1 @ xbar + b1))
    for method, options in (("pf", dict(num_particles=16)), ("ekf", {}), ("sgd", {}), ("adam", {})):
        res = bl.run(stream, method, model=spec, model_options=dict(width=3), **options)
        assert np.isfinite(res.predictions).all()
        assert res.config["parameters"] == 3 * 3 + 3 + 3
        if method != "pf":
            np.testing.assert_allclose(res.predictions[0], expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "declaration, message",
    [
        (lambda X, mask: None, "a declaration is model.*with no 'd'"),
        (lambda X, y=None: None, "a declaration is model"),  # a plain NumPyro signature: told the form
        (lambda X, mask, theta_prev=None, d=None: numpyro.sample("d", dist.Normal(0.0, 1.0), obs=d), "no latent sample site"),
        (
            lambda X, mask, theta_prev=None, d=None: (
                numpyro.sample("theta", dist.Normal(jnp.zeros((2, 2)), 1.0).to_event(2)),
                numpyro.sample("d", dist.Normal(0.0, 1.0), obs=d),
            ),
            "flat vector",
        ),
        (lambda X, mask, theta_prev=None, d=None: 1 / 0, "tracing the declaration failed"),
    ],
)
def test_bad_declarations_are_explained(declaration, message):
    with pytest.raises(ModelError, match=message):
        read_model(declaration, X, MASK)


def test_particle_blocks_cover_every_particle_once():
    assert particle_blocks(10, None) == [(0, 10)]
    assert particle_blocks(10, 16) == [(0, 10)]
    assert particle_blocks(1000, 256) == [(i, i + 250) for i in range(0, 1000, 250)]
    spans = particle_blocks(4001, 128)  # capped at MAX_BLOCKS blocks
    assert len(spans) == statespace.MAX_BLOCKS and spans[0][0] == 0 and spans[-1][1] == 4001
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
    assert particle_blocks(1000, "auto") == particle_blocks(1000, statespace.CPU_PARTICLE_BLOCK)  # on the CPU
    for bad in (0, "many", 2.5):
        with pytest.raises(ValueError):
            particle_blocks(10, bad)


def _ssm(hidden=4, features=3, m=6, **options):
    model = lstm_regression(features=features, hidden=hidden, **options)
    return read_model(model, np.zeros((m, features), np.float32), np.ones(m, bool))


def test_observe_all_in_blocks_equals_one_vmap():
    ssm = _ssm(pooling="max", output_bias=True)._replace(particle_block=4)  # 3 uneven blocks of 11
    plain_ssm = ssm._replace(particle_block=None)
    particles = jax.jit(lambda k: pf.init_particles(ssm, k, 11).particles)(jax.random.key(0))
    B, m, p = 3, 6, 3
    X = jax.random.normal(jax.random.key(4), (B, m, p))
    mask = jnp.arange(m)[None, :] < jnp.array([6, 2, 0])[:, None]  # full, padded, empty
    batch = Batch(X, mask, jnp.array([0.3, -1.0, 0.1]), jnp.array([True, True, False]))
    fast = jax.jit(lambda P, b: pf.observe_all(ssm, P, b))(particles, batch)
    plain = jax.jit(lambda P, b: pf.observe_all(plain_ssm, P, b))(particles, batch)
    for a, b in zip(fast, plain):
        assert a.shape == (11, B)
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)


def named_mlp(features=3, width=3, q=1e-4, r=0.01, prior_scale=0.5):
    """The example MLP written as a NumPyro user writes it: one named site per weight block."""

    def model(X, mask, theta_prev=None, d=None):
        def site(name, shape):
            if theta_prev is None:
                return numpyro.sample(name, dist.Normal(jnp.zeros(shape), prior_scale).to_event(len(shape)))
            return numpyro.sample(name, dist.Normal(theta_prev[name], jnp.sqrt(q)).to_event(len(shape)))

        W1, b1, w2 = site("W1", (width, features)), site("b1", (width,)), site("w2", (width,))
        xbar = (mask / jnp.maximum(mask.sum(), 1)) @ X
        numpyro.sample("d", dist.Normal(w2 @ jnp.tanh(W1 @ xbar + b1), jnp.sqrt(r)), obs=d)

    return model


def test_named_sites_run_with_every_kernel_and_equal_the_packed_model():
    """The same model with its weights packed into one flat theta (models/my_mlp.py, blocks in
    the same sorted order) gives the same numbers with every kernel, and the named form's
    InferenceData has one variable per site with its shape."""
    stream, _ = bl.teacher_stream(steps=15, nodes=2, features=3, max_len=5, seed=0)
    packed = f"{ROOT / 'models' / 'my_mlp.py'}:mlp_regression"
    for method, options in (("pf", dict(num_particles=16)), ("ekf", {}), ("enkf", dict(num_members=8)),
                            ("gspf", {}), ("adam", {}), ("dgspf", dict(graph="ring"))):
        named = bl.run(stream, method, model=named_mlp, model_options=dict(width=3), **options)
        flat = bl.run(stream, method, model=packed, model_options=dict(width=3), **options)
        np.testing.assert_array_equal(named.predictions, flat.predictions)
    idata = bl.to_inference_data(named)
    assert {n: idata.posterior[n].shape[2:] for n in ("W1", "b1", "w2")} == {"W1": (3, 3), "b1": (3,), "w2": (3,)}
    ssm = read_model(named_mlp(), X, MASK)
    assert [s.name for s in ssm.sites] == ["W1", "b1", "w2"] and not any(s.static for s in ssm.sites)
    assert ssm.transition_var is not None and float(ssm.transition_var[0]) == pytest.approx(1e-4)


def test_a_declaration_without_theta_prev_has_static_sites_only():
    def static(X, mask, d=None):
        w = numpyro.sample("w", dist.Normal(jnp.zeros(3), 1.0).to_event(1))
        numpyro.sample("d", dist.Normal(w @ X[0], 0.1), obs=d)

    ssm = read_model(static, X, MASK)
    assert ssm.sites[0].static and np.all(np.asarray(ssm.transition_var) == 0)
    particles = jnp.ones((4, 3))
    np.testing.assert_array_equal(np.asarray(ssm.propagate(jax.random.key(0), particles)), np.asarray(particles))
