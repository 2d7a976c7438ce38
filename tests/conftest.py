import os

import numpy as np
import pytest

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
