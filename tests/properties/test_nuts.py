"""q = 0: the particle filter is an importance sampler of the static posterior, which NUTS
samples from the same NumPyro declaration (batch form). Their posterior-predictive means agree."""

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.infer import MCMC, NUTS

import bayeslstm as bl
from bayeslstm.models import lstm_regression
from bayeslstm.model.statespace import read_model
from bayeslstm.model.nuts import static_model


def test_pf_posterior_predictive_matches_nuts():
    rng = np.random.default_rng(0)
    T, M, p = 4, 3, 1
    declaration = lstm_regression(features=p, hidden=1, q=0.0, r=0.5, prior_scale=1.0)
    queries = 3
    X = rng.normal(size=(T + queries, 1, M, p)).astype(np.float32)
    lengths = rng.integers(1, M + 1, size=(T + queries, 1))
    X = np.where((np.arange(M)[None, None, :] < lengths[..., None])[..., None], X, 0.0).astype(np.float32)
    d = rng.normal(0.0, 1.0, size=(T + queries, 1)).astype(np.float32)
    observed = np.arange(T + queries)[:, None] < T  # the last steps are queries: predicted, never learnt
    # every query is a separate replica node so each is predicted from the same T observations
    Xq = np.concatenate([np.repeat(X[:T], queries, axis=1), X[T:].transpose(1, 0, 2, 3)], axis=0)
    Lq = np.concatenate([np.repeat(lengths[:T], queries, axis=1), lengths[T:].T], axis=0)
    dq = np.concatenate([np.repeat(d[:T], queries, axis=1), np.zeros((1, queries), np.float32)], axis=0)
    oq = np.concatenate([np.repeat(observed[:T], queries, axis=1), np.zeros((1, queries), bool)], axis=0)
    stream = bl.make_stream(Xq, Lq, dq, oq)

    res = bl.run(stream, "pf", model=declaration, num_particles=20000, ess_threshold=1e-6, seed=3)
    pf_pred = res.predictions[-1]
    ess = res.diagnostics["ess"].values[T - 1]

    ssm = read_model(declaration, X[0, 0], np.ones(M, bool))
    mask = np.arange(M)[None, :] < lengths[:T, 0][:, None]
    mcmc = MCMC(NUTS(static_model(ssm)), num_warmup=400, num_samples=1000, num_chains=1, progress_bar=False)
    mcmc.run(jax.random.key(1), jnp.asarray(X[:T, 0]), jnp.asarray(mask), jnp.asarray(d[:T, 0]))
    thetas = mcmc.get_samples()["theta"]
    for q in range(queries):
        qmask = jnp.arange(M) < lengths[T + q, 0]
        f = jax.vmap(lambda th: ssm.mean(th, jnp.asarray(X[T + q, 0]), qmask))(thetas)
        nuts_mean, sd = float(f.mean()), float(f.std())
        se = sd * np.sqrt(1.0 / ess[q] + 1.0 / 200.0)  # PF importance-sampling error + NUTS (>= 200 effective draws)
        assert abs(pf_pred[q] - nuts_mean) < 4 * se + 1e-3, (q, pf_pred[q], nuts_mean, se)
