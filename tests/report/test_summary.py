"""One run's summary (bayeslstm.report.summary): the record summary.json keeps of each method
reads back as it was written, and a run and its InferenceData give the same numbers."""

import json
import math

import numpy as np
import pytest

import bayeslstm as bl
from bayeslstm.engine.encoding import json_default
from bayeslstm.errors import InputError
from bayeslstm.report.comparison import compare_results
from bayeslstm.report.summary import RunSummary, summarize_run

az = pytest.importorskip("arviz")

ARRAYS = ("tae", "ess", "network_tae", "time")


def assert_same(a: RunSummary, b: RunSummary, fields=RunSummary._fields) -> None:
    """Field by field: arrays element-wise, NaN equal to NaN."""
    for name in fields:
        x, y = getattr(a, name), getattr(b, name)
        if name in ARRAYS:
            assert (x is None) == (y is None), name
            if x is not None:
                np.testing.assert_array_equal(x, y, err_msg=name)
        elif isinstance(x, float) and math.isnan(x):
            assert isinstance(y, float) and math.isnan(y), name
        else:
            assert x == y, name


def through_json(summary: RunSummary) -> dict:
    """The entry as summary.json holds it once written and read."""
    return json.loads(json.dumps(summary.to_json(), default=json_default))


@pytest.fixture(scope="module")
def baseline():
    stream, _ = bl.teacher_stream(steps=12, nodes=3, features=2, max_len=4, seed=0)
    return bl.run(stream, "baseline-last")


def test_a_baseline_reads_back_as_it_was_written(baseline):
    summary = RunSummary.from_result(baseline, options={"a": 1}, unit="kg")
    assert not summary.has_weights and summary.tae.shape == (3, 12)
    entry = through_json(summary)
    assert list(entry) == ["status", "method", "fusion", "options", "final_tae", "tae", "seconds", "compile_seconds",
                           "compilations", "messages_per_step", "floats_per_step", "log_score", "late_mse", "time",
                           "tae_per_node", "half_mse", "family", "unit"]
    back = RunSummary.from_json(entry, "baseline-last")
    assert back.to_json() == entry
    kept = set(RunSummary._fields) - {"ess", "num_particles", "edges", "ess_threshold"}  # not in summary.json
    assert_same(back, summary, kept)
    assert back.steps == 12 and back.unit == "kg"


def test_a_learning_method_keeps_its_network_tae_and_points_to_its_netcdf(runs):
    summary = RunSummary.from_result(runs["dpf"])._replace(netcdf="dpf.nc")
    entry = through_json(summary)
    assert list(entry) == ["status", "method", "fusion", "options", "final_tae", "tae", "seconds", "compile_seconds",
                           "compilations", "messages_per_step", "floats_per_step", "log_score", "late_mse", "netcdf"]
    assert entry["tae"] == [float(v) for v in runs["dpf"].network_tae] and entry["final_tae"] == entry["tae"][-1]
    back = RunSummary.from_json(entry, "dpf")
    assert back.to_json() == entry and back.tae is None and back.has_weights
    with pytest.raises(InputError, match="network-mean TAE"):
        compare_results({"dpf": back})


def test_a_failure_reads_back_as_it_was_written():
    failed = RunSummary.failed("pf", "local", {"num_particles": 8}, "NumericalError: NaN")
    entry = through_json(failed)
    assert entry == {"status": "failed", "method": "pf", "fusion": "local", "options": {"num_particles": 8},
                     "error": "NumericalError: NaN"}
    assert_same(RunSummary.from_json(entry, "pf@local"), failed)


@pytest.mark.parametrize("label", ["pf", "ekf", "pf@centralized", "dpf"])
def test_a_run_and_its_inference_data_agree(runs, idatas, label):
    run, read = RunSummary.from_result(runs[label]), RunSummary.from_inference_data(idatas[label])
    exact = ("method", "fusion", "num_particles", "edges", "family", "steps", "ess_threshold", "unit", "compilations",
             "options", "has_weights", "seconds", "compile_seconds", "status")
    assert_same(run, read, exact)
    np.testing.assert_array_equal(run.time, read.time)
    assert (run.ess is None) == (read.ess is None) == (label == "ekf")
    for name in ("tae", "network_tae", "ess")[: 2 if run.ess is None else 3]:
        np.testing.assert_allclose(getattr(read, name), getattr(run, name), rtol=1e-4, err_msg=name)
    for name in ("messages_per_step", "floats_per_step", "log_score", "late_mse", "half_mse"):
        assert getattr(read, name) == pytest.approx(getattr(run, name), rel=1e-4), name


def test_summarize_run_dispatches_on_the_type(runs, idatas):
    summary = summarize_run(runs["pf"])
    assert summarize_run(summary) is summary
    assert summarize_run(idatas["pf"]).method == "pf"
    with pytest.raises(InputError, match="cannot compare a dict"):
        summarize_run({"tae": [1.0]})
