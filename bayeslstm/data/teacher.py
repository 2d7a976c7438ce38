"""The synthetic experiment: a fixed random "teacher" network labels random inputs, plus noise.

Every learner that has the teacher's architecture can in principle reach the noise floor
(the label noise variance), which is what makes the stream a test of learning.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from ..engine.sizes import check_stream_size
from ..errors import MAX_SEED, InputError, OptionError, number
from ..model.statespace import read_model
from ..models.lstm import lstm_regression
from .streams import Stream, make_stream


def teacher_stream(
    steps: int = 1000,
    nodes: int = 1,
    features: int = 4,
    min_len: int = 2,
    max_len: int = 16,
    noise_var: float = 0.01,
    seed: int = 0,
    model=None,
    teacher_seed: int | None = None,
    teacher_scale: float = 1.0,
) -> tuple[Stream, np.ndarray]:
    """The synthetic experiment of Ergen & Kozat: a teacher network labels random sequences.

    A teacher theta* is drawn once from ``model``'s prior (default: the paper's LSTM with
    hidden size 4 and weights of standard deviation ``teacher_scale``, large enough that the
    labels are clearly nonlinear in the inputs); inputs are
    standard normal, lengths uniform on [min_len, max_len], labels
    d = f(theta*, X) + N(0, noise_var). Returns (stream, theta*).
    """
    steps, nodes, features, min_len, max_len = (_size(name, value) for name, value in (
        ("steps", steps), ("nodes", nodes), ("features", features), ("min_len", min_len), ("max_len", max_len)))
    if min_len > max_len:
        raise InputError(f"need min_len <= max_len; got min_len={min_len} and max_len={max_len}")
    if not (isinstance(noise_var, (int, float)) and math.isfinite(noise_var) and noise_var >= 0):
        raise InputError(f"noise_var must be a finite number >= 0; got {noise_var!r}")
    number("teacher_scale", teacher_scale, float, 0, low_open=True)
    seed = number("seed", seed, int, 0, MAX_SEED)
    check_stream_size(steps, nodes, max_len, features)
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((steps, nodes, max_len, features)).astype(np.float32)
    lengths = rng.integers(min_len, max_len + 1, size=(steps, nodes)).astype(np.int32)
    X = np.where((np.arange(max_len)[None, None, :] < lengths[..., None])[..., None], X, 0.0).astype(np.float32)
    declaration = model if model is not None else lstm_regression(features=features, prior_scale=teacher_scale)
    ssm = read_model(declaration, X[0, 0], np.ones(max_len, bool))
    key = jax.random.key(seed if teacher_seed is None else teacher_seed)
    theta_star = jax.jit(ssm.sample_prior)(jax.random.fold_in(key, 7919))
    mask = np.arange(max_len)[None, :] < lengths.reshape(-1)[:, None]
    mean_fn = jax.jit(jax.vmap(lambda x, m: ssm.mean(theta_star, x, m)))
    clean = np.asarray(mean_fn(jnp.asarray(X.reshape(-1, max_len, features)), jnp.asarray(mask)))
    d = clean.reshape(steps, nodes) + math.sqrt(noise_var) * rng.standard_normal((steps, nodes))
    return make_stream(X, lengths, d.astype(np.float32)), np.asarray(theta_star)


def _size(name: str, value) -> int:
    """A size of the stream as an int >= 1, else an InputError naming it."""
    try:
        return number(name, value, int, 1)
    except OptionError:
        raise InputError(f"{name} must be a positive whole number; got {value!r}") from None
