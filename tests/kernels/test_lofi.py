"""The low-rank EKF LoFi (bayeslstm.kernels.lofi): at full rank it is the EKF and, on a linear
model, the exact Kalman filter; its variational update of the label variance is the EKF's;
its predict step is exact; its truncation keeps the leading
directions of the precision and moves the rest onto the diagonal."""

import jax
import jax.numpy as jnp
import networkx as nx
import numpy as np
import pytest

import bayeslstm as bl
from bayeslstm.errors import OptionError
from bayeslstm.kernels.ekf import vb_update
from bayeslstm.kernels.label_noise import NoiseState
from bayeslstm.kernels.lofi import LOW_RANK, covariance_times, predict, truncate
from bayeslstm.kernels.protocol import LowRankPrecision
from bayeslstm.network.graph import make_network
from reference import kalman_filter, linear_gaussian_stream


def test_full_rank_without_drift_is_the_ekf():
    with jax.enable_x64(True):
        stream, _ = bl.teacher_stream(steps=30, nodes=2, features=2, max_len=4, seed=1)
        options = dict(model_options={"hidden": 2, "q": 0.0}, seed=3)
        ekf = bl.run(stream, "ekf", **options)
        lofi = bl.run(stream, "lofi", rank=42, **options)  # 42 weights
        np.testing.assert_allclose(lofi.predictions, ekf.predictions, rtol=0, atol=1e-6)
        cov = np.linalg.inv(np.asarray(jax.vmap(lambda u, w: jnp.diag(u) + w @ w.T)(lofi.final_state.diag,
                                                                                    lofi.final_state.factor)))
        np.testing.assert_allclose(cov, np.asarray(ekf.final_state.cov), rtol=1e-5, atol=1e-8)
        small = bl.run(stream, "lofi", rank=3, **options)
        assert np.abs(small.predictions - ekf.predictions).max() > 1e-4  # rank 3 of 42 is an approximation


def test_full_rank_is_the_exact_kalman_filter_on_a_linear_gaussian_model():
    with jax.enable_x64(True):
        q, r, s0 = 1e-3, 0.1, 1.0
        stream = linear_gaussian_stream(40, seed=2)
        exact = kalman_filter(stream, 0, q, r, s0)
        lofi = bl.run(stream, "lofi", rank=2, init="prior-mean", model="linear-gaussian",
                      model_options=dict(q=q, r=r, prior_scale=s0))
        np.testing.assert_allclose(lofi.predictions[:, 0], exact["prediction"], rtol=0, atol=1e-8)
        np.testing.assert_allclose(np.asarray(lofi.final_state.mean[0]), exact["mean"], atol=1e-8)


def test_the_variational_update_of_a_full_rank_precision_is_the_ekfs(rng):
    """One label with a learnt label variance: a rank-d precision equal to the EKF's inverse
    covariance gives the EKF's mean, covariance, predictive variance and noise posterior. Fails
    if the shared update read the truncated posterior, or LoFi's quadratic form, wrongly."""
    with jax.enable_x64(True):
        B = rng.normal(size=(3, 3))
        P = B @ B.T + 0.5 * np.eye(3)
        precision = np.linalg.inv(P)
        low = 0.5 * np.linalg.eigvalsh(precision).min()
        factor = np.linalg.cholesky(precision - low * np.eye(3))
        mean, h, noise = rng.normal(size=3), rng.normal(size=3), NoiseState(jnp.asarray(3.0), jnp.asarray(0.8))
        ekf = vb_update(jnp.asarray(mean), jnp.asarray(P), jnp.asarray(h), 0.7, noise)
        lofi = vb_update(jnp.asarray(mean), LowRankPrecision(jnp.full(3, low), jnp.asarray(factor)), jnp.asarray(h),
                         0.7, noise, LOW_RANK)
        np.testing.assert_allclose(lofi[0], ekf[0], rtol=1e-10)
        cov = np.linalg.inv(np.diag(lofi[1].diag) + lofi[1].factor @ lofi[1].factor.T)
        np.testing.assert_allclose(cov, ekf[1], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(lofi[2], ekf[2], rtol=1e-10)
        np.testing.assert_allclose(lofi[3].rate, ekf[3].rate, rtol=1e-10)
        assert float(lofi[3].shape) == float(ekf[3].shape) == 3.5


def test_the_predict_step_is_exact(rng):
    with jax.enable_x64(True):
        u, W, q = rng.uniform(0.5, 2.0, 6), rng.normal(size=(6, 3)), rng.uniform(0.0, 0.3, 6)
        q[:2] = 0.0  # static entries do not drift
        exact = np.linalg.inv(np.linalg.inv(np.diag(u) + W @ W.T) + np.diag(q))
        new_u, new_W = predict(jnp.asarray(u), jnp.asarray(W), jnp.asarray(q))
        np.testing.assert_allclose(np.diag(np.asarray(new_u)) + np.asarray(new_W) @ np.asarray(new_W).T, exact, atol=1e-12)


def test_truncation_keeps_the_leading_directions_and_the_diagonal(rng):
    """Against a dense eigendecomposition of the low-rank term: the kept factor spans its R
    leading eigenvectors with their eigenvalues, and the precision's diagonal is unchanged."""
    with jax.enable_x64(True):
        u, wide = rng.uniform(0.5, 2.0, 8), rng.normal(size=(8, 4))
        new_u, kept = (np.asarray(a) for a in truncate(jnp.asarray(u), jnp.asarray(wide), 3))
        values, vectors = np.linalg.eigh(wide @ wide.T)
        top = vectors[:, -3:] * values[-3:]
        np.testing.assert_allclose(kept @ kept.T, top @ vectors[:, -3:].T, atol=1e-10)
        np.testing.assert_allclose(new_u + np.sum(kept**2, axis=1), u + np.sum(wide**2, axis=1), atol=1e-10)
        v = rng.normal(size=8)
        dense = np.linalg.solve(np.diag(new_u) + kept @ kept.T, v)
        np.testing.assert_allclose(np.asarray(covariance_times(jnp.asarray(new_u), jnp.asarray(kept), jnp.asarray(v))),
                                   dense, atol=1e-10)


def test_truncation_gives_one_factor_whatever_the_input_signs_and_order(rng):
    """The factor is defined up to the sign of each column; eigh may pick either sign, and
    picked differently on a sharded run. Rotating or flipping the input's columns (the same
    precision) must give the same factor, with each column's largest entry positive."""
    u, wide = jnp.asarray(rng.uniform(0.5, 2.0, 8)), rng.normal(size=(8, 4))
    q, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    first = truncate(u, jnp.asarray(wide), 3)
    for other in (wide * np.array([-1.0, 1.0, -1.0, 1.0]), wide @ q):
        again = truncate(u, jnp.asarray(other), 3)
        np.testing.assert_allclose(np.asarray(again[1]), np.asarray(first[1]), atol=1e-4)
        np.testing.assert_allclose(np.asarray(again[0]), np.asarray(first[0]), rtol=1e-5)
    kept = np.asarray(first[1])
    assert (kept[np.argmax(np.abs(kept), axis=0), np.arange(3)] > 0).all()


def test_dlofi_on_a_complete_graph_with_uniform_weights_at_full_rank_is_the_centralized_ekf():
    with jax.enable_x64(True):
        lg = dict(model="linear-gaussian", model_options=dict(q=1e-3, r=0.1, prior_scale=1.0), init="prior-mean")
        stream = linear_gaussian_stream(25, nodes=4, seed=3)
        network = make_network(nx.complete_graph(4), rule="uniform")
        dlofi = bl.run(stream, "dlofi", graph=network, rank=2, **lg)
        central = bl.run(stream, "ekf", fusion="centralized", **lg)
        np.testing.assert_allclose(dlofi.predictions, central.predictions, rtol=1e-9, atol=1e-10)


def test_bad_rank_is_refused():
    stream, _ = bl.teacher_stream(steps=3, features=2, max_len=3)
    with pytest.raises(OptionError, match="rank"):
        bl.run(stream, "lofi", rank=0)
