"""One factory for the built-in recurrent regressors: give it a cell, get its declaration.

The LSTM, GRU and plain RNN examples in ``bayeslstm.models`` differ only in their cell: how
the weights are laid out and how a sequence becomes a prediction. :func:`cell_regression`
turns such a :class:`Cell` into the factory ``<name>_regression(features=4, hidden=4, ...)``
that returns the state-space declaration of :func:`bayeslstm.model.regression.recurrent_regression`.
"""

from collections.abc import Callable
from functools import partial
from typing import NamedTuple

from jax import Array

from .layout import ParamLayout
from .regression import check_model_options, recurrent_regression


class Cell(NamedTuple):
    """A recurrent cell as the built-in regressors use it.

    ``name``: the factory's name is ``f"{name}_regression"``; ``title``: how its docstring
    names the cell; ``layout(features, hidden, output_bias, skip) -> ParamLayout``;
    ``predict(layout, theta, X, mask, pooling=...) -> prediction``.
    """

    name: str
    title: str
    layout: Callable[[int, int, bool, bool], ParamLayout]
    predict: Callable[..., Array]


def cell_regression(cell: Cell) -> Callable[..., Callable]:
    """The factory of ``cell``'s regressor, whose weights follow a Gaussian random walk."""

    def factory(
        features: int = 4,
        hidden: int = 4,
        q: float = 1e-4,
        r: float = 0.01,
        prior_scale: float = 0.5,
        pooling: str = "mean",
        output_bias: bool = False,
        readout: str = "linear",
        target_feature: int | None = None,
        skip: bool = False,
        learn_r: bool = False,
    ):  # the annotations stay real types: the command line reads them
        check_model_options({"features": features, "hidden": hidden, "q": q, "r": r, "prior_scale": prior_scale})
        layout = cell.layout(features, hidden, output_bias, skip)
        return recurrent_regression(layout, partial(cell.predict, pooling=pooling), q, r, prior_scale, readout,
                                    target_feature, learn_r)

    factory.__name__ = factory.__qualname__ = f"{cell.name}_regression"
    factory.__doc__ = f"""Return the NumPyro declaration of the {cell.title} state-space model.

    ``q``: random-walk variance per weight and step; ``r``: label noise variance (with
    ``learn_r``, the mean of its inverse-gamma prior: a static site ``"r"`` every method
    learns); ``prior_scale``: standard deviation of every weight at t = 0; ``pooling``:
    mean | last | max over the sequence; ``readout``: ``"linear"``, or ``"residual"`` to add
    the last value of input column ``target_feature`` (the naive forecast) to the output;
    ``skip``: a linear term of the last input row.
    """
    return factory
