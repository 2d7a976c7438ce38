"""Model declarations by name (bayeslstm.model.declarations): built-in names, files, modules,
factories called with the stream's width and the user's options, and the errors."""

import pathlib

import pytest

from bayeslstm.errors import ModelError
from bayeslstm.model.declarations import build_model, load_declaration, model_options
from bayeslstm.model.gru import gru_layout
from bayeslstm.model.lstm import lstm_layout
from bayeslstm.model.rnn import rnn_layout
from bayeslstm.models import lstm_regression

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_model_path_errors():
    with pytest.raises(ModelError, match="does not exist"):
        build_model("nowhere.py:model", 3)
    with pytest.raises(ModelError, match="defines no"):
        build_model(f"{ROOT / 'models' / 'my_mlp.py'}:nothing", 3)


def test_the_default_is_the_lstm_called_with_the_stream_width():
    """The factory gets ``features`` from the stream and keeps its own defaults (hidden 4)."""
    assert build_model(None, 3).layout == lstm_layout(3, 4)
    assert build_model("rnn", 5, hidden=3).layout == rnn_layout(5, 3)


def test_files_and_modules_are_loaded_by_name():
    mlp = build_model(f"{ROOT / 'models' / 'my_mlp.py'}:mlp_regression", 3, width=4)
    assert mlp.layout.size == 4 * 3 + 4 + 4  # the example's hidden layer, its bias and the read-out
    assert build_model("bayeslstm.models.gru:gru_regression", 2, hidden=2).layout == gru_layout(2, 2)
    assert load_declaration("lstm") is lstm_regression and load_declaration(lstm_regression) is lstm_regression


def test_model_options_are_the_defaults_of_a_factory():
    def factory(features, width=3, q=0.1):
        raise AssertionError("not called")

    assert model_options(factory) == {"width": 3, "q": 0.1}


def test_bad_names_options_and_factories_are_explained(tmp_path):
    with pytest.raises(ModelError, match="unknown model 'transformer'"):
        build_model("transformer", 3)
    with pytest.raises(ModelError, match="cannot import module 'no_such_module'"):
        build_model("no_such_module:model", 3)
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('half written')\n")
    with pytest.raises(ModelError, match="importing .* failed: RuntimeError: half written"):
        build_model(f"{broken}:model", 3)
    with pytest.raises(ModelError, match=r"unknown model option\(s\) \['hiden'\]"):
        build_model("lstm", 3, hiden=2)
    declaration = lstm_regression(features=3)
    assert build_model(declaration, 3) is declaration  # a declaration is used as it is
    with pytest.raises(ModelError, match="already a declaration"):
        build_model(declaration, 3, hidden=2)
    with pytest.raises(ModelError, match="must return model"):
        build_model(lambda features=1: "not a model", 3)
