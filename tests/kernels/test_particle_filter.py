"""The bootstrap particle filter's pieces (bayeslstm.kernels.particle_filter): reweighting,
the posterior-predictive mixture and the option checks, against numbers worked out by hand.
(The whole filter against the exact Kalman filter: tests/properties/test_exact.py.)"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayeslstm.errors import OptionError
from bayeslstm.kernels.particle_filter import (
    DEFAULT_PARTICLES,
    check_particle_options,
    mixture_prediction,
    particle_filter,
    reweight,
)
from bayeslstm.kernels.protocol import Batch
from bayeslstm.model.statespace import read_model
from bayeslstm.models import linear_gaussian


def test_reweight_survives_every_kind_of_collapse():
    log_w = jnp.log(jnp.full(4, 0.25))
    for loglik in (jnp.full(4, -jnp.inf), jnp.full(4, jnp.nan), jnp.array([jnp.inf, 0.0, 0.0, 0.0]),
                   jnp.full(4, -1e38), jnp.full(4, 1e38)):
        new, increment, collapsed = reweight(log_w, jnp.where(jnp.isnan(loglik), -jnp.inf, loglik))
        assert np.all(np.isfinite(np.asarray(new))), loglik
        assert not np.isnan(float(increment))
        if bool(collapsed):
            np.testing.assert_array_equal(new, log_w)  # weights kept, not NaN
    _, _, collapsed = reweight(log_w, jnp.full(4, -jnp.inf))
    assert bool(collapsed)


def test_reweight_adds_the_likelihoods_and_reports_the_evidence_increment():
    """Equal weights times likelihoods 0.1..0.4: the new weights are the likelihoods normalised
    and the increment is log of their mean."""
    log_w = jnp.log(jnp.full(4, 0.25))
    new, increment, collapsed = reweight(log_w, jnp.log(jnp.array([0.1, 0.2, 0.3, 0.4])))
    np.testing.assert_allclose(np.exp(np.asarray(new)), [0.1, 0.2, 0.3, 0.4], rtol=1e-6)
    assert float(increment) == pytest.approx(np.log(0.25), rel=1e-6) and not bool(collapsed)


def test_mixture_prediction_by_hand():
    """Two particles with weights 1/4 and 3/4, means 1 and 3, variances 0.5 and 0.1: mean 2.5;
    variance = E[var] + Var[mean] = 0.95 (not the 0.2 of E[var] alone, nor the 0.75 of the
    means' spread alone); density log(0.25 * 0.2 + 0.75 * 0.4)."""
    log_w = jnp.log(jnp.array([0.25, 0.75]))
    mean, var = jnp.array([[1.0], [3.0]]), jnp.array([[0.5], [0.1]])
    loglik = jnp.log(jnp.array([[0.2], [0.4]]))
    prediction, pred_var, log_pred = mixture_prediction(log_w, mean, var, loglik)
    assert float(prediction[0]) == pytest.approx(2.5, rel=1e-6)
    assert float(pred_var[0]) == pytest.approx(0.95, rel=1e-5)
    assert float(log_pred[0]) == pytest.approx(np.log(0.35), rel=1e-6)


def test_entries_that_are_not_valid_change_no_weight():
    """One step on a batch of two examples, the second flagged not valid (a missing label):
    its label, 30 or -7, changes neither the particles, the weights nor the evidence, though it
    is still predicted. A filter that summed the log-likelihoods of every entry would weight
    the particles by the made-up label (the check that it would: the same label made valid
    moves the weights)."""
    rng = np.random.default_rng(2)
    X = jnp.asarray(rng.normal(size=(2, 3, 2)), jnp.float32)
    mask = jnp.ones((2, 3), bool)
    ssm = read_model(linear_gaussian(features=2), np.ones((3, 2), np.float32), np.ones(3, bool))
    kernel = particle_filter(ssm, 64, ess_threshold=1e-6)  # no resampling: the weights show everything
    state = kernel.init(jax.random.key(0))
    step = jax.jit(kernel.step)

    def after(label, valid):
        return step(jax.random.key(1), state, Batch(X, mask, jnp.array([0.5, label]), jnp.array([True, valid])))

    (first, info), (second, _), (learnt, _) = after(30.0, False), after(-7.0, False), after(30.0, True)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert np.abs(np.asarray(learnt.log_weights) - np.asarray(first.log_weights)).max() > 1.0
    assert info.prediction.shape == (2,) and np.isfinite(float(info.prediction[1]))


def test_liu_west_moves_only_after_a_resampling():
    """With a threshold no ESS falls below, the filter never resamples, and the Liu-West move
    (applied only on steps that resampled) leaves every particle where the plain filter has it:
    the same predictions and state, bit for bit. A move applied on the other steps instead
    would change them from the first step on."""
    import bayeslstm as bl

    stream, _ = bl.teacher_stream(steps=20, nodes=2, features=2, max_len=4, seed=1)
    options = dict(model_options=dict(hidden=2), num_particles=32, ess_threshold=1e-9)
    plain = bl.run(stream, "pf", **options)
    moved = bl.run(stream, "pf", move="liu-west", **options)
    assert not moved.diagnostics["resampled"].values.any()
    np.testing.assert_array_equal(moved.predictions, plain.predictions)
    np.testing.assert_array_equal(np.asarray(moved.final_state.particles), np.asarray(plain.final_state.particles))


def test_particle_options_are_checked_with_their_names():
    assert check_particle_options(12, "residual", 1.0) == 12
    for bad in (0, 2.5, "many", True):
        with pytest.raises(OptionError, match="num_particles must be a whole number >= 1"):
            check_particle_options(bad, "systematic")
    with pytest.raises(OptionError, match="ess_threshold"):
        check_particle_options(10, "systematic", 1.5)
    with pytest.raises(OptionError, match="the string '0.5'"):
        check_particle_options(10, "systematic", "0.5")


def test_the_default_particle_count_is_the_shared_default():
    ssm = read_model(linear_gaussian(features=2), np.ones((3, 2), np.float32), np.ones(3, bool))
    state = jax.jit(particle_filter(ssm).init)(jax.random.key(0))
    assert state.particles.shape == (DEFAULT_PARTICLES, 2)
    np.testing.assert_allclose(np.exp(np.asarray(state.log_weights)), 1 / DEFAULT_PARTICLES, rtol=1e-5)


def test_liu_west_moves_keep_the_weighted_mean_and_covariance(rng):
    """A weighted cloud of 4000 particles in 3 dimensions, moved with discount 0.5 (a = 0.5,
    h^2 = 0.75, a strong move): its weighted mean and covariance stay within Monte Carlo error
    (covariance within 8%; measured 2%). Shrinking without the noise would leave a quarter of
    the covariance; noise without the shrinkage 1.75 times it."""
    from bayeslstm.kernels.particle_filter import liu_west

    n = 4000
    particles = rng.normal(size=(n, 3)) @ np.array([[1.0, 0.5, 0.0], [0.0, 1.0, 0.3], [0.0, 0.0, 0.5]]) + 2.0
    log_w = jnp.asarray(rng.normal(size=n) * 0.5)
    w = np.exp(np.asarray(log_w) - np.logaddexp.reduce(np.asarray(log_w)))
    moved = np.asarray(liu_west(jax.random.key(3), jnp.asarray(particles, jnp.float32), log_w, discount=0.5))

    def moments(x):
        mean = w @ x
        return mean, ((x - mean) * w[:, None]).T @ (x - mean)

    (m0, c0), (m1, c1) = moments(particles), moments(moved)
    sd = np.sqrt(np.diag(c0))
    assert np.all(np.abs(m1 - m0) < 5 * sd / np.sqrt(1 / np.sum(w**2)))
    scale = np.sqrt(np.outer(np.diag(c0), np.diag(c0)))
    assert np.max(np.abs(c1 - c0) / scale) < 0.08
    assert not np.allclose(moved, particles, atol=0.1)  # the particles did move


def test_liu_west_runs_in_every_particle_method():
    import bayeslstm as bl

    stream, _ = bl.teacher_stream(steps=30, nodes=3, features=2, max_len=4, seed=1)
    small = dict(model_options=dict(hidden=2), num_particles=32, move="liu-west")
    plain = bl.run(stream, "pf", model_options=dict(hidden=2), num_particles=32)
    moved = bl.run(stream, "pf", **small)
    assert not np.array_equal(plain.predictions, moved.predictions)
    assert np.array_equal(plain.predictions[0], moved.predictions[0])  # moves come after the first update
    for method in ("dpf", "dpf-consensus"):
        assert np.isfinite(bl.run(stream, method, graph="ring", **small).final_tae)
