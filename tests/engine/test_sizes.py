"""Sizes checked against memory before anything is allocated: the estimates and the refusals."""

import jax
import numpy as np
import pytest

import bayeslstm as bl
from bayeslstm.engine import sizes
from bayeslstm.engine.assembly import assemble
from bayeslstm.engine.runner import initial_state
from bayeslstm.errors import OptionError


@pytest.mark.parametrize("method, options", [("pf", dict(num_particles=7)), ("ekf", {}), ("dekf", dict(graph="ring")),
                                             ("enkf", dict(num_members=5))])
def test_the_state_estimate_is_the_bytes_of_the_state_made(method, options):
    """eval_shape gives the bytes of the state init makes, PRNG keys counted as their key
    data (an estimate of one key per node instead of the arrays would miss this)."""
    stream, _ = bl.teacher_stream(steps=2, nodes=3, features=2, max_len=3)
    (built,) = assemble(stream, [method], model_options={"hidden": 2}, **options)
    state = initial_state(built.method, jax.random.key(0), 3)

    def nbytes(leaf):
        return jax.random.key_data(leaf).nbytes if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key) else leaf.nbytes

    assert sizes.state_bytes(built.method, 3) == sum(nbytes(leaf) for leaf in jax.tree_util.tree_leaves(state))


def test_what_does_not_fit_is_refused_naming_the_sizes(monkeypatch):
    """With 1 GiB available, a stream of 2 GiB and a state of 2 GiB are refused, with the
    sizes asked for in the message; what fits passes."""
    monkeypatch.setattr(sizes, "host_memory", lambda: 2**30)
    monkeypatch.setattr(sizes, "device_memory", lambda: 2**30)
    sizes.check_stream_size(1000, 10, 16, 4)  # 7.3 MiB
    with pytest.raises(OptionError, match=r"steps=1000000, nodes=10, max_len=16, features=4 needs at least 7\.2 GiB"):
        sizes.check_stream_size(10**6, 10, 16, 4)
    stream, _ = bl.teacher_stream(steps=2, nodes=2, features=2, max_len=3)
    (small,) = assemble(stream, ["pf"], model_options={"hidden": 2}, num_particles=10)
    sizes.check_state_size(small.method, 2, "pf", small.options)
    (big,) = assemble(stream, ["pf"], model_options={"hidden": 2}, num_particles=10**7)
    with pytest.raises(OptionError, match="pf with num_particles=10000000 on 2 nodes needs at least"):
        sizes.check_state_size(big.method, 2, "pf", big.options)


def test_memory_and_units_read_plainly():
    assert sizes.shown(512) == "512 B" and sizes.shown(1536) == "1.5 KiB" and sizes.shown(46.6 * 2**40) == "46.6 TiB"
    free = sizes.host_memory()
    assert free is None or free > 0
    assert np.isfinite(sizes.device_memory() or 0)
