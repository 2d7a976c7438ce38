"""Example state-space declarations in NumPyro, installed as ``bayeslstm.models``.

Each file declares one model in the form every bayeslstm kernel reads (see
``docs/models.md``): a factory taking ``features`` and its own options that returns
``model(X, mask, theta_prev=None, d=None)`` with a latent site ``theta`` (prior when
``theta_prev`` is None, transition otherwise) and an observed site ``d``.
Copy one of them to start your own.
"""

from .gru import gru_regression
from .linear_gaussian import linear_gaussian
from .lstm import lstm_regression
from .rnn import rnn_regression

BUILTIN = {
    "lstm": lstm_regression,
    "gru": gru_regression,
    "rnn": rnn_regression,
    "linear-gaussian": linear_gaussian,
}

__all__ = ["BUILTIN", "gru_regression", "linear_gaussian", "lstm_regression", "rnn_regression"]
