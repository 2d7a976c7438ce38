"""Compiled programs kept across runs: JAX's persistent compilation cache, on by default.

A run compiles its chunk program once; the second run of the same configuration reads it from
the cache folder instead (the numbers are the same bits). The folder is
``$BAYESLSTM_CACHE_DIR``, else ``$XDG_CACHE_HOME/bayeslstm`` or ``~/.cache/bayeslstm``, with
one subfolder per JAX and jaxlib version; within it JAX keys each program by its computation,
its compiler options and flags, and the device, so no run reads another's program. An entry
that cannot be read (corrupt, or written by another build) is compiled again, never fatal.

Switch it off with ``BAYESLSTM_NO_CACHE=1`` or the command line's ``--no-cache``; empty it with
``bayeslstm cache --clear`` (or delete the folder). A JAX cache you configured yourself
(``jax_compilation_cache_dir``) is used as it is. The folder is yours alone (mode 0700): JAX
trusts what it reads there.
"""

from __future__ import annotations

import importlib.metadata
import os
import pathlib
import shutil

FOLDER_VARIABLE = "BAYESLSTM_CACHE_DIR"
OFF_VARIABLE = "BAYESLSTM_NO_CACHE"
MIN_COMPILE_SECONDS = 0.1  # programs that compile faster are not worth a file


def cache_root() -> pathlib.Path:
    """The folder that holds every JAX version's cache."""
    if os.environ.get(FOLDER_VARIABLE):
        return pathlib.Path(os.environ[FOLDER_VARIABLE]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache"
    return pathlib.Path(base).expanduser() / "bayeslstm"


def cache_folder() -> pathlib.Path:
    """This JAX build's cache folder."""
    versions = "-".join(f"{name}{importlib.metadata.version(name)}" for name in ("jax", "jaxlib"))
    return cache_root() / versions


def cache_switched_off() -> bool:
    return os.environ.get(OFF_VARIABLE, "").strip().lower() not in ("", "0", "false", "no", "off")


def use_compilation_cache(enabled: bool = True) -> pathlib.Path | None:
    """Point JAX's persistent compilation cache at :func:`cache_folder` (once per process) and
    return the folder in use; None when it is off (``enabled=False`` or ``BAYESLSTM_NO_CACHE``)
    and no cache was configured before."""
    import jax

    configured = jax.config.jax_compilation_cache_dir  # type: ignore[attr-defined]  # a runtime flag
    if configured:
        return pathlib.Path(configured)
    if not enabled or cache_switched_off():
        return None
    folder = cache_folder()
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError:  # a read-only home: run without the cache
        return None
    jax.config.update("jax_compilation_cache_dir", str(folder))
    if jax.config.jax_persistent_cache_min_compile_time_secs == 1.0:  # type: ignore[attr-defined]  # JAX's default
        jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
    return folder


def cache_size(root: pathlib.Path | None = None) -> tuple[int, int]:
    """(files, bytes) under the cache root."""
    root = cache_root() if root is None else root
    files = [p for p in root.rglob("*") if p.is_file()] if root.is_dir() else []
    return len(files), sum(p.stat().st_size for p in files)


def clear_cache(root: pathlib.Path | None = None) -> tuple[int, int]:
    """Delete every cached program; returns the (files, bytes) removed."""
    root = cache_root() if root is None else root
    found = cache_size(root)
    if root.is_dir():
        shutil.rmtree(root)
    return found
