"""Scale: low-rank filters for large LSTMs, and networks of many nodes.

    python benchmarks/scale.py --json benchmarks/results/scale.json --plot benchmarks/results/scale.png   # about 45 minutes on 2 CPU cores
    python benchmarks/scale.py --quick                                 # a smoke run of a few minutes

Weights: a teacher LSTM with 8 input features and hidden 4, 16, 32, 64 (d = 4n(n+9) + n weights,
up to 18,752; weights of standard deviation 2 / sqrt(n), so that the labels' scale does not grow
with n) labels a stream at K = 10 nodes; every learner has the teacher's size. For each
size: the full-covariance EKF (where its K covariances fit: K d^2 floats), the diagonal EKF,
LoFi with rank 5, 10 and 20, Adam, and the distributed version of each (dekf, dlofi, dadam),
each run in a fresh process that reports its running time per step (compilation apart), its
peak resident memory and its final TAE. Log-log slopes of time per step against d.

Nodes: dsgd, dlofi (rank 5), denkf (16 members) and the diagonal DEKF on a ring (the
neighbour-table path) with K = 104, 304, 1000 nodes of a hidden-4 LSTM; time per step
against K, on one device and sharded over 8 virtual CPU devices.

Every result records the machine (CPU model, cores, load) it was measured on.
"""

from __future__ import annotations

import argparse
import json
import math
import pathlib
import resource
import subprocess
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import common  # noqa: E402

FEATURES, MAX_LEN = 8, 8
HIDDEN = (4, 16, 32, 64)
NODES = 10
FULL_COVARIANCE_BYTES = 4e9  # run the full-covariance EKF only where K covariances take less
WEIGHT_METHODS = {
    "ekf (full)": ("ekf", {}), "ekf (diagonal)": ("ekf", {"covariance": "diagonal"}),
    "lofi R=5": ("lofi", {"rank": 5}), "lofi R=10": ("lofi", {"rank": 10}), "lofi R=20": ("lofi", {"rank": 20}),
    "adam": ("adam", {}),
    "dekf (full)": ("dekf", {}), "dekf (diagonal)": ("dekf", {"covariance": "diagonal"}),
    "dlofi R=5": ("dlofi", {"rank": 5}), "dlofi R=10": ("dlofi", {"rank": 10}), "dlofi R=20": ("dlofi", {"rank": 20}),
    "dadam": ("dadam", {}),
}
NODE_COUNTS = (104, 304, 1000)  # multiples of 8: the sharded runs split them evenly
NODE_METHODS = {"dsgd": ("dsgd", {}), "dlofi R=5": ("dlofi", {"rank": 5}), "denkf M=16": ("denkf", {"num_members": 16}),
                "dekf (diagonal)": ("dekf", {"covariance": "diagonal"})}


def weights(hidden: int) -> int:
    return 4 * hidden * (hidden + FEATURES + 1) + hidden


def child(spec: dict) -> dict:
    """One run in this process: its time per step, peak memory and final TAE."""
    import jax

    if spec.get("devices", 1) > 1:
        jax.config.update("jax_num_cpu_devices", spec["devices"])
    import bayeslstm as bl
    from bayeslstm.methods import method_specs
    from bayeslstm.models import lstm_regression

    teacher = lstm_regression(features=FEATURES, hidden=spec["hidden"], prior_scale=2.0 / math.sqrt(spec["hidden"]))
    stream, _ = bl.teacher_stream(steps=spec["steps"], nodes=spec["nodes"], features=FEATURES, min_len=2,
                                  max_len=MAX_LEN, seed=0, model=teacher)
    options = dict(spec["options"])
    if spec.get("devices", 1) > 1:
        options["mesh"] = spec["devices"]
    if method_specs(spec["method"])[0][2] == "distributed":  # the others take no graph
        options["graph"] = spec.get("graph", "small-world")
    result = bl.run(stream, spec["method"], model_options={"hidden": spec["hidden"]}, **options)
    return {"ms_per_step": 1e3 * result.seconds / spec["steps"], "compile_seconds": result.compile_seconds,
            "final_tae": result.final_tae, "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "weights": int(result.config["parameters"])}


def measure(spec: dict) -> dict:
    start = time.perf_counter()
    try:
        out = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], capture_output=True, text=True,
                             check=True, timeout=3600)
        row = json.loads(out.stdout.strip().splitlines()[-1])
    except subprocess.CalledProcessError as exc:
        row = {"error": (exc.stderr or "").strip().splitlines()[-1][:300] if exc.stderr else "failed"}
    row.update(spec, wall_seconds=time.perf_counter() - start)
    return row


def slope(xs, ys) -> float:
    """Least-squares slope of log y against log x."""
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly)) / sum((a - mx) ** 2 for a in lx)


def plot(result: dict, path: pathlib.Path) -> None:
    """Two log-log panels: time per step against the number of weights d (K = 10), and
    against the number of nodes K (one device, solid; 8 devices, dashed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    local = [label for label in WEIGHT_METHODS if not label.startswith("d")]
    for label in WEIGHT_METHODS:  # a distributed method (dashed) in its local version's colour
        points = [r for r in result["weights"] if r["label"] == label and "ms_per_step" in r]
        colour = f"C{local.index(label[1:] if label.startswith('d') else label)}"
        if points:
            left.plot([p["weights"] for p in points], [p["ms_per_step"] for p in points], marker="o", markersize=3,
                      linestyle="--" if label.startswith("d") else "-", color=colour, label=label)
    left.set(xscale="log", yscale="log", xlabel="weights d", ylabel="ms per step (10 nodes)",
             title="Time against the number of weights")
    left.legend(fontsize=7, ncols=2)
    for i, label in enumerate(NODE_METHODS):
        for devices, style in ((1, "-"), (8, "--")):
            points = [r for r in result["nodes"] if r["label"] == label and r["devices"] == devices and "ms_per_step" in r]
            if points:
                right.plot([p["nodes"] for p in points], [p["ms_per_step"] for p in points], marker="o", markersize=3,
                           linestyle=style, color=f"C{i}", label=f"{label}, {devices} device{'s' if devices > 1 else ''}")
    right.set(xscale="log", yscale="log", xlabel="nodes K (ring)", ylabel="ms per step (whole network)",
              title="Time against the number of nodes (hidden 4)")
    right.legend(fontsize=7)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150, help="steps per weight-scaling run (default 150)")
    parser.add_argument("--node-steps", type=int, default=20, help="steps per node-scaling run (default 20)")
    parser.add_argument("--quick", action="store_true", help="hidden 4 and 16, K = 100 and 300, few steps")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--plot", help="draw the figure here (PNG); with --from, from an earlier --json file")
    parser.add_argument("--from", dest="source", help="an earlier --json file: only draw --plot from it, run nothing")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.source:
        if not args.plot:
            parser.error("--from needs --plot")
        plot(json.loads(pathlib.Path(args.source).read_text()), pathlib.Path(args.plot))
        return 0
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return 0
    hidden = HIDDEN[:2] if args.quick else HIDDEN
    counts = NODE_COUNTS[:2] if args.quick else NODE_COUNTS
    steps, node_steps = (30, 10) if args.quick else (args.steps, args.node_steps)
    rows = []
    for n in hidden:
        d = weights(n)
        for label, (method, options) in WEIGHT_METHODS.items():
            if "full" in label and NODES * d * d * 4 > FULL_COVARIANCE_BYTES:
                rows.append({"label": label, "hidden": n, "weights": d, "skipped": f"{NODES} covariances of {d}^2 floats "
                             f"take {NODES * d * d * 4 / 1e9:.1f} GB"})
                print(f"hidden {n:2d} (d={d:5d}) {label:16s} skipped: does not fit", flush=True)
                continue
            row = measure({"method": method, "options": options, "hidden": n, "nodes": NODES, "steps": steps})
            row.update(label=label, hidden=n, weights=d)
            rows.append(row)
            print(f"hidden {n:2d} (d={d:5d}) {label:16s} " + (f"{row['ms_per_step']:9.2f} ms/step  peak "
                  f"{row['peak_mib']:7.0f} MiB  TAE {row['final_tae']:.4f}" if "error" not in row else row["error"]),
                  flush=True)
    node_rows = []
    for devices in (1, 8):
        for label, (method, options) in NODE_METHODS.items():
            for k in counts:
                row = measure({"method": method, "options": options, "hidden": 4, "nodes": k, "steps": node_steps,
                               "graph": "ring", "devices": devices})
                row.update(label=label, nodes=k, devices=devices)
                node_rows.append(row)
                print(f"K={k:5d} on {devices} device(s) {label:16s} " + (f"{row['ms_per_step']:9.2f} ms/step" if
                      "error" not in row else row["error"]), flush=True)
    result = {"machine": common.machine(), "steps": steps, "node_steps": node_steps, "weights": rows,
              "nodes": node_rows, "slopes": {}, "targets": {}}
    ok = lambda r: "ms_per_step" in r  # noqa: E731
    for label in WEIGHT_METHODS:
        points = [r for r in rows if r["label"] == label and ok(r) and r["hidden"] >= 16]
        if len(points) >= 2:
            result["slopes"][f"{label}: time vs d, hidden 16 to {points[-1]['hidden']}"] = slope(
                [p["weights"] for p in points], [p["ms_per_step"] for p in points])
    for devices in (1, 8):
        for label in NODE_METHODS:
            points = [r for r in node_rows if r["label"] == label and r["devices"] == devices and ok(r)]
            if len(points) >= 2:
                result["slopes"][f"{label} on {devices} device(s): time vs K"] = slope(
                    [p["nodes"] for p in points], [p["ms_per_step"] for p in points])
    pick = lambda label, n: next((r for r in rows if r["label"] == label and r["hidden"] == n and ok(r)), None)  # noqa
    dekf16, dlofi16 = pick("dekf (full)", 16), pick("dlofi R=10", 16)
    if dekf16 and dlofi16:
        result["targets"]["hidden 16: dlofi R=10 within 15% of the DEKF's TAE at <= 1/5 its time"] = {
            "tae_ratio": dlofi16["final_tae"] / dekf16["final_tae"], "time_ratio": dlofi16["ms_per_step"] / dekf16["ms_per_step"],
            "holds": dlofi16["final_tae"] <= 1.15 * dekf16["final_tae"] and dlofi16["ms_per_step"] <= dekf16["ms_per_step"] / 5}
    dlofi64, dadam64 = pick("dlofi R=10", 64), pick("dadam", 64)
    if dlofi64 and dadam64:
        result["targets"]["hidden 64: dlofi R=10 under 2 GB and below dadam's TAE"] = {
            "peak_mib": dlofi64["peak_mib"], "tae": dlofi64["final_tae"], "dadam_tae": dadam64["final_tae"],
            "holds": dlofi64["peak_mib"] < 2048 and dlofi64["final_tae"] < dadam64["final_tae"]}
    for key, value in result["slopes"].items():
        if key.startswith("lofi R=10: time vs d"):
            result["targets"]["lofi time slope <= 1.15 in d from hidden 16 to 64"] = {"slope": value, "holds": value <= 1.15}
        if key.endswith("time vs K") and (key.startswith("dsgd") or key.startswith("dlofi")):
            result["targets"][f"{key}: slope 1 +- 0.15"] = {"slope": value, "holds": abs(value - 1) <= 0.15}
    print(json.dumps({"slopes": result["slopes"], "targets": result["targets"]}, indent=1))
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(result, indent=1))
    if args.plot:
        plot(result, pathlib.Path(args.plot))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
