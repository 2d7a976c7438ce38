"""What static sites are learnt to be (bayeslstm.engine.learnt): the posterior mean in the site's
support from every kind of posterior, and a noise site read back from a learnt label variance."""

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest

from bayeslstm.engine.learnt import learnt_values
from bayeslstm.kernels.protocol import Gaussian, GaussianMixture, LowRankGaussian, PointEstimate, WeightedSample
from bayeslstm.model.statespace import read_model

X = jnp.ones((3, 2))
MASK = jnp.ones(3, bool)


def model(X, mask, d=None):
    w = numpyro.sample("w", dist.Normal(jnp.zeros(2), 1.0).to_event(1))
    sigma = numpyro.sample("sigma", dist.HalfNormal(1.0))  # kept as log(sigma)
    numpyro.sample("d", dist.Normal(w @ X[-1], sigma), obs=d)


@pytest.fixture(scope="module")
def ssm():
    return read_model(model, X, MASK)


def test_each_posterior_form_gives_the_site_in_its_support(ssm):
    """sigma is entry 0 in unconstrained (log) coordinates; a filter that reported the raw
    coordinate would give log values (negative here)."""
    theta = jnp.array([np.log(0.5), 1.0, 2.0])
    assert [s.name for s in ssm.sites] == ["sigma", "w"]
    for form in (Gaussian(theta, jnp.eye(3)), PointEstimate(theta), LowRankGaussian(theta, jnp.ones(3), jnp.zeros((3, 1)))):
        out = learnt_values(ssm, form)
        assert float(out["learnt_sigma"]) == pytest.approx(0.5, rel=1e-5) and np.allclose(out["learnt_w"], [1.0, 2.0])
    particles = jnp.stack([theta, theta.at[0].set(np.log(1.5))])
    weighted = learnt_values(ssm, WeightedSample(particles, jnp.log(jnp.array([0.25, 0.75]))))
    assert float(weighted["learnt_sigma"]) == pytest.approx(0.25 * 0.5 + 0.75 * 1.5, rel=1e-5)  # the mean of sigma
    mixture = learnt_values(ssm, GaussianMixture(particles, jnp.stack([jnp.eye(3)] * 2), jnp.log(jnp.array([0.5, 0.5]))))
    assert float(mixture["learnt_sigma"]) == pytest.approx(1.0, rel=1e-5)


def test_a_noise_site_is_read_back_from_a_learnt_label_variance(ssm):
    theta = jnp.array([0.0, 1.0, 2.0])  # sigma's own entry is ignored: r says what it is
    out = learnt_values(ssm, Gaussian(theta, jnp.eye(3), label_var=jnp.asarray(0.09)))
    assert float(out["learnt_sigma"]) == pytest.approx(0.3, rel=1e-4)
