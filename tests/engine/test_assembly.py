"""The one assembly path (bayeslstm.engine.assembly): every entry point gets one set of defaults
(the kernels' own, the default graph, the naive forecast's column), and graph problems and
unknown options are refused before anything runs."""

import json

import networkx as nx
import numpy as np
import pandas as pd
import pytest

import bayeslstm as bl
from bayeslstm.cli.main import main
from bayeslstm.engine.assembly import DEFAULT_GRAPH, assemble
from bayeslstm.errors import GraphError, OptionError
from bayeslstm.kernels.particle_filter import DEFAULT_PARTICLES
from bayeslstm.methods import method_defaults
from bayeslstm.network.graph import make_network
from bayeslstm.network.topology import parse_graph

SMALL = dict(model_options={"hidden": 1})


@pytest.fixture(scope="module")
def stream():
    return bl.teacher_stream(steps=2, nodes=6, features=2, max_len=3, seed=0)[0]


def test_graph_problems_are_refused():
    stream, _ = bl.teacher_stream(steps=3, nodes=4, features=2, max_len=4, seed=0)
    with pytest.raises(GraphError, match="allow_disconnected"):
        bl.run(stream, "dekf", graph=nx.empty_graph(4))
    bl.run(stream, "dekf", graph=nx.empty_graph(4), allow_disconnected=True, model_options=dict(hidden=2))
    with pytest.raises(GraphError, match="5 nodes"):
        bl.run(stream, "dekf", graph=nx.path_graph(5))
    with pytest.raises(GraphError, match="doubly stochastic"):
        bl.run(stream, "dpf", graph="star", rule="uniform")
    with pytest.raises(OptionError, match="distributed method"):
        bl.run(stream, "dpf", fusion="local")
    with pytest.raises(OptionError, match="walk_steps"):
        bl.run(stream, "dpf", walk_steps=0)


def test_python_and_the_command_line_build_pf_with_the_same_defaults(tmp_path):
    """``bl.run(stream, "pf")`` and ``bayeslstm run --method pf`` on the same stream: the kernel's
    options and the particles actually run are the kernel's default, DEFAULT_PARTICLES. An entry
    point with a default of its own (an argparse default for --particles, say) would fail."""
    argv = ["run", "--method", "pf", "--steps", "1", "--nodes", "1", "--features", "1", "--min-len", "1",
            "--max-len", "2", "--model-arg", "hidden=1", "--no-progress", "--out", str(tmp_path)]
    assert main(argv) == 0
    cli = json.loads((tmp_path / "summary.json").read_text())["methods"]["pf"]["options"]
    stream = bl.teacher_stream(steps=1, nodes=1, features=1, min_len=1, max_len=2, seed=0)[0]  # the CLI's stream
    result = bl.run(stream, "pf", **SMALL)
    assert json.loads(json.dumps(result.config["options"])) == cli  # as the CLI writes them
    assert cli["num_particles"] == DEFAULT_PARTICLES
    assert result.final_state.particles.shape[1] == DEFAULT_PARTICLES


def test_a_table_whose_target_is_a_feature_gives_baseline_last_its_column():
    """The naive forecast of a table stream predicts the target's last value in the window: in
    the table's units, exactly the target one row before the label (horizon 1)."""
    y = np.array([5.0, 3.0, 8.0, 1.0, 9.0, 2.0, 7.0, 4.0, 6.0, 0.0]) + 100.0
    frame = pd.DataFrame({"x": np.linspace(0.0, 1.0, 10), "y": y})
    table = bl.table_stream(frame, "y", features=["x", "y"], window=(1, 2), horizon=1)
    (built,) = assemble(table, "baseline-last", **SMALL)
    assert built.options == {"target_feature": 1} and built.config["options"] == {"target_feature": 1}
    result = bl.run(table, "baseline-last", **SMALL)
    observed = table.stream.observed
    np.testing.assert_allclose(result.predictions[observed], y[table.row_index[observed] - 1], rtol=1e-6)
    first = bl.table_stream(frame, "y", features=["y", "x"], window=(1, 2), horizon=1)
    assert assemble(first, "baseline-last", **SMALL)[0].options == {"target_feature": 0}
    assert assemble(first, "baseline-last", target_feature=1, **SMALL)[0].options == {"target_feature": 1}  # asked
    apart = bl.table_stream(frame, "y", features=["x"], window=(1, 2), horizon=1)
    assert assemble(apart, "baseline-last", **SMALL)[0].options == {"target_feature": None}  # the previous label


def test_distributed_methods_default_to_the_small_world_graph(stream):
    (built,) = assemble(stream, "dekf", seed=3, **SMALL)
    expected = make_network(parse_graph(DEFAULT_GRAPH, 6, 3))
    assert sorted(built.network.graph.edges) == sorted(expected.graph.edges)
    assert built.config["graph"] == {"rule": "metropolis", "edges": [list(e) for e in built.network.graph.edges]}
    assert assemble(stream, "ekf", **SMALL)[0].network is None  # no graph where none is needed


def test_options_go_to_the_methods_that_take_them(stream):
    pf, ekf = assemble(stream, "pf,ekf@centralized", strict=False, num_particles=8, **SMALL)
    assert (pf.label, pf.name, pf.fusion) == ("pf", "pf", "local")
    assert (ekf.label, ekf.name, ekf.fusion, ekf.config["family"]) == ("ekf@centralized", "ekf", "centralized", "ekf")
    assert pf.options == {**method_defaults("pf"), "num_particles": 8}  # the kernel's defaults for the rest
    assert ekf.options == method_defaults("ekf", "centralized") and "num_particles" not in ekf.options
    assert pf.ssm is ekf.ssm  # the model is read once
    with pytest.raises(OptionError, match=r"method 'ekf' has no option\(s\) \['num_particles'\]"):
        assemble(stream, "pf,ekf", num_particles=8, **SMALL)  # strict: every method must take every option
    with pytest.raises(OptionError, match=r"no method among \['pf', 'ekf'\] takes \['walk_steps'\]"):
        assemble(stream, "pf,ekf", strict=False, walk_steps=3, **SMALL)


def test_a_table_stream_gets_the_one_table_configuration():
    """Every table stream: the label variance learnt, the last hidden state read out and, when
    the target is a feature, the residual readout on its column; what the user gives wins; a
    synthetic stream keeps the model's own defaults."""
    y = np.sin(np.arange(40.0)) + 10.0
    frame = pd.DataFrame({"x": np.linspace(0.0, 1.0, 40), "y": y})
    with_target = bl.table_stream(frame, "y", features=["x", "y"], window=(1, 3))
    (built,) = assemble(with_target, "ekf", **SMALL)
    assert built.config["model_options"] == {"learn_r": True, "pooling": "last", "readout": "residual",
                                             "target_feature": 1, "hidden": 1}
    assert [s.name for s in built.ssm.sites] == ["r", "theta"] and built.ssm.sites[0].static
    without = bl.table_stream(frame, "y", features=["x"], window=(1, 3))
    assert assemble(without, "ekf", **SMALL)[0].config["model_options"] == {"learn_r": True, "pooling": "last", "hidden": 1}
    mine = assemble(with_target, "ekf", model_options={"hidden": 1, "learn_r": False, "readout": "linear"})[0]
    assert mine.config["model_options"]["learn_r"] is False and mine.config["model_options"]["readout"] == "linear"
    synthetic = bl.teacher_stream(steps=2, nodes=1, features=2, max_len=3)[0]
    assert assemble(synthetic, "ekf", **SMALL)[0].config["model_options"] == {"hidden": 1}
