"""One exception hierarchy for everything a user can get wrong.

Every error a user can cause is raised before any computation starts and is a subclass of
:class:`BayesLSTMError`, so ``except BayesLSTMError`` catches all of them, while the
``ValueError`` / ``RuntimeError`` bases keep ordinary handlers working.
"""

from __future__ import annotations


class BayesLSTMError(Exception):
    """Base class of every error bayeslstm raises on purpose."""


class InputError(BayesLSTMError, ValueError):
    """Malformed data: wrong shapes, NaN/inf values, empty sequences."""


class OptionError(BayesLSTMError, ValueError):
    """An unknown method, option or option value."""


class ModelError(BayesLSTMError, ValueError):
    """A NumPyro declaration that is not in the state-space form the kernels read."""


class GraphError(BayesLSTMError, ValueError):
    """A graph or combination matrix that cannot be used for the requested fusion."""


class NumericalError(BayesLSTMError, RuntimeError):
    """A non-finite value appeared during a run; the message names where."""


class CheckpointError(BayesLSTMError, ValueError):
    """A checkpoint that cannot be resumed: missing, corrupt, or written by a different run."""


def choose(name: str, value: str, allowed) -> str:
    """Return ``value`` if it is one of ``allowed``, else raise an OptionError listing them."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise OptionError(f"unknown {name} {value!r}; choose one of: {', '.join(map(str, allowed))}")
    return value
