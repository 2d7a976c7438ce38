"""Time to first result, as a new user meets it: ``bayeslstm --version`` and ``--help``, the
README's first command (``bayeslstm compare``) on a cold and on a warm compilation cache, and
how long writing its outputs takes. Every command runs in a fresh process, as a user types it,
with a fresh cache folder (``XDG_CACHE_HOME``) for the cold run.

    python benchmarks/first_result.py            # the README's command as it is (minutes)
    python benchmarks/first_result.py --quick    # 200 steps instead of 1000

Writes benchmarks/results/first_result[_quick].json and prints each target beside its measure.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import time

import common

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
TARGETS = {"version_s": 1.0, "help_s": 1.0, "cold_s": 60.0, "warm_s": 25.0, "outputs_s": 5.0}


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    """Wall seconds of ``bayeslstm ARGV`` in a fresh process, and what it printed."""
    code = f"from bayeslstm.cli.main import main; raise SystemExit(main({argv!r}))"
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"bayeslstm {' '.join(argv)} failed:\n{done.stderr[-2000:]}")
    return seconds, done.stdout + done.stderr


def compare_run(argv: list[str], env: dict[str, str]) -> dict[str, float]:
    """The compare command's wall time, its compile and run seconds, and the seconds from
    "writing outputs" to the end (measured by the lines' arrival)."""
    code = f"from bayeslstm.cli.main import main; raise SystemExit(main({argv!r}))"
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-u", "-c", code], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    writing = None
    compile_s = run_s = 0.0
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("writing outputs"):
            writing = time.perf_counter()
        found = re.search(r"\(([\d.]+) s running, ([\d.]+) s compiling\)", line)
        if found:
            run_s += float(found[1])
            compile_s += float(found[2])
    if process.wait() != 0:
        raise SystemExit(f"bayeslstm {' '.join(argv)} failed")
    end = time.perf_counter()
    return {"wall_s": end - start, "compile_s": compile_s, "steps_s": run_s,
            "outputs_s": end - writing if writing is not None else float("nan")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="200 steps instead of the README's 1000")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BAYESLSTM_")}
        env["XDG_CACHE_HOME"] = str(pathlib.Path(folder) / "cache")
        out = str(pathlib.Path(folder) / "out")
        version_s, _ = timed(["--version"], env)
        help_s, _ = timed(["compare", "--help"], env)
        command = ["compare", "--out", out, "--no-progress"] + (["--steps", "200"] if args.quick else [])
        cold = compare_run(command, env)
        warm = compare_run(command, env)
    measured = {"version_s": version_s, "help_s": help_s, "cold_s": cold["wall_s"], "warm_s": warm["wall_s"],
                "outputs_s": warm["outputs_s"]}
    report = {"machine": common.machine(), "quick": args.quick, "command": "bayeslstm " + " ".join(command[:1] + command[3:]),
              "cold": cold, "warm": warm, "measured": measured, "targets": TARGETS,
              "holds": {k: measured[k] <= TARGETS[k] for k in TARGETS}}
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"first_result{'_quick' if args.quick else ''}.json"
    path.write_text(json.dumps(report, indent=1))
    for key, target in TARGETS.items():
        print(f"{key:>10s} {measured[key]:8.1f} s   target {target:5.1f} s   {'holds' if measured[key] <= target else 'MISSED'}")
    print(f"cold: {cold}\nwarm: {warm}\nwrote {path}")


if __name__ == "__main__":
    main()
