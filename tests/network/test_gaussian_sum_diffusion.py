"""The distributed Gaussian-sum filter (bayeslstm.network.gaussian_sum_diffusion): one component
is the DEKF started from one shared draw; the component weights are identical at every node."""

import jax
import numpy as np

import bayeslstm as bl
from bayeslstm.engine.assembly import assemble
from bayeslstm.engine.runner import run_method
from bayeslstm.kernels.ekf import extended_kalman_filter
from bayeslstm.kernels.lofi import low_rank_filter

SMALL = dict(model_options=dict(hidden=2), graph="ring")


def _shared_start(stream, name, seed, model_options=SMALL["model_options"], **options):
    """``name`` (dekf or dlofi) with every node started from the same draw, as dgspf's components
    start: the component filter's own start from the run's initial key."""
    built = assemble(stream, name, seed=seed, graph=SMALL["graph"], model_options=model_options, **options)[0]
    kernel = (low_rank_filter if name == "dlofi" else extended_kalman_filter)(built.ssm, **options)
    init = lambda key, nodes: jax.vmap(lambda _: kernel.init(key))(np.arange(nodes))  # noqa: E731
    return run_method(built.method._replace(init=init), stream, seed=seed)


def test_one_component_is_the_dekf():
    with jax.enable_x64(True):
        stream, _ = bl.teacher_stream(steps=30, nodes=5, features=2, max_len=5, seed=4)
        dekf = _shared_start(stream, "dekf", seed=2)
        dgspf = bl.run(stream, "dgspf", num_components=1, seed=2, **SMALL)
        np.testing.assert_allclose(dgspf.predictions, dekf.predictions, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(np.asarray(dgspf.final_state.means)[:, 0], np.asarray(dekf.final_state.mean),
                                   rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(np.asarray(dgspf.final_state.covs)[:, 0], np.asarray(dekf.final_state.cov),
                                   rtol=1e-12, atol=1e-14)


def test_one_component_with_robust_and_fading_is_the_dekf_with_them():
    """robust (the Student-t scores agreed in the groups run too), fading (one alpha per node)
    and a learnt label variance that forgets (each node's own posterior of r)."""
    stream, _ = bl.teacher_stream(steps=30, nodes=5, features=2, max_len=5, seed=4)
    options = dict(robust=3.0, fading=0.8, noise_forgetting=0.9)
    model = {"model_options": {"hidden": 2, "learn_r": True}}
    dekf = _shared_start(stream, "dekf", seed=2, **model, **options)
    dgspf = bl.run(stream, "dgspf", num_components=1, seed=2, graph=SMALL["graph"], **model, **options)
    np.testing.assert_array_equal(dgspf.predictions, dekf.predictions)
    np.testing.assert_array_equal(np.asarray(dgspf.final_state.level), np.asarray(dekf.final_state.level))
    for mine, theirs in zip(dgspf.final_state.noise, dekf.final_state.noise):
        np.testing.assert_array_equal(np.asarray(mine)[:, 0], np.asarray(theirs))
    # forgotten: with rho = 0.9 the shape stays near 1 / (2 (1 - rho)) = 5 (it counts each of
    # about 90 labels a node adapts on fully without it)
    assert float(np.max(dekf.final_state.noise.shape)) < 10
    assert dgspf.final_state.level.shape == (5,) and float(dgspf.final_state.level.max()) > 1.0  # alpha moved


def test_one_low_rank_component_is_diffusion_lofi():
    with jax.enable_x64(True):
        stream, _ = bl.teacher_stream(steps=30, nodes=5, features=2, max_len=5, seed=4)
        dlofi = _shared_start(stream, "dlofi", seed=2, rank=3)
        dgspf = bl.run(stream, "dgspf", covariance="low-rank", rank=3, num_components=1, seed=2, **SMALL)
        np.testing.assert_allclose(dgspf.predictions, dlofi.predictions, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(np.asarray(dgspf.final_state.means)[:, 0], np.asarray(dlofi.final_state.mean),
                                   rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(np.asarray(dgspf.final_state.covs.factor)[:, 0], np.asarray(dlofi.final_state.factor),
                                   rtol=1e-10, atol=1e-12)
        # the traffic is the DEKF's: the raw examples and the means (plus the weights' agreement)
        assert np.all(dgspf.diagnostics["floats"].values >= dlofi.diagnostics["floats"].values)


def test_component_zero_is_the_dekf_whatever_the_other_components_do():
    with jax.enable_x64(True):
        stream, _ = bl.teacher_stream(steps=20, nodes=5, features=2, max_len=5, seed=4)
        dekf = _shared_start(stream, "dekf", seed=2)
        dgspf = bl.run(stream, "dgspf", num_components=3, seed=2, **SMALL)
        np.testing.assert_allclose(np.asarray(dgspf.final_state.means)[:, 0], np.asarray(dekf.final_state.mean),
                                   rtol=1e-12, atol=1e-14)


def test_every_node_holds_the_same_component_weights():
    stream, _ = bl.teacher_stream(steps=60, nodes=6, features=2, max_len=5, seed=5)
    res = bl.run(stream, "dgspf", num_components=3, **SMALL)
    weights = np.asarray(res.final_state.log_weights)
    assert (weights == weights[0]).all()
    assert np.isclose(np.exp(weights[0]).sum(), 1.0)
    assert res.diagnostics["ess"].values.min() >= 1.0 - 1e-6
