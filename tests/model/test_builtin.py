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


def test_the_recurrent_factories_share_one_signature_and_are_named_for_their_cell():
    """The LSTM, GRU and RNN factories come from one cell_regression: the same options and
    defaults, the names --model reports, and annotations the command line reads as types."""
    import inspect

    from bayeslstm.model.declarations import model_options

    defaults = {"features": 4, "hidden": 4, "q": 1e-4, "r": 0.01, "prior_scale": 0.5, "pooling": "mean",
                "output_bias": False, "readout": "linear", "target_feature": None, "skip": False, "learn_r": False}
    for cell, factory in (("lstm", lstm_regression), ("gru", gru_regression), ("rnn", rnn_regression)):
        assert factory.__name__ == f"{cell}_regression"
        assert model_options(factory) == defaults
        assert inspect.signature(factory).parameters["hidden"].annotation is int
