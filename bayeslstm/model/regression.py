"""The state-space declaration of a recurrent regressor, as the built-in models write it.

    theta_0 ~ N(0, s0^2 I),  theta_t = theta_{t-1} + N(0, q I)        (site "theta")
    d_t ~ N(f(theta_t, X_t) [+ the naive forecast], r)                 (site "d")

with two options that make it a forecaster: ``readout="residual"`` adds the last value of
the target in the input window (column ``target_feature``) to the network's output, so the
naive forecast is the starting point and the network learns the correction; and
``learn_r=True`` makes the label variance a static site ``"r"`` with an inverse-gamma prior
of mean ``r``, learnt by every method instead of fixed.
"""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist

from ..errors import ModelError, OptionError, choose, number
from .layout import ParamLayout
from .noise import random_walk
from .recurrence import naive_forecast

READOUTS = ("linear", "residual")
R_PRIOR_SHAPE = 3.0  # the inverse-gamma prior of a learnt r: shape 3 (mean r, sd r), rate 2 r


def recurrent_regression(layout: ParamLayout, predict: Callable, q: float, r: float, prior_scale: float,
                         readout: str = "linear", target_feature: int | None = None, learn_r: bool = False) -> Callable:
    """The declaration ``model(X, mask, theta_prev=None, d=None)`` of a regressor
    ``predict(layout, theta, X, mask)`` whose weights follow a Gaussian random walk."""
    choose("readout", readout, READOUTS)
    if readout == "residual" and target_feature is None:
        raise ModelError("readout='residual' adds the target's last value in the window: give target_feature, the "
                         "target's input column (table streams set it when the target is a feature)")
    if target_feature is not None and not (0 <= int(target_feature) < layout_features(layout)):
        raise ModelError(f"target_feature={target_feature} is not one of the {layout_features(layout)} input columns")

    def model(X, mask, theta_prev=None, d=None):
        if theta_prev is None:
            theta = numpyro.sample("theta", dist.Normal(jnp.zeros(layout.size), prior_scale).to_event(1))
        else:
            theta = numpyro.sample("theta", random_walk(theta_prev if not learn_r else theta_prev["theta"], q))
        mean = predict(layout, theta, X, mask)
        if readout == "residual":
            mean = mean + naive_forecast(X, mask, target_feature).astype(mean.dtype)
        variance = numpyro.sample("r", dist.InverseGamma(R_PRIOR_SHAPE, (R_PRIOR_SHAPE - 1.0) * r)) if learn_r else r
        numpyro.sample("d", dist.Normal(mean, jnp.sqrt(variance)), obs=d)

    model.layout = layout  # type: ignore[attr-defined]  # a declaration carries its layout as a function attribute
    return model


SIZES = {"features": 1, "hidden": 1}  # whole-number options and their least values
SCALES = {"q": (0.0, False), "r": (0.0, True), "prior_scale": (0.0, True)}  # finite, above (or from) a bound


def check_model_options(options: dict) -> None:
    """The built-in models' sizes and scales: ``hidden`` a whole number >= 1, ``q`` >= 0, ``r``
    and ``prior_scale`` > 0, all finite (options of other names are left to their model)."""
    try:
        for name, low in SIZES.items():
            if name in options:
                number(name, options[name], int, low)
        for name, (bound, open_) in SCALES.items():
            if name in options:
                number(name, options[name], float, bound, low_open=open_)
    except OptionError as exc:
        raise ModelError(str(exc)) from None


def layout_features(layout: ParamLayout) -> int:
    """The input width p of a recurrent layout (its first input-weight block is (n, p))."""
    return next(shape[1] for name, shape in zip(layout.names, layout.shapes) if name.startswith("W") and len(shape) == 2)
