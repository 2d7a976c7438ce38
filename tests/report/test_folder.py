"""A comparison written to a folder (bayeslstm.report.folder): ``bayeslstm compare`` writes
summary.json, one netCDF per method, the figures and report.md, and ``bayeslstm report``
rebuilds the last two from the first two alone."""

import json

import numpy as np
import pytest

from bayeslstm.cli.main import main
from bayeslstm.errors import InputError
from bayeslstm.report.folder import rebuild_report, write_report
from bayeslstm.report.names import netcdf_name
from bayeslstm.report.reading import run_config, tae_from_inference_data
from bayeslstm.report.summary import RunSummary
from tiny_runs import CLI_TINY, RUNS

az = pytest.importorskip("arviz")


def test_compare_writes_a_report_that_report_rebuilds(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["compare", *CLI_TINY, "--methods", ",".join(RUNS), "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary["methods"]) == list(RUNS) and summary["config"]["steps"] == 30
    for label, entry in summary["methods"].items():
        assert {"final_tae", "tae", "seconds", "messages_per_step", "floats_per_step"} <= set(entry)
        assert entry["netcdf"] == f"{netcdf_name(label)}.nc"
        idata = az.from_netcdf(str(out / entry["netcdf"]))
        np.testing.assert_allclose(tae_from_inference_data(idata).mean("node"), entry["tae"], rtol=1e-5)
        assert run_config(idata)["label"] == label
        assert RunSummary.from_json(entry, label).to_json() == entry  # one schema, read and written
    assert (out / "pf_centralized.nc").is_file()
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == ["ess.png", "network.png", "tae.png", "weights.png"]
    assert all((out / p).stat().st_size > 5000 for p in pngs)
    report = (out / "report.md").read_text()
    for png in pngs:
        assert f"]({png})" in report
    assert "| 1 |" in report and "pf@centralized" in report
    first = {p: (out / p).stat().st_size for p in pngs}

    for p in pngs + ["report.md"]:
        (out / p).unlink()
    capsys.readouterr()
    assert main(["report", str(out)]) == 0
    assert "report.md" in capsys.readouterr().out
    assert (out / "report.md").read_text() == report
    for p in pngs:
        assert (out / p).stat().st_size > 5000
        assert abs((out / p).stat().st_size - first[p]) < 0.2 * first[p]


def test_report_needs_a_compare_folder(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "summary.json" in capsys.readouterr().err
    (tmp_path / "summary.json").write_text(json.dumps({"config": {}, "methods": {"pf": {"final_tae": 1.0}}}))
    assert main(["report", str(tmp_path)]) == 2
    assert "pf.nc is missing" in capsys.readouterr().err
    assert main(["compare", "--draws", "0", "--out", str(tmp_path)]) == 2
    assert "--draws" in capsys.readouterr().err


def test_a_report_leaves_matplotlib_s_backend_and_pyplot_alone(tmp_path, runs):
    import matplotlib
    import matplotlib.pyplot as plt

    before = matplotlib.get_backend()
    matplotlib.use("template")  # a backend that a report must not replace (a notebook's, say)
    try:
        open_figures = plt.get_fignums()
        files = write_report(tmp_path, runs, config={"noise_var": 0.01})
        assert matplotlib.get_backend() == "template"
        assert plt.get_fignums() == open_figures
        assert sorted(files.figures) == ["ess", "network", "tae", "weights"]
        assert all(path.stat().st_size > 5000 for path in files.figures.values())
    finally:
        matplotlib.use(before)


def test_a_model_without_w_out_gets_a_line_and_var_name_draws_its_site(tmp_path, capsys):
    """The weights figure draws ``w_out`` by default; a model without one gets no figure and a
    line in report.md naming its sites; ``var_name=`` draws the one named."""
    import pathlib

    toy = pathlib.Path(__file__).resolve().parents[1] / "tiny_runs.py"
    out = tmp_path / "out"
    args = ["run", "--method", "pf", "--model", f"{toy}:annotated", "--steps", "8", "--nodes", "3", "--features", "2",
            "--max-len", "6", "--particles", "16", "--no-progress", "--out", str(out)]
    assert main(args) == 0
    report = (out / "report.md").read_text()
    assert "No weights figure: the model has no site `w_out`" in report and "`Wh`, `b`, `c`" in report
    assert not (out / "weights.png").exists()
    files = rebuild_report(out, var_name="Wh")
    assert files.figures["weights"].stat().st_size > 5000
    report = files.report.read_text()
    assert "](weights.png)" in report and "Posterior of `Wh` at the last step" in report and "No weights" not in report
    with pytest.raises(InputError, match=r"var_name='w_out': no run has a weight site of that name; their sites are"):
        rebuild_report(out, var_name="w_out")


def test_a_model_average_gets_a_figure_of_its_members_weights(tmp_path, runs):
    """The report of runs with their model average draws each member's weight per step
    (network mean, stacked): the figure is written and linked, and what it draws -- from the
    run, or from summary.json's entry as `bayeslstm report` reads it -- is the average's
    diagnostics."""
    import bayeslstm as bl
    from bayeslstm.report.plots import plot_average_weights

    members = {label: runs[label] for label in ("pf", "ekf")}
    average = bl.model_average(members, forgetting=0.9)
    expected = average.diagnostics["weight"].mean("node").transpose("member", "time")
    files = write_report(tmp_path, {**members, "average": average})
    assert files.figures["average"] == tmp_path / "average.png" and files.figures["average"].stat().st_size > 5000
    assert "](average.png)" in (tmp_path / "report.md").read_text()
    entry = json.loads(json.dumps(RunSummary.from_result(average).to_json()))  # as summary.json keeps it
    assert list(entry["member_weights"]) == ["pf", "ekf"]
    assert entry["options"] == {"forgetting": 0.9, "pool": "network", "score": "mean", "calibrate": False}
    learnt = bl.model_average(members)  # the default: the forgetting learnt, drawn beside the members
    memory = learnt.diagnostics["forgetting_weight"].mean("node").values
    learnt_entry = json.loads(json.dumps(RunSummary.from_result(learnt).to_json()))
    assert list(learnt_entry["memory_weights"]) == ["1", "0.995", "0.99", "0.98", "0.95"]
    for run in (learnt, RunSummary.from_json(learnt_entry, "average")):
        members_axes, memory_axes = plot_average_weights(run, detached=True).axes
        assert members_axes.get_title() == "average: weight of each member"
        assert memory_axes.get_title() == "average: weight of each forgetting factor"
        bands = [layer.get_paths()[0].vertices for layer in memory_axes.collections]
        tops = np.cumsum(memory, axis=0)
        for band, top in zip(bands, tops):
            np.testing.assert_allclose(band[band[:, 0] == 5, 1].max(), top[4], atol=1e-6)  # step 5
    for run in (average, RunSummary.from_json(entry, "average")):
        layers = plot_average_weights(run, detached=True).axes[0].collections  # bottom to top
        top = np.cumsum(expected.values, axis=0)
        for layer, upper, lower in zip(layers, top, np.vstack([np.zeros_like(top[0]), top[:-1]])):
            points = layer.get_paths()[0].vertices
            for t, low, high in zip(expected["time"].values, lower, upper):  # the band at step t
                at = points[points[:, 0] == t, 1]
                np.testing.assert_allclose([at.min(), at.max()], [low, high], atol=1e-12)
