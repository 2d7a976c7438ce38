"""Link failures and node dropout (bayeslstm.network.faults): exact special cases, frozen and
rejoining nodes, options checked first, and robustness on the default synthetic network.
(The recomputed weights over live links: tests/network/test_mixing.py.)"""

import jax
import networkx as nx
import numpy as np
import pytest

import bayeslstm as bl
from bayeslstm.errors import OptionError
from bayeslstm.network.graph import make_network
from bayeslstm.models import lstm_regression

SMALL = dict(model_options=dict(hidden=2), seed=0)


@pytest.fixture(scope="module")
def ring_stream():
    return bl.teacher_stream(steps=25, nodes=4, features=2, max_len=4, seed=3)[0]


def test_dekf_with_every_link_down_is_the_local_ekf(ring_stream):
    jax.config.update("jax_enable_x64", True)
    try:
        edges = make_network(nx.cycle_graph(4)).graph.number_of_edges()
        down = bl.run(ring_stream, "dekf", graph="ring", link_schedule=np.zeros((1, edges), bool), **SMALL)
        alone = bl.run(ring_stream, "ekf", **SMALL)
        np.testing.assert_allclose(down.predictions, alone.predictions, rtol=0, atol=1e-10)
        assert np.all(down.diagnostics["live_links"].values == 0)
    finally:
        jax.config.update("jax_enable_x64", False)


def test_an_absent_node_freezes_and_rejoins(ring_stream):
    schedule = np.ones((25, 4), bool)
    schedule[:, 0] = False
    away = bl.run(ring_stream, "dekf", graph="ring", node_schedule=schedule, **SMALL)
    state = away.final_state.inner
    assert not np.any(away.diagnostics["present"].values[:, 0])
    assert np.all(np.isnan(away.tae.sel(node=0).values))  # never scored
    assert np.isfinite(away.final_tae)
    # node 0 never moved from its initial mean: compare with a fresh init
    from bayeslstm.methods import build_method
    from bayeslstm.engine.assembly import prepare_model, prepare_network

    method = build_method("dekf", prepare_model(ring_stream, None, {"hidden": 2}), None, prepare_network("ring", 4))
    init = method.init(jax.random.fold_in(jax.random.key(0), 0), 4)
    np.testing.assert_array_equal(np.asarray(state.mean[0]), np.asarray(init.mean[0]))
    # frozen, not merely cut off: a node that kept stepping alone keeps its mean (it has no
    # label and no neighbour) but its covariance grows by q at every step
    np.testing.assert_array_equal(np.asarray(state.cov[0]), np.asarray(init.cov[0]))
    # rejoining: away for the first 10 steps only, then it learns and is scored
    schedule[10:, 0] = True
    back = bl.run(ring_stream, "dekf", graph="ring", node_schedule=schedule, **SMALL)
    assert np.isfinite(back.tae.sel(node=0).values[-1])
    assert not np.array_equal(np.asarray(back.final_state.inner.mean[0]), np.asarray(init.mean[0]))


def test_fault_options_are_checked_before_running(ring_stream):
    with pytest.raises(OptionError, match="link_failure"):
        bl.run(ring_stream, "dekf", graph="ring", link_failure=1.5, **SMALL)
    with pytest.raises(OptionError, match="need a graph"):
        bl.run(ring_stream, "ekf", link_failure=0.2, **SMALL)
    with pytest.raises(OptionError, match="node_schedule"):
        bl.run(ring_stream, "dekf", graph="ring", node_schedule=np.ones((3, 5), bool), **SMALL)


@pytest.mark.slow
def test_dekf_survives_link_failures_and_node_dropout():
    """Robustness on the default synthetic network (the paper-claims setting: 10 nodes,
    small-world): with 20% of links failing AND 10% of nodes away at random each step (both at
    once, harsher than either alone), the DEKF ends within 25% of its fault-free TAE, no NaN.
    The DPF's check shares its fault-free run with tests/properties/test_paper_claims.py and lives there."""
    teacher = lstm_regression(features=2, hidden=2, prior_scale=2.0)
    stream, _ = bl.teacher_stream(steps=300, nodes=10, features=2, min_len=2, max_len=8, noise_var=0.01, seed=0,
                                  model=teacher)
    student = dict(model_options=dict(hidden=2, prior_scale=1.0), seed=0)
    clean = bl.run(stream, "dekf", **student).final_tae
    faulty = bl.run(stream, "dekf", link_failure=0.2, node_dropout=0.1, **student)
    assert np.all(np.isfinite(faulty.predictions))
    assert faulty.final_tae < 1.25 * clean, (faulty.final_tae, clean)


@pytest.mark.slow
@pytest.mark.parametrize("method, options", [("dgspf", {}), ("denkf", dict(num_members=32)), ("dlofi", dict(rank=5)),
                                             ("dgspf", dict(covariance="low-rank", rank=3))])
def test_the_new_distributed_filters_survive_link_failures_and_node_dropout(method, options):
    """The same setting and bound as the DEKF's check above, for the distributed Gaussian-sum
    and ensemble filters: with 20% of links down and 10% of nodes away at every step, within
    25% of the fault-free TAE, no NaN, and an absent node's state frozen while it is away."""
    teacher = lstm_regression(features=2, hidden=2, prior_scale=2.0)
    stream, _ = bl.teacher_stream(steps=300, nodes=10, features=2, min_len=2, max_len=8, noise_var=0.01, seed=0,
                                  model=teacher)
    student = dict(model_options=dict(hidden=2, prior_scale=1.0), seed=0, **options)
    clean = bl.run(stream, method, **student).final_tae
    faulty = bl.run(stream, method, link_failure=0.2, node_dropout=0.1, **student)
    assert np.all(np.isfinite(faulty.predictions))
    assert faulty.final_tae < 1.25 * clean, (faulty.final_tae, clean)
    present = faulty.diagnostics["present"].values
    assert not present.all()
