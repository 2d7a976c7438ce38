"""Sharding (bayeslstm.network.sharding): the node axis sharded with jax.shard_map over 4 CPU
devices, and over 2 processes with jax.distributed (gloo on 127.0.0.1), gives the single-device
numbers. Each runs in fresh processes (JAX fixes its devices at start), bounded in time and
always cleaned up; which blocks a halo exchange needs is checked in this process."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

import bayeslstm as bl

WORKER = Path(__file__).resolve().parents[1] / "sharding_worker.py"  # tests/sharding_worker.py
LIMIT = 420  # seconds: generous for a loaded 2-core machine


def _start(args, log):
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    return subprocess.Popen([sys.executable, str(WORKER), *map(str, args)], stdout=log, stderr=subprocess.STDOUT, env=env)


def _finish(procs, logs):
    try:
        for p in procs:
            p.wait(timeout=LIMIT)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for p, log in zip(procs, logs):
        assert p.returncode == 0, Path(log).read_text()[-3000:]


@pytest.mark.slow
def test_one_step_on_four_devices_equals_one_device(tmp_path):
    """One step of every distributed construction, and 30 steps of the particle methods (the
    Markov-chain DPF's walks, the consensus DPF's elections and resampling, faults), sharded
    over 4 devices give the single-device numbers (measured: bit-identical for the particle
    methods; within float32 rounding of each value's size for the Kalman-type ones, whose
    sums XLA may order differently per layout). Per-node keys or exchanges that depended on
    where a node sits on the mesh, or a factor whose sign depended on it, would drift apart."""
    out, log = tmp_path / "devices.json", tmp_path / "devices.log"
    with open(log, "w") as f:
        _finish([_start(["devices", out], f)], [log])
    report = json.loads(out.read_text())
    for case, diff in report["differences"].items():
        assert diff < 5e-5, (case, diff)  # measured: at most 8e-6 (dlofi); a layout-dependent bug gives O(1)
    assert len(report["differences"]) == 9
    # 30 steps of the particle methods, resampling all along (measured: bit-identical)
    assert len(report["many_steps"]) == 2
    for case, entry in report["many_steps"].items():
        assert entry["difference"] < 1e-5, (case, entry)
        assert entry["resampled"] >= entry["steps"], (case, entry)  # many resamplings, not one
    refusals = report["refusals"]
    assert refusals["uneven"].startswith("GraphError") and "6 nodes" in refusals["uneven"], refusals
    assert refusals["centralized"].startswith("OptionError") and "no node axis" in refusals["centralized"], refusals
    assert refusals["too many"].startswith("OptionError") and "available" in refusals["too many"], refusals


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_with_jax_distributed_equal_one_process(tmp_path):
    port = _free_port()
    outs = [tmp_path / f"p{i}.json" for i in range(2)]
    logs = [tmp_path / f"p{i}.log" for i in range(2)]
    files = [open(log, "w") for log in logs]
    try:
        procs = [_start(["process", i, 2, port, outs[i]], files[i]) for i in range(2)]
        _finish(procs, logs)
    finally:
        for f in files:
            f.close()
    reports = [json.loads(o.read_text()) for o in outs]
    assert [r["process"] for r in reports] == [0, 1] and all(r["devices"] == 2 for r in reports)
    from bayeslstm.report.inference_data import to_inference_data

    stream = bl.teacher_stream(steps=2, nodes=4, features=2, max_len=4, seed=2)[0]
    for method, options in (("dekf", {}), ("dpf", {"num_particles": 8})):
        single = bl.run(stream, method, graph="ring", model_options={"hidden": 2}, **options)
        posterior = to_inference_data(single, num_draws=10, seed=1).posterior
        for r in reports:  # every process holds the whole result, as one process does
            np.testing.assert_allclose(np.asarray(r[method]["predictions"]), single.predictions, rtol=0, atol=1e-5)
            leaves = jax.tree_util.tree_leaves(single.final_state)
            assert len(r[method]["final_state"]) == len(leaves)
            for got, want in zip(r[method]["final_state"], leaves):
                np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-5)
            assert sorted(r[method]["draws"]) == sorted(posterior.data_vars)
            for name, draws in r[method]["draws"].items():
                assert np.shape(draws) == posterior[name].shape
                if method == "dpf":  # resampled particles: the same draws. A Gaussian's draws go through
                    # its covariance's eigenvectors, which after two steps are not unique (eigenvalues near-tied)
                    np.testing.assert_allclose(np.asarray(draws), posterior[name].values, rtol=0, atol=1e-6, err_msg=name)


def test_halo_offsets_are_the_block_offsets_some_edge_crosses():
    """Nodes 0..7 in blocks of two on 4 devices: a ring's edges cross to the next and the
    previous block only (offsets 1 and 3 = -1); a complete graph's reach every block."""
    from bayeslstm.network.graph import make_network
    from bayeslstm.network.sharding import halo_offsets
    from bayeslstm.network.topology import topology

    assert halo_offsets(make_network(topology("ring", 8)), 4) == (1, 3)
    assert halo_offsets(make_network(topology("complete", 8)), 4) == (1, 2, 3)
    assert halo_offsets(make_network(topology("ring", 8)), 1) == ()
