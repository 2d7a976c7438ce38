"""Static sites are learnt, never frozen (bayeslstm.kernels.label_noise and the particle
filters' moves): a noise scale set by a static site ends near the truth with every filter,
the label variance of a linear-Gaussian model converges, the Gaussian filters' evidence of a
label is its predictive density before the label is seen, and a site a method cannot learn
is refused with the site and the method named; a label variance that forgets follows noise
that grows."""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from jax.scipy.special import logsumexp

import bayeslstm as bl
from bayeslstm.errors import ModelError
from bayeslstm.kernels.ekf import extended_kalman_filter, value_and_jacobian
from bayeslstm.kernels.gaussian_sum import gaussian_sum_filter
from bayeslstm.kernels.label_noise import estimate
from bayeslstm.kernels.lofi import low_rank_filter, predict
from bayeslstm.kernels.protocol import Batch, LowRankPrecision, gaussian_log_density
from bayeslstm.model.noise import random_walk
from bayeslstm.model.statespace import read_model

SIGMA = 0.3
W = np.array([1.0, -0.5])


def noisy_regression(features: int = 2, q: float = 1e-5):
    """d = w . xbar + N(0, sigma^2) with w a random walk and sigma a static HalfNormal(1) site."""

    def model(X, mask, theta_prev=None, d=None):
        prior = dist.Normal(jnp.zeros(features), 1.0).to_event(1)
        w = numpyro.sample("w", prior if theta_prev is None else random_walk(theta_prev["w"], q))
        sigma = numpyro.sample("sigma", dist.HalfNormal(1.0))
        xbar = (mask / jnp.maximum(mask.sum(), 1)) @ X
        numpyro.sample("d", dist.Normal(w @ xbar, sigma), obs=d)

    return model


def stream_with_noise(seed: int, steps: int = 600, nodes: int = 2):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 5, (steps, nodes))
    X = rng.normal(size=(steps, nodes, 4, 2))
    X = np.where((np.arange(4)[None, None, :] < lengths[..., None])[..., None], X, 0.0)
    xbar = X.sum(2) / lengths[..., None]
    d = xbar @ W + SIGMA * rng.normal(size=(steps, nodes))
    return bl.make_stream(X.astype(np.float32), lengths, d.astype(np.float32))


@pytest.mark.parametrize("method, options", [
    ("pf", dict(num_particles=100)), ("ekf", {}), ("enkf", dict(num_members=64)), ("gspf", {}),
])
def test_a_static_noise_scale_is_learnt_by_every_filter(method, options):
    """On 6 independent nodes (each its own data, starting weights and draws) with sigma = 0.3
    every filter's learnt sigma ends within 20% of it. Its prior, HalfNormal(1), has mean 0.8:
    a filter that froze sigma at a prior draw, or never moved it, would be off by far more on
    some node."""
    res = bl.run(stream_with_noise(0, nodes=6), method, model=noisy_regression, **options)
    learnt = res.diagnostics["learnt_sigma"].values
    assert np.all(np.abs(learnt[-1] / SIGMA - 1) < 0.2), learnt[-1]
    assert not np.any(np.isclose(learnt[0], learnt[-1]))  # it moved, at every node


def test_the_label_variance_of_a_linear_gaussian_model_converges_to_the_truth():
    """The EKF learns r of d = theta . xbar + N(0, r) by variational Bayes: r = 0.09 is found
    within 10% after 2000 labels, from a prior mean of 0.5, by the exact posterior of a static
    r (noise_forgetting=1: every label counts)."""

    def model(X, mask, theta_prev=None, d=None):
        prior = dist.Normal(jnp.zeros(2), 1.0).to_event(1)
        theta = numpyro.sample("theta", prior if theta_prev is None else random_walk(theta_prev["theta"], 1e-6))
        r = numpyro.sample("r", dist.InverseGamma(3.0, 1.0))
        xbar = (mask / jnp.maximum(mask.sum(), 1)) @ X
        numpyro.sample("d", dist.Normal(theta @ xbar, jnp.sqrt(r)), obs=d)

    res = bl.run(stream_with_noise(7, steps=1000), "ekf", model=model, noise_forgetting=1)
    learnt = res.diagnostics["learnt_r"].values
    assert np.all(np.abs(learnt[-1] / SIGMA**2 - 1) < 0.1), learnt[-1]
    assert learnt[0].mean() > 0.2  # it started far from the truth


def stream_whose_noise_grows(seed: int, steps: int = 600, later: float = 3.0):
    """The stream of :func:`stream_with_noise` with the noise's sd ``later`` times larger from T/2."""
    stream = stream_with_noise(seed, steps)
    rng = np.random.default_rng(100 + seed)
    extra = np.where(np.arange(steps)[:, None] >= steps // 2, np.sqrt(later**2 - 1) * SIGMA, 0.0)
    d = np.asarray(stream.d) + extra * rng.normal(size=stream.d.shape)
    return bl.make_stream(np.asarray(stream.X), np.asarray(stream.lengths), d.astype(np.float32))


@pytest.mark.parametrize("method, options", [("ekf", {}), ("gspf", {"covariance": "low-rank", "rank": 2})])
def test_a_label_variance_that_forgets_follows_noise_that_grows(method, options):
    """The noise's sd triples at step 300 of 600, on 2 independent nodes. With
    noise_forgetting=0.98 (a memory of about 50 labels) the learnt sigma over the last 150
    steps is within 15% of the new 0.9; without it r stays near the mean over both halves
    (sigma near 0.67), more than 20% short. On a steady stream the forgetting filter's late
    sigma is within 10% of the truth."""
    grows = stream_whose_noise_grows(0)
    late = {rho: bl.run(grows, method, model=noisy_regression, noise_forgetting=rho, **options)
            .diagnostics["learnt_sigma"].values[-150:].mean(0) for rho in (0.98, None)}
    assert np.all(np.abs(late[0.98] / (3 * SIGMA) - 1) < 0.15), late
    assert np.all(late[None] < 0.8 * 3 * SIGMA), late
    if method == "ekf":
        steady = bl.run(stream_with_noise(0), method, model=noisy_regression, noise_forgetting=0.98)
        assert np.all(np.abs(steady.diagnostics["learnt_sigma"].values[-150:].mean(0) / SIGMA - 1) < 0.1)


def test_forgetting_keeps_the_estimate_and_bounds_the_memory():
    """forget() keeps rate / shape, and shape tends to 1 / (2 (1 - rho)) label by label: the
    posterior counts about 1 / (1 - rho) labels. rho = 1 is None (no forgetting); rho outside
    (1/2, 1] is refused."""
    from bayeslstm.errors import OptionError
    from bayeslstm.kernels.label_noise import NoiseState, check_forgetting, forget, observe_residuals

    noise = NoiseState(jnp.float32(3.0), jnp.float32(1.2))
    assert float(estimate(forget(noise, 0.9))) == pytest.approx(float(estimate(noise)))
    assert forget(noise, None) is noise
    for _ in range(300):
        noise = observe_residuals(forget(noise, 0.95), jnp.ones(1), jnp.ones(1, bool))
    assert float(noise.shape) == pytest.approx(10.0, rel=1e-4)
    assert check_forgetting(None) is None and check_forgetting(1) is None and check_forgetting(0.99) == 0.99
    for bad in (0.5, 1.2, float("nan")):
        with pytest.raises(OptionError, match="noise_forgetting"):
            check_forgetting(bad)


def test_sites_a_method_cannot_learn_are_refused_by_name():
    def prior_scale(X, mask, theta_prev=None, d=None):
        s = numpyro.sample("s", dist.HalfNormal(1.0))  # a prior scale: the label never sees it
        w = numpyro.sample("w", dist.Normal(jnp.zeros(2), s).to_event(1) if theta_prev is None
                           else random_walk(theta_prev["w"], 1e-4))
        numpyro.sample("d", dist.Normal(w @ X[0], 0.1), obs=d)

    stream = stream_with_noise(0, steps=5)
    for method in ("ekf", "enkf", "gspf", "sgd"):
        with pytest.raises(ModelError, match=r"site 's'.*cannot learn it"):
            bl.run(stream, method, model=prior_scale)
    assert np.isfinite(bl.run(stream, "pf", model=prior_scale, num_particles=16).final_tae)  # the PF can

    def moving_noise(X, mask, theta_prev=None, d=None):
        w = numpyro.sample("w", dist.Normal(jnp.zeros(2), 1.0).to_event(1) if theta_prev is None
                           else random_walk(theta_prev["w"], 1e-4))
        log_s = numpyro.sample("log_s", dist.Normal(0.0, 1.0) if theta_prev is None
                               else dist.Normal(theta_prev["log_s"], 0.01))
        numpyro.sample("d", dist.Normal(w @ X[0], jnp.exp(log_s)), obs=d)

    with pytest.raises(ModelError, match=r"site 'log_s' sets the label's variance and changes with theta_prev; the EKF"):
        bl.run(stream, "ekf", model=moving_noise)
    with pytest.raises(ModelError, match="consensus EnKF needs a fixed label variance"):
        bl.run(stream, "denkf-consensus", model=noisy_regression, graph="ring")


# the Gaussian filters that learn r, as (name, kernel factory)
LEARNING_R = {
    "ekf-full": lambda ssm: extended_kalman_filter(ssm, "full"),
    "ekf-diagonal": lambda ssm: extended_kalman_filter(ssm, "diagonal"),
    "lofi": lambda ssm: low_rank_filter(ssm, rank=1),
    "gspf-full": lambda ssm: gaussian_sum_filter(ssm, 2, "full"),
    "gspf-diagonal": lambda ssm: gaussian_sum_filter(ssm, 2, "diagonal"),
    "gspf-low-rank": lambda ssm: gaussian_sum_filter(ssm, 2, "low-rank", rank=1),
}


def noisy_examples(steps: int, seed: int = 0):
    """``steps`` examples (X (4, 2), mask, d) of the noisy regression, float64."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 5, steps)
    mask = np.arange(4)[None, :] < lengths[:, None]
    X = np.where(mask[..., None], rng.normal(size=(steps, 4, 2)), 0.0)
    d = (X.sum(1) / lengths[:, None]) @ W + SIGMA * rng.normal(size=steps)
    return jnp.asarray(X), jnp.asarray(mask), jnp.asarray(d)


def components(state, q):
    """The filter's predicted components before a step: (log weights, means, covariances
    P + Q as dense matrices, label-variance estimates), from its state."""
    if hasattr(state, "log_weights"):  # a Gaussian sum
        covs = state.covs
        if isinstance(covs, LowRankPrecision):
            dense = jax.vmap(lambda u, w: jnp.linalg.inv(jnp.diag(u) + w @ w.T))(*jax.vmap(
                lambda u, w: predict(u, w, q))(covs.diag, covs.factor))
        else:
            dense = jax.vmap(jnp.diag)(covs + q) if covs.ndim == 2 else covs + jnp.diag(q)
        return state.log_weights, state.means, dense, jax.vmap(estimate)(state.noise)
    if hasattr(state, "factor"):  # LoFi
        u, w = predict(state.diag, state.factor, q)
        dense = jnp.linalg.inv(jnp.diag(u) + w @ w.T)
    else:
        dense = jnp.diag(state.cov + q) if state.cov.ndim == 1 else state.cov + jnp.diag(q)
    return jnp.zeros(1), state.mean[None], dense[None], estimate(state.noise)[None]


def predictive_log_density(ssm, state, X, mask, d):
    """log of the filter's predictive density of label d before it is seen: the mixture
    sum_c w_c N(d; f(m_c), H_c P_c H_c^T + r_c) of its components (one for the EKF and LoFi)."""
    log_w, means, covs, r = components(state, ssm.transition_var.astype(X.dtype))
    f, H = jax.vmap(lambda m: value_and_jacobian(ssm, m, X, mask))(means)
    s = jnp.einsum("ci,cij,cj->c", H, covs, H) + r
    return logsumexp(log_w + gaussian_log_density(d, f, s))


@pytest.mark.parametrize("kind", list(LEARNING_R))
def test_the_evidence_of_a_label_is_its_predictive_density_before_it_is_seen(kind):
    """With a learnt r every Gaussian filter's evidence increment of a one-label batch is
    log N(d; f(theta), H P H^T + r) with theta, P and r (its estimate) as they were before the
    label (a Gaussian sum: the log of its components' mixture of those densities), at every
    one of 40 steps; it is then the reported log predictive density too. An increment whose
    variance used r already updated with the label is off by up to 0.03 a step here (measured;
    more on an LSTM)."""
    with jax.enable_x64(True):
        X, mask, d = noisy_examples(40)
        ssm = read_model(noisy_regression(), X[0], mask[0])
        kernel = LEARNING_R[kind](ssm)
        step = jax.jit(kernel.step)
        density = jax.jit(lambda *args: predictive_log_density(ssm, *args))
        state = kernel.init(jax.random.key(1))
        increments, expected, reported = [], [], []
        for t in range(d.shape[0]):
            expected.append(float(density(state, X[t], mask[t], d[t])))
            batch = Batch(X[t:t + 1], mask[t:t + 1], d[t:t + 1], jnp.ones(1, bool))
            state, info = step(jax.random.key(t), state, batch)
            increments.append(float(info.log_evidence_increment))
            reported.append(float(info.log_pred_density[0]))
        np.testing.assert_allclose(reported, expected, rtol=1e-9, atol=1e-12)  # what the filter reports
        np.testing.assert_allclose(increments, expected, rtol=1e-9, atol=1e-12)
        assert sum(increments) == pytest.approx(sum(expected), rel=1e-10)
        assert float(state.log_evidence) == pytest.approx(sum(expected), rel=1e-10)


@pytest.mark.parametrize("kind", list(LEARNING_R))
def test_a_batch_scores_each_label_after_the_ones_before_it(kind):
    """Several labels in one step are learnt in turn: the evidence of the batch is the sum of
    each label's predictive density given the labels before it (and r as they left it), and
    the state is the one the labels give one at a time. Without drift (q = 0) a step on a
    batch of three is three steps on one label each, and a batch whose last two labels are
    not valid is one step on its first: the learnt r (which forgets once per label, by
    default) and the weights move only with valid labels."""
    with jax.enable_x64(True):
        X, mask, d = noisy_examples(3, seed=4)
        ssm = read_model(noisy_regression(), X[0], mask[0])
        ssm = ssm._replace(transition_var=jnp.zeros_like(ssm.transition_var))
        kernel = LEARNING_R[kind](ssm)
        step = jax.jit(kernel.step)
        start = kernel.init(jax.random.key(2))
        one, expected, first = start, 0.0, None
        for b in range(3):
            expected += float(predictive_log_density(ssm, one, X[b], mask[b], d[b]))
            one, _ = step(jax.random.key(0), one, Batch(X[b:b + 1], mask[b:b + 1], d[b:b + 1], jnp.ones(1, bool)))
            first = one if first is None else first
        whole, info = step(jax.random.key(0), start, Batch(X, mask, d, jnp.ones(3, bool)))
        assert float(info.log_evidence_increment) == pytest.approx(expected, rel=1e-10)
        for mine, theirs in zip(jax.tree_util.tree_leaves(whole), jax.tree_util.tree_leaves(one)):
            np.testing.assert_allclose(np.asarray(mine), np.asarray(theirs), rtol=1e-9, atol=1e-12)
        masked, _ = step(jax.random.key(0), start, Batch(X, mask, d, jnp.array([True, False, False])))
        for mine, theirs in zip(jax.tree_util.tree_leaves(masked), jax.tree_util.tree_leaves(first)):
            np.testing.assert_allclose(np.asarray(mine), np.asarray(theirs), rtol=1e-9, atol=1e-12)


def test_the_marginal_likelihood_weighs_particles_accurately_in_float32_after_many_labels():
    """After 20000 labels (a consensus DPF's 10 nodes over 2000 steps) the particles' marginal
    likelihoods of a label differ from each other as in float64 to 1e-4 nats: the differences
    are what weighs them. Written as a log b - (a + 1/2) log(b + S/2), float32 gets them wrong
    by 0.02 (measured)."""
    from bayeslstm.kernels.label_noise import NoiseState, marginal_log_likelihood

    rng = np.random.default_rng(0)
    a, b, squared = 2e4, rng.uniform(0.8, 1.2, 50) * 2e4 * 0.09, rng.uniform(0.0, 1.0, 50)
    with jax.enable_x64(True):
        exact = np.asarray(marginal_log_likelihood(NoiseState(jnp.float64(a), jnp.asarray(b)), jnp.asarray(squared), 1.0))
    single = np.asarray(marginal_log_likelihood(NoiseState(jnp.float32(a), jnp.asarray(b, jnp.float32)),
                                                jnp.asarray(squared, jnp.float32), jnp.float32(1.0)))
    assert single.dtype == np.float32
    np.testing.assert_allclose(single - single.mean(), exact - exact.mean(), atol=1e-4)


def test_a_particle_filter_integrates_the_label_variance_out_exactly():
    """With every particle at the true weights and no drift, a particle filter that integrates
    r out scores each label by the Student-t predictive of the normal-inverse-gamma model: 2a
    degrees of freedom, scale^2 b / a, (a, b) the prior IG the declaration implies updated by
    the labels before it (scipy's density, 30 labels one at a time, float64). A batch of three
    labels is scored jointly, as the three one after another; r's posterior ends exactly at
    IG(a + n/2, b + S/2), and the filter's learnt r is its estimate b / a."""
    from scipy import stats

    from bayeslstm.kernels.particle_filter import particle_filter
    from bayeslstm.kernels.particle_filter import posterior as particle_posterior

    with jax.enable_x64(True):
        X, mask, d = noisy_examples(33, seed=5)
        ssm = read_model(noisy_regression(), X[0], mask[0])
        ssm = ssm._replace(transition_var=jnp.zeros_like(ssm.transition_var))
        kernel = particle_filter(ssm, num_particles=8)
        w = ssm.sites[[site.name for site in ssm.sites].index("w")].index
        start = kernel.init(jax.random.key(0))
        start = start._replace(particles=start.particles.at[:, w].set(jnp.asarray(W)))
        step = jax.jit(kernel.step)
        a, b = ssm.label_var_prior
        residuals = np.asarray((X.sum(1) / mask.sum(1)[:, None]) @ W - d)
        state, expected = start, []
        for t in range(30):
            expected.append(stats.t.logpdf(residuals[t], df=2 * a, scale=np.sqrt(b / a)))
            a, b = a + 0.5, b + 0.5 * residuals[t] ** 2
            state, info = step(jax.random.key(t), state, Batch(X[t:t + 1], mask[t:t + 1], d[t:t + 1], jnp.ones(1, bool)))
            assert float(info.log_pred_density[0]) == pytest.approx(expected[-1], rel=1e-9)
            assert float(info.log_evidence_increment) == pytest.approx(expected[-1], rel=1e-9)
        np.testing.assert_allclose(np.asarray(state.noise.shape), a, rtol=1e-12)
        np.testing.assert_allclose(np.asarray(state.noise.rate), b, rtol=1e-12)
        assert float(particle_posterior(state).label_var) == pytest.approx(b / a, rel=1e-9)
        joint = sum(stats.t.logpdf(residuals[30 + k], df=2 * (a + k / 2),
                                   scale=np.sqrt((b + 0.5 * np.sum(residuals[30:30 + k] ** 2)) / (a + k / 2)))
                    for k in range(3))
        _, info = step(jax.random.key(99), state, Batch(X[30:], mask[30:], d[30:], jnp.ones(3, bool)))
        assert float(info.log_evidence_increment) == pytest.approx(joint, rel=1e-9)


@pytest.mark.slow
@pytest.mark.parametrize("method, options", [
    ("ekf", {}), ("lofi", dict(rank=3)), ("gspf", {}),
])
def test_an_lstm_with_learnt_r_reports_predictive_evidence(method, options):
    """The same on an LSTM (hidden 2, r learnt) run end to end: each node's evidence increment
    is its log predictive density, step by step and summed over 30 steps."""
    stream, _ = bl.teacher_stream(steps=30, nodes=2, features=2, max_len=5, seed=3)
    res = bl.run(stream, method, model_options=dict(hidden=2, learn_r=True), seed=1, **options)
    increments = res.diagnostics["log_evidence_increment"].values
    densities = res.diagnostics["log_pred_density"].values
    np.testing.assert_allclose(increments, densities, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(increments.sum(axis=0), densities.sum(axis=0), rtol=1e-5, atol=1e-4)
