"""A river regressor: any single-node method of bayeslstm behind ``learn_one``/``predict_one``.

As deep-river's ``RollingRegressor`` does, the regressor keeps the last ``window`` feature
vectors it has learnt from; the sequence it predicts from (and learns from) is that window
followed by the new ``x``. The step program is the one :func:`bayeslstm.run` uses, compiled
once per configuration and process, so a stream fed through :func:`river.evaluate.progressive_val_score`
gets the predictions ``bl.run`` makes on the same sequences with the same seed.

Features are the keys of the first ``x`` seen, in sorted order; a key missing later counts
as 0, and a key first seen later is ignored (the network's input width is fixed when it
compiles). Put ``river.preprocessing.StandardScaler`` in front, and wrap the pipeline in
``river.preprocessing.TargetStandardScaler`` for labels far from unit scale: the model's
priors are set for standardised data.
"""

from __future__ import annotations

import collections
import functools
import json
import math
import numbers
import warnings
from typing import Any

import numpy as np
from river import base

from ..errors import InputError, OptionError
from ..methods import kernel_names, lookup, method_options
from .streams import finite_number


class Regressor(base.Regressor):
    """A Bayesian online LSTM regressor for river, learnt by a bayeslstm kernel.

    Parameters
    ----------
    method
        A single-node method (``ekf``, ``pf``, ``gspf``, ``lofi``, ``enkf``, ``sgd``, ...).
    window
        How many past feature vectors, with the new one, make the sequence the network reads.
    hidden
        Width of the LSTM's hidden state.
    seed
        Seeds the initial weights and every random draw of the method.
    model
        A model for :func:`bayeslstm.run` (default: the built-in LSTM regressor).
    model_options
        Other arguments of the model (``hidden`` is set by its own parameter). They override the
        options bayeslstm uses for every real series (the label noise learnt, the last hidden
        state read out), which a table stream gets too.
    options
        The method's options (``num_particles=``, ``learning_rate=`` ...): ``bayeslstm methods``
        lists them with their defaults.

    Examples
    --------
    >>> from river import datasets, evaluate, metrics, preprocessing
    >>> from bayeslstm.river.regressor import Regressor
    >>> model = preprocessing.TargetStandardScaler(preprocessing.StandardScaler() | Regressor("ekf", window=4))
    >>> evaluate.progressive_val_score(datasets.TrumpApproval().take(50), model, metrics.MAE())  # doctest: +SKIP
    """

    def __init__(self, method: str = "ekf", window: int = 8, hidden: int = 4, seed: int = 0, model: Any = None,
                 model_options: dict | None = None, **options: Any) -> None:
        self.method = method
        self.window = window
        self.hidden = hidden
        self.seed = seed
        self.model = model
        self.model_options = model_options
        self.options = options
        _check_settings(method, window, hidden, seed, options)
        self._features: tuple | None = None
        self._recent: collections.deque = collections.deque(maxlen=window)
        self._state: Any = None
        self._steps = 0
        self._ignored: set = set()

    @classmethod
    def _unit_test_params(cls):
        yield {"method": "ekf", "window": 3, "hidden": 2}

    @property
    def _multiclass(self) -> bool:  # pragma: no cover - river asks classifiers only
        return False

    # ------------------------------------------------------------------ river's interface

    def learn_one(self, x: dict, y: base.typing.RegTarget) -> None:
        """Predict ``y`` from the window and ``x``, then learn from it; ``x`` joins the window."""
        label = _label(y)
        vector = self._vector(x)
        online, sequence = self._learner(), self._sequence(vector)
        from ..engine.online import update

        online, _ = update(online, sequence[None], np.array([len(sequence)]), np.array([label], np.float32))
        self._state, self._steps = online.state, online.step
        self._recent.append(vector)

    def predict_one(self, x: dict) -> float:
        """The predictive mean of the label of ``x``."""
        return self.predict_mean_var_one(x)[0]

    # ------------------------------------------------------------------ predictive distribution

    def predict_mean_var_one(self, x: dict) -> tuple[float, float]:
        """The predictive mean and variance of the label of ``x`` (the model's Gaussian predictive)."""
        from ..engine.online import predict

        vector = self._vector(x)
        sequence = self._sequence(vector)
        mean, variance = predict(self._learner(), sequence[None], np.array([len(sequence)]))
        return float(mean[0]), float(variance[0])

    def predict_interval_one(self, x: dict, level: float = 0.9) -> tuple[float, float]:
        """The central ``level`` interval of the Gaussian predictive of the label of ``x``."""
        if not 0 < level < 1:
            raise OptionError(f"level must lie in (0, 1); got {level}")
        from scipy.stats import norm

        mean, variance = self.predict_mean_var_one(x)
        half = float(norm.ppf(0.5 + level / 2)) * math.sqrt(variance)
        return mean - half, mean + half

    def log_score_one(self, x: dict, y: float) -> float:
        """The predictive log density of label ``y`` given ``x``, before learning it."""
        mean, variance = self.predict_mean_var_one(x)
        return -0.5 * (math.log(2 * math.pi * variance) + (_label(y) - mean) ** 2 / variance)

    # ------------------------------------------------------------------ internals

    def _vector(self, x: dict) -> np.ndarray:
        """``x`` as the network's input row; checks values, fixes the features on first sight."""
        for key, value in x.items():
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise TypeError(f"feature {key!r} is {value!r} ({type(value).__name__}); the regressor takes numbers: "
                                "encode it first (river.preprocessing.OneHotEncoder, or drop it)")
            if not math.isfinite(value):
                raise ValueError(f"feature {key!r} is {value}; leave a missing feature out of x instead")
        if self._features is None:
            if not x:
                raise ValueError("the first x has no features: the regressor takes its input width from it")
            self._features = tuple(sorted(x, key=repr))
        new = set(x).difference(self._features, self._ignored)
        if new:
            self._ignored |= new
            warnings.warn(f"features {sorted(new, key=repr)} were not in the first x and are ignored: the network's "
                          f"input width is fixed at {len(self._features)}", stacklevel=3)
        return np.array([float(x.get(key, 0.0)) for key in self._features], np.float32)

    def _sequence(self, vector: np.ndarray) -> np.ndarray:
        """The window followed by ``vector``, at most ``window`` rows, oldest first."""
        rows = [*self._recent, vector][-self.window:]
        return np.stack(rows)

    def _learner(self):
        """The online learner in its current state (the configuration's initial one on the first example)."""
        assert self._features is not None
        start = _compiled(*self._configuration(len(self._features)))
        return start if self._state is None else start._replace(state=self._state, step=self._steps)

    def _configuration(self, features: int) -> tuple:
        """What the compiled learner depends on, hashable (the option dicts as sorted JSON)."""
        model_options = {**(self.model_options or {}), "hidden": self.hidden}
        return (self.method, self.window, features, self.seed, self.model,
                json.dumps(model_options, sort_keys=True, default=repr), json.dumps(self.options, sort_keys=True, default=repr))

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        if state["_state"] is not None:
            import jax

            state["_state"] = jax.device_get(state["_state"])
        return state


@functools.lru_cache(maxsize=32)
def _compiled(method: str, window: int, features: int, seed: int, model: Any, model_options: str, options: str):
    """The initial online learner of a configuration, its step program compiled once per process."""
    from ..engine.assembly import real_data_model_options
    from ..engine.online import online_learner

    return online_learner(method, nodes=1, features=features, max_len=window, seed=seed, model=model,
                          model_options=real_data_model_options(model, json.loads(model_options)), **json.loads(options))


def _label(y: Any) -> float:
    """``y`` as a finite float, or a ValueError that says what was given."""
    if not finite_number(y):
        raise ValueError(f"y must be a finite number; got {y!r}")
    return float(y)


def _check_settings(method: str, window: int, hidden: int, seed: int, options: dict) -> None:
    """Refuse a distributed or unknown method, a bad window, width or seed, or an option the method does not take."""
    lookup(method)
    if method not in kernel_names():
        raise OptionError(f"Regressor runs one node; {method!r} is a distributed method: use one of "
                          f"{sorted(kernel_names())}, or bayeslstm.river.streams.network_stream for several streams")
    for name, value in (("window", window), ("hidden", hidden)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise InputError(f"{name} must be a positive integer; got {value!r}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise InputError(f"seed must be a non-negative integer; got {seed!r}")
    unknown = sorted(set(options) - set(method_options(method, "local")))
    if unknown:
        raise OptionError(f"{method} takes no option {unknown}; it takes {method_options(method, 'local')}")
