"""The registry of built-in models (bayeslstm.model.builtin): the names ``--model`` and
``model=`` accept, each the example declaration of its cell."""

from bayeslstm.model.builtin import BUILTIN
from bayeslstm.model.gru import gru_layout
from bayeslstm.model.layout import ParamLayout
from bayeslstm.model.lstm import lstm_layout
from bayeslstm.model.rnn import rnn_layout
from bayeslstm.models import gru_regression, linear_gaussian, lstm_regression, rnn_regression


def test_every_name_is_its_example_factory():
    assert BUILTIN == {"lstm": lstm_regression, "gru": gru_regression, "rnn": rnn_regression,
                       "linear-gaussian": linear_gaussian}


def test_each_factory_declares_its_own_cell():
    """A registry that sent ``gru`` to the RNN (or any other mix-up) gives another layout."""
    assert BUILTIN["lstm"](features=3, hidden=2).layout == lstm_layout(3, 2)
    assert BUILTIN["gru"](features=3, hidden=2).layout == gru_layout(3, 2)
    assert BUILTIN["rnn"](features=3, hidden=2).layout == rnn_layout(3, 2)
    assert BUILTIN["linear-gaussian"](features=3).layout == ParamLayout(("theta",), ((3,),))
