import os
import tempfile

# The suite is bound by XLA compiling many small programs: compile with less LLVM optimisation
# (the same floating-point semantics). Measured: 6.4 instead of 8.1 minutes on 2 cores.
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0").strip()

import jax  # noqa: E402  (after XLA_FLAGS)
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from bayeslstm.engine.compilation_cache import cache_folder  # noqa: E402

# Many tests run the same configuration more than once; the persistent compilation cache
# (keyed by the compiled program, not by Python object identity) lets them share programs.
# BAYESLSTM_TEST_CACHE names a folder to share across sessions (benchmarks/mutation_probe.py
# runs many short sessions); by default each session starts with an empty one, which the
# pytest-xdist workers share: they inherit the variable from the controller, which imports
# this file first, so a program one worker compiled the other reads.
# The command-line runs the tests start as processes of their own use it too (through
# BAYESLSTM_CACHE_DIR), so they share programs with each other and never write to the user's
# own cache: a suite run on a fresh machine compiles what a run here does.
CACHE = os.environ.setdefault("BAYESLSTM_TEST_CACHE", tempfile.mkdtemp(prefix="bayeslstm-jax-cache-"))
os.environ["BAYESLSTM_CACHE_DIR"] = CACHE
jax.config.update("jax_compilation_cache_dir", str(cache_folder()))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
