"""Runs as ArviZ InferenceData (bayeslstm.report.inference_data), on real (tiny) runs: names
and dims from the layout, what each posterior form draws, unobserved labels, netCDF round
trips and ArviZ's own functions."""

import json
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402

import bayeslstm as bl  # noqa: E402
from bayeslstm.errors import InputError, OptionError  # noqa: E402
from bayeslstm.kernels.ekf import EKFState  # noqa: E402
from bayeslstm.kernels.gradient import GradientState  # noqa: E402
from bayeslstm.kernels.gradient import posterior as gradient_posterior
from bayeslstm.kernels.particle_filter import ParticleState  # noqa: E402
from bayeslstm.model.layout import ParamLayout, unflatten  # noqa: E402
from bayeslstm.report import draws, inference_data, names, reading  # noqa: E402
from bayeslstm.report.inference_data import to_inference_data  # noqa: E402
from bayeslstm.report.names import netcdf_name, parameter_dims  # noqa: E402
from bayeslstm.report.reading import loo, pit, prequential_log_score, run_config, tae_from_inference_data  # noqa: E402
from tiny_runs import RUNS  # noqa: E402

az = pytest.importorskip("arviz")


def _identical(a, b) -> None:
    assert set(a.groups()) == set(b.groups())
    for group in a.groups():
        assert getattr(a, group).identical(getattr(b, group)), group
    assert dict(a.attrs) == dict(b.attrs)


def test_posterior_names_and_dims_follow_the_layout(runs, idatas):
    run, idata = runs["pf"], idatas["pf"]
    layout = run.layout
    assert list(idata.posterior.data_vars) == list(layout.names)
    assert idata.posterior["W_i"].dims == ("chain", "draw", "hidden", "feature")
    assert idata.posterior["R_f"].dims == ("chain", "draw", "hidden", "hidden_prev")
    assert idata.posterior["b_o"].dims == ("chain", "draw", "hidden")
    assert idata.posterior["w_out"].dims == ("chain", "draw", "hidden")
    assert dict(idata.posterior.sizes) == {"chain": 3, "draw": 32, "hidden": 2, "feature": 2, "hidden_prev": 2}
    # every block is the named slice of the particle each draw copies
    ancestors = idata.sample_stats["ancestor"].values
    particles = np.asarray(run.final_state.particles)
    copied = np.take_along_axis(particles, ancestors[..., None], axis=1)
    for name, block in unflatten(layout, copied).items():
        np.testing.assert_array_equal(idata.posterior[name].values, np.asarray(block))


def test_particle_weights_are_kept(runs, idatas):
    state, idata = runs["dpf"].final_state, idatas["dpf"]
    raw = np.asarray(state.log_weights)
    np.testing.assert_array_equal(idata.filter_state["log_weights"].values, raw)
    ancestors = idata.sample_stats["ancestor"].values
    np.testing.assert_array_equal(idata.sample_stats["log_weight"].values, np.take_along_axis(raw, ancestors, axis=1))
    assert idata.sample_stats["log_weight"].dims == ("chain", "draw")
    np.testing.assert_allclose(np.logaddexp.reduce(raw, axis=1), 0.0, atol=1e-5)
    np.testing.assert_array_equal(idata.filter_state["log_evidence"].values, np.asarray(state.log_evidence))


def test_resampled_posterior_mean_matches_the_weighted_mean(runs):
    rng = np.random.default_rng(3)
    n, dim = 4000, runs["pf"].layout.size
    particles = rng.normal(size=(2, n, dim)).astype(np.float32)
    log_w = -0.5 * (particles[..., 0] - 1.0) ** 2 / 0.2  # strongly uneven: pulls theta_0 towards 1
    log_w -= np.logaddexp.reduce(log_w, axis=1, keepdims=True)
    state = ParticleState(particles, log_w, np.zeros(2, np.float32))
    idata = to_inference_data(runs["pf"]._replace(final_state=state), seed=1)
    flat = np.concatenate([idata.posterior[name].values.reshape(2, n, -1) for name in runs["pf"].layout.names], axis=-1)
    w = np.exp(log_w)
    weighted = np.einsum("kn,knd->kd", w, particles)
    plain = particles.mean(axis=1)
    spread = np.sqrt(np.einsum("kn,knd->kd", w, (particles - weighted[:, None]) ** 2) / (np.sum(w**2, axis=1, keepdims=True) ** -1))
    assert np.all(np.abs(flat.mean(axis=1) - weighted) < 5 * spread + 1e-6)
    assert np.abs(weighted[:, 0] - plain[:, 0]).min() > 20 * spread[:, 0].max()  # the check can fail
    # equal weights: the particles are kept as they are
    flat_state = state._replace(log_weights=np.full((2, n), -np.log(n), np.float32))
    same = to_inference_data(runs["pf"]._replace(final_state=flat_state))
    np.testing.assert_array_equal(same.sample_stats["ancestor"].values, np.tile(np.arange(n), (2, 1)))


def test_ekf_draws_follow_its_gaussian(runs, idatas):
    run, idata = runs["ekf"], idatas["ekf"]
    np.testing.assert_array_equal(idata.filter_state["mean"].values, np.asarray(run.final_state.mean))
    np.testing.assert_array_equal(idata.filter_state["cov"].values, np.asarray(run.final_state.cov))
    assert idata.filter_state["cov"].dims == ("chain", "parameter", "parameter_bis")
    assert idata.filter_state["parameter"].values[0] == "W_z[0,0]"
    assert idata.posterior.sizes["draw"] == 64 and idata.attrs["draws_are"] == "gaussian draws"
    # many draws: sample moments match the filter's (full and diagonal covariances)
    mean, cov = np.asarray(run.final_state.mean), np.asarray(run.final_state.cov)
    for state in (EKFState(mean, cov, run.final_state.log_evidence),
                  EKFState(mean, np.diagonal(cov, axis1=1, axis2=2).copy(), run.final_state.log_evidence)):
        big = to_inference_data(run._replace(final_state=state), num_draws=20000, seed=2)  # the EKF's posterior reads it
        flat = np.concatenate([big.posterior[n].values.reshape(3, 20000, -1) for n in run.layout.names], axis=-1)
        sd = np.sqrt(np.diagonal(cov, axis1=1, axis2=2))
        assert np.all(np.abs(flat.mean(axis=1) - mean) < 5 * sd / np.sqrt(20000) + 1e-6)
        np.testing.assert_allclose(flat.std(axis=1), sd, rtol=0.05)
    assert "var" in big.filter_state and "cov" not in big.filter_state


def test_centralized_and_point_states(runs, idatas):
    idata = idatas["pf@centralized"]
    assert idata.posterior.sizes["chain"] == 1 and idata.posterior.sizes["draw"] == 32
    assert idata.attrs["chain_is"].startswith("centralized")
    assert idata.observed_data.sizes["node"] == 3  # predictions stay per node
    theta = np.random.default_rng(0).normal(size=(3, runs["pf"].layout.size)).astype(np.float32)
    point = to_inference_data(runs["pf"]._replace(final_state=GradientState(theta, None), posterior=gradient_posterior))
    assert "posterior" not in point.groups() and point.attrs["draws_are"].startswith("none: the weights are a point")
    assert point.point_estimate["w_out"].dims == ("node", "hidden")  # apart, never a chain of one draw
    np.testing.assert_array_equal(point.point_estimate["w_out"].values, theta[:, -2:])
    assert reading.weight_draws(point, "w_out").dims == ("chain", "draw", "hidden")  # what the weights figure reads
    assert reading.weight_sites(point) == sorted(runs["pf"].layout.names)
    central = to_inference_data(runs["pf@centralized"]._replace(final_state=GradientState(theta[0], None),
                                                                posterior=gradient_posterior))
    assert central.point_estimate["w_out"].dims == ("hidden",)  # one estimate for the network: no node axis
    np.testing.assert_array_equal(reading.weight_draws(central, "w_out").values[0, 0], theta[0, -2:])
    unnamed = to_inference_data(runs["pf"]._replace(layout=None))
    assert unnamed.posterior["theta"].dims == ("chain", "draw", "theta_dim_0")
    with pytest.raises(OptionError, match="num_draws"):
        to_inference_data(runs["ekf"], num_draws=0)
    for bad in (0, 1.5, True, "many"):
        with pytest.raises(OptionError, match="predictive_draws"):
            to_inference_data(runs["ekf"], predictive_draws=bad)
    with pytest.raises(InputError, match="RunResult"):
        to_inference_data({"not": "a run"})


def test_unobserved_labels(tmp_path, runs):
    run = runs["ekf"]
    observed = run.observed.copy()
    observed[5:, 1] = False  # node 1 loses its labels after step 5
    idata = to_inference_data(run._replace(observed=observed))
    assert np.isnan(idata.observed_data["d"].values[5:, 1]).all()
    assert not np.isnan(idata.observed_data["d"].values[:, 0]).any()
    assert (idata.prequential_log_likelihood["d"].values[5:, 1] == 0).all()
    score = prequential_log_score(idata).values
    assert score[1] == pytest.approx(float(run.diagnostics["log_pred_density"].values[:5, 1].mean()), rel=1e-5)
    tae = tae_from_inference_data(idata)
    assert np.all(tae.sel(node=1).values[5:] == tae.sel(node=1).values[4])  # no new errors once unobserved
    idata.to_netcdf(str(tmp_path / "x.nc"))
    _identical(idata, az.from_netcdf(str(tmp_path / "x.nc")))


@pytest.mark.parametrize("label", list(RUNS))
def test_netcdf_round_trip(tmp_path, runs, idatas, label):
    idata = idatas[label]
    path = tmp_path / f"{netcdf_name(label)}.nc"
    idata.to_netcdf(str(path))
    back = az.from_netcdf(str(path))
    _identical(idata, back)
    assert run_config(back) == json.loads(json.dumps(runs[label].config))
    assert back.attrs["bayeslstm_version"] == bl.__version__
    xr.testing.assert_allclose(tae_from_inference_data(back), runs[label].tae, rtol=1e-6)


@pytest.mark.parametrize("label", list(RUNS))
def test_arviz_functions_work(runs, idatas, label):
    idata = idatas[label]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summary = az.summary(idata, var_names=["w_out", "b_f"])
        assert list(summary.index) == ["w_out[0]", "w_out[1]", "b_f[0]", "b_f[1]"]
        assert np.isfinite(summary["mean"]).all()
        for plot in (az.plot_posterior, az.plot_forest, az.plot_trace):
            plot(idata, var_names=["w_out"])
            plt.close("all")
    observed = runs[label].diagnostics["log_pred_density"]
    assert float(prequential_log_score(idata).mean()) == pytest.approx(float(observed.mean()), rel=1e-5)
    assert idata.prequential_log_likelihood["d"].dims == ("time", "node")
    assert "log_likelihood" not in idata.groups()  # not pointwise posterior log likelihoods: ArviZ must not read them
    np.testing.assert_array_equal(idata.diagnostics["prediction"].values, runs[label].predictions)
    # predictive draws where ArviZ looks for them: az.plot_ppc reads them against the labels
    draws = idata.posterior_predictive["d"]
    assert draws.dims == ("chain", "draw", "time", "node") and draws.sizes["draw"] == 100
    mean, var = runs[label].predictions, np.asarray(runs[label].diagnostics["predictive_var"].values)
    z = (draws.values[0].mean(0) - mean) / np.sqrt(var / 100)
    assert np.abs(z).max() < 5.0 and abs(z.mean()) < 5.0 / np.sqrt(z.size)  # each step's Gaussian, drawn
    assert np.mean(draws.values[0].var(0, ddof=1) / var) == pytest.approx(1.0, abs=0.06)  # sd of this mean: 0.015
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        az.plot_ppc(idata, num_pp_samples=20)
        plt.close("all")
    with pytest.raises(OptionError, match="leave-one-out does not apply"):
        loo(idata)
    values = pit(idata).values
    assert np.all((values >= 0) & (values <= 1))
    # the attributes ArviZ's converters write, on the root and on every group
    for attrs in [idata.attrs] + [getattr(idata, g).attrs for g in idata.groups()]:
        assert attrs["inference_library"] == "bayeslstm" and attrs["inference_library_version"] == bl.__version__
        assert "created_at" in attrs and "arviz_version" in attrs
    expected = {"pf": "pf", "ekf": "ekf", "pf@centralized": "pf@centralized", "dpf": "dpf"}[label]
    assert to_inference_data(runs[label], num_draws=2).attrs["label"] == expected  # as the command line writes it


def test_baselines_have_no_posterior_and_still_read_in_arviz(runs):
    baseline = bl.run(bl.teacher_stream(steps=12, nodes=3, features=2, max_len=4, seed=0)[0], "baseline-last")
    idata = to_inference_data(baseline)
    assert "posterior" not in idata.groups() and "filter_state" not in idata.groups()
    assert idata.attrs["draws_are"].startswith("none")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        az.plot_ppc(idata, num_pp_samples=10)
        plt.close("all")
    assert np.isfinite(prequential_log_score(idata).values).all()
    assert idata.attrs["label"] == "baseline-last"


def test_parameter_dims_fall_back_to_arviz_names():
    mlp = ParamLayout(("W1", "b1", "w2"), ((3, 2), (3,), (3,)))
    assert parameter_dims(mlp) == {"W1": ("W1_dim_0", "W1_dim_1"), "b1": ("b1_dim_0",), "w2": ("w2_dim_0",)}
    clash = ParamLayout(("W", "w_out"), ((3, 2), (4,)))  # hidden sizes disagree
    assert parameter_dims(clash) == {"W": ("W_dim_0", "W_dim_1"), "w_out": ("w_out_dim_0",)}
    assert netcdf_name("pf@centralized") == "pf_centralized" and netcdf_name("dpf-consensus") == "dpf-consensus"


def test_dimension_names_come_from_the_model_and_dims_overrides_them(tmp_path, annotated_run):
    idata = to_inference_data(annotated_run, num_draws=4)
    assert idata.posterior["Wh"].dims == ("chain", "draw", "hidden", "gate")  # infer={"dims": ...}
    assert idata.posterior["b"].dims == ("chain", "draw", "gate")  # its plate
    assert idata.posterior["c"].dims == ("chain", "draw", "c_dim_0")  # nothing names it
    idata.to_netcdf(str(tmp_path / "toy.nc"))
    assert az.from_netcdf(str(tmp_path / "toy.nc")).posterior["Wh"].dims == ("chain", "draw", "hidden", "gate")
    renamed = to_inference_data(annotated_run, num_draws=4, dims={"c": ("feature",), "Wh": ["unit", "gate"]})
    assert renamed.posterior["c"].dims[2:] == ("feature",) and renamed.posterior["Wh"].dims[2:] == ("unit", "gate")
    assert renamed.posterior["b"].dims[2:] == ("gate",)
    for dims, message in [({"nope": ("x",)}, "not a weight block"), ({"c": ("a", "b")}, "needs 1 name"),
                          ({"c": ("gate",)}, "'gate' has sizes"), ({"c": ("draw",)}, "ArviZ's own")]:
        with pytest.raises(InputError, match=message):
            to_inference_data(annotated_run, num_draws=4, dims=dims)


def test_arviz_s_leave_one_out_says_the_log_likelihood_is_missing(runs, idatas):
    """A filter's scores are one-step-ahead predictive densities, not pointwise posterior log
    likelihoods: ArviZ must say it finds none rather than fail on their shape."""
    idata = idatas["ekf"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for call in (lambda: az.loo(idata), lambda: az.plot_loo_pit(idata, y="d"),
                     lambda: az.compare({"ekf": idata, "pf": idatas["pf"]})):
            with pytest.raises(TypeError) as raised:
                call()
            chain, error = [], raised.value
            while error is not None:  # az.compare wraps the error of each model's loo
                chain.append(error)
                error = error.__cause__
            assert "log likelihood not found" in str(chain[-1]) and not any(isinstance(e, IndexError) for e in chain)
    plt.close("all")
    with pytest.raises(OptionError, match="compare_log_scores"):
        loo(idata)


def test_files_written_with_a_log_likelihood_group_still_read(idatas):
    idata = idatas["ekf"]
    scores = idata.prequential_log_likelihood
    old = az.InferenceData(**{g: getattr(idata, g) for g in idata.groups() if g != "prequential_log_likelihood"},
                           log_likelihood=scores.expand_dims(chain=[0], draw=[0]), warn_on_custom_groups=False)
    xr.testing.assert_allclose(prequential_log_score(old), prequential_log_score(idata))


def test_every_name_still_imports_from_inference_data():
    for module in (draws, names, reading):
        for name in inference_data.__all__:
            if hasattr(module, name) and not name.startswith("_"):
                assert getattr(inference_data, name) is getattr(module, name), name
    assert {"posterior_draws", "netcdf_name", "prequential_log_score", "to_inference_data"} <= set(inference_data.__all__)


@pytest.mark.parametrize("method", ["ekf", "gspf@centralized", "sgd", "dpf-consensus", "enkf"])
def test_a_learnt_label_variance_is_drawn_from_the_inverse_gamma_posterior_the_filter_keeps(method):
    """The label variance a Kalman-type filter (or a gradient method) learns in closed form is
    reported as draws from its IG(shape, rate) posterior (for the site ``r`` itself: mean
    rate / (shape - 1)), not as a value repeated in every draw, so az.summary's diagnostics are
    finite. A gradient method's weights stay apart, as its point estimate. A particle filter
    integrates r out and keeps one such posterior per particle: each draw is of its particle's."""
    import arviz as az

    stream, _ = bl.teacher_stream(steps=40, nodes=2, features=1, min_len=1, max_len=3, seed=1)
    result = bl.run(stream, method, model_options={"hidden": 2, "learn_r": True})
    idata = to_inference_data(result, num_draws=4000, seed=0)
    r = idata.posterior["r"].values.reshape(idata.posterior.sizes["chain"], -1)
    form = result.posterior(result.final_state)
    shape, rate = np.atleast_1d(np.asarray(form.label_noise.shape)), np.atleast_1d(np.asarray(form.label_noise.rate))
    if method.startswith(("gspf", "dpf")):  # one IG per component or particle: the draws' mean is the mixture's
        weights = np.exp(np.asarray(form.log_weights))
        expected = np.atleast_1d(np.sum(weights * (rate / (shape - 1)), axis=-1))
    else:
        expected = (rate / (shape - 1)).reshape(-1)
    sd = np.sqrt(expected**2 / (shape.min() - 2))
    assert np.all(r.std(axis=1) > 0)
    np.testing.assert_array_less(np.abs(r.mean(axis=1) - expected), 5 * sd / np.sqrt(r.shape[1]) + 1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summary = az.summary(idata, var_names=["r"])
    assert np.isfinite(summary["ess_bulk"]).all()
    if method == "dpf-consensus":  # every node holds the same particles: its chains are draws of one posterior
        assert float(summary["r_hat"].iloc[0]) < 1.1
    if method == "sgd":
        assert list(idata.posterior.data_vars) == ["r"] and "r" not in idata.point_estimate
        assert idata.point_estimate["w_out"].dims == ("node", "hidden")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            summary = az.summary(idata)  # every row finite: nothing diagnosed from a single draw
        assert list(summary.index) == ["r"] and np.isfinite(summary.to_numpy(float)).all()
