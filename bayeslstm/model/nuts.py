"""The q = 0 form of a declaration over a whole batch: the gold standard NUTS samples.

With static weights (no random walk) the online filters approximate the posterior of theta
given every label seen so far; NUTS on :func:`static_model` gives that posterior exactly (up
to Monte Carlo error) on small problems, which is what the filters are checked against.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpyro
from jax import Array
from numpyro import handlers

from ..errors import ModelError
from .statespace import LABEL, StateSpace, log_likelihood


def static_model(ssm: StateSpace) -> Callable:
    """The q = 0 form of a declaration over a whole batch, for NUTS (the gold standard).

    Every latent site ~ the declaration's prior; every (X_t, mask_t, d_t) observed with the
    declaration's own likelihood. Sample it with ``numpyro.infer.MCMC(NUTS(static_model(ssm)))`` and
    arguments ``(X (T, m, p), mask (T, m), d (T,))``.
    """
    names = [site.name for site in ssm.sites]
    pack = ssm.pack
    if pack is None:
        raise ModelError("static_model needs the StateSpace's pack (the sites' values -> theta); it has none")

    def batch_model(X: Array, mask: Array, d: Array | None = None) -> None:
        # the declaration's own prior over every latent site (hierarchical priors included), label hidden
        with handlers.block(hide=[LABEL]):
            prior = handlers.trace(ssm.model).get_trace(X[0], mask[0], d=jnp.zeros((), X.dtype))  # label observed: drawn never
        values = {n: prior[n]["value"] for n in names}
        theta = pack(values)
        logliks = jax.vmap(lambda x, m, y: log_likelihood(ssm, theta, x, m, y))(X, mask, d)
        numpyro.factor("labels", jnp.sum(logliks))

    return batch_model
