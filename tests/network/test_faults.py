"""Link failures and node dropout (bayeslstm.network.faults): exact special cases, frozen and
rejoining nodes, options checked first, and robustness on the default synthetic network.
(The recomputed weights over live links: tests/network/test_mixing.py.)"""

import jax
import networkx as nx
import numpy as np
import pytest

import bayeslstm as bl
from bayeslstm.errors import OptionError
from bayeslstm.models import lstm_regression
from bayeslstm.network.faults import Faults, Partition, check_faults, cut_edges, live_groups, require_graph
from bayeslstm.network.graph import make_network

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
    from bayeslstm.engine.assembly import build_method, prepare_model, prepare_network

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
    with pytest.raises(OptionError, match=r"link_failure needs a graph \(graph=..., --graph\), which only the distributed methods have: "):
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
@pytest.mark.parametrize("method, options", [("dgspf", {}), ("denkf", dict(num_members=32)), ("dlofi", dict(rank=5))])
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


# --- exact methods under faults: one live group, one state -------------------------------------

EXACT = [("dpf-consensus", dict(num_particles=32)), ("denkf-consensus", dict(num_members=16)), ("dgspf", {})]


def _disagreements(result, network, link_schedule=None, node_schedule=None) -> int:
    """Steps at which two members of one live group (networkx, from the schedules) report
    different digests of the state they must share."""
    digests = result.diagnostics["digest"].values
    steps = digests.shape[0]
    count = 0
    for t in range(steps):
        up = None if link_schedule is None else link_schedule[min(t, len(link_schedule) - 1)]
        present = None if node_schedule is None else node_schedule[min(t, len(node_schedule) - 1)]
        groups = live_groups(network, up, present)
        count += any(len({digests[t, k] for k in group}) > 1 for group in groups)
    return count


@pytest.mark.parametrize("method, options", EXACT)
def test_a_ring_with_node_zero_away_keeps_nodes_one_to_five_identical_at_every_step(method, options):
    """Without node 0 a 6-ring is a path of diameter 4, wider than the ring's 3: flooding for the
    ring's diameter left node 5 with a leader of its own for all 20 steps."""
    stream, _ = bl.teacher_stream(steps=30, nodes=6, features=2, max_len=5, seed=2)
    away = np.ones((30, 6), bool)
    away[5:25, 0] = False
    res = bl.run(stream, method, graph="ring", node_schedule=away, **SMALL, **options)
    digests = res.diagnostics["digest"].values
    assert all(len(set(digests[t, 1:])) == 1 for t in range(30))
    assert (res.diagnostics["leader"].values[5:25, 1:] == 1).all()
    assert len(set(digests[-1])) == 1  # node 0 is back in the group and holds its state


@pytest.mark.parametrize("method, options", EXACT)
def test_random_link_and_node_schedules_on_a_ring_leave_no_live_group_in_disagreement(method, options):
    rng = np.random.default_rng(5)
    network = make_network(nx.cycle_graph(6))
    links = rng.random((40, network.graph.number_of_edges())) >= 0.15
    nodes = rng.random((40, 6)) >= 0.1
    stream, _ = bl.teacher_stream(steps=40, nodes=6, features=2, max_len=5, seed=4)
    res = bl.run(stream, method, graph="ring", link_schedule=links, node_schedule=nodes, **SMALL, **options)
    assert _disagreements(res, network, links, nodes) == 0


@pytest.mark.parametrize("consensus", [dict(), dict(consensus="average", consensus_iters=400)])
def test_with_half_the_nodes_away_the_weights_are_the_centralized_pfs_on_the_present_labels(consensus):
    """Three of six nodes away on a ring: the other three are one live group (a path), which
    counts each of its three labels once, by exact sums or by averaging times the group's size;
    multiplying the average by K (as before) doubled every log-likelihood."""
    from reference import linear_gaussian_stream

    with jax.enable_x64(True):
        stream = linear_gaussian_stream(4, nodes=6, seed=7)
        away = np.ones((4, 6), bool)
        away[:, 3:] = False
        lg = dict(model="linear-gaussian", model_options=dict(q=1e-3, r=0.1, prior_scale=1.0), seed=4,
                  ess_threshold=1e-9, num_particles=64)
        dpf = bl.run(stream, "dpf-consensus", graph="ring", node_schedule=away, **consensus, **lg)
        masked = bl.make_stream(stream.X, stream.lengths, stream.d, away)
        central = bl.run(masked, "pf", fusion="centralized", **lg)
        weights = np.asarray(dpf.final_state.inner.log_weights)
        for k in range(3):
            np.testing.assert_allclose(weights[k], np.asarray(central.final_state.log_weights), rtol=0, atol=1e-9)


def test_an_isolated_node_does_not_take_the_others_over_when_its_links_return():
    """Node 0 (the smallest id) is present but cut off for steps 5-14: it learns from its own
    labels alone, the other five from theirs. When its links return, the group that absorbed
    more labels leads: node 0 takes their state, not they its."""
    stream, _ = bl.teacher_stream(steps=20, nodes=6, features=2, max_len=5, seed=3)
    network = make_network(nx.cycle_graph(6))
    links = np.ones((20, network.graph.number_of_edges()), bool)
    edges = list(network.graph.edges)
    for edge in ((0, 1), (0, 5)):
        links[5:15, edges.index(edge)] = False
    res = bl.run(stream, "dpf-consensus", graph="ring", link_schedule=links, num_particles=32, **SMALL)
    leader, digests = res.diagnostics["leader"].values, res.diagnostics["digest"].values
    assert (leader[5:15, 0] == 0).all() and (leader[5:15, 1:] == 1).all()
    assert (leader[15] == 1).all()  # back together: the larger group's state leads
    assert all((digests[t] == digests[t, 0]).all() for t in range(15, 20))
    assert (leader[16:] == 0).all()  # then every node holds the same count: ties go to the smallest id
    seen = np.asarray(res.final_state.inner.labels_seen)
    assert (seen == 6 * 20 - 10).all()  # node 0's ten lone labels were dropped with its state


def test_a_partition_splits_the_ring_into_two_agreeing_halves_and_heals_in_one_step():
    stream, _ = bl.teacher_stream(steps=24, nodes=6, features=2, max_len=5, seed=6)
    res = bl.run(stream, "dgspf", graph="ring", partition=(6, 16, [0, 1, 2]), **SMALL)
    leader, digests = res.diagnostics["leader"].values, res.diagnostics["digest"].values
    assert (leader[6:16] == [0, 0, 0, 3, 3, 3]).all()
    assert all(len(set(digests[t, :3])) == 1 and len(set(digests[t, 3:])) == 1 for t in range(6, 16))
    assert all(len(set(digests[t])) == 1 for t in range(16, 24))  # healed: agreement from the first step on
    assert (res.diagnostics["live_links"].values[6:16] < 2).any()


def test_dgspf_components_start_as_the_same_hypotheses_at_every_node():
    stream, _ = bl.teacher_stream(steps=2, nodes=5, features=2, max_len=4, seed=1)
    from bayeslstm.engine.assembly import assemble

    method = assemble(stream, "dgspf", graph="ring", model_options={"hidden": 2})[0].method
    state = method.init(jax.random.key(0), 5)
    means = np.asarray(state.means)
    assert means.shape[1] > 1 and not np.allclose(means[0, 0], means[0, 1])  # different components
    np.testing.assert_array_equal(means, np.broadcast_to(means[0], means.shape))  # component c alike everywhere


def test_an_isolated_markov_chain_dpf_node_weights_its_own_label_once():
    """With every link down a walk never leaves its node: its weight is the node's own
    log-likelihood, as the local PF's; scaled by K (as before) the weights collapse (ESS/N measured
    0.04 against 0.47). N = 2000 particles keep the Monte Carlo error of ESS/N near 0.01."""
    stream, _ = bl.teacher_stream(steps=1, nodes=6, features=2, max_len=4, seed=8)
    edges = make_network(nx.cycle_graph(6)).graph.number_of_edges()
    options = dict(num_particles=2000, **SMALL)
    alone = bl.run(stream, "dpf", graph="ring", link_schedule=np.zeros((1, edges), bool), walk_steps=3, **options)
    local = bl.run(stream, "pf", fusion="local", **options)
    ratio = alone.diagnostics["ess"].values[0].mean() / local.diagnostics["ess"].values[0].mean()
    assert abs(ratio - 1) < 0.1, ratio


@pytest.mark.parametrize("options, message", [
    (dict(partition=(5, 10, [0, 9])), "nodes of the graph"),
    (dict(partition=(10, 5, [0])), "end after it starts"),
    (dict(partition=(0, 5, list(range(4)))), "not none or all"),
    (dict(partition="0:5:1"), "partition"),
    (dict(node_dropout=1.0), "node_dropout"),
    (dict(link_failure=-0.1), "link_failure"),
    (dict(link_schedule=np.ones((3, 2), bool)), "link_schedule"),
])
def test_bad_fault_options_are_refused_naming_the_option(ring_stream, options, message):
    with pytest.raises(OptionError, match=message):
        bl.run(ring_stream, "dpf-consensus", graph="ring", num_particles=8, **options, **SMALL)


def test_every_fault_that_needs_a_graph_says_so_in_the_same_words():
    ring = make_network(nx.cycle_graph(4))
    assert require_graph("partition", ring) is ring
    for faults, name in ((Faults(link_failure=0.2), "link_failure"), (Faults(partition=(0, 2, [0])), "partition"),
                         (Faults(link_schedule=np.ones((2, 4), bool)), "link_schedule")):
        with pytest.raises(OptionError, match=rf"^{name} needs a graph \(graph=..., --graph\), which only the distributed methods have"):
            check_faults(faults, None)


def test_a_partition_cuts_exactly_the_edges_across_it():
    ring = make_network(nx.cycle_graph(6))
    cut = cut_edges(ring, Partition(0, 5, (0, 1, 2)))
    assert sorted(tuple(sorted(edge)) for edge, c in zip(ring.graph.edges, cut) if c) == [(0, 5), (2, 3)]
