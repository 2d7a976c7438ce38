"""Reproduce the synthetic comparison of Ergen & Kozat (2018) with bayeslstm.

A fixed random "teacher" LSTM (hidden 4, weights of std 1) labels standard-normal,
variable-length (2..16) sequences at K nodes, plus N(0, r) noise with r = 0.01. Every method
learns a hidden-4 LSTM online on the same stream (one stream per seed) and is scored by the
network-mean time-accumulated error TAE(t) = running mean of squared prediction errors, made
before each update. The noise floor r is the best TAE any method can reach.

Methods (labels ``NAME`` or ``NAME@FUSION``): the distributed schemes dpf (Markov-chain DPF),
dpf-consensus (likelihood-consensus DPF), dekf, dsgd, dadam on the graph, their local
versions (each node alone) and the centralized references (one filter sees every node).

    python benchmarks/paper_synthetic.py                 # K=10, T=2000, 3 seeds, N=500
    python benchmarks/paper_synthetic.py --quick         # smoke run: T=200, 1 seed, N=100

Writes OUT/paper_synthetic.json, OUT/paper_synthetic.md and OUT/paper_synthetic.png
(OUT defaults to benchmarks/results). The "claims" section is computed from the numbers.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import pathlib
import platform
import sys
import time
from typing import Any

import numpy as np

DEFAULT_METHODS = (
    "dpf", "dpf-consensus", "pf@local", "pf@centralized",
    "dekf", "ekf@local", "ekf@centralized",
    "dsgd", "sgd@local", "sgd@centralized",
    "dadam", "adam@local",
)
HIDDEN = 4
FEATURES = 4
MIN_LEN, MAX_LEN = 2, 16
NOISE_VAR = 0.01
WITHIN = 0.15  # claim 3: DPF within 15% of the centralized PF
SAME_ORDER = 10.0  # claim 4: "of the order of" = less than 10x the seconds of the gradient method

FAMILY_COLOUR = {"pf": "tab:blue", "dpf": "tab:blue", "dpf-consensus": "tab:cyan",
                 "ekf": "tab:green", "dekf": "tab:green",
                 "sgd": "tab:orange", "dsgd": "tab:orange",
                 "adam": "tab:purple", "dadam": "tab:purple"}
FUSION_STYLE = {"distributed": "-", "local": "--", "centralized": ":"}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=2000, help="time steps T (default 2000)")
    p.add_argument("--nodes", type=int, default=10, help="nodes K (default 10)")
    p.add_argument("--seeds", type=int, default=3, help="number of seeds 0..S-1 (default 3)")
    p.add_argument("--particles", type=int, default=500, help="particles per filter, all PF variants (default 500)")
    p.add_argument("--walk-steps", type=int, default=10, help="random-walk steps S of the Markov-chain DPF (default 10)")
    p.add_argument("--consensus-iters", type=int, default=20, help="consensus iterations L of dpf-consensus (default 20)")
    p.add_argument("--graph", default="small-world", help="graph spec for the distributed methods (default small-world)")
    p.add_argument("--methods", default=",".join(DEFAULT_METHODS), help="comma list of NAME or NAME@FUSION")
    p.add_argument("--out", default="benchmarks/results", help="output folder (default benchmarks/results)")
    p.add_argument("--quick", action="store_true", help="smoke run: T=200, 1 seed, 100 particles")
    p.add_argument("--progress", action="store_true", help="show a tqdm bar inside each run")
    p.add_argument("--resume", action="store_true",
                   help="reuse finished (seed, method) runs cached in OUT/cache/ by an earlier, interrupted call")
    args = p.parse_args(argv)
    if args.quick:
        args.steps, args.seeds, args.particles = 200, 1, 100
    return args


def parse_methods(text: str) -> list[tuple[str, str, str]]:
    """(label, method, fusion) per comma-separated entry, checked before any work."""
    from bayeslstm.errors import BayesLSTMError
    from bayeslstm.methods import method_specs

    try:
        return method_specs(text)
    except BayesLSTMError as exc:
        raise SystemExit(f"--methods: {exc}") from None


def kernel_options(method: str, fusion: str, args: argparse.Namespace) -> dict[str, Any]:
    from bayeslstm.methods import method_options

    wanted = {"num_particles": args.particles, "walk_steps": args.walk_steps, "consensus_iters": args.consensus_iters}
    accepted = method_options(method, fusion)
    return {k: v for k, v in wanted.items() if k in accepted}


def base_kernel(method: str) -> str:
    return {"dpf": "pf", "dpf-consensus": "pf", "dekf": "ekf", "dsgd": "sgd", "dadam": "adam"}.get(method, method)


def mean_std(values: list[float]) -> tuple[float, float]:
    v = np.asarray(values, float)
    if v.size == 0 or not np.all(np.isfinite(v)):
        return float("nan"), float("nan")
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0


def _cache_path(args, label, seed, options) -> pathlib.Path:
    key = json.dumps({"steps": args.steps, "nodes": args.nodes, "graph": args.graph, "seed": seed, "label": label,
                      "options": options, "hidden": HIDDEN, "noise_var": NOISE_VAR}, sort_keys=True)
    digest = hashlib.sha1(key.encode()).hexdigest()[:12]
    return pathlib.Path(args.out) / "cache" / f"{label.replace('@', '_')}_seed{seed}_{digest}.json"


def _compile_estimate(bl, stream, method, fusion, args, seed, options) -> float:
    """Seconds of a 1-step run of the same program: JIT compilation plus one step."""
    one = bl.make_stream(stream.X[:1], stream.lengths[:1], stream.d[:1], stream.observed[:1])
    res = bl.run(one, method, fusion=None if fusion == "distributed" else fusion, graph=args.graph, seed=seed,
                 model_options={"hidden": HIDDEN}, **options)
    return res.seconds


def run_one(bl, stream, label, method, fusion, args, seed, options) -> dict[str, Any]:
    res = bl.run(stream, method, fusion=None if fusion == "distributed" else fusion, graph=args.graph,
                 seed=seed, model_options={"hidden": HIDDEN}, progress=args.progress, **options)
    diag = res.diagnostics
    timing = {"seconds": res.seconds}
    if hasattr(res, "compile_seconds"):  # the runner times compilation apart: seconds = compile + run
        timing = {"seconds": res.compile_seconds + res.seconds, "run_seconds": res.seconds,
                  "compile_seconds": res.compile_seconds}
    return {
        "final_tae": res.final_tae,
        **timing,
        "compilations": res.compilations,
        "curve": [float(v) for v in res.network_tae],
        "messages": float(diag["messages"].mean()) if "messages" in diag else 0.0,
        "floats": float(diag["floats"].mean()) if "floats" in diag else 0.0,
        "upload": float(np.mean(stream.lengths * FEATURES + 1)) if fusion == "centralized" else 0.0,
        "diagnostics": {
            name: float(np.asarray(diag[name].values, float).mean())
            for name in diag.data_vars
            if name not in ("prediction", "predictive_var", "log_pred_density", "messages", "floats")
            and diag[name].ndim == 2
        },
        "graph": res.config.get("graph"),
    }


def late_mse(curve) -> float:
    """Mean squared error over the last quarter of the steps, from the running-mean TAE curve.

    Every node has a label at every step of the teacher stream, so t * TAE(t) is the running
    sum of squared errors and the window's mean is a difference of two of them.
    """
    c = np.asarray(curve, float)
    T = c.size
    t1 = T - max(T // 4, 1)
    return float((T * c[-1] - t1 * c[t1 - 1]) / (T - t1)) if t1 >= 1 else float(c[-1])


def run_all(args, specs) -> dict[str, Any]:
    import bayeslstm as bl
    from bayeslstm.errors import BayesLSTMError

    per: dict[str, dict[str, Any]] = {
        label: {"method": m, "fusion": f, "options": kernel_options(m, f, args), "runs": {}, "errors": [],
                "compile_seconds": float("nan")}
        for label, m, f in specs
    }
    graphs, label_var, reused = {}, {}, 0
    for seed in range(args.seeds):
        t0 = time.perf_counter()
        stream, _ = bl.teacher_stream(steps=args.steps, nodes=args.nodes, features=FEATURES, min_len=MIN_LEN,
                                      max_len=MAX_LEN, noise_var=NOISE_VAR, seed=seed)
        label_var[seed] = float(np.var(stream.d[stream.observed]))
        print(f"[seed {seed}] stream T={args.steps} K={args.nodes} ready, Var(d) = {label_var[seed]:.4f} ({time.perf_counter() - t0:.1f} s)", flush=True)
        for label, method, fusion in specs:
            entry = per[label]
            cache = _cache_path(args, label, seed, entry["options"])
            if args.resume and cache.exists():
                run = json.loads(cache.read_text())
                reused += 1
                print(f"[seed {seed}] {label:>16s}  final TAE {run['final_tae']:.5f}  run {run['seconds']:7.1f} s  (cached)",
                      flush=True)
            else:
                wall = time.perf_counter()
                try:
                    run = run_one(bl, stream, label, method, fusion, args, seed, entry["options"])
                    if seed == 0 and "run_seconds" not in run:  # older runner: seconds include compilation
                        run["compile_seconds"] = _compile_estimate(bl, stream, method, fusion, args, seed, entry["options"])
                except BayesLSTMError as exc:  # a diverged filter is a result, not a crash
                    entry["errors"].append(f"seed {seed}: {exc}")
                    print(f"[seed {seed}] {label:>16s}  FAILED after {time.perf_counter() - wall:.1f} s: {exc}", flush=True)
                    continue
                wall = time.perf_counter() - wall
                cache.parent.mkdir(parents=True, exist_ok=True)
                cache.write_text(json.dumps(run))
                print(f"[seed {seed}] {label:>16s}  final TAE {run['final_tae']:.5f}  run {run['seconds']:7.1f} s  "
                      f"(wall {wall:.1f} s; compilation {run.get('compile_seconds', float('nan')):.1f} s)", flush=True)
            entry["runs"][seed] = run
            if "compile_seconds" in run:
                entry["compile_seconds"] = run["compile_seconds"]
            if fusion == "distributed" and seed not in graphs:
                graphs[seed] = run["graph"]
    return {"per": per, "graphs": graphs, "label_var": label_var, "reused": reused}


def summarise(args, specs, raw) -> dict[str, Any]:
    methods = {}
    for label, _, _ in specs:
        e = raw["per"][label]
        runs = [e["runs"][s] if s in e["runs"] else None for s in range(args.seeds)]
        ok = [r for r in runs if r is not None]
        finals = [r["final_tae"] if r is not None else float("nan") for r in runs]
        mean, std = mean_std(finals)
        curve = np.mean(np.stack([r["curve"] for r in ok]), axis=0) if ok else np.full(args.steps, np.nan)
        seconds = float(np.mean([r["seconds"] for r in ok])) if ok else float("nan")
        late = [late_mse(r["curve"]) if r is not None else float("nan") for r in runs]
        late_mean, late_std = mean_std(late)
        compile_s = e["compile_seconds"]
        if ok and all("run_seconds" in r for r in ok):  # measured by the runner, per run
            compile_s = float(np.mean([r["compile_seconds"] for r in ok]))
            steady = float(np.mean([r["run_seconds"] for r in ok])) / args.steps
        else:  # estimated: a 1-step run of the same program (seed 0)
            steady = (seconds - compile_s) / max(args.steps - 1, 1) if math.isfinite(compile_s) else float("nan")
        steady = steady if steady > 0 else float("nan")  # too short a run to separate compilation

        def avg(name):
            return float(np.mean([r[name] for r in ok])) if ok else float("nan")

        methods[label] = {
            "method": e["method"], "fusion": e["fusion"], "options": e["options"],
            "final_tae_per_seed": finals, "final_tae_mean": mean, "final_tae_std": std,
            "late_mse_per_seed": late, "late_mse_mean": late_mean, "late_mse_std": late_std,
            "seconds_per_seed": [r["seconds"] if r is not None else float("nan") for r in runs],
            "seconds_mean": seconds,
            "seconds_per_step": seconds / args.steps,
            "compile_seconds": compile_s,
            "compile_seconds_measured": bool(ok and all("run_seconds" in r for r in ok)),
            "steady_seconds_per_step": steady,
            "messages_per_node_step": avg("messages"),
            "floats_per_node_step": avg("floats"),
            "upload_floats_per_node_step": avg("upload"),
            "diagnostics_mean": {k: float(np.mean([r["diagnostics"][k] for r in ok])) for k in (ok[0]["diagnostics"] if ok else {})},
            "errors": e["errors"],
            "tae_curve_mean": [float(v) for v in curve],
        }
    return methods


# ---------------------------------------------------------------- claims

def _fmt(x: float) -> str:
    return "nan" if not math.isfinite(x) else f"{x:.4g}"


def _seed_count(methods, a, b) -> str:
    """How many seeds have a's final TAE below b's."""
    xa, xb = methods[a]["final_tae_per_seed"], methods[b]["final_tae_per_seed"]
    wins = sum(1 for u, v in zip(xa, xb) if u < v)
    return f"{wins}/{min(len(xa), len(xb))} seeds"


def claims(methods: dict[str, Any]) -> list[dict[str, Any]]:
    """Each claim: text, verdict ('holds' | 'does not hold' | 'not evaluated'), evidence."""
    out = []
    tae = {k: v["final_tae_mean"] for k, v in methods.items()}

    def have(*names):
        return all(n in tae and math.isfinite(tae[n]) for n in names)

    def add(claim, ok, evidence):
        out.append({"claim": claim, "verdict": ("holds" if ok else "does not hold") if ok is not None else "not evaluated",
                    "evidence": evidence})

    for dpf in ("dpf", "dpf-consensus"):
        text = f"(1) {dpf} final TAE < dekf < dsgd"
        if have(dpf, "dekf", "dsgd"):
            a, b = tae[dpf] < tae["dekf"], tae["dekf"] < tae["dsgd"]
            add(text, a and b,
                f"{dpf} {_fmt(tae[dpf])} {'<' if a else '>='} dekf {_fmt(tae['dekf'])} {'<' if b else '>='} dsgd {_fmt(tae['dsgd'])} "
                f"({dpf}<dekf in {_seed_count(methods, dpf, 'dekf')}, dekf<dsgd in {_seed_count(methods, 'dekf', 'dsgd')})")
        else:
            add(text, None, "a method is missing or failed")

    for dist, loc in (("dpf", "pf@local"), ("dpf-consensus", "pf@local"), ("dekf", "ekf@local"),
                      ("dsgd", "sgd@local"), ("dadam", "adam@local")):
        text = f"(2) {dist} beats its local version {loc}"
        if have(dist, loc):
            ok = tae[dist] < tae[loc]
            add(text, ok, f"{dist} {_fmt(tae[dist])} vs {loc} {_fmt(tae[loc])} (ratio {_fmt(tae[dist] / tae[loc])}; "
                          f"better in {_seed_count(methods, dist, loc)})")
        else:
            add(text, None, "a method is missing or failed")

    for dpf in ("dpf", "dpf-consensus"):
        text = f"(3) {dpf} final TAE within {WITHIN:.0%} of pf@centralized (ratio <= {1 + WITHIN:.2f})"
        if have(dpf, "pf@centralized"):
            ratio = tae[dpf] / tae["pf@centralized"]
            add(text, ratio <= 1 + WITHIN, f"{dpf} {_fmt(tae[dpf])} / pf@centralized {_fmt(tae['pf@centralized'])} = {ratio:.3f}")
        else:
            add(text, None, "a method is missing or failed")

    for dpf in ("dpf", "dpf-consensus"):
        text = f"(4) {dpf} cost per step of the order of the gradient methods' (< {SAME_ORDER:.0f}x their seconds per step)"
        grads = [g for g in ("dsgd", "dadam") if g in methods]
        if dpf in methods and grads:
            def per_step(name):  # steady state (compilation estimate removed) when available
                m = methods[name]
                return m["steady_seconds_per_step"] if math.isfinite(m["steady_seconds_per_step"]) else m["seconds_per_step"]

            ratios = {g: per_step(dpf) / per_step(g) for g in grads}
            raw = {g: methods[dpf]["seconds_mean"] / methods[g]["seconds_mean"] for g in grads}
            ok = all(r < SAME_ORDER for r in ratios.values())
            ev = f"{dpf} {per_step(dpf) * 1e3:.2f} ms/step; " + ", ".join(
                f"{g} {per_step(g) * 1e3:.2f} ms/step (ratio {ratios[g]:.1f}x; whole runs incl. compilation {raw[g]:.1f}x)"
                for g in grads)
            add(text, ok, ev)
        else:
            add(text, None, "a method is missing")
    return out


# ---------------------------------------------------------------- outputs

def markdown(args, methods, claim_list, command: str, wall: float, label_var: dict, reused: int = 0) -> str:
    r = NOISE_VAR
    ref = methods.get("pf@centralized", {}).get("final_tae_mean", float("nan"))
    ranked = sorted(methods.items(), key=lambda kv: (not math.isfinite(kv[1]["final_tae_mean"]), kv[1]["final_tae_mean"]))
    lines = [
        "# Synthetic comparison (Ergen & Kozat 2018), bayeslstm",
        "",
        f"Command: `{command}`  ",
        f"K={args.nodes} nodes, graph `{args.graph}` (drawn per seed), T={args.steps} steps, seeds 0..{args.seeds - 1}, "
        f"teacher LSTM hidden {HIDDEN} (weights std 1), learner hidden {HIDDEN}, p={FEATURES}, lengths {MIN_LEN}..{MAX_LEN}, "
        f"noise floor r={r}; particles N={args.particles}, walk steps S={args.walk_steps}, consensus iterations L={args.consensus_iters}. "
        f"Label variance Var(d) (the TAE of always predicting the mean label) per seed: "
        + ", ".join(f"{v:.3f}" for v in label_var.values()) + f". Wall time of this call {wall / 60:.1f} min"
        + (f" ({reused} (seed, method) runs reused from OUT/cache/ made by an earlier call; their seconds are "
           f"from that call)." if reused else "."),
        "",
        "| rank | method | final TAE (mean ± std over seeds) | TAE / r | TAE / pf@centralized | MSE over last 25% of steps | seconds per run | ms per step (excl. compile) | floats sent per node per step |",
        "| ---: | --- | --- | ---: | ---: | --- | ---: | ---: | ---: |",
    ]
    for i, (label, m) in enumerate(ranked, 1):
        mean, std = m["final_tae_mean"], m["final_tae_std"]
        tae = f"{mean:.5f} ± {std:.5f}" if math.isfinite(mean) else "failed"
        if m["fusion"] == "distributed":
            floats = f"{m['floats_per_node_step']:.0f}"
        elif m["fusion"] == "centralized":
            floats = f"({m['upload_floats_per_node_step']:.0f})†"
        else:
            floats = "0"
        lines.append(f"| {i} | {label} | {tae} | {mean / r:.2f} | {mean / ref:.3f} | {m['late_mse_mean']:.5f} ± {m['late_mse_std']:.5f} | {m['seconds_mean']:.1f} | {m['steady_seconds_per_step'] * 1e3:.2f} | {floats} |")
    lines += [
        "",
        "Std is the sample std (ddof=1) over seeds. Final TAE is the running mean of squared errors over all "
        f"{args.steps} steps (it keeps the early transient); the MSE over the last 25% of steps shows where each method "
        "has got to (compare it with r). Seconds per run include JIT compilation; ms per step excludes it ("
        + ("as timed by the runner" if all(m["compile_seconds_measured"] for m in methods.values())
           else "minus an estimate: the time of a 1-step run of the same program, seed 0")
        + "). All timings are from a "
        "shared 2-core CPU machine (float32); compare them as orders of magnitude. † centralized: not counted by the package; "
        "the number in brackets is the raw data (sequence + label) each node would upload to the fusion centre per step.",
        "",
        "## Claims (computed from the numbers above)",
        "",
    ]
    for c in claim_list:
        lines.append(f"- **{c['verdict']}** — {c['claim']}: {c['evidence']}")
    errors = [(label, e) for label, m in methods.items() for e in m["errors"]]
    if errors:
        lines += ["", "## Failed runs", ""] + [f"- {label}: {e}" for label, e in errors]
    return "\n".join(lines) + "\n"


def plot(args, methods, path: pathlib.Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(11, 6))
    t = np.arange(1, args.steps + 1)
    ranked = sorted(methods.items(), key=lambda kv: (not math.isfinite(kv[1]["final_tae_mean"]), kv[1]["final_tae_mean"]))
    for label, m in ranked:
        curve = np.asarray(m["tae_curve_mean"], float)
        if not np.isfinite(curve).any():
            continue
        colour = FAMILY_COLOUR.get(m["method"], FAMILY_COLOUR.get(base_kernel(m["method"]), "k"))
        ax.plot(t, curve, FUSION_STYLE[m["fusion"]], color=colour, lw=2.0 if m["fusion"] == "distributed" else 1.6,
                label=f"{label}  ({m['final_tae_mean']:.4f})")
    ax.axhline(NOISE_VAR, color="k", ls="--", lw=1.0, label=f"noise floor r = {NOISE_VAR}")
    ax.set_yscale("log")
    ax.set_xlabel("time step t")
    ax.set_ylabel("network-mean TAE(t)")
    ax.set_title(f"Synthetic teacher LSTM, K={args.nodes}, {args.graph} graph, N={args.particles} particles, "
                 f"mean over {args.seeds} seed(s)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=9,
              title="solid: distributed, dashed: local,\ndotted: centralized  (final TAE)", title_fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    args = parse_args(argv)
    specs = parse_methods(args.methods)
    command = "python " + " ".join([sys.argv[0]] + (list(argv) if argv is not None else sys.argv[1:]))
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"methods: {', '.join(l for l, _, _ in specs)}", flush=True)
    start = time.perf_counter()
    raw = run_all(args, specs)
    wall = time.perf_counter() - start
    methods = summarise(args, specs, raw)
    claim_list = claims(methods)

    import jax

    config = {k: v for k, v in vars(args).items()}
    config.update(command=command, features=FEATURES, hidden=HIDDEN, min_len=MIN_LEN, max_len=MAX_LEN,
                  noise_var=NOISE_VAR, teacher_scale=1.0, wall_seconds=wall, runs_reused_from_cache=raw["reused"], jax=jax.__version__,
                  backend=jax.default_backend(), dtype="float32", python=platform.python_version(),
                  label_variance_per_seed={str(k): v for k, v in raw["label_var"].items()},
                  graph_edges_per_seed={str(s): g for s, g in raw["graphs"].items()})
    (out / "paper_synthetic.json").write_text(json.dumps({"config": config, "methods": methods, "claims": claim_list},
                                                          indent=1, default=str))
    md = markdown(args, methods, claim_list, command, wall, raw["label_var"], raw["reused"])
    (out / "paper_synthetic.md").write_text(md)
    plot(args, methods, out / "paper_synthetic.png")
    print()
    print(md)
    print(f"wrote {out / 'paper_synthetic.json'}, {out / 'paper_synthetic.md'}, {out / 'paper_synthetic.png'} "
          f"(wall {wall / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
