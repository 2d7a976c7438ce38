"""The Gaussian-sum particle filter (bayeslstm.kernels.gaussian_sum): one component is the EKF
exactly; the mixture's moments, weights and re-spawning."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bayeslstm as bl
from bayeslstm.errors import OptionError
from bayeslstm.kernels.gaussian_sum import GaussianSumState, mixture_moments, respawn, reweight_components

SMALL = dict(model_options=dict(hidden=2))


def test_one_component_is_the_ekf_exactly():
    with jax.enable_x64(True):
        stream, _ = bl.teacher_stream(steps=40, nodes=2, features=2, max_len=5, seed=3)
        for fusion in ("local", "centralized"):
            ekf = bl.run(stream, "ekf", fusion=fusion, seed=1, **SMALL)
            gspf = bl.run(stream, "gspf", fusion=fusion, num_components=1, seed=1, **SMALL)
            np.testing.assert_allclose(gspf.predictions, ekf.predictions, rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(gspf.diagnostics["predictive_var"].values, ekf.diagnostics["predictive_var"].values,
                                       rtol=1e-12)
            np.testing.assert_allclose(np.asarray(gspf.final_state.means)[..., 0, :], np.asarray(ekf.final_state.mean),
                                       rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(gspf.diagnostics["log_evidence_increment"].values,
                                       ekf.diagnostics["log_evidence_increment"].values, rtol=1e-12)


def test_mixture_moments_by_hand():
    log_w = jnp.log(jnp.array([0.25, 0.75]))
    f = jnp.array([[1.0], [3.0]])
    s = jnp.array([[0.5], [1.0]])
    log_density = jnp.log(jnp.array([[0.2], [0.4]]))
    mean, var, log_pred = mixture_moments(log_w, f, s, log_density)
    assert float(mean[0]) == pytest.approx(2.5)
    # E[var] + Var[mean] = 0.25 * 0.5 + 0.75 * 1 + 0.25 * 1.5^2 + 0.75 * 0.5^2
    assert float(var[0]) == pytest.approx(0.875 + 0.75)
    assert float(log_pred[0]) == pytest.approx(np.log(0.25 * 0.2 + 0.75 * 0.4))


def test_weights_multiply_by_each_components_evidence():
    log_w, total = reweight_components(jnp.log(jnp.array([0.5, 0.5])), jnp.log(jnp.array([0.1, 0.3])))
    np.testing.assert_allclose(np.exp(np.asarray(log_w)), [0.25, 0.75], rtol=1e-6)
    assert float(total) == pytest.approx(np.log(0.2))


def test_collapsed_components_are_respawned_near_a_live_one():
    state = GaussianSumState(jnp.array([[0.0, 0.0], [5.0, 5.0], [9.0, 9.0]]), jnp.full((3, 2), 0.04),
                             jnp.log(jnp.array([1e-6, 0.5, 0.5 - 1e-6])), jnp.zeros(()))
    new, count = respawn(jax.random.key(0), state, below=1e-3)
    assert int(count) == 1
    means = np.asarray(new.means)
    np.testing.assert_array_equal(means[1:], np.asarray(state.means)[1:])  # live components untouched
    assert min(np.abs(means[0] - 5.0).max(), np.abs(means[0] - 9.0).max()) < 0.1  # 0.1 x sd 0.2 jitter
    assert np.exp(np.asarray(new.log_weights)).sum() == pytest.approx(1.0)
    assert np.exp(np.asarray(new.log_weights))[0] == pytest.approx(1e-3, rel=1e-3)


def test_bad_options_are_refused():
    stream, _ = bl.teacher_stream(steps=3, features=2, max_len=3)
    with pytest.raises(OptionError, match="num_components"):
        bl.run(stream, "gspf", num_components=0)
    with pytest.raises(OptionError, match="respawn_below"):
        bl.run(stream, "gspf", respawn_below=1.0)
