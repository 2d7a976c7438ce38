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
import json
import math
import pathlib
import sys
import time
from typing import Any

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import common  # noqa: E402  (the benchmarks' shared pieces, next to this file)

DEFAULT_METHODS = (
    "dpf", "dpf-consensus", "pf@local", "pf@centralized", "pf@centralized[move=liu-west]",
    "dgspf", "gspf@local", "gspf@centralized",
    "denkf", "denkf-consensus", "enkf@local", "enkf@centralized",
    "dekf", "ekf@local", "ekf@centralized",
    "dsgd", "sgd@local", "sgd@centralized",
    "dadam", "adam@local",
)
NEW_DISTRIBUTED = ("dgspf", "denkf", "denkf-consensus")  # the particle-system methods beyond the paper's DPFs
HIDDEN = 4
FEATURES = 4
MIN_LEN, MAX_LEN = 2, 16
NOISE_VAR = 0.01
WITHIN = 0.15  # claim 3: DPF within 15% of the centralized PF
SAME_ORDER = 10.0  # claim 4: "of the order of" = less than 10x the seconds of the gradient method
# targets for the methods beyond the paper, fixed before the run
TIME_OF_DEKF, TRAFFIC_OF_DEKF = 2.0, 4.0  # the best new distributed method: at most 2x the DEKF's ms, 4x its floats
CONSENSUS_WITHIN = 0.10  # the exact consensus DPF within 10% of the centralized PF


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


def run_one(bl, stream, method, fusion, args, seed, options):
    """One (seed, method) run: its summary and what the tables need besides."""
    result = bl.run(stream, method, fusion=fusion, graph=common.graph_for(method, fusion, args.graph), seed=seed,
                    model_options={"hidden": HIDDEN}, progress=args.progress, **options)
    diag = result.diagnostics
    extras = {
        "compilations": result.compilations,
        "upload": float(np.mean(stream.lengths * FEATURES + 1)) if fusion == "centralized" else 0.0,
        "diagnostics": {name: float(np.asarray(diag[name].values, float).mean()) for name in diag.data_vars
                        if name not in ("prediction", "predictive_var", "log_pred_density", "messages", "floats")
                        and diag[name].ndim == 2},
        "graph": result.config.get("graph"),
    }
    return common.summarize(result), extras


def run_all(args, specs) -> dict[str, Any]:
    import bayeslstm as bl

    wanted = {"num_particles": args.particles, "walk_steps": args.walk_steps, "consensus_iters": args.consensus_iters}
    runs: dict[str, dict[int, Any]] = {label: {} for label, *_ in specs}
    errors: dict[str, list[str]] = {label: [] for label, *_ in specs}
    graphs, label_var, reused = {}, {}, 0
    for seed in range(args.seeds):
        t0 = time.perf_counter()
        stream, _ = bl.teacher_stream(steps=args.steps, nodes=args.nodes, features=FEATURES, min_len=MIN_LEN,
                                      max_len=MAX_LEN, noise_var=NOISE_VAR, seed=seed)
        label_var[seed] = float(np.var(stream.d[stream.observed]))
        print(f"[seed {seed}] stream T={args.steps} K={args.nodes} ready, Var(d) = {label_var[seed]:.4f} "
              f"({time.perf_counter() - t0:.1f} s)", flush=True)
        for label, method, fusion, own in specs:
            options = common.options_for(method, fusion, wanted, own)
            key = {"steps": args.steps, "nodes": args.nodes, "graph": args.graph, "seed": seed, "label": label,
                   "options": options, "hidden": HIDDEN, "noise_var": NOISE_VAR}
            cache = common.cache_path(pathlib.Path(args.out) / "cache", key)
            if args.resume and cache.exists():
                summary, extras = common.load_run(cache)
                reused += 1
                note = "(cached)"
            else:
                wall = time.perf_counter()
                try:
                    summary, extras = run_one(bl, stream, method, fusion, args, seed, options)
                except bl.BayesLSTMError as exc:  # a diverged filter is a result, not a crash
                    errors[label].append(f"seed {seed}: {exc}")
                    print(f"[seed {seed}] {label:>16s}  FAILED after {time.perf_counter() - wall:.1f} s: {exc}", flush=True)
                    continue
                common.save_run(cache, summary, extras)
                note = f"(wall {time.perf_counter() - wall:.1f} s; compilation {summary.compile_seconds:.1f} s)"
            runs[label][seed] = (summary, extras)
            print(f"[seed {seed}] {label:>16s}  final TAE {common.final_tae(summary):.5f}  run {summary.seconds:7.1f} s  "
                  f"{note}", flush=True)
            if fusion == "distributed" and seed not in graphs:
                graphs[seed] = extras["graph"]
    return {"runs": runs, "errors": errors, "graphs": graphs, "label_var": label_var, "reused": reused}


def summarise(args, specs, raw) -> tuple[dict[str, Any], Any]:
    """Per method: the seed statistics of compare_results, per-seed numbers and the extras."""
    comparison = common.seed_statistics({label: [s for s, _ in raw["runs"][label].values()] for label, *_ in specs})
    rows = common.rows_by_label(comparison)
    methods = {}
    for label, method, fusion, own in specs:
        per_seed = raw["runs"][label]
        summaries = [per_seed[s][0] if s in per_seed else None for s in range(args.seeds)]
        extras = [e for _, e in per_seed.values()]
        row = rows.get(label, {})

        def avg(name):
            return float(np.mean([e[name] for e in extras])) if extras else float("nan")

        methods[label] = {
            "method": method, "fusion": fusion,
            "options": common.options_for(method, fusion, {"num_particles": args.particles, "walk_steps": args.walk_steps,
                                                           "consensus_iters": args.consensus_iters}, own),
            "final_tae_per_seed": [common.final_tae(s) if s else float("nan") for s in summaries],
            "final_tae_mean": row.get("final_tae", float("nan")),
            "final_tae_std": row.get("final_tae_sd_seeds", float("nan")),
            "late_mse_per_seed": [s.late_mse if s else float("nan") for s in summaries],
            "late_mse_mean": row.get("late_mse", float("nan")),
            "late_mse_std": row.get("late_mse_sd_seeds", float("nan")),
            "seconds_mean": row.get("seconds", float("nan")),
            "ms_per_step": row.get("ms_per_step", float("nan")),
            "compile_seconds": row.get("compile_seconds", float("nan")),
            "messages_per_node_step": row.get("messages_per_step", float("nan")),
            "floats_per_node_step": row.get("floats_per_step", float("nan")),
            "upload_floats_per_node_step": avg("upload"),
            "diagnostics_mean": {k: float(np.mean([e["diagnostics"][k] for e in extras]))
                                 for k in (extras[0]["diagnostics"] if extras else {})},
            "errors": raw["errors"][label],
            "tae_curve_mean": comparison.dataset["network_tae"].sel(method=label).values.tolist()
            if label in rows else [float("nan")] * args.steps,
        }
    return methods, comparison


# ---------------------------------------------------------------- claims

def _fmt(x: float) -> str:
    return "nan" if not math.isfinite(x) else f"{x:.4g}"


def _seed_count(raw, a, b) -> str:
    """How many seeds have a's final TAE below b's."""
    shared = sorted(set(raw["runs"][a]) & set(raw["runs"][b]))
    won, n = common.wins([raw["runs"][a][s][0] for s in shared], [raw["runs"][b][s][0] for s in shared])
    return f"{won}/{n} seeds"


def claims(methods: dict[str, Any], raw) -> list[dict[str, Any]]:
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
                f"({dpf}<dekf in {_seed_count(raw, dpf, 'dekf')}, dekf<dsgd in {_seed_count(raw, 'dekf', 'dsgd')})")
        else:
            add(text, None, "a method is missing or failed")

    for dist, loc in (("dpf", "pf@local"), ("dpf-consensus", "pf@local"), ("dekf", "ekf@local"),
                      ("dsgd", "sgd@local"), ("dadam", "adam@local")):
        text = f"(2) {dist} beats its local version {loc}"
        if have(dist, loc):
            ok = tae[dist] < tae[loc]
            add(text, ok, f"{dist} {_fmt(tae[dist])} vs {loc} {_fmt(tae[loc])} (ratio {_fmt(tae[dist] / tae[loc])}; "
                          f"better in {_seed_count(raw, dist, loc)})")
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
        text = f"(4) {dpf} cost per step of the order of the gradient methods' (< {SAME_ORDER:.0f}x their time per step)"
        grads = [g for g in ("dsgd", "dadam") if g in methods and math.isfinite(methods[g]["ms_per_step"])]
        if dpf in methods and grads and math.isfinite(methods[dpf]["ms_per_step"]):
            ms = {name: methods[name]["ms_per_step"] for name in [dpf, *grads]}
            ratios = {g: ms[dpf] / ms[g] for g in grads}
            add(text, all(r < SAME_ORDER for r in ratios.values()),
                f"{dpf} {ms[dpf]:.2f} ms/step; " + ", ".join(f"{g} {ms[g]:.2f} ms/step (ratio {ratios[g]:.1f}x)" for g in grads))
        else:
            add(text, None, "a method is missing")

    new = [m for m in NEW_DISTRIBUTED if have(m)]
    text = (f"(5) the best new distributed method has final TAE <= dekf's (seed mean and in at least 2 of 3 seeds), "
            f"ms per step <= {TIME_OF_DEKF:g}x and floats per node per step <= {TRAFFIC_OF_DEKF:g}x the DEKF's")
    if new and have("dekf"):
        best = min(new, key=tae.get)
        won, n = map(int, _seed_count(raw, best, "dekf").split()[0].split("/"))
        ms = methods[best]["ms_per_step"] / methods["dekf"]["ms_per_step"]
        floats = methods[best]["floats_per_node_step"] / methods["dekf"]["floats_per_node_step"]
        ok = tae[best] <= tae["dekf"] and won >= min(2, n) and ms <= TIME_OF_DEKF and floats <= TRAFFIC_OF_DEKF
        add(text, ok, f"{best} {_fmt(tae[best])} vs dekf {_fmt(tae['dekf'])} (better in {won}/{n} seeds); "
                      f"{ms:.2f}x its ms per step, {floats:.2f}x its floats")
    else:
        add(text, None, "a method is missing or failed")

    text = f"(6) dpf-consensus final TAE within {CONSENSUS_WITHIN:.0%} of pf@centralized"
    if have("dpf-consensus", "pf@centralized"):
        ratio = tae["dpf-consensus"] / tae["pf@centralized"]
        add(text, ratio <= 1 + CONSENSUS_WITHIN, f"ratio {ratio:.3f}")
    else:
        add(text, None, "a method is missing or failed")

    lw = "pf@centralized[move=liu-west]"
    text = "(7) with Liu-West moves, pf@centralized beats ekf@local"
    if have(lw, "ekf@local"):
        add(text, tae[lw] < tae["ekf@local"], f"{lw} {_fmt(tae[lw])} vs ekf@local {_fmt(tae['ekf@local'])} "
                                              f"(better in {_seed_count(raw, lw, 'ekf@local')}; without moves "
                                              f"pf@centralized {_fmt(tae.get('pf@centralized', float('nan')))})")
    else:
        add(text, None, "a method is missing or failed")
    return out


# ---------------------------------------------------------------- outputs

def markdown(args, methods, claim_list, command: str, wall: float, raw) -> str:
    r = NOISE_VAR
    ref = methods.get("pf@centralized", {}).get("final_tae_mean", float("nan"))
    ranked = sorted(methods.items(), key=lambda kv: (not math.isfinite(kv[1]["final_tae_mean"]), kv[1]["final_tae_mean"]))
    machine = common.machine()
    lines = [
        "# Synthetic comparison (Ergen & Kozat 2018), bayeslstm",
        "",
        f"Command: `{command}`  ",
        f"K={args.nodes} nodes, graph `{args.graph}` (drawn per seed), T={args.steps} steps, seeds 0..{args.seeds - 1}, "
        f"teacher LSTM hidden {HIDDEN} (weights std 1), learner hidden {HIDDEN}, p={FEATURES}, lengths {MIN_LEN}..{MAX_LEN}, "
        f"noise floor r={r}; particles N={args.particles}, walk steps S={args.walk_steps}, consensus iterations L={args.consensus_iters}. "
        f"Label variance Var(d) (the TAE of always predicting the mean label) per seed: "
        + ", ".join(f"{v:.3f}" for v in raw["label_var"].values()) + f". Wall time of this call {wall / 60:.1f} min"
        + (f" ({raw['reused']} (seed, method) runs reused from OUT/cache/ made by an earlier call; their seconds are "
           f"from that call)." if raw["reused"] else ".")
        + f" Machine: {machine['cpu']}, {machine['cores']} cores, load {machine['load_average_1min']:.2f} at the end.",
        "",
        "| rank | method | final TAE (mean ± std over seeds) | TAE / r | TAE / pf@centralized | MSE over last 25% of steps "
        "| ms per step | compile s | floats sent per node per step |",
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
        lines.append(f"| {i} | {label} | {tae} | {mean / r:.2f} | {mean / ref:.3f} | {m['late_mse_mean']:.5f} ± "
                     f"{m['late_mse_std']:.5f} | {m['ms_per_step']:.2f} | {m['compile_seconds']:.1f} | {floats} |")
    lines += [
        "",
        "Std is the sample std (ddof=1) over seeds (nan with one seed). Final TAE is the running mean of squared errors "
        f"over all {args.steps} steps (it keeps the early transient); the MSE over the last 25% of each node's labels "
        "shows where each method has got to (compare it with r). Milliseconds per step are running time, compilation "
        "apart (its seconds in the next column). Timings are from the machine above (float32); compare them as orders "
        "of magnitude. † centralized: not counted by the package; the number in brackets is the raw data (sequence + "
        "label) each node would upload to the fusion centre per step.",
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


def main(argv=None) -> int:
    args = parse_args(argv)
    specs = common.parse_methods(args.methods)
    command = "python " + " ".join([sys.argv[0]] + (list(argv) if argv is not None else sys.argv[1:]))
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"methods: {', '.join(label for label, *_ in specs)}", flush=True)
    start = time.perf_counter()
    raw = run_all(args, specs)
    wall = time.perf_counter() - start
    methods, comparison = summarise(args, specs, raw)
    claim_list = claims(methods, raw)

    config = {k: v for k, v in vars(args).items()}
    config.update(command=command, features=FEATURES, hidden=HIDDEN, min_len=MIN_LEN, max_len=MAX_LEN,
                  noise_var=NOISE_VAR, teacher_scale=1.0, wall_seconds=wall, runs_reused_from_cache=raw["reused"],
                  machine=common.machine(), dtype="float32",
                  label_variance_per_seed={str(k): v for k, v in raw["label_var"].items()},
                  graph_edges_per_seed={str(s): g for s, g in raw["graphs"].items()})
    (out / "paper_synthetic.json").write_text(json.dumps({"config": config, "methods": methods, "claims": claim_list},
                                                          indent=1, default=str))
    md = markdown(args, methods, claim_list, command, wall, raw)
    (out / "paper_synthetic.md").write_text(md)
    title = (f"Synthetic teacher LSTM, K={args.nodes}, {args.graph} graph, N={args.particles} particles, "
             f"mean over {args.seeds} seed(s)")
    common.plot_panels(out / "paper_synthetic.png", {title: comparison}, noise_floor=NOISE_VAR)
    print()
    print(md)
    print(f"wrote {out / 'paper_synthetic.json'}, {out / 'paper_synthetic.md'}, {out / 'paper_synthetic.png'} "
          f"(wall {wall / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
