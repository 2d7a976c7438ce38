"""Data streams: per-step, per-node variable-length sequences and labels.

A :class:`Stream` stores T steps for K nodes with sequences right-padded to the stream's
maximum length M: ``X`` (T, K, M, p), ``lengths`` (T, K), ``d`` (T, K) and ``observed``
(T, K), False where a node has no label at that step. :func:`validate` refuses malformed
streams before any computation. Each step's sequences are cut to a length bucket
(:func:`bucket_lengths`) so that variable lengths cost what they use.
"""

from __future__ import annotations

import math
import os
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from ..errors import InputError


class Stream(NamedTuple):
    X: np.ndarray  # (T, K, M, p)
    lengths: np.ndarray  # (T, K) in 1..M
    d: np.ndarray  # (T, K)
    observed: np.ndarray  # (T, K) bool

    @property
    def steps(self) -> int:
        return self.X.shape[0]

    @property
    def nodes(self) -> int:
        return self.X.shape[1]

    @property
    def max_len(self) -> int:
        return self.X.shape[2]

    @property
    def features(self) -> int:
        return self.X.shape[3]


def make_stream(X, lengths, d, observed=None) -> Stream:
    """Build and validate a stream from array-likes (see :class:`Stream` for shapes)."""
    X = np.asarray(X)
    lengths = np.asarray(lengths)
    d = np.asarray(d)
    observed = np.ones(d.shape, bool) if observed is None else np.asarray(observed, bool)
    return validate(Stream(X, lengths, d, observed))


def validate(stream: Stream) -> Stream:
    """Check shapes, lengths and finiteness; raise InputError naming the first problem."""
    _check_kind(stream)
    X, lengths, d, observed = stream
    if X.ndim != 4:
        raise InputError(f"X must have shape (steps, nodes, max_len, features); got {X.shape}")
    T, K, M, p = X.shape
    if T == 0 or K == 0 or M == 0 or p == 0:
        raise InputError(f"the stream is empty: X has shape {X.shape}")
    for name, arr in (("lengths", lengths), ("d", d), ("observed", observed)):
        if arr.shape != (T, K):
            raise InputError(f"{name} must have shape (steps, nodes) = {(T, K)}; got {arr.shape}")
    if not np.issubdtype(lengths.dtype, np.integer):
        raise InputError(f"lengths must be integers; got dtype {lengths.dtype}")
    if lengths.min() < 1:
        t, k = np.argwhere(lengths < 1)[0]
        raise InputError(f"empty sequence at step {t}, node {k} (length {lengths[t, k]}); every sequence needs >= 1 step")
    if lengths.max() > M:
        raise InputError(f"a length ({lengths.max()}) exceeds the padded length {M}")
    valid_rows = np.arange(M)[None, None, :] < lengths[..., None]
    bad = ~np.isfinite(X) & valid_rows[..., None]
    if bad.any():
        t, k, j, f = np.argwhere(bad)[0]
        raise InputError(f"non-finite input X[{t}, {k}, {j}, {f}] = {X[t, k, j, f]} (step {t}, node {k}); clean or drop it")
    bad_d = ~np.isfinite(d) & observed
    if bad_d.any():
        t, k = np.argwhere(bad_d)[0]
        raise InputError(f"non-finite label d[{t}, {k}] = {d[t, k]} (step {t}, node {k}); "
                         "mark it unobserved (observed=False) or drop it")
    limit = _magnitude_limit()
    for name, values, where in (("input X", X, valid_rows[..., None]), ("label d", d, observed)):
        big = (np.abs(values) > np.float64(limit)) & where  # float32 data under x64: no cast of 1e150 to inf
        if big.any():
            idx = tuple(np.argwhere(big)[0])
            raise InputError(
                f"{name}{list(idx)} = {values[idx]:.3g} (step {idx[0]}, node {idx[1]}) is too large for "
                f"{jnp.asarray(0.0).dtype} arithmetic (limit {limit:.0e}): its square overflows; standardise the data "
                "(bayeslstm.data.tables.table_stream does it online) or compute in float64 (--x64)"
            )
    # padded rows may hold anything finite-or-not in user data: zero them so they stay inert
    X = np.where(valid_rows[..., None], X, 0.0).astype(X.dtype if np.issubdtype(X.dtype, np.floating) else np.float32)
    d = np.where(observed, d, 0.0)
    return Stream(X, lengths.astype(np.int32), d, observed)


def _check_kind(stream) -> None:
    """A stream is a :class:`Stream` (four arrays): say what to pass instead of anything else."""
    if isinstance(stream, (str, os.PathLike)):
        raise InputError(f"stream must be a Stream, not the path {os.fspath(stream)!r}: read a table file with "
                         "bl.table_stream(path, target=COLUMN), a built-in dataset with bl.load_dataset(name)")
    if type(stream).__name__ == "DataFrame" or hasattr(stream, "to_dataframe"):
        raise InputError(f"stream must be a Stream, not a {type(stream).__name__}: cut a table into one with "
                         "bl.table_stream(table, target=COLUMN)")
    if not isinstance(stream, tuple) or len(stream) != 4:
        raise InputError(f"stream must be a Stream (bl.make_stream(X, lengths, d), bl.teacher_stream(...)) or a "
                         f"TableStream (bl.table_stream, bl.load_dataset); got {type(stream).__name__}")


def _magnitude_limit() -> float:
    """Largest input or label magnitude whose square (and sums of squares) stays finite."""
    return 1e15 if jnp.asarray(0.0).dtype == jnp.float32 else 1e150


def bucket_lengths(max_len: int) -> tuple[int, ...]:
    """Powers of two below ``max_len``, then ``max_len``: ceil(log2 M) + 1 buckets at most."""
    buckets = [2**i for i in range(math.ceil(math.log2(max_len))) if 2**i < max_len] if max_len > 1 else []
    return tuple(buckets) + (max_len,)


def used_buckets(lengths: np.ndarray, max_len: int) -> tuple[int, ...]:
    """The buckets of :func:`bucket_lengths` that some step of ``lengths`` (T, K) needs.

    Every bucket is a compiled copy of the step, so a stream whose sequences all have one
    length compiles one branch instead of ceil(log2 M) + 1 (8.4 s -> 3.3 s for a
    1000-particle filter at m = 20 on the CPU)."""
    buckets = bucket_lengths(max_len)
    if lengths.size == 0:
        return buckets
    return tuple(buckets[i] for i in np.unique(step_buckets(lengths, buckets)))


def step_buckets(lengths: np.ndarray, buckets: tuple[int, ...]) -> np.ndarray:
    """Index of the smallest bucket holding every node's sequence at each step: (T,)."""
    return np.searchsorted(np.asarray(buckets), lengths.max(axis=1), side="left").astype(np.int32)
