"""How much memory a run asks for, checked before anything is allocated or compiled.

A size that cannot fit (a stream of ten billion steps, a billion particles) is refused with
an :class:`~bayeslstm.errors.OptionError` that names the sizes asked for and the memory
there is, instead of failing minutes later in an allocation or after a compilation. The
estimates are lower bounds: a run that passes may still need more than they say.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from ..errors import OptionError

STREAM_BYTES_PER_VALUE = 12  # the synthetic stream's draws in float64, then their float32 copy
SIZE_OPTIONS = ("num_particles", "num_members", "num_components", "rank")  # the options a state grows with


def shown(nbytes: float) -> str:
    """``nbytes`` in binary units: ``"46.6 TiB"``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if nbytes < 1024 or unit == "PiB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    return f"{nbytes:.1f} PiB"  # not reached


def host_memory() -> int | None:
    """Memory available to a new allocation on this machine, in bytes (None when unknown)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return None


def device_memory() -> int | None:
    """Memory of the accelerators a state lives on (their sum), the host's on a CPU."""
    if "jax" not in sys.modules:
        return host_memory()
    import jax

    if jax.default_backend() == "cpu":
        return host_memory()
    total = 0
    for device in jax.local_devices():
        stats = device.memory_stats() or {}
        if "bytes_limit" not in stats:
            return host_memory()
        total += stats["bytes_limit"] - stats.get("bytes_in_use", 0)
    return total


def check_stream_size(steps: int, nodes: int, max_len: int, features: int) -> None:
    """Refuse a synthetic stream larger than the memory available."""
    need = STREAM_BYTES_PER_VALUE * steps * nodes * max_len * features
    free = host_memory()
    if free is not None and need > free:
        raise OptionError(f"a synthetic stream of steps={steps}, nodes={nodes}, max_len={max_len}, "
                          f"features={features} needs at least {shown(need)} of memory, and {shown(free)} is "
                          "available: ask for fewer steps, nodes or shorter sequences")


def state_bytes(method: Any, nodes: int) -> int:
    """The bytes of ``method``'s network state on ``nodes`` nodes, found without computing it."""
    import jax
    import numpy as np

    shapes = jax.eval_shape(lambda key: method.init(key, nodes), jax.random.key(0))
    total = 0
    for leaf in jax.tree_util.tree_leaves(shapes):
        size = 8 if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key) else np.dtype(leaf.dtype).itemsize
        total += int(np.prod(leaf.shape, dtype=object)) * size
    return total


def check_state_size(method: Any, nodes: int, label: str, options: dict | None = None) -> None:
    """Refuse a method whose state cannot fit: a step holds the old state and the new one
    (a multi-host run holds its share of the nodes on each host)."""
    import jax

    state = state_bytes(method, nodes)
    need, free = 2 * state // jax.process_count(), device_memory()
    if free is None or need <= free:
        return
    sizes = [f"{name}={value}" for name, value in (options or {}).items() if name in SIZE_OPTIONS]
    asked = f" with {', '.join(sizes)}" if sizes else ""
    raise OptionError(f"{label}{asked} on {nodes} nodes needs at least {shown(need)} of memory (twice its state of "
                      f"{shown(state)}), and {shown(free)} is available: ask for a smaller state"
                      f"{' (' + ', '.join(s.split('=')[0] for s in sizes) + ')' if sizes else ' or fewer nodes'}")


def check_output_size(num_draws: int, predictive_draws: int, nodes: int, weights: int, rows: int) -> None:
    """Refuse draws for the InferenceData that cannot fit in memory (float64 values), before
    the runs rather than after them."""
    need = 8 * nodes * (num_draws * weights + predictive_draws * rows)
    free = host_memory()
    if free is not None and need > free:
        raise OptionError(f"num_draws={num_draws} posterior draws of {weights} weights and predictive_draws="
                          f"{predictive_draws} draws of {rows} steps, on {nodes} nodes, need at least {shown(need)} "
                          f"of memory, and {shown(free)} is available: ask for fewer draws")
