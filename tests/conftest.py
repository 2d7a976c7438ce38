import tempfile

import jax
import numpy as np
import pytest

# Many tests run the same configuration more than once; the persistent compilation cache
# (keyed by the compiled program, not by Python object identity) lets them share programs.
jax.config.update("jax_compilation_cache_dir", tempfile.mkdtemp(prefix="bayeslstm-jax-cache-"))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
