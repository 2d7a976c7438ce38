"""What a user meets when they get something wrong: every bad input is refused before any work.

On the command line (``bayeslstm run|compare``) each case below exits with status 2 and a
one-line message naming the flag the user gave, with no traceback and nothing written to
``--out``; in Python (``bl.run``, ``bl.teacher_stream``, ``bl.table_stream``) each raises one
of our errors naming the argument. A case per line: the battery catches a check that is lost
(a traceback, a flag the user never gave, a run that starts and fails minutes later in an
allocation). The command-line cases run in this process; most fail before JAX starts, the
rest before anything is compiled for the run.
"""

from __future__ import annotations

import json
import pathlib

import pytest

from bayeslstm.cli.main import main

# the smallest synthetic run, for the cases that get as far as building a method
SMALL = "--steps 4 --nodes 3 --features 2 --max-len 3 --model-arg hidden=2"
HUGE = "1000000000"

CLI_CASES = [
    # --method / --methods / --fusion
    ("run --method kalman", "argument --method: invalid choice: 'kalman'"),
    ("run --method ''", "argument --method: invalid choice"),
    ("compare --methods pff", "pff"),
    ("compare --methods ' , '", "no method given"),
    ("compare --methods pf@nowhere", "fusion"),
    ("compare --methods dpf@local", "dpf"),
    ("run --fusion sideways", "argument --fusion: invalid choice: 'sideways'"),
    ("compare --methods ekf --fusion sideways", "argument --fusion: invalid choice"),
    # real data: --dataset, --data, --target, --group, --order, --window, --horizon, --assign, --nan, --max-steps
    ("run --dataset weather", "argument --dataset: invalid choice: 'weather'"),
    ("run --dataset storms --data {d}/good.csv", "not both"),
    ("run --data {d}/good.csv", "--data needs --target"),
    ("run --data {d}/missing.csv --target y", "--data: no such file"),
    ("run --data {d}/malformed.csv --target y", "--data: "),
    ("run --data {d}/empty.csv --target y", "is empty"),
    ("run --data {d}/bytes.csv --target y", "is not a CSV text file"),
    ("run --data {d}/header.csv --target y", "--data: the table has no rows"),
    ("run --data {d}/table.xlsx --target y", "cannot tell the format"),
    ("compare --data {d}/malformed.csv --target y", "--data: "),
    ("run --data {d}/good.csv --target nope", "'nope'"),
    ("run --data {d}/good.csv --target y --group nope", "'nope'"),
    ("run --data {d}/good.csv --target y --order nope", "'nope'"),
    ("run --data {d}/good.csv --target y --features x,nope", "'nope'"),
    ("run --data {d}/good.csv --target y --window 8:3", "--window must have MIN <= MAX"),
    ("run --data {d}/good.csv --target y --window abc", "--window must be"),
    ("run --data {d}/good.csv --target y --window 0:5", "--window must be"),
    ("run --data {d}/good.csv --target y --window 1:2:3", "--window must be"),
    ("run --data {d}/good.csv --target y --window -1", "--window must be"),
    ("run --data {d}/good.csv --target y --window all:0", "--window must be"),
    ("compare --data {d}/good.csv --target y --window 9:2", "--window must have"),
    ("run --window 1:3", "add --data FILE or --dataset NAME"),
    ("run --data {d}/good.csv --target y --horizon -1", "argument --horizon"),
    ("run --data {d}/good.csv --target y --horizon x", "argument --horizon: expected a whole number"),
    ("run --data {d}/good.csv --target y --assign random", "argument --assign: invalid choice"),
    ("run --data {d}/good.csv --target y --nan ignore", "argument --nan: invalid choice"),
    ("run --nan drop", "--nan describes a table"),
    ("run --data {d}/good.csv --target y --max-steps 0", "argument --max-steps: must be a positive integer"),
    ("run --data {d}/good.csv --target y --max-steps 1.5", "argument --max-steps: expected a whole number"),
    ("run --max-steps 5", "--max-steps describes a table"),
    ("run --unit kWh", "--unit describes a table"),
    ("run --target y", "--target describes a table"),
    # --average (compare)
    ("compare --average 0", "argument --average: must lie in (0, 1]"),
    ("compare --average 1.5", "argument --average: must lie in (0, 1]"),
    ("compare --average x", "argument --average: expected a number in (0, 1]"),
    ("compare --average --record summary", "--average mixes every step's predictions: it needs --record full"),
    ("run --average 0.9", "unrecognized arguments: --average"),
    ("compare --average --average-pool graph", "argument --average-pool: invalid choice: 'graph'"),
    ("compare --average --average-score crps", "argument --average-score: invalid choice: 'crps'"),
    # the synthetic stream: --steps, --nodes, --features, --min-len, --max-len, --noise-var, --teacher-scale
    ("run --steps 0", "argument --steps: must be a positive integer"),
    ("run --steps abc", "argument --steps: expected a whole number"),
    ("run --steps 1e3", "argument --steps: expected a whole number"),
    ("compare --steps -5", "argument --steps"),
    ("run --nodes 0", "argument --nodes: must be a positive integer"),
    ("run --nodes two", "argument --nodes: expected a whole number"),
    ("run --features a,b", "--features of the synthetic stream is a width"),
    ("run --features 0", "--features must be a whole number >= 1"),
    ("run --min-len 0", "argument --min-len: must be a positive integer"),
    ("run --max-len 0", "argument --max-len: must be a positive integer"),
    ("run --min-len 9 --max-len 4", "need --min-len <= --max-len"),
    ("run --noise-var -1", "--noise-var must be a finite number >= 0"),
    ("run --noise-var nan", "--noise-var must be a finite number"),
    ("run --noise-var inf", "--noise-var must be a finite number"),
    ("run --noise-var x", "argument --noise-var: invalid float value"),
    ("run --teacher-scale inf", "--teacher-scale must be a finite number"),
    ("run --teacher-scale 0", "--teacher-scale must be a finite number > 0"),
    ("run --teacher-scale nan", "--teacher-scale must be a finite number"),
    # sizes that cannot fit are refused before anything is allocated
    ("run --steps 10000000000", "--steps 10000000000"),
    ("run --max-len 100000000", "--max-len 100000000"),
    ("run --nodes 100000000000", "--nodes 100000000000"),
    ("compare --features 100000000000", "--features 100000000000"),
    ("run --method pf --particles " + HUGE + " " + SMALL, "--particles " + HUGE),
    ("compare --methods ekf,pf --particles " + HUGE + " " + SMALL, "--particles " + HUGE),
    ("run --method enkf --members " + HUGE + " " + SMALL, "--members " + HUGE),
    ("run --method gspf --components " + HUGE + " " + SMALL, "--components " + HUGE),
    ("run --method lofi --rank " + HUGE + " " + SMALL, "--rank " + HUGE),
    ("run --method ekf --draws 1000000000000 " + SMALL, "--draws 1000000000000"),
    ("run --method ekf --predictive-draws 1000000000000 " + SMALL, "--predictive-draws 1000000000000"),
    # the model: --model, --model-arg
    ("run --model nope", "unknown model"),
    ("run --model {d}/nope.py:model", "--model {d}/nope.py:model: model file"),
    ("run --model {d}/plain.py:plain", "--model {d}/plain.py:plain: the model plain"),
    ("run --model {d}/plain.py:absent", "defines no 'absent'"),
    ("run --model {d}/broken.py:model", "importing"),
    ("run --model no_such_module_here:model", "cannot import module"),
    ("run --method ekf --model-arg hidden=-2", "--model-arg hidden=-2: hidden must be a whole number >= 1"),
    ("run --method ekf --model-arg hidden=0", "--model-arg hidden=0"),
    ("run --method ekf --model-arg hidden=abc", "--model-arg hidden=abc: hidden of the model lstm is an integer"),
    ("run --method ekf --model-arg hidden=2.5", "--model-arg hidden=2.5"),
    ("run --method ekf --model-arg q=-1", "--model-arg q=-1: q must be a finite number >= 0"),
    ("run --method ekf --model-arg q=nan", "--model-arg q=nan"),
    ("run --method ekf --model-arg r=0", "--model-arg r=0: r must be a finite number > 0"),
    ("run --method ekf --model-arg prior_scale=inf", "--model-arg prior_scale=inf"),
    ("run --method ekf --model-arg width=3", "the model lstm has no option 'width'"),
    ("run --method ekf --model-arg hidden", "--model-arg expects key=value"),
    ("run --method ekf --model linear-gaussian --model-arg r=-1", "--model-arg r=-1"),
    ("run --method ekf --model gru --model-arg pooling=median " + SMALL.replace(" --model-arg hidden=2", ""),
     "pooling"),
    # method options: the flags of the particle, Kalman, ensemble, Gaussian-sum and gradient methods
    ("run --method pf --particles 0", "argument --particles: must be a positive integer"),
    ("run --method pf --particles many", "argument --particles: expected a whole number"),
    ("run --method ekf --particles 3", "--method ekf does not take --particles"),
    ("run --method pf --resampling lottery", "argument --resampling: invalid choice"),
    ("run --method pf --ess-threshold 3 " + SMALL, "--ess-threshold must be"),
    ("run --method pf --ess-threshold nan", "--ess-threshold must be a finite number"),
    ("run --method pf --ess-threshold x", "argument --ess-threshold: invalid float value"),
    ("run --method pf --move jitter", "argument --move: invalid choice"),
    ("run --method pf --move liu-west --discount 1.5 " + SMALL, "--discount must be"),
    ("run --method pf --discount inf", "--discount must be a finite number"),
    ("run --method dpf --walk-steps 0", "argument --walk-steps: must be a positive integer"),
    ("compare --methods ekf,pf --walk-steps 3 " + SMALL, "takes --walk-steps"),
    ("run --method dgspf --consensus median", "argument --consensus: invalid choice: 'median'"),
    ("run --method dpf-consensus --consensus-iters -1", "argument --consensus-iters"),
    ("run --method dpf-consensus --flood-rounds x", "argument --flood-rounds: expected a whole number"),
    ("run --method ekf --covariance sparse", "argument --covariance: invalid choice"),
    ("run --method ekf --ekf-init zero", "argument --ekf-init: invalid choice"),
    ("run --method ekf --robust 0 " + SMALL, "--robust must be a finite number > 0"),
    ("run --method lofi --robust nan", "--robust must be a finite number"),
    ("run --method ekf --robust many", "argument --robust: invalid float value"),
    ("run --method pf --robust 4", "--method pf does not take --robust"),
    ("run --method ekf --fading 1.5 " + SMALL, "--fading must be a finite number > 0.0 and < 1.0"),
    ("run --method lofi --fading inf", "--fading must be a finite number"),
    ("run --method enkf --fading 0.9", "--method enkf does not take --fading"),
    ("run --method ekf --noise-forgetting 0.4 " + SMALL, "--noise-forgetting must be a finite number > 0.5 and <= 1.0"),
    ("run --method dgspf --noise-forgetting 1.5 " + SMALL, "--noise-forgetting must be a finite number > 0.5 and <= 1.0"),
    ("run --method pf --noise-forgetting 0.99", "--method pf does not take --noise-forgetting"),
    ("run --method lofi --rank 0", "argument --rank: must be a positive integer"),
    ("run --method enkf --members 1", "argument --members: must be an integer >= 2"),
    ("run --method ekf --members 10", "--method ekf does not take --members"),
    ("run --method enkf --ensemble-update perturbed", "argument --ensemble-update: invalid choice"),
    ("run --method enkf --inflation 0.5 " + SMALL, "--inflation must be"),
    ("run --method enkf --inflation nan", "--inflation must be a finite number"),
    ("run --method gspf --components 0", "argument --components: must be a positive integer"),
    ("run --method gspf --respawn-below 2 " + SMALL, "--respawn-below must be"),
    ("run --method gspf --respawn-below=-inf", "--respawn-below must be a finite number"),
    ("run --method gspf --robust=-1 " + SMALL, "--robust must be a finite number > 0"),
    ("run --method gspf --fading 1 " + SMALL, "--fading must be a finite number > 0.0 and < 1.0"),
    ("run --method dgspf --fading 0 " + SMALL, "--fading must be a finite number > 0.0 and < 1.0"),
    ("run --method sgd --learning-rate -1 " + SMALL, "--learning-rate must be"),
    ("run --method adam --learning-rate nan", "--learning-rate must be a finite number"),
    ("run --method adam --learning-rate fast", "argument --learning-rate: invalid float value"),
    # the network: --graph, --rule, --allow-disconnected
    ("run --method ekf --graph ring", "--graph set the graph of distributed methods"),
    ("run --method ekf --allow-disconnected", "--allow-disconnected set the graph"),
    ("compare --methods ekf,pf --rule uniform", "none of --methods uses one"),
    ("run --method dekf --rule best", "argument --rule: invalid choice"),
    ("run --method dekf --graph hypercube " + SMALL, "hypercube"),
    ("run --method dekf --graph {d}/nope.edgelist " + SMALL, "nope.edgelist"),
    ("run --method dpf --graph star --nodes 5 --rule uniform " + SMALL.replace("--nodes 3 ", ""),
     "doubly stochastic"),
    # run settings: --seed, --record
    ("run --seed -1", "--seed must be a whole number >= 0"),
    ("run --seed abc", "argument --seed: invalid int value"),
    ("run --seed 1e3", "argument --seed: invalid int value"),
    ("run --seed 99999999999999999999", "--seed must be a whole number"),
    ("compare --seed -3", "--seed must be"),
    ("run --record some", "--record must be full, summary or a positive integer"),
    ("run --record 0", "--record must be full, summary or a positive integer"),
    ("run --record -4", "--record must be"),
    # outputs: --out, --draws, --predictive-draws
    ("run --out {d}/afile", "--out {d}/afile is a file, not a folder"),
    ("run --out {d}/afile/sub", "cannot be made"),
    ("run --out /proc/bayeslstm-out", "--out /proc/bayeslstm-out"),
    ("compare --out /proc/bayeslstm-out", "--out /proc/bayeslstm-out"),
    ("run --draws 0", "argument --draws: must be a positive integer"),
    ("run --draws x", "argument --draws: expected a whole number"),
    ("run --predictive-draws 0", "argument --predictive-draws: must be a positive integer"),
    # faults: --link-failure, --node-dropout, --partition
    ("run --method ekf --link-failure 0.2", "--link-failure needs a distributed method"),
    ("run --method dekf --link-failure 1.5 " + SMALL, "--link-failure must be a finite number"),
    ("run --method dekf --link-failure nan", "--link-failure must be a finite number"),
    ("run --method dekf --link-failure x", "argument --link-failure: invalid float value"),
    ("run --method dekf --node-dropout -0.5 " + SMALL, "--node-dropout must be"),
    ("run --method dekf --node-dropout inf", "--node-dropout must be a finite number"),
    ("compare --methods ekf,pf --link-failure 0.1", "none of --methods is one"),
    ("run --method dpf-consensus --partition 5:10:0-99 " + SMALL, "--partition must name nodes of the graph"),
    ("run --method dpf-consensus --partition 9:5:0 " + SMALL, "--partition must end after it starts"),
    ("run --method ekf --partition 5:10:0", "--partition needs a distributed method"),
    ("run --method dpf-consensus --partition 5-10", "argument --partition: expected START:STOP:NODES"),
    # devices and hosts: --devices, --exchange, --coordinator, --num-processes, --process-id
    ("run --devices 0", "argument --devices: must be a positive integer"),
    ("run --method ekf --fusion centralized --devices 1", "no node axis"),
    ("run --method dekf --devices 64 " + SMALL, "available"),
    ("run --exchange carrier-pigeon", "argument --exchange: invalid choice"),
    ("run --coordinator 127.0.0.1:1", "need all of"),
    ("run --coordinator localhost --num-processes 2 --process-id 0", "--coordinator must be HOST:PORT"),
    ("run --coordinator host:99999 --num-processes 2 --process-id 0", "--coordinator must be HOST:PORT"),
    ("run --num-processes 0", "argument --num-processes: must be a positive integer"),
    ("run --process-id -1", "argument --process-id"),
    ("run --coordinator 127.0.0.1:1 --num-processes 2 --process-id 5", "--process-id < --num-processes"),
    # checkpoints: --checkpoint, --checkpoint-every, --resume
    ("run --method ekf --checkpoint {d}/afile", "--checkpoint {d}/afile is a file, not a folder"),
    ("run --method ekf --checkpoint /proc/bayeslstm-ck", "--checkpoint /proc/bayeslstm-ck"),
    ("run --method ekf --checkpoint-every 5", "--checkpoint-every needs --checkpoint DIR"),
    ("run --method ekf --checkpoint {d}/ck-new --checkpoint-every 0", "argument --checkpoint-every"),
    ("run --resume {d}/missing", "no checkpoint in"),
    ("run --resume {d}/empty-folder", "no checkpoint in"),
    ("run --resume {d}/started --method ekf", "was written by a different run: --method dekf in its command but --method ekf now"),
    ("compare --resume {d}/started", "continue it with: bayeslstm run --resume"),
    ("run --resume {d}/started --checkpoint {d}/other", "leave out --checkpoint"),
]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> pathlib.Path:
    """One folder of bad (and a few good) inputs that every case reads and none writes to."""
    d = tmp_path_factory.mktemp("bad-inputs")
    (d / "malformed.csv").write_text('a,b,y\n1,2,3\n4,5,6,7,8\n"unterminated,1,2\n')
    (d / "empty.csv").write_text("")
    (d / "bytes.csv").write_bytes(bytes(range(128, 256)) * 8)
    (d / "header.csv").write_text("x,y\n")
    (d / "table.xlsx").write_text("x,y\n1,2\n")
    (d / "good.csv").write_text("t,x,y\n" + "".join(f"{i},{i % 7},{i % 5}\n" for i in range(40)))
    (d / "plain.py").write_text("def plain(X, y=None):\n    return X\n")
    (d / "broken.py").write_text("raise RuntimeError('broken on import')\n")
    (d / "afile").write_text("not a folder")
    (d / "empty-folder").mkdir()
    (d / "started").mkdir()  # a run killed before its first checkpoint: its command, no manifest
    arguments = {"method": "dekf", "graph": "ring", "steps": 4, "nodes": 3}
    (d / "started" / "command.json").write_text(json.dumps({"command": "run", "arguments": arguments}))
    return d


def _lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.strip()]


@pytest.mark.parametrize("argv, message", CLI_CASES, ids=[argv for argv, _ in CLI_CASES])
def test_the_command_line_refuses_with_one_line_naming_the_flag(files, tmp_path, capsys, argv, message):
    """Exit 2, the flag in the last line of stderr (after argparse's usage line, if any), no
    traceback, and nothing written: not the output folder, not a checkpoint."""
    import shlex

    out = tmp_path / "out"
    words = [w.replace("{d}", str(files)) for w in shlex.split(argv)]
    words = [*words, "--no-progress"] + ([] if "--out" in words else ["--out", str(out)])
    before = sorted(p.name for p in files.rglob("*"))
    assert main(words) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    last = _lines(err)[-1]
    assert last.startswith("bayeslstm") and ": error: " in last, err
    assert message.replace("{d}", str(files)) in last, err
    assert not out.exists()
    assert sorted(p.name for p in files.rglob("*")) == before


@pytest.fixture(scope="module")
def stream():
    import bayeslstm as bl

    return bl.teacher_stream(steps=4, nodes=3, features=2, max_len=3)[0]


SMALL_MODEL = {"model_options": {"hidden": 2}}

PYTHON_CASES = [
    # what bl.run takes as its stream
    ("run-path", lambda s, d: ("run", "stream.csv", "pf"), "InputError", "bl.table_stream(path, target=COLUMN)"),
    ("run-frame", lambda s, d: ("run", _frame(), "pf"), "InputError", "bl.table_stream(table, target=COLUMN)"),
    ("run-array", lambda s, d: ("run", [1, 2, 3], "pf"), "InputError", "stream must be a Stream"),
    # the seed
    ("seed-text", lambda s, d: ("run", s, "ekf", {"seed": "abc"}), "OptionError", "seed must be a whole number"),
    ("seed-negative", lambda s, d: ("run", s, "ekf", {"seed": -1}), "OptionError", "seed must be a whole number >= 0"),
    ("seed-fraction", lambda s, d: ("run", s, "ekf", {"seed": 1.5}), "OptionError", "seed must be a whole number"),
    ("seed-huge", lambda s, d: ("run", s, "ekf", {"seed": 2**64}), "OptionError", "seed must be a whole number"),
    # methods, options and the graph
    ("method-unknown", lambda s, d: ("run", s, "kalman"), "OptionError", "kalman"),
    ("fusion-unknown", lambda s, d: ("run", s, "ekf", {"fusion": "sideways"}), "OptionError", "sideways"),
    ("graph-for-pf", lambda s, d: ("run", s, "pf", {"graph": "ring"}), "OptionError",
     "graph='ring' is for distributed methods"),
    ("graph-object-for-ekf", lambda s, d: ("run", s, "ekf", {"graph": _ring()}), "OptionError",
     "a graph (Graph) is for distributed methods"),
    ("allow-disconnected-for-ekf", lambda s, d: ("run", s, "ekf", {"allow_disconnected": True}), "OptionError",
     "allow_disconnected=True is for distributed methods"),
    ("option-unknown", lambda s, d: ("run", s, "ekf", {"num_particles": 8}), "OptionError", "num_particles"),
    ("particles-zero", lambda s, d: ("run", s, "pf", {"num_particles": 0, **SMALL_MODEL}), "OptionError",
     "num_particles must be a whole number >= 1"),
    ("ess-nan", lambda s, d: ("run", s, "pf", {"ess_threshold": float("nan"), **SMALL_MODEL}), "OptionError",
     "ess_threshold must be a finite number"),
    ("particles-huge", lambda s, d: ("run", s, "pf", {"num_particles": 10**9, **SMALL_MODEL}), "OptionError",
     "pf with num_particles=1000000000 on 3 nodes needs at least"),
    ("record-zero", lambda s, d: ("run", s, "ekf", {"record": 0, **SMALL_MODEL}), "OptionError", "record must be"),
    ("chunk-zero", lambda s, d: ("run", s, "ekf", {"chunk_size": 0, **SMALL_MODEL}), "OptionError",
     "chunk_size must be positive"),
    # the model
    ("model-plain", lambda s, d: ("run", s, "ekf", {"model": f"{d}/plain.py:plain"}), "ModelError",
     "is neither a declaration model(X, mask, theta_prev=None, d=None)"),
    ("model-hidden", lambda s, d: ("run", s, "ekf", {"model_options": {"hidden": -2}}), "ModelError",
     "model_options hidden=-2: hidden must be a whole number >= 1"),
    ("model-r", lambda s, d: ("run", s, "ekf", {"model": "linear-gaussian", "model_options": {"r": 0.0}}),
     "ModelError", "r must be a finite number > 0"),
    ("model-option-unknown", lambda s, d: ("run", s, "ekf", {"model_options": {"width": 3}}), "ModelError",
     "unknown model option"),
    # checkpoints
    ("checkpoint-file", lambda s, d: ("run", s, "ekf", {"checkpoint": f"{d}/afile", **SMALL_MODEL}), "OptionError",
     "is a file, not a folder"),
    ("checkpoint-unwritable", lambda s, d: ("run", s, "ekf", {"checkpoint": "/proc/bayeslstm-ck", **SMALL_MODEL}),
     "OptionError", "/proc is not writable"),
    ("resume-nothing", lambda s, d: ("run", s, "ekf", {"checkpoint": f"{d}/empty-folder", "resume": True,
                                                        **SMALL_MODEL}), "CheckpointError", "no checkpoint in"),
    ("resume-without-folder", lambda s, d: ("run", s, "ekf", {"resume": True, **SMALL_MODEL}), "OptionError",
     "resume=True needs the checkpoint folder"),
    # the synthetic stream
    ("teacher-steps-huge", lambda s, d: ("teacher_stream", {"steps": 10**10}), "OptionError",
     "steps=10000000000, nodes=1, max_len=16, features=4 needs at least"),
    ("teacher-max-len-huge", lambda s, d: ("teacher_stream", {"max_len": 10**8, "nodes": 10}), "OptionError",
     "max_len=100000000"),
    ("teacher-scale-inf", lambda s, d: ("teacher_stream", {"teacher_scale": float("inf")}), "OptionError",
     "teacher_scale must be a finite number > 0"),
    ("teacher-noise-nan", lambda s, d: ("teacher_stream", {"noise_var": float("nan")}), "InputError",
     "noise_var must be a finite number >= 0"),
    ("teacher-lengths", lambda s, d: ("teacher_stream", {"min_len": 5, "max_len": 2}), "InputError",
     "min_len <= max_len"),
    ("teacher-steps-zero", lambda s, d: ("teacher_stream", {"steps": 0}), "InputError", "steps must be"),
    ("teacher-seed", lambda s, d: ("teacher_stream", {"seed": -1}), "OptionError", "seed must be"),
    # tables
    ("table-malformed", lambda s, d: ("table_stream", f"{d}/malformed.csv", {"target": "y"}), "InputError",
     "is not a readable CSV table"),
    ("table-empty", lambda s, d: ("table_stream", f"{d}/empty.csv", {"target": "y"}), "InputError", "is empty"),
    ("table-bytes", lambda s, d: ("table_stream", f"{d}/bytes.csv", {"target": "y"}), "InputError",
     "is not a CSV text file"),
    ("table-header-only", lambda s, d: ("table_stream", f"{d}/header.csv", {"target": "y"}), "InputError",
     "the table has no rows"),
    ("table-window-order", lambda s, d: ("table_stream", f"{d}/good.csv", {"target": "y", "window": "8:3"}),
     "InputError", "window must have MIN <= MAX"),
    ("table-window-text", lambda s, d: ("table_stream", f"{d}/good.csv", {"target": "y", "window": "abc"}),
     "InputError", "window must be"),
    ("table-window-zero", lambda s, d: ("table_stream", f"{d}/good.csv", {"target": "y", "window": (0, 5)}),
     "InputError", "whole numbers >= 1"),
]


def _frame():
    import pandas as pd

    return pd.DataFrame({"x": [1.0, 2.0], "y": [0.0, 1.0]})


def _ring():
    import networkx as nx

    return nx.cycle_graph(3)


@pytest.mark.parametrize("make, error, message", [case[1:] for case in PYTHON_CASES],
                         ids=[case[0] for case in PYTHON_CASES])
def test_python_refuses_with_our_error_naming_the_argument(files, stream, make, error, message):
    """``bl.run``, ``bl.teacher_stream`` and ``bl.table_stream`` raise one of our errors (never
    a TypeError or a pandas, NumPy or JAX error) whose message names the argument."""
    import bayeslstm as bl

    name, *args = make(stream, files)
    kwargs = args.pop() if args and isinstance(args[-1], dict) else {}
    with pytest.raises(bl.BayesLSTMError) as caught:
        getattr(bl, name)(*args, **kwargs)
    assert type(caught.value).__name__ == error
    assert message in str(caught.value)
    assert sorted(p.name for p in files.rglob("*")) == sorted(FILES)


FILES = ["malformed.csv", "empty.csv", "bytes.csv", "header.csv", "table.xlsx", "good.csv", "plain.py", "broken.py",
         "afile", "empty-folder", "started", "command.json"]
