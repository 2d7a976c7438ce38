"""Checkpoints of a run: the complete state, written atomically, checked before it is trusted.

A checkpoint folder holds one payload ``state-<step>.npz`` (the filter state's leaves, the
kept per-step rows and the running error sums) and ``manifest.json`` naming it, with its
sha256, the step reached, the run's identity (method, options, seed, stream hash, dtype,
chunking, record) and the environment (jax version, backend, devices, XLA flags). Each file
is written to a temporary file in the folder, synced and renamed over the old one; the
manifest is replaced only after its payload is complete, so a crash at any moment leaves a
consistent pair. A corrupt checkpoint (checksum, size or format wrong) or one of another
run is refused with a :class:`~bayeslstm.errors.CheckpointError`; a different environment
only warns, since the numbers stay valid but are no longer bit-identical.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import pathlib
import tempfile
import warnings
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import CheckpointError

MANIFEST = "manifest.json"
FORMAT = 1


class Checkpoint(NamedTuple):
    """A run's state after ``step`` steps."""

    step: int
    state: Any  # the filter state pytree when saving; its leaves (a list of arrays) once loaded
    records: dict[str, np.ndarray]  # the kept per-step rows so far
    totals: dict[str, np.ndarray]  # running sums over every step so far
    config: dict  # the run's identity (see run_identity): must match to resume
    environment: dict | None = None  # where it was written (see environment)


def normalised(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples become lists, unknown objects strings)."""
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def fingerprint(*arrays: np.ndarray) -> str:
    """sha256 over the dtypes, shapes and bytes of ``arrays``."""
    digest = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        digest.update(f"{a.dtype.str}{a.shape}".encode())
        digest.update(a.data)
    return digest.hexdigest()


def run_identity(run_config: dict, stream, dtype, chunk_size: int, checkpoint_every: int) -> dict:
    """What a resumed run must share with the checkpointed one to continue it exactly."""
    return normalised({
        "run": run_config,
        "stream_sha256": fingerprint(*stream),
        "stream_shape": list(stream.X.shape),
        "dtype": str(dtype),
        "chunk_size": chunk_size,
        "checkpoint_every": checkpoint_every,
    })


def environment() -> dict:
    """The software and devices that fix the exact numbers of a run."""
    return {
        "jax": jax.__version__,
        "backend": jax.default_backend(),
        "devices": [d.device_kind for d in jax.devices()],
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
    }


def _write_atomic(path: pathlib.Path, data: bytes) -> None:
    """Write ``data`` to a temporary file next to ``path``, sync it, and rename it over ``path``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _host(leaf) -> np.ndarray:
    """A state leaf as a NumPy array (PRNG keys as their key data)."""
    if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
        leaf = jax.random.key_data(leaf)
    return np.asarray(leaf)


def save(folder: str | os.PathLike, checkpoint: Checkpoint) -> pathlib.Path:
    """Write ``checkpoint`` into ``folder`` atomically; returns the payload's path."""
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {f"state_{i}": _host(leaf) for i, leaf in enumerate(jax.tree_util.tree_leaves(checkpoint.state))}
    arrays |= {f"record_{k}": np.asarray(v) for k, v in checkpoint.records.items()}
    arrays |= {f"total_{k}": np.asarray(v) for k, v in checkpoint.totals.items()}
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]  # numpy's stub matches **arrays against allow_pickle: bool
    payload = buffer.getvalue()
    name = f"state-{checkpoint.step:012d}.npz"
    _write_atomic(folder / name, payload)
    manifest = {"format": FORMAT, "step": checkpoint.step, "payload": name, "bytes": len(payload),
                "sha256": hashlib.sha256(payload).hexdigest(), "config": checkpoint.config, "environment": environment()}
    _write_atomic(folder / MANIFEST, json.dumps(manifest, indent=1, default=str).encode())
    for old in [*folder.glob("state-*.npz"), *folder.glob(".*.tmp")]:
        if old.name != name:
            old.unlink(missing_ok=True)
    return folder / name


def _corrupt(folder: pathlib.Path, what: str) -> CheckpointError:
    return CheckpointError(f"the checkpoint in {folder} is corrupt: {what}. It cannot be resumed; delete the "
                           "folder and start the run again (or restore the folder from a copy)")


def _read_manifest(folder: pathlib.Path) -> dict:
    path = folder / MANIFEST
    if not path.exists():
        raise CheckpointError(f"there is no checkpoint in {folder} (no {MANIFEST}); start the run with "
                              f"checkpoint={str(folder)!r} (--checkpoint {folder}) first, or leave out resume")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise _corrupt(folder, f"{MANIFEST} is unreadable ({type(exc).__name__}: {exc})") from exc
    fields = ("step", "payload", "sha256", "bytes", "config")
    missing = [key for key in fields if key not in manifest] if isinstance(manifest, dict) else list(fields)
    if missing:
        raise _corrupt(folder, f"{MANIFEST} lacks {missing}")
    if manifest.get("format") != FORMAT:
        raise CheckpointError(f"the checkpoint in {folder} has format {manifest.get('format')!r}; this version "
                              f"of bayeslstm reads format {FORMAT}: resume it with the version that wrote it")
    return manifest


def load(folder: str | os.PathLike) -> Checkpoint:
    """Read and verify the checkpoint in ``folder`` (checksum, size, format)."""
    folder = pathlib.Path(folder)
    manifest = _read_manifest(folder)
    name = pathlib.PurePath(str(manifest["payload"])).name
    try:
        payload = (folder / name).read_bytes()
    except OSError as exc:
        raise _corrupt(folder, f"its payload {name} is unreadable ({exc})") from exc
    if len(payload) != manifest["bytes"] or hashlib.sha256(payload).hexdigest() != manifest["sha256"]:
        raise _corrupt(folder, f"{name} ({len(payload)} bytes) does not match the sha256 and size "
                               f"({manifest['bytes']} bytes) recorded in {MANIFEST}: it was truncated or changed")
    try:
        with np.load(io.BytesIO(payload), allow_pickle=False) as files:
            arrays = {key: files[key] for key in files.files}
    except Exception as exc:  # a payload that matches its checksum but is no npz: written by something else
        raise _corrupt(folder, f"{name} is not a readable array file ({type(exc).__name__}: {exc})") from exc

    def group(prefix: str) -> dict[str, np.ndarray]:
        return {key[len(prefix):]: value for key, value in arrays.items() if key.startswith(prefix)}

    state = group("state_")
    return Checkpoint(int(manifest["step"]), [state[str(i)] for i in range(len(state))], group("record_"),
                      group("total_"), manifest["config"], manifest.get("environment"))


def refuse_existing(folder: str | os.PathLike) -> None:
    """Refuse to start a new run over a folder that already holds a checkpoint."""
    folder = pathlib.Path(folder)
    if (folder / MANIFEST).exists():
        raise CheckpointError(f"{folder} already holds a checkpoint; pass resume=True (--resume {folder}) to "
                              "continue it, or choose another folder (or delete this one) to start afresh")


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        return {k: v for key, item in value.items() for k, v in _flat(item, f"{prefix}{key}.").items()}
    return {prefix.rstrip("."): value}


def check_identity(saved: Checkpoint, identity: dict, folder: str | os.PathLike) -> None:
    """Refuse a checkpoint of another run; warn when the environment differs."""
    old, new = _flat(saved.config), _flat(normalised(identity))
    diffs = [f"{key} is {old.get(key)!r} in the checkpoint but {new.get(key)!r} now"
             for key in sorted(set(old) | set(new)) if old.get(key) != new.get(key)]
    if diffs:
        raise CheckpointError(f"the checkpoint in {folder} was written by a different run: {'; '.join(diffs[:6])}"
                              f"{' (and more)' if len(diffs) > 6 else ''}. Resume with the same method, options, "
                              "data, seed, dtype, record and checkpoint_every, or give a new checkpoint folder")
    here = environment()
    if saved.environment is not None and saved.environment != here:
        warnings.warn(f"resuming the checkpoint in {folder} in another environment ({saved.environment} when "
                      f"written, {here} now): the run continues correctly but is not bit-identical to an "
                      "uninterrupted run", RuntimeWarning, stacklevel=3)


def _saved_form(leaf) -> tuple[tuple[int, ...], np.dtype]:
    """The shape and dtype ``leaf`` is saved with (PRNG keys as their key data), without reading it."""
    if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
        leaf = jax.eval_shape(jax.random.key_data, leaf)
    return tuple(leaf.shape), np.dtype(leaf.dtype)


def _placed(value: np.ndarray, leaf) -> Any:
    """``value`` (read by this process) as a state leaf like ``leaf``: a local array, or under
    multi-host, where every process has read the same checkpoint, a global array laid out like
    ``leaf`` whose rows each process fills from its own copy."""
    key = jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key)
    if getattr(leaf, "is_fully_addressable", True):
        if key:  # wrap_key_data is annotated jax.Array but takes NumPy key data as it is
            return jax.random.wrap_key_data(value, impl=jax.random.key_impl(leaf))  # type: ignore[arg-type]
        return jnp.asarray(value)
    data = jax.make_array_from_callback(value.shape, leaf.sharding, lambda index: value[index])
    if not key:
        return data
    return jax.jit(partial(jax.random.wrap_key_data, impl=jax.random.key_impl(leaf)), out_shardings=leaf.sharding)(data)


def restore_state(saved: Checkpoint, like: Any, folder: str | os.PathLike) -> Any:
    """The saved filter state in the structure (and layout over devices) of ``like``, a freshly
    initialised state."""
    leaves, treedef = jax.tree_util.tree_flatten(like)
    if len(leaves) != len(saved.state):
        raise CheckpointError(f"the checkpoint in {folder} holds {len(saved.state)} state arrays but the method's "
                              f"state has {len(leaves)}: it was written by another method or version")
    restored = []
    for i, (leaf, value) in enumerate(zip(leaves, saved.state)):
        shape, dtype = _saved_form(leaf)
        if value.shape != shape or value.dtype != dtype:
            raise CheckpointError(f"state array {i} of the checkpoint in {folder} is {value.dtype}{value.shape} but "
                                  f"the method needs {dtype}{shape}: it was written by another run")
        restored.append(_placed(value, leaf))
    return jax.tree_util.tree_unflatten(treedef, restored)
