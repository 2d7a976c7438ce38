"""The command line, run as a user would (in-process for speed, plus one real subprocess)."""

import json
import pathlib
import subprocess
import sys

import pytest

from bayeslstm.cli import main

ROOT = pathlib.Path(__file__).resolve().parents[1]
TINY = ["--steps", "30", "--nodes", "3", "--features", "2", "--max-len", "6", "--model-arg", "hidden=2",
        "--particles", "32", "--no-progress"]


def test_compare_writes_summary(tmp_path):
    assert main(["compare", *TINY, "--methods", "dpf,pf@centralized,dekf,adam", "--walk-steps", "2",
                 "--graph", "ring", "--out", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert set(summary["methods"]) == {"dpf", "pf@centralized", "dekf", "adam"}
    assert summary["methods"]["adam"]["messages_per_step"] == 0 and summary["methods"]["dekf"]["messages_per_step"] == 4
    for entry in summary["methods"].values():
        assert len(entry["tae"]) == 30 and entry["final_tae"] == pytest.approx(entry["tae"][-1])
        assert entry["seconds"] > 0
    assert summary["config"]["steps"] == 30


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
    ],
)
def test_bad_arguments_exit_2_with_message(tmp_path, capsys, args, message):
    assert main([*args, "--out", str(tmp_path), "--no-progress"]) == 2
    assert message in capsys.readouterr().err


def test_console_script_runs():
    out = subprocess.run([sys.executable, "-m", "bayeslstm.cli", "run", "--help"], capture_output=True, text=True, check=True)
    assert "--method" in out.stdout
