"""Online first-order baselines: SGD and Adam through optax.

One optimiser step per time step on the squared loss of the valid batch entries (their
mean), after predicting them. The predictive density reported is N(f(theta, X), r) with the
declaration's label noise r (or, when a static site sets it, an inverse-gamma estimate from
the residuals: :mod:`bayeslstm.kernels.label_noise`), so that log scores are comparable with
the filters'.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax import Array

from ..errors import choose, number
from ..model.statespace import StateSpace
from .label_noise import NoiseState, check_sites, estimate, initial_noise, label_variance, observe_residuals
from .protocol import Batch, Kernel, PointEstimate, gaussian_log_density

OPTIMIZERS = {"sgd": optax.sgd, "adam": optax.adam}
DEFAULT_LEARNING_RATES = {"sgd": 0.05, "adam": 0.01}


class GradientState(NamedTuple):
    theta: Array
    opt_state: Any
    noise: NoiseState | None = None  # the label variance's posterior, when a static site sets it


class GradientInfo(NamedTuple):
    prediction: Array
    predictive_var: Array
    log_pred_density: Array
    loss: Array


def posterior(state: GradientState) -> PointEstimate:
    """The current weights."""
    return PointEstimate(state.theta, None, label_variance(state.noise), state.noise)


def squared_loss(ssm: StateSpace, theta: Array, batch: Batch) -> tuple[Array, Array]:
    """Mean of (d - f)^2 / 2 over valid entries, and the predictions of all entries."""
    pred = jax.vmap(lambda X, m: ssm.mean(theta, X, m))(batch.X, batch.mask)
    count = jnp.maximum(jnp.sum(batch.valid), 1)
    loss = jnp.sum(jnp.where(batch.valid, 0.5 * (batch.d - pred) ** 2, 0.0)) / count
    return loss, pred


def gradient_descent(ssm: StateSpace, optimizer: str = "sgd", learning_rate: float | None = None) -> Kernel:
    """Online SGD or Adam; the initial weights are one draw from the declaration's prior."""
    choose("optimizer", optimizer, OPTIMIZERS)
    lr = DEFAULT_LEARNING_RATES[optimizer] if learning_rate is None else number("learning_rate", learning_rate, float, 0, low_open=True)
    tx = OPTIMIZERS[optimizer](lr)
    learns_noise = ssm.label_var is not None and check_sites(ssm, f"{optimizer.upper()} baseline")
    r = ssm.obs_var if ssm.obs_var is not None else jnp.asarray(1.0)

    def init(key: Array) -> GradientState:
        theta = ssm.sample_prior(key)
        return GradientState(theta, tx.init(theta), initial_noise(ssm, theta.dtype) if learns_noise else None)

    def step(key: Array, state: GradientState, batch: Batch) -> tuple[GradientState, GradientInfo]:
        del key
        (loss, pred), grad = jax.value_and_grad(lambda t: squared_loss(ssm, t, batch), has_aux=True)(state.theta)
        updates, opt_state = tx.update(grad, state.opt_state, state.theta)
        theta = optax.apply_updates(state.theta, updates)
        # init gives a NoiseState exactly when learns_noise
        var = jnp.full_like(pred, estimate(state.noise) if state.noise is not None else r)
        info = GradientInfo(pred, var, gaussian_log_density(batch.d, pred, var), loss)
        noise = observe_residuals(state.noise, (batch.d - pred) ** 2, batch.valid) if state.noise is not None else None
        return GradientState(theta, opt_state, noise), info

    return Kernel(init, step, optimizer, posterior)
