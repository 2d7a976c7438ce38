"""The static (q = 0) form of a declaration that NUTS samples (bayeslstm.model.nuts): its log
density is the prior's plus every label's likelihood, written out by hand for the
linear-Gaussian model. (NUTS itself against the particle filter: tests/properties/test_nuts.py.)"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from numpyro.infer.util import log_density
from scipy.stats import norm

from bayeslstm.model.nuts import static_model
from bayeslstm.model.statespace import read_model
from bayeslstm.models import linear_gaussian

R, PRIOR_SCALE = 0.1, 1.5


def test_static_model_density_is_prior_plus_every_label():
    """Fails if a label is left out (e.g. only the first example is observed), if the prior is
    missing, or if the transition stands in for the prior."""
    rng = np.random.default_rng(0)
    T, m, p = 4, 3, 2
    X = rng.normal(size=(T, m, p)).astype(np.float32)
    lengths = np.array([3, 1, 2, 3])
    mask = np.arange(m)[None, :] < lengths[:, None]
    d = rng.normal(size=T).astype(np.float32)
    theta = np.array([0.3, -0.7], np.float32)
    ssm = read_model(linear_gaussian(features=p, q=0.0, r=R, prior_scale=PRIOR_SCALE), X[0], mask[0])
    value = jax.jit(lambda th: log_density(static_model(ssm), (X, mask, d), {}, {"theta": th})[0])(jnp.asarray(theta))
    xbar = np.stack([X[t, :lengths[t]].astype(np.float64).mean(0) for t in range(T)])
    expected = norm.logpdf(theta, 0.0, PRIOR_SCALE).sum() + norm.logpdf(d, xbar @ theta, np.sqrt(R)).sum()
    assert float(value) == pytest.approx(expected, rel=1e-5)
