"""Live use: learn from data as it arrives, one step at a time, with the batch runner's numbers.

A learner is an :class:`OnlineState` (the network's filter state, the seed key, the number of
steps learnt, and the compiled step program) and three pure functions::

    online = start(method, nodes=K, max_len=M, seed=0)   # or online_learner("dekf", ...)
    mean, var = predict(online, X, lengths)              # (K,) each; the state is unchanged
    online, info = update(online, X, lengths, labels)    # learn step t; info: (K,) arrays

Step ``t`` uses the runner's keys (``fold_in(fold_in(seed, 1), t)``, initial state from
``fold_in(seed, 0)``) and the runner's compiled step (one-step chunks of the same scan, the
sequences cut to the same length bucket given ``max_len``), so a stream fed step by step gives
exactly the predictions of :func:`bayeslstm.run` on it with the same seed and ``max_len``.
The program compiles once per learner; calls with the same shapes never recompile.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..data.streams import Stream, bucket_lengths, validate
from ..errors import InputError
from ..network.method import NetworkMethod
from .assembly import assemble
from .runner import check_finite, chunk_program, initial_state, step_inputs


class Program(NamedTuple):
    """One learner's compiled step and the shapes it takes."""

    run: Callable  # jitted (state, seed key, one-step chunk) -> (state, infos)
    name: str
    nodes: int
    max_len: int
    buckets: tuple[int, ...]
    compilations: list[int]  # [number of times the step was compiled]


class OnlineState(NamedTuple):
    """A learner between steps: filter state, seed key, steps learnt so far, compiled program."""

    state: Any
    key: jax.Array
    step: int
    program: Program

    @property
    def compilations(self) -> int:
        """How many times the step program was compiled (1 while shapes stay the same)."""
        return self.program.compilations[0]


class Prediction(NamedTuple):
    """Each node's predictive mean and variance of its label: (K,) each."""

    mean: np.ndarray
    variance: np.ndarray


def start(method: NetworkMethod, nodes: int, max_len: int, seed: int | jax.Array = 0) -> OnlineState:
    """A learner for ``nodes`` nodes and sequences of at most ``max_len`` steps, before any data.

    ``max_len`` fixes the length buckets: give the batch stream's padded length to reproduce
    its run exactly. ``seed``: an integer (as in :func:`bayeslstm.run`) or a PRNG key.
    """
    if nodes < 1 or max_len < 1:
        raise InputError(f"nodes and max_len must be positive; got {nodes} and {max_len}")
    key = jax.random.key(seed) if isinstance(seed, (int, np.integer)) else seed
    buckets = bucket_lengths(max_len)
    counter = [0]
    program = Program(chunk_program(method, buckets, counter, donate=False), method.name, nodes, max_len, buckets,
                      counter)
    return OnlineState(initial_state(method, key, nodes), key, 0, program)


def online_learner(method: str = "pf", *, nodes: int, features: int, max_len: int, seed: int = 0,
                   **build: Any) -> OnlineState:
    """:func:`start` a method built by name for ``nodes`` nodes, inputs of width ``features`` and
    sequences of at most ``max_len`` steps.

    ``build``: the other arguments of :func:`bayeslstm.run` (``model``, ``fusion``,
    ``model_options``, ``graph``, ``rule``, ``allow_disconnected`` and kernel options such as
    ``num_particles``); ``seed`` also draws a random graph, as in ``run``.
    """
    if min(nodes, features, max_len) < 1:
        raise InputError(f"nodes, features and max_len must be positive; got {nodes}, {features}, {max_len}")
    shapes = Stream(np.zeros((1, nodes, max_len, features), np.float32), np.ones((1, nodes), np.int32),
                    np.zeros((1, nodes), np.float32), np.ones((1, nodes), bool))
    (built,) = assemble(shapes, [method], seed=seed, **build)
    return start(built.method, nodes, max_len, seed)


def _one_step(online: OnlineState, X, lengths, labels, observed) -> tuple:
    """The checked, padded inputs of the learner's next step, as the runner builds them."""
    program = online.program
    X, lengths = np.asarray(X), np.asarray(lengths)
    if X.ndim != 3 or X.shape[0] != program.nodes or not 1 <= X.shape[1] <= program.max_len:
        raise InputError(f"X must have shape (nodes, length, features) with nodes = {program.nodes} and length "
                         f"<= max_len = {program.max_len}; got {X.shape} (for longer sequences start a learner "
                         "with a larger max_len)")
    if lengths.shape == (program.nodes,) and lengths.max() > X.shape[1]:
        raise InputError(f"online step {online.step}: a length ({lengths.max()}) exceeds the sequences' length "
                         f"{X.shape[1]} in X")
    X = np.concatenate([X, np.zeros((X.shape[0], program.max_len - X.shape[1], X.shape[2]), X.dtype)], axis=1)
    try:
        stream = validate(Stream(X[None], lengths[None], np.asarray(labels)[None], np.asarray(observed, bool)[None]))
    except InputError as exc:
        raise InputError(f"online step {online.step} (indices count within this call's arrays): {exc}") from None
    return step_inputs(online.step, 1, *stream, program.buckets, jnp.asarray(0.0).dtype)


def _advance(online: OnlineState, inputs: tuple) -> tuple[Any, dict[str, np.ndarray]]:
    state, infos = online.program.run(online.state, online.key, inputs)
    infos = {name: np.asarray(value) for name, value in infos.items()}
    check_finite(infos, online.step, online.program.name)
    return state, {name: value[0] for name, value in infos.items()}


def predict(online: OnlineState, X, lengths) -> Prediction:
    """Each node's prediction for its sequence ``X`` (K, L, p) with ``lengths`` (K,), before its label.

    Runs the next step with no label observed and keeps nothing, so the numbers are the ones
    :func:`update` reports as ``info["prediction"]`` for the same inputs.
    """
    nodes = online.program.nodes
    _, info = _advance(online, _one_step(online, X, lengths, np.zeros(nodes, np.float32), np.zeros(nodes, bool)))
    return Prediction(info["prediction"], info["predictive_var"])


def update(online: OnlineState, X, lengths, labels, observed=None) -> tuple[OnlineState, dict[str, np.ndarray]]:
    """Learn one step: predict each node's label, then condition on it; returns the new learner and the info.

    ``labels`` (K,); ``observed`` (K,) bool, False where a node has no label this step (it
    still predicts and exchanges, and its label may then be NaN). ``info`` holds the step's
    (K,) arrays, among them ``prediction`` and ``predictive_var`` made before the update.
    """
    labels = np.asarray(labels)
    observed = np.ones(labels.shape, bool) if observed is None else observed
    state, info = _advance(online, _one_step(online, X, lengths, labels, observed))
    return online._replace(state=state, step=online.step + 1), info
