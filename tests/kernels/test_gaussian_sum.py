"""The Gaussian-sum particle filter (bayeslstm.kernels.gaussian_sum): one component is the EKF
exactly; the mixture's moments, weights and re-spawning."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from outliers import outlier_stream

import bayeslstm as bl
from bayeslstm.errors import OptionError
from bayeslstm.kernels.gaussian_sum import GaussianSumState, mixture_moments, respawn, reweight_components

SMALL = dict(model_options=dict(hidden=2))


def test_one_component_is_the_ekf_exactly():
    """With one component the filter is the EKF, its learnt label variance (forgetting, by
    default) included: centralized, so that each step's update takes in both nodes' labels in
    turn (the single-label update of a local run is its first half)."""
    learnt = {"model_options": {"hidden": 2, "learn_r": True}}
    with jax.enable_x64(True):
        stream, _ = bl.teacher_stream(steps=40, nodes=2, features=2, max_len=5, seed=3)
        fusion = "centralized"
        ekf = bl.run(stream, "ekf", fusion=fusion, seed=1, **learnt)
        gspf = bl.run(stream, "gspf", fusion=fusion, num_components=1, seed=1, **learnt)
        np.testing.assert_allclose(np.asarray(gspf.final_state.noise.rate)[..., 0], np.asarray(ekf.final_state.noise.rate),
                                   rtol=1e-12)
        np.testing.assert_allclose(gspf.predictions, ekf.predictions, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(gspf.diagnostics["predictive_var"].values, ekf.diagnostics["predictive_var"].values,
                                   rtol=1e-12)
        np.testing.assert_allclose(np.asarray(gspf.final_state.means)[..., 0, :], np.asarray(ekf.final_state.mean),
                                   rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(gspf.diagnostics["log_evidence_increment"].values,
                                   ekf.diagnostics["log_evidence_increment"].values, rtol=1e-12)


def test_one_low_rank_component_is_lofi_exactly():
    """covariance="low-rank": the components are LoFi filters; with one component the filter
    is LoFi (predictions, evidence, mean and the precision's diagonal and factor)."""
    with jax.enable_x64(True):
        stream, _ = bl.teacher_stream(steps=40, nodes=2, features=2, max_len=5, seed=3)
        lofi = bl.run(stream, "lofi", rank=3, seed=1, **SMALL)
        gspf = bl.run(stream, "gspf", covariance="low-rank", rank=3, num_components=1, seed=1, **SMALL)
        np.testing.assert_allclose(gspf.predictions, lofi.predictions, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(gspf.diagnostics["log_evidence_increment"].values,
                                   lofi.diagnostics["log_evidence_increment"].values, rtol=1e-12)
        state = gspf.final_state
        for mine, theirs in ((state.means, lofi.final_state.mean), (state.covs.diag, lofi.final_state.diag),
                             (state.covs.factor, lofi.final_state.factor)):
            np.testing.assert_allclose(np.asarray(mine)[:, 0], np.asarray(theirs), rtol=1e-10, atol=1e-12)


def test_low_rank_components_learn_and_report(tmp_path):
    """Two low-rank components: weights move, the run learns (below the prior's TAE), and
    the posterior draws follow each component's low-rank Gaussian into ArviZ and back."""
    import arviz as az

    from bayeslstm.report.inference_data import to_inference_data

    stream, _ = bl.teacher_stream(steps=60, nodes=2, features=2, max_len=5, seed=3)
    run = bl.run(stream, "gspf", covariance="low-rank", rank=4, num_components=2, seed=1, **SMALL)
    weights = np.exp(np.asarray(run.final_state.log_weights))
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0, rtol=1e-5)
    assert np.all(np.abs(weights - 0.5) > 1e-4)  # the components' evidence moved the weights
    early, late = run.tae.isel(time=9).mean(), run.tae.isel(time=-1).mean()
    assert float(late) < float(early)
    idata = to_inference_data(run, num_draws=400)
    assert idata.attrs["draws_are"] == "gaussian-mixture draws (low-rank precisions)"
    assert idata.filter_state["component_precision_factors"].shape[-1] == 4
    idata.to_netcdf(str(tmp_path / "g.nc"))
    back = az.from_netcdf(str(tmp_path / "g.nc"))
    assert back.posterior["w_out"].shape == idata.posterior["w_out"].shape


def test_low_rank_draws_have_the_low_rank_covariance():
    """Draws of one low-rank component against the dense inverse of its precision."""
    from bayeslstm.kernels.protocol import GaussianMixture, LowRankPrecision
    from bayeslstm.report.inference_data import posterior_draws

    rng = np.random.default_rng(0)
    diag, factor = rng.uniform(1.0, 3.0, (1, 4)), rng.normal(size=(1, 4, 2))
    mean = rng.normal(size=(1, 4))
    form = GaussianMixture(mean, LowRankPrecision(diag, factor), np.zeros(1))
    draws = posterior_draws(form, num_draws=20000, seed=1).theta[0]
    cov = np.linalg.inv(np.diag(diag[0]) + factor[0] @ factor[0].T)
    n = draws.shape[0]
    se_cov = np.sqrt((np.outer(np.diag(cov), np.diag(cov)) + cov**2) / n)  # Monte Carlo standard errors
    assert np.all(np.abs(np.cov(draws.T) - cov) < 4.5 * se_cov)
    assert np.all(np.abs(draws.mean(0) - mean[0]) < 4.5 * np.sqrt(np.diag(cov) / n))


def test_mixture_moments_by_hand():
    log_w = jnp.log(jnp.array([0.25, 0.75]))
    f = jnp.array([[1.0], [3.0]])
    s = jnp.array([[0.5], [1.0]])
    log_density = jnp.log(jnp.array([[0.2], [0.4]]))
    mean, var, log_pred = mixture_moments(log_w, f, s, log_density)
    assert float(mean[0]) == pytest.approx(2.5)
    # E[var] + Var[mean] = 0.25 * 0.5 + 0.75 * 1 + 0.25 * 1.5^2 + 0.75 * 0.5^2
    assert float(var[0]) == pytest.approx(0.875 + 0.75)
    assert float(log_pred[0]) == pytest.approx(np.log(0.25 * 0.2 + 0.75 * 0.4))


def test_weights_multiply_by_each_components_evidence():
    log_w, total = reweight_components(jnp.log(jnp.array([0.5, 0.5])), jnp.log(jnp.array([0.1, 0.3])))
    np.testing.assert_allclose(np.exp(np.asarray(log_w)), [0.25, 0.75], rtol=1e-6)
    assert float(total) == pytest.approx(np.log(0.2))


@pytest.mark.parametrize("low_rank", [False, True])
def test_collapsed_components_are_respawned_near_a_live_one(low_rank):
    """A collapsed component becomes a jittered copy of a live one: its source's mean (plus
    0.1 of its marginal sd) and its source's covariance (diagonal, or low-rank precision)."""
    from bayeslstm.kernels.protocol import LowRankPrecision

    variances = jnp.array([[0.01, 0.01], [0.04, 0.04], [0.0025, 0.0025]])
    covs = LowRankPrecision(1.0 / variances, jnp.arange(12.0).reshape(3, 2, 2)) if low_rank else variances
    state = GaussianSumState(jnp.array([[0.0, 0.0], [5.0, 5.0], [9.0, 9.0]]), covs,
                             jnp.log(jnp.array([1e-6, 0.5, 0.5 - 1e-6])), jnp.zeros(()))
    new, count = respawn(jax.random.key(0), state, below=1e-3)
    assert int(count) == 1
    means = np.asarray(new.means)
    np.testing.assert_array_equal(means[1:], np.asarray(state.means)[1:])  # live components untouched
    source = 1 + int(np.abs(means[0] - 9.0).max() < np.abs(means[0] - 5.0).max())
    assert np.abs(means[0] - means[source]).max() < 0.1  # 0.1 x sd at most 0.2 jitter
    for before, after in zip(jax.tree_util.tree_leaves(state.covs), jax.tree_util.tree_leaves(new.covs)):
        np.testing.assert_array_equal(np.asarray(after)[0], np.asarray(before)[source])  # the source's covariance
        np.testing.assert_array_equal(np.asarray(after)[1:], np.asarray(before)[1:])
    assert np.exp(np.asarray(new.log_weights)).sum() == pytest.approx(1.0)
    assert np.exp(np.asarray(new.log_weights))[0] == pytest.approx(1e-3, rel=1e-3)


def test_bad_options_are_refused():
    stream, _ = bl.teacher_stream(steps=3, features=2, max_len=3)
    with pytest.raises(OptionError, match="num_components"):
        bl.run(stream, "gspf", num_components=0)
    with pytest.raises(OptionError, match="respawn_below"):
        bl.run(stream, "gspf", respawn_below=1.0)


def test_robust_weights_keep_outliers_from_moving_the_mixture():
    """5% of labels moved 20 label standard deviations: with robust=4 (Student-t updates and
    component weights) the late MSE on the clean labels stays within 10% of the outlier-free
    run (measured: 6%); without it, it is several times worse (measured: 14x)."""
    stream, d, late = outlier_stream()

    def late_mse(data, **options):
        result = bl.run(data, "gspf", **SMALL, **options)
        return float(np.mean((result.predictions[late, 0] - stream.d[late, 0]) ** 2))

    assert late_mse(stream._replace(d=d), robust=4.0) <= 1.10 * late_mse(stream, robust=4.0)
    assert late_mse(stream._replace(d=d)) > 2.0 * late_mse(stream)


def test_fading_none_keeps_the_plain_filter_and_fading_raises_alpha_after_a_jump():
    """fading=None: no alpha, the plain filter's results bit for bit. fading=0.9: the shared
    alpha stays near 1 on a teacher that holds still and jumps when the teacher changes
    (measured: 1.0 after 256 steps of one teacher, 1.1 after 241; 24 fifteen steps into a second one)."""
    def teacher(seed, steps):
        return bl.teacher_stream(steps=steps, nodes=1, features=2, min_len=2, max_len=4, seed=seed, noise_var=0.01)[0]

    still = teacher(1, 256)  # the outlier test's shapes: its compiled programs serve here too
    jump = bl.Stream(*(np.concatenate(parts) for parts in zip(teacher(1, 241), teacher(2, 15))))
    plain, none = bl.run(jump, "gspf", **SMALL), bl.run(jump, "gspf", fading=None, robust=None, **SMALL)
    assert none.final_state.level is None
    np.testing.assert_array_equal(none.predictions, plain.predictions)
    level = [bl.run(stream, "gspf", fading=0.9, **SMALL).final_state.level for stream in (still, jump)]
    assert level[0].shape == (1,) and 1.0 <= float(level[0][0]) < 2.0
    assert float(level[1][0]) > 10.0
