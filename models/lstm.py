"""The paper's model: LSTM regressor whose weights follow a Gaussian random walk.

    theta_0 ~ N(0, s0^2 I)
    theta_t = theta_{t-1} + e_t,        e_t ~ N(0, q I)
    d_t     = w^T hbar(X_t; theta_t) + v_t,  v_t ~ N(0, r)
"""

import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist

from bayeslstm.model.noise import random_walk
from bayeslstm.model.lstm import lstm_layout, lstm_predict


def lstm_regression(
    features: int = 4,
    hidden: int = 4,
    q: float = 1e-4,
    r: float = 0.01,
    prior_scale: float = 0.5,
    pooling: str = "mean",
    output_bias: bool = False,
):
    """Return the NumPyro declaration of the LSTM state-space model.

    ``q``: random-walk variance per weight and step; ``r``: label noise variance;
    ``prior_scale``: standard deviation of every weight at t = 0.
    """
    layout = lstm_layout(features, hidden, output_bias)

    def model(X, mask, theta_prev=None, d=None):
        if theta_prev is None:
            theta = numpyro.sample("theta", dist.Normal(jnp.zeros(layout.size), prior_scale).to_event(1))
        else:
            theta = numpyro.sample("theta", random_walk(theta_prev, q))
        mean = lstm_predict(layout, theta, X, mask, pooling)
        numpyro.sample("d", dist.Normal(mean, jnp.sqrt(r)), obs=d)

    model.layout = layout
    return model
