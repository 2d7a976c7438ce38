"""Checkpoint and resume: a run killed with SIGKILL and resumed gives the uninterrupted run's
exact numbers and saved state (a Markov-chain DPF, which draws random numbers at every step);
interrupted runs of the other random methods' state types (particles, ensembles, mixtures,
low-rank precisions) resume exactly; corrupt or foreign checkpoints are refused; ``record``
keeps what it says."""

import json
import os
import pathlib
import random
import shutil
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

import bayeslstm as bl
from bayeslstm.cli.main import main
from bayeslstm.engine import checkpoint as ckpt
from bayeslstm.engine.runner import record_stride
from bayeslstm.errors import BayesLSTMError, CheckpointError

ROOT = pathlib.Path(__file__).resolve().parents[2]
STEPS = 1000
RUN = ["run", "--method", "ekf", "--model-arg", "hidden=2", "--steps", str(STEPS), "--nodes", "2", "--features", "1",
       "--min-len", "1", "--max-len", "2", "--no-progress"]
# a particle method: resampling and random walks draw from the step's keys, so a resumed run
# must continue the key sequence where the killed one stopped
PARTICLE_RUN = ["run", "--method", "dpf", "--particles", "8", "--walk-steps", "2", "--graph", "ring",
                "--model-arg", "hidden=1", "--steps", str(STEPS), "--nodes", "3", "--features", "1", "--min-len", "1",
                "--max-len", "2", "--no-progress"]
RUNS = {"ekf": RUN, "dpf": PARTICLE_RUN}


def subprocess_env() -> dict:
    """The test process' environment plus its compilation cache, so the child compiles nothing twice."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    cache = jax.config.jax_compilation_cache_dir
    if cache:
        env.update(JAX_COMPILATION_CACHE_DIR=cache, JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
                   JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")
    return env


def summary(folder: pathlib.Path, method: str = "ekf") -> dict:
    return json.loads((folder / "summary.json").read_text())["methods"][method]


def run_to_the_end(root: pathlib.Path, argv: list[str]) -> pathlib.Path:
    assert main([*argv, "--out", str(root), "--checkpoint", str(root / "ck"), "--checkpoint-every", "10"]) == 0
    return root


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """An uninterrupted EKF run with checkpoints every 10 steps: its summary and checkpoint folder."""
    return run_to_the_end(tmp_path_factory.mktemp("uninterrupted"), RUN)


@pytest.fixture(scope="module")
def uninterrupted_dpf(tmp_path_factory):
    """The same for the Markov-chain DPF."""
    return run_to_the_end(tmp_path_factory.mktemp("uninterrupted-dpf"), PARTICLE_RUN)


def test_sigkilled_run_resumes_bit_identical(uninterrupted_dpf, tmp_path):
    """Killed at a random moment after its first checkpoint and resumed, the Markov-chain DPF's
    run ends with the uninterrupted run's TAE and the same saved state and per-step records, bit
    for bit. That needs the resumed run to draw the keys of the steps it continues with: a
    resume that numbered its steps from 0 again would repeat the first steps' resampling and
    walks. (A random method is the harder case; the other methods' resumes are checked in
    process below.)"""
    method, uninterrupted, argv = "dpf", uninterrupted_dpf, RUNS["dpf"]
    ck = tmp_path / "ck"
    command = [sys.executable, "-m", "bayeslstm.cli", *argv, "--checkpoint", str(ck), "--checkpoint-every", "10",
               "--out", str(tmp_path / "killed")]
    proc = subprocess.Popen(command, env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 240
        while not (ck / ckpt.MANIFEST).exists():
            assert proc.poll() is None, f"the run ended before its first checkpoint: {proc.stdout.read().decode()}"
            assert time.monotonic() < deadline, "no checkpoint within 240 s"
            time.sleep(0.02)
        time.sleep(random.uniform(0.0, 0.1))
        assert proc.poll() is None, "the run finished before it was killed: give it more --steps"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        proc.stdout.close()
    step = json.loads((ck / ckpt.MANIFEST).read_text())["step"]
    assert 0 < step < STEPS and step % 10 == 0
    assert main([*argv, "--resume", str(ck), "--out", str(tmp_path / "resumed")]) == 0
    resumed, expected = summary(tmp_path / "resumed", method), summary(uninterrupted, method)
    assert resumed["tae"] == expected["tae"] and resumed["final_tae"] == expected["final_tae"]
    assert json.loads((ck / ckpt.MANIFEST).read_text())["step"] == STEPS
    assert not list(ck.glob(".*.tmp")) and len(list(ck.glob("state-*.npz"))) == 1
    mine, theirs = ckpt.load(ck), ckpt.load(uninterrupted / "ck")
    assert len(mine.state) == len(theirs.state)
    for a, b in zip(mine.state, theirs.state):
        np.testing.assert_array_equal(a, b)
    assert mine.records.keys() == theirs.records.keys()
    for name in theirs.records:
        np.testing.assert_array_equal(mine.records[name], theirs.records[name])


def refused(argv: list[str], capsys) -> str:
    assert main(argv) == 2
    return capsys.readouterr().err


@pytest.mark.parametrize("damage", ["flip a byte", "truncate", "garble the manifest", "lose the payload"])
def test_corrupt_checkpoint_is_refused(uninterrupted, tmp_path, capsys, damage):
    ck = tmp_path / "ck"
    shutil.copytree(uninterrupted / "ck", ck)
    payload = next(ck.glob("state-*.npz"))
    data = bytearray(payload.read_bytes())
    if damage == "flip a byte":
        data[len(data) // 2] ^= 0x01
        payload.write_bytes(bytes(data))
    elif damage == "truncate":
        payload.write_bytes(bytes(data[:-100]))
    elif damage == "garble the manifest":
        (ck / ckpt.MANIFEST).write_text('{"format": 1, "step": ')
    else:
        payload.unlink()
    with pytest.raises(CheckpointError, match="is corrupt"):
        ckpt.load(ck)
    if damage == "flip a byte":  # and through the command line
        err = refused([*RUN, "--resume", str(ck), "--out", str(tmp_path / "out")], capsys)
        assert "is corrupt" in err and "delete the folder" in err


def test_a_payload_changed_without_changing_its_size_is_refused(uninterrupted, tmp_path, capsys):
    """A payload rewritten as a valid array file of the same size, one weight changed: only its
    sha256 tells, and the checkpoint is refused, loaded directly or resumed from the command
    line. A check of the size and the file format alone would resume from the altered state."""
    ck = tmp_path / "ck"
    shutil.copytree(uninterrupted / "ck", ck)
    payload = next(ck.glob("state-*.npz"))
    with np.load(payload) as files:
        arrays = {key: files[key] for key in files.files}
    arrays["state_0"] = arrays["state_0"].copy()
    arrays["state_0"].flat[0] += 1.0
    size = payload.stat().st_size
    with open(payload, "wb") as f:
        np.savez(f, **arrays)
    assert payload.stat().st_size == size
    with pytest.raises(CheckpointError, match="does not match the sha256"):
        ckpt.load(ck)
    err = refused([*RUN, "--resume", str(ck), "--out", str(tmp_path / "out")], capsys)
    assert "is corrupt" in err


@pytest.mark.parametrize(
    "change, message",
    [
        (["--seed", "1"], "run.seed is 0 in the checkpoint but 1 now"),
        (["--learning-rate", "0.1", "--method", "sgd"], "run.method is 'ekf-local' in the checkpoint"),
        (["--noise-var", "0.02"], "stream_sha256"),
    ],
)
def test_checkpoint_of_another_run_is_refused(uninterrupted, tmp_path, capsys, change, message):
    argv = [*RUN, *change, "--resume", str(uninterrupted / "ck"), "--out", str(tmp_path)]
    err = refused(argv, capsys)
    assert "written by a different run" in err and message in err


def test_checkpoint_flags_are_checked(uninterrupted, tmp_path, capsys):
    assert "already holds a checkpoint" in refused([*RUN, "--checkpoint", str(uninterrupted / "ck"),
                                                    "--out", str(tmp_path)], capsys)
    assert "no manifest.json" in refused([*RUN, "--resume", str(tmp_path / "empty"), "--out", str(tmp_path)], capsys)
    assert "needs --checkpoint" in refused([*RUN, "--checkpoint-every", "5", "--out", str(tmp_path)], capsys)
    assert issubclass(CheckpointError, BayesLSTMError) and issubclass(CheckpointError, ValueError)


def test_record_keeps_strided_rows_with_exact_tae(uninterrupted, tmp_path):
    """Rows every 7 steps and the last, with the full run's numbers; a finished checkpoint reads back."""
    stream, _ = bl.teacher_stream(steps=STEPS, nodes=2, features=1, min_len=1, max_len=2, seed=0)  # the CLI's
    options = dict(model="lstm", model_options={"hidden": 2}, chunk_size=10)  # the CLI run's program: no new compile
    strided = bl.run(stream, "ekf", record=7, checkpoint=tmp_path / "ck", checkpoint_every=10, **options)
    full = ckpt.load(uninterrupted / "ck").records  # every step of the CLI run
    kept = np.r_[np.arange(7, STEPS + 1, 7), STEPS]
    np.testing.assert_array_equal(strided.tae.time, kept)
    np.testing.assert_array_equal(strided.predictions, full["prediction"][kept - 1])
    np.testing.assert_array_equal(strided.tae.values.T, full["tae"][kept - 1])
    np.testing.assert_array_equal(strided.diagnostics["predictive_var"], full["predictive_var"][kept - 1])
    assert strided.config["stride"] == 7
    assert [record_stride("summary", n) for n in (23, 1000, 1001, 100_000)] == [1, 1, 2, 100]
    again = bl.run(stream, "ekf", record=7, checkpoint=tmp_path / "ck", resume=True, **options)  # finished: read back
    np.testing.assert_array_equal(again.predictions, strided.predictions)
    np.testing.assert_array_equal(again.tae.values, strided.tae.values)
    for a, b in zip(jax.tree.leaves(again.final_state), jax.tree.leaves(strided.final_state)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    with pytest.raises(bl.OptionError, match="record must be"):
        bl.run(stream, "ekf", record="some", **options)
    with pytest.raises(CheckpointError, match="record is 7 in the checkpoint but 2 now"):
        bl.run(stream, "ekf", record=2, checkpoint=tmp_path / "ck", resume=True, **options)


class Interrupted(Exception):
    pass


@pytest.mark.parametrize("method, options", [
    ("pf", dict(num_particles=16, move="liu-west")),
    ("dpf-consensus", dict(num_particles=16, graph="ring")),
    ("denkf-consensus", dict(num_members=8, update="stochastic", graph="ring")),
    ("dgspf", dict(num_components=2, respawn_below=0.2, covariance="low-rank", rank=2, graph="ring")),
    ("dlofi", dict(rank=3, graph="ring", model_options={"hidden": 2, "learn_r": True})),
])
def test_interrupted_random_methods_resume_with_the_same_keys_and_state(method, options, tmp_path, monkeypatch):
    """Methods that draw random numbers every step (resampling, moves, perturbations, re-spawns)
    continue after an interruption exactly: the same predictions and the same final state."""
    stream, _ = bl.teacher_stream(steps=30, nodes=3, features=1, max_len=3, seed=4)
    run = {"model_options": {"hidden": 2}, "checkpoint_every": 10, **options}  # an entry may bring its own model
    whole = bl.run(stream, method, checkpoint=tmp_path / "whole", **run)
    real_save = ckpt.save

    def save_then_stop(folder, checkpoint):
        path = real_save(folder, checkpoint)
        if checkpoint.step == 20:
            raise Interrupted
        return path

    monkeypatch.setattr(ckpt, "save", save_then_stop)
    with pytest.raises(Interrupted):
        bl.run(stream, method, checkpoint=tmp_path / "cut", **run)
    monkeypatch.setattr(ckpt, "save", real_save)
    resumed = bl.run(stream, method, checkpoint=tmp_path / "cut", resume=True, **run)
    np.testing.assert_array_equal(resumed.predictions, whole.predictions)
    for a, b in zip(jax.tree_util.tree_leaves(resumed.final_state), jax.tree_util.tree_leaves(whole.final_state)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
