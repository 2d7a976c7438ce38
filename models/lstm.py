"""The paper's model: LSTM regressor whose weights follow a Gaussian random walk.

    theta_0 ~ N(0, s0^2 I)
    theta_t = theta_{t-1} + e_t,        e_t ~ N(0, q I)
    d_t     = f(X_t; theta_t) [+ the naive forecast] + v_t,  v_t ~ N(0, r)   (r learnt with learn_r)

The declaration itself is written out in bayeslstm.model.regression (it is the same for every
recurrent cell); models/named_sites.py shows a declaration written by hand.
"""

from functools import partial

from bayeslstm.model.lstm import lstm_layout, lstm_predict
from bayeslstm.model.regression import recurrent_regression


def lstm_regression(
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
):
    """Return the NumPyro declaration of the LSTM state-space model.

    ``q``: random-walk variance per weight and step; ``r``: label noise variance (with
    ``learn_r``, the mean of its inverse-gamma prior: a static site ``"r"`` every method
    learns); ``prior_scale``: standard deviation of every weight at t = 0; ``pooling``:
    mean | last | max over the sequence; ``readout``: ``"linear"``, or ``"residual"`` to add
    the last value of input column ``target_feature`` (the naive forecast) to the output;
    ``skip``: a linear term of the last input row.
    """
    layout = lstm_layout(features, hidden, output_bias, skip)
    return recurrent_regression(layout, partial(lstm_predict, pooling=pooling), q, r, prior_scale, readout, target_feature,
                                learn_r)
