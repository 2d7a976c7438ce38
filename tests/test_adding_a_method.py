"""Adding a method takes one file: this one. It writes a kernel and its distributed form,
registers them with one new option, and finds them in the command line (flags, help, run,
compare), in ``bl.run`` and in the reports, as docs/adding-a-method.md walks through."""

import json
from typing import NamedTuple

import jax.numpy as jnp
import pytest

import bayeslstm as bl
from bayeslstm.cli.main import main
from bayeslstm.kernels.protocol import Kernel, PointEstimate, gaussian_log_density
from bayeslstm.methods import Method, Option, method_names, register, unregister


class FrozenState(NamedTuple):
    theta: jnp.ndarray


class FrozenInfo(NamedTuple):
    prediction: jnp.ndarray
    predictive_var: jnp.ndarray
    log_pred_density: jnp.ndarray


def frozen_prior(ssm, shrink=0.5):
    """A kernel that never learns: the prior draw shrunk by ``shrink``, predicting with it."""
    r = ssm.obs_var if ssm.obs_var is not None else jnp.asarray(1.0)

    def init(key):
        return FrozenState(shrink * ssm.sample_prior(key))

    def step(key, state, batch):
        pred = jnp.stack([ssm.mean(state.theta, X, m) for X, m in zip(batch.X, batch.mask)])
        var = jnp.full_like(pred, r)
        return state, FrozenInfo(pred, var, gaussian_log_density(batch.d, pred, var))

    return Kernel(init, step, "frozen", lambda state: PointEstimate(state.theta))


TINY = ["--steps", "30", "--nodes", "3", "--features", "2", "--max-len", "6", "--model-arg", "hidden=2", "--no-progress"]
SHRINK = Option("shrink", "--shrink", "scale of the frozen prior draw", float)


@pytest.fixture(scope="module")
def registered():
    register(Method("frozen", "a prior draw that never learns", frozen_prior, {"shrink": 0.5},
                    posterior="point estimate"), SHRINK)
    # its distributed form: diffusion, the same kernel on every node and the weights averaged over the graph
    register(Method("dfrozen", "frozen prior draws averaged over the graph", "bayeslstm.network.diffusion:diffusion_of",
                    {"shrink": 0.5}, family="frozen", distributed=True, posterior="point estimate",
                    bind={"kernel": "frozen", "estimate": "theta", "examples": False}))
    yield
    unregister("dfrozen")
    unregister("frozen")


def test_the_command_line_runs_it_with_its_option(registered, tmp_path, capsys):
    assert main(["run", "--help"]) == 0
    assert "--shrink SHRINK" in capsys.readouterr().out
    assert main(["run", "--method", "frozen", "--shrink", "0.25", *TINY, "--out", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["methods"]["frozen"]["options"] == {"shrink": 0.25}
    assert (tmp_path / "frozen.nc").exists() and "frozen" in (tmp_path / "report.md").read_text()
    assert main(["run", "--method", "ekf", "--shrink", "0.25", *TINY, "--out", str(tmp_path)]) == 2
    assert "--method ekf does not take --shrink" in capsys.readouterr().err


def test_compare_and_the_report_rank_it_beside_the_others(registered, tmp_path):
    assert main(["compare", "--methods", "frozen,frozen@distributed,ekf", *TINY, "--graph", "ring",
                 "--out", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert {"frozen", "dfrozen", "ekf"} <= set(summary["methods"])
    assert all(entry["status"] == "ok" for entry in summary["methods"].values())
    report = (tmp_path / "report.md").read_text()
    assert "dfrozen" in report and "frozen" in report


def test_bl_run_builds_it_and_refuses_options_it_does_not_take(registered):
    stream, _ = bl.teacher_stream(steps=10, nodes=3, features=2, max_len=4, seed=0)
    result = bl.run(stream, "frozen", model_options={"hidden": 2}, shrink=0.0)
    assert float(jnp.abs(result.posterior(result.final_state).value).max()) == 0.0  # the draw scaled by 0
    assert result.config["family"] == "frozen" and result.config["options"] == {"shrink": 0.0}
    with pytest.raises(bl.OptionError, match="shrink"):
        bl.run(stream, "ekf", model_options={"hidden": 2}, shrink=0.1)


def test_unregistering_forgets_the_method_and_its_option():
    register(Method("thawed", "a prior draw that never learns", frozen_prior, {"shrink": 0.5}), SHRINK)
    assert "thawed" in method_names()
    with pytest.raises(bl.OptionError, match="already registered"):
        register(Method("thawed", "twice", frozen_prior))
    unregister("thawed")
    assert "thawed" not in method_names()
    with pytest.raises(bl.OptionError, match="unknown method 'thawed'"):
        bl.run(bl.teacher_stream(steps=2, nodes=1, features=1, max_len=2)[0], "thawed")
