"""The consensus EnKF (bayeslstm.network.consensus_enkf): with many consensus rounds every node
applies the centralized EnKF's transform; the members stay bit-identical across nodes."""

import jax
import numpy as np
import pytest

import bayeslstm as bl

SMALL = dict(model_options=dict(hidden=2))


@pytest.mark.parametrize("update", ["sqrt", "stochastic"])
def test_exact_sums_and_many_rounds_of_averaging_give_the_centralized_enkf(update):
    with jax.enable_x64(True):
        stream, _ = bl.teacher_stream(steps=1, nodes=6, features=2, max_len=6, seed=1)
        central = bl.run(stream, "enkf", fusion="centralized", num_members=16, update=update, **SMALL)
        for options in (dict(), dict(consensus="average", consensus_iters=400)):
            network = bl.run(stream, "denkf-consensus", graph="ring", num_members=16, update=update, **options, **SMALL)
            members = np.asarray(network.final_state.members)
            for k in range(6):
                np.testing.assert_allclose(members[k], np.asarray(central.final_state.members), rtol=0, atol=1e-10)
            np.testing.assert_allclose(network.predictions, central.predictions, rtol=1e-12)
        few = bl.run(stream, "denkf-consensus", graph="ring", num_members=16, consensus="average", consensus_iters=2,
                     update=update, **SMALL)
        assert np.abs(np.asarray(few.final_state.members)[0] - np.asarray(central.final_state.members)).max() > 1e-6


def test_members_stay_identical_at_every_node():
    stream, _ = bl.teacher_stream(steps=80, nodes=5, features=2, max_len=5, seed=3)
    res = bl.run(stream, "denkf-consensus", graph="ring", num_members=16, update="stochastic", **SMALL)
    members = np.asarray(res.final_state.members)
    assert all((members[k] == members[0]).all() for k in range(5))
    assert res.final_tae < float(np.var(stream.d))  # it learns something
