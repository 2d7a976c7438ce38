"""Example state-space declarations in NumPyro, installed as ``bayeslstm.models``.

Each file declares one model in the form every bayeslstm kernel reads (see
``docs/models.md``): a factory taking ``features`` and its own options that returns
``model(X, mask, theta_prev=None, d=None)`` with a latent site ``theta`` (prior when
``theta_prev`` is None, transition otherwise) and an observed site ``d``.
Copy one of them to start your own. They import only the model primitives
(``bayeslstm.model.layout``, ``.lstm``, ``.gru``, ``.rnn``, ``.noise``, and
``.cell_regression``, which makes the factory of a recurrent cell); the names that
``--model`` accepts are registered in :mod:`bayeslstm.model.builtin`.
"""

from .gru import gru_regression
from .linear_gaussian import linear_gaussian
from .lstm import lstm_regression
from .rnn import rnn_regression

__all__ = ["gru_regression", "linear_gaussian", "lstm_regression", "rnn_regression"]
