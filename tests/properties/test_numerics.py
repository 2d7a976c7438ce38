"""Numerical safety on whole runs: a particle filter whose every particle has zero likelihood
is flagged and keeps predicting, and EKF covariances stay symmetric positive definite in
float32 over long runs. (The pieces: ``reweight`` in tests/kernels/test_particle_filter.py,
the runner's state check in tests/engine/test_runner.py.)"""

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

import bayeslstm as bl
from bayeslstm.model.lstm import lstm_layout, lstm_predict
from bayeslstm.model.noise import random_walk


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
