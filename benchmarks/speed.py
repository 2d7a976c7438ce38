"""Speed and scaling of the kernels and fusion schemes, measured in one process and one run.

    python benchmarks/speed.py --quick --json out.json     # about a minute on 2 CPU cores
    python benchmarks/speed.py --json benchmarks/results/speed.json

Per-step times exclude compilation (reported separately). ``pf_flop_fraction_of_matmul`` is
the particle filter's achieved FLOP rate (LSTM matrix products only) over the rate of a
2048x2048 float32 matmul measured in the same run; ``scaling_slopes`` are log-log slopes of
per-step time against N, K and m. Peers (Pyro's SMCFilter, dynamax's EKF) are measured only
when installed; otherwise the JSON says so.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import platform
import resource
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

import bayeslstm as bl


def matmul_flops_per_second(size: int = 2048, repeats: int = 5) -> float:
    a = jax.random.normal(jax.random.key(0), (size, size), jnp.float32)
    f = jax.jit(lambda x: x @ x)
    f(a).block_until_ready()
    best = math.inf
    for _ in range(repeats):
        t = time.perf_counter()
        f(a).block_until_ready()
        best = min(best, time.perf_counter() - t)
    return 2 * size**3 / best


def lstm_flops(particles: int, nodes: int, length: int, hidden: int, features: int) -> float:
    """Multiply-adds of the fused gate products and the read-out, counted as 2 flops each."""
    return particles * nodes * (length * 2 * 4 * hidden * (hidden + features) + 2 * hidden)


def fixed_stream(steps: int, nodes: int, length: int, features: int, seed: int = 0):
    return bl.teacher_stream(steps=steps, nodes=nodes, features=features, min_len=length, max_len=length, seed=seed)[0]


def per_step(method: str, steps: int, nodes: int, length: int, hidden: int, features: int, **options) -> dict:
    stream = fixed_stream(steps, nodes, length, features)
    res = bl.run(stream, method, model_options={"hidden": hidden}, **options)
    return {
        "method": method, "nodes": nodes, "length": length, "hidden": hidden, "features": features,
        "options": {k: v for k, v in options.items() if isinstance(v, (int, float, str))},
        "seconds_per_step": res.seconds / steps, "compile_seconds": res.compile_seconds,
    }


def slope(xs, ys) -> float:
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


def peak_memory_bytes() -> dict:
    out = {"host_max_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}
    stats = jax.devices()[0].memory_stats() or {}
    if "peak_bytes_in_use" in stats:
        out["device_peak_bytes"] = int(stats["peak_bytes_in_use"])
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small grid, about a minute on 2 cores")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args(argv)

    quick = args.quick
    steps = 40 if quick else 100
    n_grid = [256, 1024] if quick else [256, 512, 1024, 2048, 4096]
    k_grid = [1, 4] if quick else [1, 4, 16, 64, 256]
    m_grid = [5, 20] if quick else [5, 10, 20, 50, 100]
    h_grid = [16] if quick else [8, 16, 32]
    p, n, m, N = 8, 16, 20, 1000
    rows = []

    def record(row):
        rows.append(row)
        print(f"{row['method']:>14s} K={row['nodes']:<4d} m={row['length']:<4d} n={row['hidden']:<3d} "
              f"{row.get('particles', ''):>6} {1e3 * row['seconds_per_step']:9.3f} ms/step  "
              f"(compile {row['compile_seconds']:.1f} s)", flush=True)
        return row

    matmul = matmul_flops_per_second()
    print(f"matmul 2048x2048 float32: {matmul / 1e9:.1f} GFLOP/s on {jax.devices()[0].device_kind}")

    reference = record(dict(per_step("pf", steps, 1, m, n, p, num_particles=N), particles=N))
    pf_rate = lstm_flops(N, 1, m, n, p) / reference["seconds_per_step"]

    by_n = [record(dict(per_step("pf", steps, 1, m, n, p, num_particles=x), particles=x)) for x in n_grid]
    by_k = [record(dict(per_step("pf", steps, k, m, n, p, num_particles=256), particles=256)) for k in k_grid]
    by_m = [record(dict(per_step("pf", steps, 1, x, n, p, num_particles=256), particles=256)) for x in m_grid]
    for h in h_grid:
        record(dict(per_step("pf", steps, 1, m, h, p, num_particles=256), particles=256))
        record(per_step("ekf", steps, 1, m, h, p))
        record(per_step("sgd", steps, 1, m, h, p))
    fusion_nodes = 8
    for method, options in [("dpf", dict(num_particles=256, walk_steps=4, graph="ring")),
                            ("dpf-consensus", dict(num_particles=256, consensus_iters=10, graph="ring")),
                            ("pf", dict(num_particles=256, fusion="centralized")),
                            ("dekf", dict(graph="ring")), ("dsgd", dict(graph="ring")), ("dadam", dict(graph="ring"))]:
        record(dict(per_step(method, steps, fusion_nodes, m, n, p, **options), particles=options.get("num_particles", "")))

    M = 20
    varied = bl.teacher_stream(steps=60, nodes=2, features=p, min_len=1, max_len=M, seed=1)[0]
    compilations = bl.run(varied, "ekf", model_options={"hidden": 4}).compilations

    peers = {}
    for name, module in (("pyro_smcfilter", "pyro"), ("dynamax_ekf", "dynamax")):
        peers[name] = "measured elsewhere" if importlib.util.find_spec(module) else "not installed"

    results = {
        "device": jax.devices()[0].device_kind,
        "platform": platform.platform(),
        "jax": jax.__version__,
        "matmul_flops_per_second": matmul,
        "pf_reference": {"particles": N, "hidden": n, "features": p, "length": m,
                         "seconds_per_step": reference["seconds_per_step"], "flops_per_second": pf_rate},
        "pf_flop_fraction_of_matmul": pf_rate / matmul,
        "scaling_slopes": {
            "particles": slope([r["particles"] for r in by_n], [r["seconds_per_step"] for r in by_n]),
            "nodes": slope([r["nodes"] for r in by_k], [r["seconds_per_step"] for r in by_k]),
            "length": slope([r["length"] for r in by_m], [r["seconds_per_step"] for r in by_m]),
        },
        "compile_counts": {"max_len": M, "bound": math.ceil(math.log2(M)) + 1, "compilations": compilations},
        "peak_memory": peak_memory_bytes(),
        "speedup_vs_pyro_smcfilter": None,
        "ekf_speedup_vs_dynamax": None,
        "peers": peers,
        "rows": rows,
        "command": " ".join([sys.executable.split("/")[-1], *sys.argv]),
    }
    print(json.dumps({k: v for k, v in results.items() if k != "rows"}, indent=1))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
