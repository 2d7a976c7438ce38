"""One exception hierarchy (bayeslstm.errors), and the two checks every option goes through:
``choose`` among names and ``number`` within bounds, each naming the option it refuses."""

import math

import pytest

from bayeslstm.errors import (
    BayesLSTMError,
    CheckpointError,
    GraphError,
    InputError,
    ModelError,
    NumericalError,
    OptionError,
    choose,
    number,
)


def test_every_error_is_ours_and_keeps_its_ordinary_base():
    for error in (InputError, OptionError, ModelError, GraphError, CheckpointError):
        assert issubclass(error, BayesLSTMError) and issubclass(error, ValueError), error
    assert issubclass(NumericalError, BayesLSTMError) and issubclass(NumericalError, RuntimeError)
    assert not issubclass(NumericalError, ValueError)


def test_choose_returns_the_value_or_lists_the_choices():
    assert choose("pooling", "last", ("mean", "last")) == "last"
    with pytest.raises(OptionError, match=r"^unknown pooling 'sum'; choose one of: mean, last$"):
        choose("pooling", "sum", ("mean", "last"))


@pytest.mark.parametrize("value, kind, expected", [
    (3, int, 3), ("3", int, 3), (2.0, int, 2), ("0.25", float, 0.25), (1, float, 1.0),
])
def test_number_converts_what_it_accepts(value, kind, expected):
    out = number("walk_steps", value, kind, 1 if kind is int else 0)
    assert out == expected and type(out) is kind


@pytest.mark.parametrize("value, kind", [
    (2.5, int), ("2.5", int), (True, int), (False, float), (None, float), ("abc", float), (math.nan, float),
    (math.inf, float), ("nan", float), ([1], int),
])
def test_number_refuses_fractions_booleans_and_non_finite_values_with_the_name(value, kind):
    what = "a whole number" if kind is int else "a finite number"
    with pytest.raises(OptionError, match=f"^walk_steps must be {what}"):
        number("walk_steps", value, kind)


def test_number_checks_closed_and_open_bounds():
    assert number("p", 0.0, float, 0.0, 1.0) == 0.0 and number("p", 1.0, float, 0.0, 1.0) == 1.0
    with pytest.raises(OptionError, match=r"^p must be a finite number > 0.0 and <= 1.0; got 0.0$"):
        number("p", 0.0, float, 0.0, 1.0, low_open=True)
    with pytest.raises(OptionError, match=r"^p must be a finite number >= 0.0 and < 1.0; got 1.0$"):
        number("p", 1.0, float, 0.0, 1.0, high_open=True)
    with pytest.raises(OptionError, match=r"^nodes must be a whole number >= 1; got 0$"):
        number("nodes", 0, int, 1)
