"""A plain tanh (Elman) RNN regressor in the same state-space form."""

import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist

from bayeslstm.model.noise import random_walk
from bayeslstm.model.rnn import rnn_layout, rnn_predict


def rnn_regression(features: int = 4, hidden: int = 4, q: float = 1e-4, r: float = 0.01,
                   prior_scale: float = 0.5, pooling: str = "mean", output_bias: bool = False):
    """NumPyro declaration: RNN weights as a Gaussian random walk, Gaussian labels."""
    layout = rnn_layout(features, hidden, output_bias)

    def model(X, mask, theta_prev=None, d=None):
        if theta_prev is None:
            theta = numpyro.sample("theta", dist.Normal(jnp.zeros(layout.size), prior_scale).to_event(1))
        else:
            theta = numpyro.sample("theta", random_walk(theta_prev, q))
        numpyro.sample("d", dist.Normal(rnn_predict(layout, theta, X, mask, pooling), jnp.sqrt(r)), obs=d)

    model.layout = layout
    return model
