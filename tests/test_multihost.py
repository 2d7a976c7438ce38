"""Multi-host command-line runs (jax.distributed, gloo on 127.0.0.1), started with the launcher
script of docs/sharding.md: two processes write the outputs of a one-process run and resume its
checkpoint, and a process that fails makes the run fail, without anything waiting forever.
Every process is started in its own session, bounded in time and always killed at the end."""

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs" / "sharding.md"
LIMIT = 420  # seconds for a whole launch: generous for a loaded 2-core machine
SMALL = ["--nodes", "8", "--model-arg", "hidden=2", "--seed", "3", "--draws", "20", "--predictive-draws", "10"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launcher(folder: Path) -> Path:
    """The launcher script of docs/sharding.md, as the docs give it."""
    blocks = re.findall(r"```bash\n(.*?)```", DOCS.read_text(), re.S)
    (script,) = [b for b in blocks if "# launch.sh N" in b]
    path = folder / "launch.sh"
    path.write_text(script)
    return path


def _command(folder: Path, fail_process: int | None = None, bad: tuple[str, ...] = ()) -> Path:
    """A `bayeslstm` command for the launcher: this interpreter's, recording each process's exit
    status and when it ended in folder/exit-<process id>; process ``fail_process`` gets the
    arguments ``bad`` too."""
    bin_dir = folder / "bin"
    bin_dir.mkdir()
    path = bin_dir / "bayeslstm"
    path.write_text(f"""#!/usr/bin/env bash
id=unknown; extra=()
for ((j = 1; j <= $#; j++)); do
  if [ "${{!j}}" = --process-id ]; then k=$((j + 1)); id=${{!k}}; fi
done
if [ "$id" = "{fail_process}" ]; then extra=({' '.join(map(shlex.quote, bad))}); fi
{sys.executable} -m bayeslstm "$@" "${{extra[@]}}"
status=$?
echo "$status $(date +%s.%N)" > "{folder}/exit-$id"
exit "$status"
""")
    path.chmod(0o755)
    return bin_dir


def _environment(bin_dir: Path | None = None) -> dict:
    env = dict(os.environ, JAX_PLATFORMS="cpu", PORT=str(_free_port()), PYTHONUNBUFFERED="1")
    if bin_dir is not None:
        env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    return env


def _start(args, env, log: Path) -> subprocess.Popen:
    """Start ``args`` in a session of its own, its output in ``log``."""
    with open(log, "w") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def _finish(proc: subprocess.Popen, log: Path, started: float) -> int:
    """Wait for ``proc`` until LIMIT seconds after ``started``; kill its whole session at the end."""
    try:
        return proc.wait(timeout=max(1.0, LIMIT - (time.monotonic() - started)))
    except subprocess.TimeoutExpired:
        pytest.fail(f"{proc.args[:3]} still running after {LIMIT} s:\n{log.read_text()[-3000:]}")
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # what is left of the session: the launcher's children
        except ProcessLookupError:
            pass
        proc.wait()


def _run(args, env, log: Path) -> int:
    """Run ``args`` in a session of its own; kill the whole session if it outlives LIMIT."""
    started = time.monotonic()
    return _finish(_start(args, env, log), log, started)


def _start_refused_launch(folder: Path) -> tuple[subprocess.Popen, float]:
    """A two-process run whose process 1 is refused an argument (--out naming a file): started
    in the background, as it spends most of its time waiting (see :func:`_check_refused_launch`)."""
    folder.mkdir()
    not_a_folder = folder / "a-file"
    not_a_folder.write_text("")
    bin_dir = _command(folder, fail_process=1, bad=("--out", str(not_a_folder)))
    args = ["bash", str(_launcher(folder)), "2", "run", "--method", "dekf", "--steps", "8", *SMALL, "--no-progress",
            "--out", str(folder / "out")]
    return _start(args, _environment(bin_dir), folder / "launch.log"), time.time()


def _check_refused_launch(folder: Path, proc: subprocess.Popen, start: float) -> None:
    """Process 1, refused an argument before JAX starts, joins the cluster only to leave it and
    exits 2 at once; process 0 fails at its first exchange with it instead of waiting for it at
    start-up (jax.distributed's timeout: 5 minutes); the launcher exits non-zero and nothing is
    written."""
    status = _finish(proc, folder / "launch.log", time.monotonic() - (time.time() - start))
    log = (folder / "launch.log").read_text()
    assert status != 0, log[-4000:]
    assert "is a file, not a folder" in log
    codes, ended = {}, {}
    for i in (0, 1):
        code, when = (folder / f"exit-{i}").read_text().split()
        codes[i], ended[i] = int(code), float(when) - start
    assert codes[1] == 2 and codes[0] != 0, (codes, log[-4000:])
    # process 1 ends as soon as it is refused (measured: 10 s, mostly importing; 20 s beside the
    # other launches), not after waiting at jax.distributed's shutdown barrier for process 0,
    # itself waiting for it; process 0 then fails at its first exchange (measured: 60 s:
    # compiling, then gloo's 30 s connection timeout, which JAX gives no way to shorten)
    assert ended[1] < 90, (ended, log[-4000:])
    assert not (folder / "out").exists()


def _numbers(summary: dict) -> dict:
    keys = ("final_tae", "tae", "log_score", "late_mse", "messages_per_step", "floats_per_step")
    return {label: {k: np.asarray(entry[k], float) for k in keys} | {"status": entry["status"]}
            for label, entry in summary["methods"].items()}


def _same_outputs(first: Path, second: Path, methods: list[str], exact: bool) -> None:
    """Both folders hold the same files, every method ran, and their numbers, posterior draws
    and pointwise log-likelihoods agree: bit for bit if ``exact``, else to the rounding of sums
    ordered differently per layout (float32), and the draws within 1e-2 (measured: particles
    bit-identical; a Gaussian's draws within 3e-3, float32 rounding of the covariance through
    its factor; a node in the wrong place: O(1))."""
    import arviz as az

    numbers, draws, loglik = ((0.0, 0.0), 0.0, 0.0) if exact else ((1e-4, 1e-6), 1e-2, 1e-5)

    assert sorted(p.name for p in first.iterdir()) == sorted(p.name for p in second.iterdir())
    a_numbers, b_numbers = (_numbers(json.loads((f / "summary.json").read_text())) for f in (first, second))
    assert sorted(a_numbers) == sorted(b_numbers) == sorted(methods)
    for label in methods:
        assert a_numbers[label]["status"] == b_numbers[label]["status"] == "ok"
        for key, value in b_numbers[label].items():
            if key != "status":
                np.testing.assert_allclose(a_numbers[label][key], value, *numbers, err_msg=f"{label} {key}")
    for nc in second.glob("*.nc"):
        a, b = az.from_netcdf(first / nc.name), az.from_netcdf(nc)
        for name in b.posterior.data_vars:
            np.testing.assert_allclose(a.posterior[name].values, b.posterior[name].values, rtol=0, atol=draws,
                                       err_msg=f"{nc.name} {name}")
        np.testing.assert_allclose(a.prequential_log_likelihood["d"].values, b.prequential_log_likelihood["d"].values,
                                   rtol=loglik, atol=loglik)


@pytest.mark.slow
def test_two_processes_write_the_outputs_of_one_and_resume_their_checkpoint(tmp_path):
    """`bayeslstm compare` over two processes (the docs' launcher) writes summary.json, report.md
    with its figures and one .nc per method, and its numbers are the one-process run's to float
    rounding, for the DEKF and the consensus DPF (diffusion over the halo, exact sums over the
    group's tree; the Markov-chain DPF's walks across hosts are checked by
    tests/network/test_sharding.py). It checkpoints its gathered state (process 0 writes it);
    resuming that on two processes (every process reads the folder and takes its own nodes'
    rows) gives the outputs of the run that wrote it, bit for bit. Meanwhile a launch whose
    process 1 is refused an argument fails as a whole, at once (:func:`_check_refused_launch`;
    it runs beside the others because it spends most of its time waiting for gloo)."""
    refused = _start_refused_launch(tmp_path / "refused")
    methods = ["dekf", "dpf-consensus"]
    args = ["compare", "--methods", ",".join(methods), "--steps", "24", "--particles", "16", *SMALL]
    launcher, bin_dir = _launcher(tmp_path), _command(tmp_path)
    checkpoint = tmp_path / "checkpoint"
    status = _run(["bash", str(launcher), "2", *args, "--checkpoint", str(checkpoint), "--checkpoint-every", "12",
                   "--out", str(tmp_path / "two")], _environment(bin_dir), tmp_path / "two.log")
    log = (tmp_path / "two.log").read_text()
    assert status == 0, log[-4000:]
    assert "process 1: done; process 0 wrote the outputs" in log, log[-4000:]
    status = _run([sys.executable, "-m", "bayeslstm", *args, "--no-progress", "--out", str(tmp_path / "one")],
                  _environment(bin_dir), tmp_path / "one.log")
    assert status == 0, (tmp_path / "one.log").read_text()[-4000:]

    two, one = tmp_path / "two", tmp_path / "one"
    assert {"summary.json", "report.md"} <= {p.name for p in two.iterdir()}
    assert len(list(two.glob("*.nc"))) == len(methods) and list(two.glob("*.png"))
    figures = re.findall(r"\]\(([^)]+\.png)\)", (two / "report.md").read_text())
    assert figures and all((two / f).exists() for f in figures)
    _same_outputs(two, one, methods, exact=False)  # the draws come from the state gathered from both processes

    assert all(json.loads((checkpoint / m / "manifest.json").read_text())["step"] == 24 for m in methods)
    status = _run(["bash", str(launcher), "2", "compare", "--resume", str(checkpoint), "--no-progress",
                   "--out", str(tmp_path / "again")], _environment(bin_dir), tmp_path / "again.log")
    assert status == 0, (tmp_path / "again.log").read_text()[-4000:]
    _same_outputs(tmp_path / "again", two, methods, exact=True)  # drawn from the restored state
    _check_refused_launch(tmp_path / "refused", *refused)


@pytest.mark.slow
def test_a_killed_process_fails_its_peer_at_once(tmp_path):
    """Process 1 is killed while the run goes on: process 0 exits non-zero at its next exchange
    (measured: 0.2 s later; jax.distributed's heartbeat would take 100 s) and writes nothing."""
    port, steps = _free_port(), 400
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONUNBUFFERED="1")
    logs = [tmp_path / f"p{i}.log" for i in range(2)]
    outs = [tmp_path / f"out{i}" for i in range(2)]
    files = [open(log, "w") for log in logs]
    procs = []
    try:
        for i in range(2):
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "bayeslstm", "run", "--method", "dekf", "--steps", str(steps), *SMALL,
                 "--devices", "2", "--coordinator", f"127.0.0.1:{port}", "--num-processes", "2", "--process-id", str(i),
                 "--checkpoint", str(tmp_path / "ck"), "--checkpoint-every", "32",
                 "--out", str(outs[i])], stdout=files[i], stderr=subprocess.STDOUT, env=env, start_new_session=True))
        deadline = time.monotonic() + LIMIT
        while not (tmp_path / "ck" / "manifest.json").exists():  # process 0 has checkpointed: the run is under way
            assert procs[0].poll() is None and time.monotonic() < deadline, logs[0].read_text()[-3000:]
            time.sleep(0.05)
        procs[1].kill()
        killed = time.monotonic()
        status = procs[0].wait(timeout=LIMIT)
        ended = time.monotonic() - killed
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        for f in files:
            f.close()
    log = logs[0].read_text()
    assert status != 0, log[-3000:]
    assert ended < 90, (ended, log[-3000:])
    assert not (outs[0] / "summary.json").exists(), log[-3000:]
