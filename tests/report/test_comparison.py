"""Several methods side by side (bayeslstm.report.comparison): ranking and aggregation over
nodes and replicates, and the same comparison from runs or from their InferenceData."""

import numpy as np
import pytest
import xarray as xr

from bayeslstm.errors import InputError
from bayeslstm.report.comparison import compare_results, table_markdown

az = pytest.importorskip("arviz")


def _constant(run, values, seconds=1.0):
    """``run`` with TAE = values[node] at every step."""
    tae = xr.full_like(run.tae, 0.0) + xr.DataArray(np.asarray(values, float), dims="node")
    return run._replace(tae=tae.transpose("node", "time"), seconds=seconds)


def test_comparison_ranks_and_aggregates(runs):
    base = runs["pf"]
    results = {
        "worst": _constant(base, [0.5, 0.5, 0.5]),
        "best": [_constant(base, [0.1, 0.2, 0.3], seconds=2.0), _constant(base, [0.3, 0.4, 0.5], seconds=4.0)],
        "middle": _constant(runs["dpf"], [0.3, 0.3, 0.3]),
    }
    dataset, table = compare_results(results)
    assert dataset["tae"].dims == ("method", "node", "time")
    assert list(dataset["method"].values) == ["worst", "best", "middle"]
    # a DataFrame indexed by label, as az.compare returns its table
    assert list(table.index) == ["best", "middle", "worst"] and table.index.name == "method"
    assert list(table["rank"]) == [1, 2, 3]
    assert table.loc["middle", "final_tae"] == pytest.approx(0.3)
    best = table.iloc[0]
    assert best["final_tae"] == pytest.approx(0.3) and best["replicates"] == 2
    assert best["final_tae_sd_seeds"] == pytest.approx(np.std([0.2, 0.4], ddof=1))
    assert best["final_tae_sd_nodes"] == pytest.approx(np.std([0.1, 0.2, 0.3]))
    assert best["seconds"] == pytest.approx(3.0)
    np.testing.assert_allclose(dataset["tae"].sel({"method": "best"}).isel(time=-1), [0.2, 0.3, 0.4])
    assert np.isnan(table.iloc[2]["final_tae_sd_seeds"]) and table.iloc[1]["messages_per_step"] > 0
    assert table.iloc[2]["messages_per_step"] == 0
    assert "sd over seeds" in table_markdown(table)
    with pytest.raises(InputError, match="same stream"):
        compare_results({"a": base, "b": base._replace(tae=base.tae.isel(time=slice(0, 10)))})
    with pytest.raises(InputError, match="cannot compare"):
        compare_results({"a": "nope"})


def test_comparison_from_runs_equals_comparison_from_inference_data(runs, idatas):
    from_runs = compare_results(runs)
    from_files = compare_results(idatas)
    xr.testing.assert_allclose(from_runs.dataset, from_files.dataset)
    for a, b in zip(from_runs.rows(), from_files.rows()):
        assert a.keys() == b.keys()
        for key in a:
            assert a[key] == pytest.approx(b[key], nan_ok=True) if isinstance(a[key], float) else a[key] == b[key]


def test_skill_against_the_naive_forecasts_is_one_minus_the_mse_ratio(tmp_path):
    """On a table stream every row gets skill against baseline-last and baseline-mean, on the
    whole stream (final TAE) and on the last half of each node's labels; the numbers equal
    1 - MSE ratios computed here from the predictions. The command line's compare on a table
    runs both baselines unasked and puts the skill columns in its report."""
    import pandas as pd

    import bayeslstm as bl
    from bayeslstm.cli.main import main

    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"x": rng.normal(size=80), "y": np.cumsum(rng.normal(size=80))})
    frame.to_csv(tmp_path / "t.csv", index=False)
    table = bl.table_stream(frame, "y", features=["x", "y"], window=(1, 3), nodes=2)
    runs = {label: bl.run(table, label, model_options={"hidden": 1}) for label in ("ekf", "baseline-last", "baseline-mean")}
    rows = {row["method"]: row for row in compare_results(runs).rows()}

    def mse(result, half):
        per_node = []
        for k in range(result.predictions.shape[1]):
            seen = result.observed[:, k]
            err = (result.predictions[seen, k] - result.labels[seen, k]) ** 2
            per_node.append(err[-max(int(err.size * 0.5), 1):].mean() if half else err.mean())
        return np.mean(per_node)

    for base in ("last", "mean"):
        reference = runs[f"baseline-{base}"]
        assert rows["ekf"][f"skill_{base}"] == pytest.approx(1 - mse(runs["ekf"], False) / mse(reference, False), rel=1e-5)
        assert rows["ekf"][f"skill_{base}_late"] == pytest.approx(1 - mse(runs["ekf"], True) / mse(reference, True), rel=1e-5)
        assert rows[f"baseline-{base}"][f"skill_{base}"] == pytest.approx(0.0, abs=1e-12)
    assert main(["compare", "--data", str(tmp_path / "t.csv"), "--target", "y", "--features", "x,y", "--window", "1:3",
                 "--nodes", "2", "--methods", "ekf", "--model-arg", "hidden=1", "--no-progress",
                 "--out", str(tmp_path / "out")]) == 0
    report = (tmp_path / "out" / "report.md").read_text()
    assert "skill vs last" in report and "late skill vs mean" in report and "baseline-mean" in report


def test_compare_log_scores_ranks_runs_by_their_summed_scores(runs, idatas):
    """A copy of a run scored one nat worse on every label ranks below it, by exactly that much;
    a RunResult and its InferenceData give the same sum."""
    from bayeslstm.report.comparison import compare_log_scores
    from bayeslstm.report.reading import SCORE_GROUP

    idata = idatas["ekf"]
    worse = idata.copy()
    worse[SCORE_GROUP]["d"] = idata[SCORE_GROUP]["d"] - 1.0
    table = compare_log_scores({"worse": worse, "ekf": idata, "run": runs["ekf"]})
    assert list(table.index) == ["ekf", "run", "worse"] and list(table["rank"]) == [1, 2, 3]
    labels = int(idata.constant_data["observed"].sum())
    expected = float(runs["ekf"].diagnostics["log_pred_density"].sum())
    assert table.loc["ekf", "log_score"] == pytest.approx(expected, rel=1e-5) and table.loc["ekf", "labels"] == labels
    assert table.loc["run", "log_score"] == pytest.approx(expected, rel=1e-5)
    assert table.loc["worse", "difference"] == pytest.approx(labels, rel=1e-5)
    assert table.loc["worse", "dse"] == pytest.approx(0.0, abs=1e-3)  # the same difference on every label
    assert table.loc["ekf", "mean_log_score"] == pytest.approx(expected / labels, rel=1e-5)
    with pytest.raises(InputError, match="InferenceData or RunResult"):
        compare_log_scores({"x": 1.0})
