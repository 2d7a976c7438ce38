"""Memory of long runs: peak resident memory of a 10,000- and a 100,000-step run of a small model.

    python benchmarks/long_run.py --json benchmarks/results/long_run.json     # a few minutes on 2 CPU cores

Each run is a fresh subprocess (``resource.getrusage`` ru_maxrss is a process' peak), once
with ``record="summary"`` (about 1000 kept steps plus running error sums: flat memory) and
once with ``record="full"`` (every step kept: memory grows with the steps, slowly for a
small network). Besides the peak after the run, each child reports its peak just before
the run (stream and model built), so the runner's own share is visible. The target: the
100,000-step ``summary`` run's peak within 10% of the 10,000-step one's.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time

SETTINGS = dict(method="ekf", nodes=2, features=2, min_len=1, max_len=4, hidden=2)


def peak_kb() -> int:
    """This process' peak resident memory in KiB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child(steps: int, record: str) -> dict:
    """One run in this process; what it measured."""
    import jax

    import bayeslstm as bl

    s = SETTINGS
    stream, _ = bl.teacher_stream(steps=steps, nodes=s["nodes"], features=s["features"], min_len=s["min_len"],
                                  max_len=s["max_len"], seed=0)
    before = peak_kb()
    start = time.perf_counter()
    result = bl.run(stream, s["method"], model_options={"hidden": s["hidden"]}, record=record)
    return {"steps": steps, "record": record, "kept_steps": int(result.tae.sizes["time"]),
            "peak_before_run_kb": before, "peak_kb": peak_kb(), "final_tae": result.final_tae,
            "seconds": time.perf_counter() - start, "run_seconds": result.seconds, "jax": jax.__version__}


def measure(steps: int, record: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", str(steps), record], capture_output=True, text=True,
                         check=True, timeout=1800)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, nargs=2, default=[10_000, 100_000], metavar=("SHORT", "LONG"))
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--child", nargs=2, metavar=("STEPS", "RECORD"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(int(args.child[0]), args.child[1])))
        return
    runs = [measure(steps, record) for record in ("summary", "full") for steps in args.steps]
    for r in runs:
        print(f"{r['record']:>8s} {r['steps']:>7d} steps: peak {r['peak_kb'] / 1024:7.1f} MiB "
              f"({r['peak_before_run_kb'] / 1024:.1f} before the run), {r['kept_steps']} steps kept, "
              f"{r['run_seconds']:.1f} s running", flush=True)
    ratios = {record: next(r["peak_kb"] for r in runs if r["record"] == record and r["steps"] == args.steps[1])
              / next(r["peak_kb"] for r in runs if r["record"] == record and r["steps"] == args.steps[0])
              for record in ("summary", "full")}
    print("peak ratio long/short: " + ", ".join(f"{k} {v:.3f}" for k, v in ratios.items()))
    result = {"settings": SETTINGS, "runs": runs, "peak_ratio": ratios, "target": "summary ratio <= 1.10",
              "meets_target": ratios["summary"] <= 1.10, "python": platform.python_version(),
              "machine": platform.machine(), "processor": platform.processor()}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
