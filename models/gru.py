"""A GRU regressor in the same state-space form as the paper's LSTM."""

import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist

from bayeslstm.model.noise import random_walk
from bayeslstm.model.gru import gru_layout, gru_predict


def gru_regression(features: int = 4, hidden: int = 4, q: float = 1e-4, r: float = 0.01,
                   prior_scale: float = 0.5, pooling: str = "mean", output_bias: bool = False):
    """NumPyro declaration: GRU weights as a Gaussian random walk, Gaussian labels."""
    layout = gru_layout(features, hidden, output_bias)

    def model(X, mask, theta_prev=None, d=None):
        if theta_prev is None:
            theta = numpyro.sample("theta", dist.Normal(jnp.zeros(layout.size), prior_scale).to_event(1))
        else:
            theta = numpyro.sample("theta", random_walk(theta_prev, q))
        numpyro.sample("d", dist.Normal(gru_predict(layout, theta, X, mask, pooling), jnp.sqrt(r)), obs=d)

    model.layout = layout
    return model
