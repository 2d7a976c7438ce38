"""Numerical safety: weight collapse is survived and flagged, EKF covariances stay symmetric
positive definite in float32 over long runs."""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

import bayeslstm as bl
from bayeslstm.model.lstm import lstm_layout, lstm_predict
from bayeslstm.kernels.particle_filter import reweight
from bayeslstm.model.noise import random_walk


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


def bounded_noise_lstm(features: int = 2, hidden: int = 2):
    """LSTM with uniform label noise of half-width 0.05: labels further away have zero likelihood."""
    layout = lstm_layout(features, hidden, False)

    def model(X, mask, theta_prev=None, d=None):
        if theta_prev is None:
            theta = numpyro.sample("theta", dist.Normal(jnp.zeros(layout.size), 0.5).to_event(1))
        else:
            theta = numpyro.sample("theta", random_walk(theta_prev, 1e-4))
        mean = lstm_predict(layout, theta, X, mask, "mean")
        numpyro.sample("d", dist.Uniform(mean - 0.05, mean + 0.05), obs=d)

    model.layout = layout
    return model


def test_particle_filter_flags_collapse_and_keeps_predicting():
    stream = bl.teacher_stream(steps=12, nodes=1, features=2, max_len=4, seed=1)[0]
    far = stream._replace(d=stream.d + 100.0)  # no particle can explain these labels
    result = bl.run(far, "pf", model=bounded_noise_lstm(), num_particles=32)
    collapsed = result.diagnostics["collapsed"].values
    assert collapsed.all()
    assert np.isfinite(result.predictions).all() and np.isfinite(result.diagnostics["ess"].values).all()


def test_ekf_covariance_stays_symmetric_positive_definite_in_float32():
    assert jnp.asarray(0.0).dtype == jnp.float32
    stream = bl.teacher_stream(steps=2000, nodes=2, features=2, min_len=1, max_len=4, seed=4)[0]
    result = bl.run(stream, "ekf", model_options={"hidden": 2, "q": 1e-6})
    cov = np.asarray(result.final_state.cov, np.float64)
    for k in range(cov.shape[0]):
        np.testing.assert_array_equal(cov[k], cov[k].T)
        assert np.linalg.eigvalsh(cov[k]).min() > 0
    diagonal = bl.run(stream, "ekf", covariance="diagonal", model_options={"hidden": 2, "q": 1e-6})
    assert (np.asarray(diagonal.final_state.cov) > 0).all()


def test_a_non_finite_state_stops_the_run_naming_quantity_node_and_step():
    import pytest

    from bayeslstm.kernels.ekf import EKFState
    from bayeslstm.errors import NumericalError
    from bayeslstm.engine.runner import check_state

    state = EKFState(jnp.zeros((3, 2)), jnp.ones((3, 2, 2)), jnp.array([0.0, -jnp.inf, 0.0]))
    check_state(state, 7, "ekf-local", per_node=True)  # a -inf log evidence is honest, not an error
    bad = state._replace(cov=state.cov.at[1, 0, 1].set(jnp.nan))
    with pytest.raises(NumericalError, match=r"non-finite cov .* after step 7, node 1"):
        check_state(bad, 7, "ekf-local", per_node=True)
