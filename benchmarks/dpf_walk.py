"""Where the Markov-chain DPF's step goes: its floor is S likelihood sweeps per step.

Each of a ``dpf`` step's S walk steps evaluates every particle's likelihood at the node it has
walked to: one pass of the LSTM over a sequence per particle, the cost of a local particle
filter's whole observation. So a step costs about S observation sweeps, plus the resampling
and the group count. This script times, in one process on the default compare's stream (10
nodes on a ring, 300 particles, the synthetic teacher), ``pf@local`` (one sweep per step) and
``dpf`` with S = 1, 2, 5 and 10 (the default), and fits time = a + b S.

    python benchmarks/dpf_walk.py            # 200 steps per run (a few minutes)
    python benchmarks/dpf_walk.py --quick    # 40 steps

Writes benchmarks/results/dpf_walk[_quick].json.
"""

from __future__ import annotations

import argparse
import json
import pathlib

import common
import numpy as np

import bayeslstm as bl

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
WALKS = (1, 2, 5, 10)


def ms_per_step(stream, method: str, **options) -> float:
    result = bl.run(stream, method, seed=0, record="summary", cache=False, **options)
    return 1e3 * result.seconds / stream.steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="40 steps per run instead of 200")
    args = parser.parse_args()
    steps = 40 if args.quick else 200
    stream, _ = bl.teacher_stream(steps=steps, nodes=10, seed=0)
    local = ms_per_step(stream, "pf", fusion="local")
    walks = {s: ms_per_step(stream, "dpf", graph="ring", walk_steps=s) for s in WALKS}
    slope, intercept = np.polyfit(list(walks), list(walks.values()), 1)
    report = {"machine": common.machine(), "steps": steps, "nodes": 10, "particles": 300,
              "pf_local_ms": local, "dpf_ms_by_walk_steps": walks,
              "fit_ms": {"per_walk_step": float(slope), "fixed": float(intercept)},
              "walk_step_over_pf_local_step": float(slope / local)}
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"dpf_walk{'_quick' if args.quick else ''}.json"
    path.write_text(json.dumps(report, indent=1))
    print(f"pf@local {local:.1f} ms/step; dpf: " + ", ".join(f"S={s}: {t:.1f}" for s, t in walks.items()))
    print(f"fit: {intercept:.1f} ms + {slope:.2f} ms per walk step ({slope / local:.2f} pf@local steps); wrote {path}")


if __name__ == "__main__":
    main()
