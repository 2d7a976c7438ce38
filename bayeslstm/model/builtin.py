"""The registry of built-in models: the names ``--model`` and ``model=`` accept.

It sits above both the example declarations in ``bayeslstm.models`` (which import only the
model primitives) and the name resolution in :mod:`bayeslstm.model.declarations`, so that no
import cycle runs through the examples.
"""

from __future__ import annotations

from collections.abc import Callable

from ..models.gru import gru_regression
from ..models.linear_gaussian import linear_gaussian
from ..models.lstm import lstm_regression
from ..models.rnn import rnn_regression

BUILTIN: dict[str, Callable] = {
    "lstm": lstm_regression,
    "gru": gru_regression,
    "rnn": rnn_regression,
    "linear-gaussian": linear_gaussian,
}
