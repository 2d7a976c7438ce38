"""The runs the report tests share: four tiny runs (tests/tiny_runs.py) and their InferenceData,
computed once per test process rather than once per file (they are most of these tests' time),
and a short run of a model whose sites name their dimensions and which has no ``w_out``."""

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

import bayeslstm as bl  # noqa: E402
from bayeslstm.report.inference_data import to_inference_data  # noqa: E402
from tiny_runs import RUNS, TINY, annotated  # noqa: E402


@pytest.fixture(scope="session")
def runs():
    stream, _ = bl.teacher_stream(**TINY)
    return {label: bl.run(stream, method, model_options={"hidden": 2}, **kw) for label, (method, kw) in RUNS.items()}


@pytest.fixture(scope="session")
def idatas(runs):
    return {label: to_inference_data(run, num_draws=64, label=label) for label, run in runs.items()}


@pytest.fixture(scope="session")
def annotated_run():
    stream, _ = bl.teacher_stream(**{**TINY, "steps": 8})
    return bl.run(stream, "pf", model=annotated, num_particles=16)
