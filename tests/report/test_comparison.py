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
    assert [row["method"] for row in table] == ["best", "middle", "worst"]
    assert [row["rank"] for row in table] == [1, 2, 3]
    best = table[0]
    assert best["final_tae"] == pytest.approx(0.3) and best["replicates"] == 2
    assert best["final_tae_sd_seeds"] == pytest.approx(np.std([0.2, 0.4], ddof=1))
    assert best["final_tae_sd_nodes"] == pytest.approx(np.std([0.1, 0.2, 0.3]))
    assert best["seconds"] == pytest.approx(3.0)
    np.testing.assert_allclose(dataset["tae"].sel({"method": "best"}).isel(time=-1), [0.2, 0.3, 0.4])
    assert np.isnan(table[2]["final_tae_sd_seeds"]) and table[1]["messages_per_step"] > 0
    assert table[2]["messages_per_step"] == 0
    assert "sd over seeds" in table_markdown(table)
    with pytest.raises(InputError, match="same stream"):
        compare_results({"a": base, "b": base._replace(tae=base.tae.isel(time=slice(0, 10)))})
    with pytest.raises(InputError, match="cannot compare"):
        compare_results({"a": "nope"})


def test_comparison_from_runs_equals_comparison_from_inference_data(runs, idatas):
    from_runs = compare_results(runs)
    from_files = compare_results(idatas)
    xr.testing.assert_allclose(from_runs.dataset, from_files.dataset)
    for a, b in zip(from_runs.table, from_files.table):
        assert a.keys() == b.keys()
        for key in a:
            assert a[key] == pytest.approx(b[key], nan_ok=True) if isinstance(a[key], float) else a[key] == b[key]
