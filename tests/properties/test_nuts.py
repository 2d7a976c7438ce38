"""q = 0: the particle filter is an importance sampler of the static posterior, which NUTS
samples from the same NumPyro declaration (batch form). Their posterior-predictive means and
variances agree, on data that move the posterior well away from the prior."""

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.infer import MCMC, NUTS

import bayeslstm as bl
from bayeslstm.model.nuts import static_model
from bayeslstm.model.statespace import read_model
from bayeslstm.models import lstm_regression

T, M, P, QUERIES, R = 12, 3, 1, 3, 0.1


def test_pf_posterior_predictive_matches_nuts():
    """Twelve labels of a teacher LSTM (a prior draw scaled by 2) with noise r = 0.1: after them
    the 20,000 prior particles keep an ESS of about 2,600, so the data have moved the posterior
    far from the prior, which the test checks: on each of three new sequences the prior's
    predictive mean is 5.5 to 14.5 standard errors from NUTS's and its predictive variance 19%
    to 41% larger. The particle filter's means are within 0.7 standard errors of NUTS's and its
    variances within 1% (measured). Bounds: means within 4 standard errors, variances within
    10%, so a filter that ignored the labels (it would predict with the prior) fails every
    query on both counts."""
    rng = np.random.default_rng(0)
    declaration = lstm_regression(features=P, hidden=1, q=0.0, r=R, prior_scale=1.0)
    X = rng.normal(size=(T + QUERIES, 1, M, P)).astype(np.float32)
    lengths = rng.integers(1, M + 1, size=(T + QUERIES, 1))
    X = np.where((np.arange(M)[None, None, :] < lengths[..., None])[..., None], X, 0.0).astype(np.float32)
    masks = np.arange(M)[None, :] < lengths[:, 0][:, None]
    ssm = read_model(declaration, X[0, 0], np.ones(M, bool))
    teacher = 2.0 * ssm.sample_prior(jax.random.key(100))
    f_teacher = jax.vmap(lambda x, m: ssm.mean(teacher, x, m))(jnp.asarray(X[:, 0]), jnp.asarray(masks))
    d = (np.asarray(f_teacher) + rng.normal(0.0, np.sqrt(R), T + QUERIES)).astype(np.float32)[:, None]
    observed = np.arange(T + QUERIES)[:, None] < T  # the last steps are queries: predicted, never learnt
    # every query is a separate replica node so each is predicted from the same T observations
    Xq = np.concatenate([np.repeat(X[:T], QUERIES, axis=1), X[T:].transpose(1, 0, 2, 3)], axis=0)
    Lq = np.concatenate([np.repeat(lengths[:T], QUERIES, axis=1), lengths[T:].T], axis=0)
    dq = np.concatenate([np.repeat(d[:T], QUERIES, axis=1), np.zeros((1, QUERIES), np.float32)], axis=0)
    oq = np.concatenate([np.repeat(observed[:T], QUERIES, axis=1), np.zeros((1, QUERIES), bool)], axis=0)
    stream = bl.make_stream(Xq, Lq, dq, oq)

    num_particles = 20000
    res = bl.run(stream, "pf", model=declaration, num_particles=num_particles, ess_threshold=1e-6, seed=3)
    pf_mean, pf_var = res.predictions[-1], res.diagnostics["predictive_var"].values[-1]
    ess = res.diagnostics["ess"].values[T - 1]
    assert np.all(ess < 0.25 * num_particles), ess  # the labels reweighted the prior particles strongly

    mcmc = MCMC(NUTS(static_model(ssm)), num_warmup=400, num_samples=1000, num_chains=1, progress_bar=False)
    mcmc.run(jax.random.key(1), jnp.asarray(X[:T, 0]), jnp.asarray(masks[:T]), jnp.asarray(d[:T, 0]))
    thetas = mcmc.get_samples()["theta"]
    prior = jax.vmap(ssm.sample_prior)(jax.random.split(jax.random.key(9), num_particles))
    for q in range(QUERIES):
        x, m = jnp.asarray(X[T + q, 0]), jnp.asarray(masks[T + q])
        f = np.asarray(jax.vmap(lambda th: ssm.mean(th, x, m))(thetas))
        f_prior = np.asarray(jax.vmap(lambda th: ssm.mean(th, x, m))(prior))
        nuts_mean, nuts_var = f.mean(), f.var() + R
        se = f.std() * np.sqrt(1.0 / ess[q] + 1.0 / 200.0)  # PF importance-sampling error + NUTS (>= 200 effective draws)
        # the posterior differs clearly from the prior ...
        assert abs(f_prior.mean() - nuts_mean) > 5 * se, (q, f_prior.mean(), nuts_mean, se)
        assert f_prior.var() + R > 1.15 * nuts_var, (q, f_prior.var() + R, nuts_var)
        # ... and the particle filter has the posterior's predictive moments
        assert abs(pf_mean[q] - nuts_mean) < 4 * se, (q, pf_mean[q], nuts_mean, se)
        assert abs(pf_var[q] / nuts_var - 1.0) < 0.10, (q, pf_var[q], nuts_var)
