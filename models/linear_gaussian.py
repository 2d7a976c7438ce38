"""A linear-Gaussian state-space model, for validation against the exact Kalman filter.

    theta_t = theta_{t-1} + e_t,   e_t ~ N(0, q I),  theta in R^features
    d_t     = theta_t^T xbar_t + v_t,   xbar_t = mean of the valid rows of X_t
"""

import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist

from bayeslstm.model.layout import ParamLayout
from bayeslstm.model.noise import random_walk
from bayeslstm.model.regression import check_model_options


def linear_gaussian(features: int = 4, q: float = 1e-3, r: float = 0.1, prior_scale: float = 1.0):
    """NumPyro declaration of the linear-Gaussian random-walk regression."""
    check_model_options({"features": features, "q": q, "r": r, "prior_scale": prior_scale})
    layout = ParamLayout(("theta",), ((features,),))

    def model(X, mask, theta_prev=None, d=None):
        if theta_prev is None:
            theta = numpyro.sample("theta", dist.Normal(jnp.zeros(features), prior_scale).to_event(1))
        else:
            theta = numpyro.sample("theta", random_walk(theta_prev, q))
        weights = mask / jnp.maximum(mask.sum(), 1)
        xbar = weights @ X
        numpyro.sample("d", dist.Normal(theta @ xbar, jnp.sqrt(r)), obs=d)

    model.layout = layout
    return model
