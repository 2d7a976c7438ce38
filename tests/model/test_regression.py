"""The recurrent regression declaration (bayeslstm.model.regression): the residual readout
starts from the naive forecast, the skip term reads the last input row, r can be a site."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayeslstm.errors import ModelError
from bayeslstm.model.layout import unflatten
from bayeslstm.model.statespace import read_model
from bayeslstm.models import gru_regression, lstm_regression, rnn_regression

X = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
MASK = np.array([True, True, True, False, False])


@pytest.mark.parametrize("factory", [lstm_regression, gru_regression, rnn_regression])
def test_the_residual_readout_is_the_naive_forecast_when_the_output_weights_are_zero(factory):
    ssm = read_model(factory(features=3, hidden=2, readout="residual", target_feature=2), X, MASK)
    theta = jax.random.normal(jax.random.key(0), (ssm.dim,))
    blocks = unflatten(ssm.layout, theta)
    start = ssm.layout.offsets[ssm.layout.names.index("w_out")]
    zeroed = theta.at[start:start + blocks["w_out"].size].set(0.0)
    assert float(ssm.mean(zeroed, X, MASK)) == pytest.approx(float(X[2, 2]), abs=1e-6)  # the last valid row, column 2
    linear = read_model(factory(features=3, hidden=2), X, MASK)
    assert float(linear.mean(zeroed, X, MASK)) == pytest.approx(0.0, abs=1e-6)
    assert float(ssm.mean(theta, X, MASK)) == pytest.approx(float(linear.mean(theta, X, MASK)) + float(X[2, 2]), abs=1e-5)


def test_the_skip_term_adds_a_linear_function_of_the_last_row():
    ssm = read_model(lstm_regression(features=3, hidden=2, skip=True), X, MASK)
    assert ssm.layout.names[-1] == "w_skip" and ssm.layout.shapes[-1] == (3,)
    theta = jnp.zeros(ssm.dim).at[-3:].set(jnp.array([1.0, 2.0, -1.0]))
    assert float(ssm.mean(theta, X, MASK)) == pytest.approx(float(X[2] @ np.array([1.0, 2.0, -1.0])), abs=1e-5)


def test_a_learnt_r_is_a_static_site_with_its_prior_mean_at_r():
    ssm = read_model(lstm_regression(features=3, hidden=2, r=0.2, learn_r=True), X, MASK)
    r_site = ssm.sites[0]
    assert r_site.name == "r" and r_site.static and r_site.affects_variance and not r_site.affects_mean
    assert ssm.obs_var is None and ssm.label_var_prior[1] / (ssm.label_var_prior[0] - 1) == pytest.approx(0.2, rel=0.1)
    assert ssm.layout.names[:2] == ("r", "W_z")  # the packed weights keep their block names


def test_bad_readouts_are_refused():
    with pytest.raises(ModelError, match="target_feature"):
        lstm_regression(features=3, readout="residual")
    with pytest.raises(ModelError, match="input columns"):
        lstm_regression(features=3, readout="residual", target_feature=3)
