"""A declaration written as a NumPyro user writes one: named sites, and a static noise scale.

    W1 (width, p), b1 (width,), w2 (width,)   move as a Gaussian random walk
    sigma                                     static: HalfNormal(1), the same at every step
    d = w2 . tanh(W1 xbar + b1) + N(0, sigma^2),  xbar the mean of the valid rows

``theta_prev`` is None for the prior and a dict of the sites' previous values otherwise;
``sigma`` never looks at it, so every method learns it (the particle filters carry it and move
it, the Kalman-type filters learn the label variance sigma^2 in closed form) and each run
reports it as ``learnt_sigma``. Run it with
``bayeslstm run --model models/named_sites.py:named_mlp --method ekf``.
"""

import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist

from bayeslstm.model.noise import random_walk


def named_mlp(features: int = 4, width: int = 8, q: float = 1e-4, prior_scale: float = 0.5):
    """The declaration of a one-hidden-layer MLP on the sequence mean, with a learnt noise scale."""

    def model(X, mask, theta_prev=None, d=None):
        def weights(name, shape):
            if theta_prev is None:
                return numpyro.sample(name, dist.Normal(jnp.zeros(shape), prior_scale).to_event(len(shape)))
            return numpyro.sample(name, random_walk(theta_prev[name], q))

        W1 = weights("W1", (width, features))
        b1 = weights("b1", (width,))
        w2 = weights("w2", (width,))
        sigma = numpyro.sample("sigma", dist.HalfNormal(1.0))
        xbar = (mask / jnp.maximum(mask.sum(), 1)) @ X
        numpyro.sample("d", dist.Normal(w2 @ jnp.tanh(W1 @ xbar + b1), sigma), obs=d)

    return model
