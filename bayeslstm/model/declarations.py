"""Model declarations by name: built-in models, ``path/file.py:name``, ``module:name``.

:func:`build_model` resolves what a user names (the command line's ``--model``, ``bl.run``'s
``model=``) to a declaration in the form :mod:`bayeslstm.model.statespace` reads, calling
it first if it is a factory (with the stream's feature width and the user's options).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import pathlib
from collections.abc import Callable
from typing import Any

from ..errors import BayesLSTMError, ModelError
from .builtin import BUILTIN
from .statespace import is_declaration


def model_options(factory: Callable) -> dict[str, Any]:
    """Keyword options a model factory accepts, with their defaults."""
    return {
        name: p.default
        for name, p in inspect.signature(factory).parameters.items()
        if p.default is not inspect.Parameter.empty
    }


def load_declaration(spec: str | Callable) -> Callable:
    """A built-in name (``lstm``, ``gru``, ``rnn``, ``linear-gaussian``), ``path.py:name``,
    ``package.module:name``, or a callable, to the callable it names (factory or model)."""
    if callable(spec):
        return spec
    if spec in BUILTIN:
        return BUILTIN[spec]
    if ":" not in spec:
        raise ModelError(f"unknown model {spec!r}: use one of {sorted(BUILTIN)}, path/to/file.py:name or module:name")
    where, name = spec.rsplit(":", 1)
    if where.endswith(".py"):
        path = pathlib.Path(where)
        if not path.is_file():
            raise ModelError(f"model file {where!r} does not exist")
        module_spec = importlib.util.spec_from_file_location(f"bayeslstm_user_{path.stem}", path)
        if module_spec is None or module_spec.loader is None:  # a .py file always gets a source loader
            raise ModelError(f"cannot import model file {where!r}")
        module = importlib.util.module_from_spec(module_spec)
        try:
            module_spec.loader.exec_module(module)
        except Exception as exc:
            raise ModelError(f"importing {where!r} failed: {type(exc).__name__}: {exc}") from exc
    else:
        try:
            module = importlib.import_module(where)
        except ImportError as exc:
            raise ModelError(f"cannot import module {where!r}: {exc}") from exc
    if not hasattr(module, name):
        raise ModelError(f"{where!r} defines no {name!r}")
    return getattr(module, name)


DECLARATION_FORM = "model(X, mask, theta_prev=None, d=None)"


def check_factory(fn: Callable) -> None:
    """A callable that is no declaration (it takes no label ``d``) must be a factory: every
    parameter with a default, so that it can be called with options alone."""
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return
    required = [p.name for p in parameters if p.default is inspect.Parameter.empty
                and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)]
    if required:
        name = getattr(fn, "__name__", repr(fn))
        raise ModelError(f"the model {name}{inspect.signature(fn)} is neither a declaration {DECLARATION_FORM} "
                         f"(it takes no label d) nor a factory (its parameter(s) {', '.join(required)} have no "
                         "default): write it as a declaration with NumPyro sites, see docs/models.md")


def build_model(spec: str | Callable | None, features: int, **options: Any) -> Callable:
    """Resolve ``spec`` (default: the paper's LSTM) and call it if it is a factory.

    ``features`` is passed to factories that accept it; unknown ``options`` are an error.
    """
    fn = load_declaration("lstm" if spec is None else spec)
    if is_declaration(fn):
        if options:
            raise ModelError(f"options {sorted(options)} given, but the model is already a declaration, not a factory")
        return fn
    check_factory(fn)
    accepted = model_options(fn)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ModelError(f"unknown model option(s) {unknown}; {getattr(fn, '__name__', 'the factory')} accepts {sorted(accepted)}")
    if "features" in accepted:
        options = {"features": features, **options}
    given = ", ".join(f"{k}={v!r}" for k, v in options.items() if k != "features")
    try:
        declaration = fn(**options)
    except BayesLSTMError as exc:  # the factory refused an option: say it came from model_options
        if not given:
            raise
        raise type(exc)(f"model_options {given}: {exc}") from None
    if not callable(declaration) or not is_declaration(declaration):
        raise ModelError(f"a model factory must return {DECLARATION_FORM}, a declaration")
    return declaration
