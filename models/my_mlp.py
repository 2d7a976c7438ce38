"""A user-declared model: a one-hidden-layer MLP on the mean of the sequence.

It shows the declaration form every kernel reads. Run it with
``bayeslstm run --model models/my_mlp.py:mlp_regression --method pf``.
"""

import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist

from bayeslstm.model.layout import ParamLayout, unflatten
from bayeslstm.model.noise import random_walk


def mlp_regression(features: int = 4, width: int = 8, q: float = 1e-4, r: float = 0.01, prior_scale: float = 0.5):
    """theta = (W1, b1, w2); d = w2 . tanh(W1 xbar + b1) + noise, xbar the mean of the valid rows."""
    layout = ParamLayout(("W1", "b1", "w2"), ((width, features), (width,), (width,)))

    def model(X, mask, theta_prev=None, d=None):
        if theta_prev is None:
            theta = numpyro.sample("theta", dist.Normal(jnp.zeros(layout.size), prior_scale).to_event(1))
        else:
            theta = numpyro.sample("theta", random_walk(theta_prev, q))
        p = unflatten(layout, theta)
        xbar = (mask / jnp.maximum(mask.sum(), 1)) @ X
        numpyro.sample("d", dist.Normal(p["w2"] @ jnp.tanh(p["W1"] @ xbar + p["b1"]), jnp.sqrt(r)), obs=d)

    model.layout = layout
    return model
