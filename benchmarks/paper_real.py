"""The real-data comparison: every method on the four built-in datasets, several seeds.

Each dataset (see docs/data.md) becomes a node-partitioned stream of (variable-length
sequence, label) pairs, standardised online; every method learns a hidden-4 LSTM online and
is scored by the network-mean time-accumulated error (TAE: running mean of squared errors of
predictions made before each label), in the label's ORIGINAL units. The trivial baselines
(``baseline-last``: the target's last value in the sequence, or the previous label;
``baseline-mean``: the running mean of past labels) show whether the learning is real.

    python benchmarks/paper_real.py                  # all four datasets, full length, 3 seeds
    python benchmarks/paper_real.py --quick          # smoke run: 150 steps, 1 seed, 100 particles

Writes OUT/paper_real.json, OUT/paper_real.md and OUT/paper_real.png (OUT defaults to
benchmarks/results); finished runs are cached in OUT/cache_real/ so ``--resume`` continues an
interrupted call. The claims section is computed from the numbers, whatever they are.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time
from typing import Any

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import common  # noqa: E402  (the benchmarks' shared pieces, next to this file)

DATASETS = ("concrete", "garch", "storms", "elecdemand")  # cheapest first
DISTRIBUTED_FILTERS = ("dpf", "dpf-consensus", "dekf", "dgspf", "denkf", "denkf-consensus")
NEW_DISTRIBUTED = ("dgspf", "denkf", "denkf-consensus")
LOCAL_FILTERS = ("pf@local", "ekf@local", "gspf@local", "enkf@local")
BASELINES = ("baseline-last@local", "baseline-mean@local")
DEFAULT_METHODS = (
    "dpf-consensus", "pf@local",
    "dgspf", "gspf@local",
    "denkf", "enkf@local",
    "dekf", "ekf@local",
    "dekf[fading=0.9]", "dekf[robust=4]", "dgspf[fading=0.9]", "dgspf[robust=4]",
    "dekf[noise_forgetting=1]",
    "dsgd", "dadam",
) + BASELINES  # the Markov-chain DPF and the centralized references: --methods adds them (hours more)
PLOTTED = DISTRIBUTED_FILTERS + LOCAL_FILTERS + BASELINES + ("dsgd",)
HIDDEN = 4
# one configuration for every dataset: the package's own table defaults (learnt label variance,
# last-state pooling, the residual readout when the target is a feature) and hidden size 4
MODEL_OPTIONS = dict(hidden=HIDDEN)
Z90 = 1.6448536269514722  # the 90% central interval of a Gaussian: mean +- Z90 sd
AVERAGE = "average"  # the online model average of every method that finished, naive forecasts included
AVERAGES = {AVERAGE: {}, "average[pool=node]": {"pool": "node"}, "average[calibrate]": {"calibrate": True},
            "average[score=density,forgetting=0.98]": {"score": "density", "forgetting": 0.98}}  # label: options
FORECAST_FIELDS = ("predictions", "labels", "observed", "time", "predictive_var", "log_pred_density")


def forecast_arrays(result) -> dict[str, np.ndarray]:
    """What the model average needs of a run: its step-by-step predictive means, variances and
    log scores, with the labels they were scored on."""
    diag = result.diagnostics
    return {"predictions": result.predictions, "labels": result.labels, "observed": result.observed,
            "time": np.asarray(diag["time"]), "predictive_var": diag["predictive_var"].values,
            "log_pred_density": diag["log_pred_density"].values,
            "seconds": np.float64(result.seconds), "compile_seconds": np.float64(result.compile_seconds)}


def member_run(label: str, arrays) -> Any:
    """A RunResult holding only the forecasts of a cached run: enough for ``bl.model_average``."""
    import xarray as xr

    from bayeslstm.engine.records import RunResult

    coords = {"time": arrays["time"], "node": np.arange(arrays["predictions"].shape[1])}
    diag = xr.Dataset({k: (("time", "node"), arrays[k]) for k in ("predictive_var", "log_pred_density")}, coords=coords)
    empty = xr.DataArray(np.zeros((len(coords["node"]), len(coords["time"]))), coords=coords, dims=("node", "time"))
    return RunResult(method=label, predictions=arrays["predictions"], labels=arrays["labels"],
                     observed=arrays["observed"], tae=empty, diagnostics=diag, final_state=None,
                     seconds=float(arrays["seconds"]), compilations=0, config={},
                     compile_seconds=float(arrays["compile_seconds"]))


def calibration(result, ts) -> dict[str, float]:
    """Over the last half of each node's labels: the share inside the 90% predictive interval,
    and the learnt label variance (in the label's units) over the mean squared error."""
    pred, var = result.predictions, result.diagnostics["predictive_var"].values
    inside, ratios = [], []
    for k in range(pred.shape[1]):
        seen = np.flatnonzero(result.observed[:, k])
        late = seen[len(seen) // 2:]
        if late.size == 0:
            continue
        err = result.labels[late, k] - pred[late, k]
        inside.append(np.mean(np.abs(err) <= Z90 * np.sqrt(var[late, k])))
        if "learnt_r" in result.diagnostics:
            r = result.diagnostics["learnt_r"].values[late, k] * ts.label_scale[late, k] ** 2
            ratios.append(float(np.mean(r) / np.mean(err**2)))
    return {"coverage90": float(np.mean(inside)), "r_over_mse": float(np.mean(ratios)) if ratios else float("nan")}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default=",".join(DATASETS), help="comma list (default: all four)")
    p.add_argument("--methods", default=",".join(DEFAULT_METHODS), help="comma list of NAME or NAME@FUSION")
    p.add_argument("--seeds", type=int, default=3, help="seeds 0..S-1 (window draws and filter randomness)")
    p.add_argument("--particles", type=int, default=300, help="particles per filter (default 300)")
    p.add_argument("--max-steps", type=int, default=None, help="cap on steps per dataset (default: the full set)")
    p.add_argument("--graph", default="small-world", help="graph spec for the distributed methods")
    p.add_argument("--out", default="benchmarks/results", help="output folder")
    p.add_argument("--forgetting", type=float, default=None,
                   help="one forgetting factor for the model averages (memory about 1/(1-f) labels; default: the "
                        "package's, learnt among several)")
    p.add_argument("--quick", action="store_true", help="smoke run: 150 steps, 1 seed, 100 particles")
    p.add_argument("--resume", action="store_true", help="reuse runs cached in OUT/cache_real/")
    args = p.parse_args(argv)
    if args.quick:
        args.max_steps, args.seeds, args.particles = 150, 1, 100
    return args


def run_all(args, name, specs) -> dict[str, Any]:
    """Every method on every seed of one dataset: {"runs": {label: [RunSummary]}, "errors", "shape", "info"}."""
    import bayeslstm as bl

    labels = [label for label, *_ in specs] + list(AVERAGES)
    out: dict[str, Any] = {"runs": {label: [] for label in labels}, "errors": {label: [] for label in labels},
                           "final_weights": []}
    for seed in range(args.seeds):
        ts = bl.load_dataset(name, max_steps=args.max_steps, seed=seed)
        s = ts.stream
        out["shape"] = list(s.X.shape)
        out["info"] = {k: v for k, v in ts.info.items() if isinstance(v, (int, float, str))}
        print(f"[{name} seed {seed}] T={s.steps} K={s.nodes} M={s.max_len} p={s.features}", flush=True)
        members: dict[str, Any] = {}
        for label, method, fusion, own in specs:
            options = common.options_for(method, fusion, {"num_particles": args.particles}, own)
            key = {"dataset": name, "label": label, "seed": seed, "options": options, "max_steps": args.max_steps,
                   "graph": args.graph, "model": MODEL_OPTIONS}
            cache = common.cache_path(pathlib.Path(args.out) / "cache_real", key)
            forecasts = cache.with_suffix(".npz")
            if args.resume and cache.exists() and forecasts.exists():
                summary, extras = common.load_run(cache)
                with np.load(forecasts) as arrays:
                    members[label] = member_run(label, dict(arrays))
            else:
                try:  # the assembly gives baseline-last the target's column when the target is a feature
                    result = bl.run(ts, method, fusion=fusion, graph=common.graph_for(method, fusion, args.graph), seed=seed,
                                    model_options=MODEL_OPTIONS, **options)
                except bl.BayesLSTMError as exc:  # a diverged filter is a result, not a crash
                    out["errors"][label].append(f"seed {seed}: {exc}")
                    print(f"  {label:>22s}  FAILED: {exc}", flush=True)
                    continue
                summary = common.summarize(result)
                extras = calibration(result, ts)
                common.save_run(cache, summary, extras)
                arrays = forecast_arrays(result)
                np.savez(forecasts, **arrays)
                members[label] = member_run(label, arrays)
            record(out, label, summary, extras)
        average(out, members, ts, args.forgetting, seed)
    return out


def record(out: dict[str, Any], label: str, summary, extras: dict[str, float]) -> None:
    out["runs"][label].append(summary)
    out.setdefault("calibration", {}).setdefault(label, []).append(extras)
    print(f"  {label:>22s}  final TAE {common.final_tae(summary):.5g}  ({summary.seconds:.1f} s)", flush=True)


def average(out: dict[str, Any], members: dict[str, Any], ts, forgetting: float | None, seed: int) -> None:
    """The online model averages of every run that finished on this seed (formed from their
    forecasts after the runs: each step's weights use earlier labels only)."""
    import bayeslstm as bl

    for label, own in AVERAGES.items():
        options = {**({"forgetting": forgetting} if forgetting is not None else {}), **own}
        try:
            result = bl.model_average(members, name=label, **options)
        except bl.BayesLSTMError as exc:
            out["errors"][label].append(f"seed {seed}: {exc}")
            print(f"  {label:>22s}  FAILED: {exc}", flush=True)
            continue
        if label == AVERAGE:
            weights = result.diagnostics["weight"].isel(time=-1).mean("node")
            out["final_weights"].append({str(m): float(w) for m, w in zip(weights["member"].values, weights.values)})
            if "forgetting_weight" in result.diagnostics:
                learnt = result.diagnostics["forgetting_weight"].isel(time=-1).mean("node")
                out.setdefault("final_forgetting", []).append(dict(zip(map(float, learnt["forgetting"].values),
                                                                       map(float, learnt.values))))
        record(out, label, common.summarize(result), calibration(result, ts))


def summarise(results: dict[str, Any]) -> dict[str, Any]:
    """Seed statistics per dataset (compare_results), the ratio to baseline-mean, and the claim:
    the best distributed filter beats the trivial baselines and the local filters."""
    claims, tables = {}, {}
    for name, data in results.items():
        rows = common.rows_by_label(data["comparison"])
        reference = rows.get("baseline-mean@local", {}).get("final_tae")
        for row in rows.values():
            row["relative_to_baseline_mean"] = row["final_tae"] / reference if reference else None
        tables[name] = rows
        present = lambda labels: {label: rows[label]["final_tae"] for label in labels if label in rows}  # noqa: E731
        distributed, local, baselines = present(DISTRIBUTED_FILTERS), present(LOCAL_FILTERS), present(BASELINES)
        if distributed and local and baselines:
            best = min(distributed, key=distributed.get)
            claims[name] = {
                "best_distributed_filter": best,
                "beats_baselines": bool(distributed[best] < min(baselines.values())),
                "beats_local_filters": bool(distributed[best] < min(local.values())),
                "ranking": list(data["comparison"].table.index),
            }
            claims[name]["holds"] = claims[name]["beats_baselines"] and claims[name]["beats_local_filters"]
        new = {label: rows[label]["final_tae"] for label in NEW_DISTRIBUTED if label in rows}
        if new and "dekf" in rows and name in claims:
            best_new = min(new, key=new.get)
            ratio = new[best_new] / rows["dekf"]["final_tae"]
            claims[name].update(best_new_distributed=best_new, new_over_dekf=ratio, new_within_10pct_of_dekf=ratio <= 1.10)
        # every distributed learner
        learners = {label: rows[label] for label in rows if not label.startswith("baseline") and "@" not in label}
        bases = [rows[b] for b in BASELINES if b in rows]
        if learners and bases and name in claims:
            best = min(learners, key=lambda label: learners[label]["final_tae"])
            tae, half = learners[best]["final_tae"], learners[best]["half_mse"]
            base_tae, base_half = min(b["final_tae"] for b in bases), min(b["half_mse"] for b in bases)
            cal = {k: float(np.nanmean([c[k] for c in data.get("calibration", {}).get(best, [])] or [np.nan]))
                   for k in ("coverage90", "r_over_mse")}
            claims[name]["forecasting"] = {
                "best_distributed_learner": best, "tae_over_best_baseline": tae / base_tae,
                "late_half_mse_over_best_baseline": half / base_half,
                "beats_both_baselines": bool(tae < base_tae and half < base_half),
                "within_1pct_of_best_baseline": bool(tae <= 1.01 * base_tae), **cal,
                "coverage_in_85_95": bool(0.85 <= cal["coverage90"] <= 0.95),
                "r_within_factor_2": bool(0.5 <= cal["r_over_mse"] <= 2.0),
            }
        others = {label: row["final_tae"] for label, row in rows.items() if label not in AVERAGES}
        if AVERAGE in rows and others and name in claims:
            best_member = min(others, key=others.get)
            ratio = rows[AVERAGE]["final_tae"] / others[best_member]
            weights = data.get("final_weights") or [{}]
            last = {m: float(np.mean([w.get(m, 0.0) for w in weights])) for m in weights[0]}
            memories = data.get("final_forgetting") or [{}]
            memory = {f: float(np.mean([w.get(f, 0.0) for w in memories])) for f in memories[0]}
            claims[name]["averaging"] = {"best_member": best_member, "average_over_best_member": ratio,
                                         "within_2pct_of_best_member": bool(ratio <= 1.02),
                                         "final_weights": dict(sorted(last.items(), key=lambda kv: -kv[1])),
                                         "final_forgetting_weights": memory}
    held = sum(c["holds"] for c in claims.values())
    return {"per_dataset": claims, "tables": tables, "datasets_where_claim_holds": held, "datasets": len(claims)}


def finite_mean(values) -> str:
    """The mean of the finite values, to 2 decimals, or "-" where there is none (an average has no learnt r)."""
    finite = [v for v in values if np.isfinite(v)]
    return f"{np.mean(finite):.2f}" if finite else "-"


def write_markdown(path: pathlib.Path, results, summary, command: str) -> None:
    names = list(results)
    labels = list(next(iter(results.values()))["runs"])
    machine = common.machine()
    lines = ["# Real-data comparison (generated by benchmarks/paper_real.py)", "", f"Command: `{command}`", "",
             f"Machine: {machine['cpu']}, {machine['cores']} cores.", "",
             "Final network-mean TAE in the label's original units, mean ± std over seeds "
             "(in brackets: relative to baseline-mean).", "",
             "| method | " + " | ".join(f"{n} {tuple(results[n]['shape'])}" for n in names) + " |",
             "| --- |" + " --- |" * len(names)]
    for label in labels:
        cells = []
        for n in names:
            row = summary["tables"][n].get(label)
            if row is not None:
                rel = row.get("relative_to_baseline_mean")
                sd = row["final_tae_sd_seeds"]
                cells.append(f"{row['final_tae']:.4g}" + (f" ± {sd:.2g}" if np.isfinite(sd) else "")
                             + (f" [{rel:.2f}]" if rel else ""))
            else:
                errors = results[n]["errors"][label]
                cells.append("failed: " + "; ".join(errors)[:60] if errors else "-")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    last = names[-1]
    lines += ["", "Where each method has got to: the mean squared error over the last quarter of each node's labels (in "
              "brackets: the skill against baseline-last over the last half, 1 - MSE / its MSE; above 0 beats it), and "
              f"the cost on {last}: milliseconds per step for the whole network, floats each node sends per step.", "",
              "| method | " + " | ".join(names) + " | ms/step | floats/node/step |", "| --- |" + " --- |" * len(names)
              + " ---: | ---: |"]
    for label in labels:
        rows = [summary["tables"][n].get(label) for n in names]
        cells = [f"{r['late_mse']:.4g} [{r['skill_last_late']:+.2f}]" if r else "-" for r in rows]
        cost = rows[-1]
        cells += [f"{cost['ms_per_step']:.3g}", f"{cost['floats_per_step']:.0f}"] if cost else ["-", "-"]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", "Mean log predictive density per label in the label's units (higher is better; the naive forecasts' "
              "Gaussian predictive has their running variance of errors), mean over seeds.", "",
              "| method | " + " | ".join(names) + " |", "| --- |" + " --- |" * len(names)]
    for label in labels:
        rows = [summary["tables"][n].get(label) for n in names]
        lines.append(f"| {label} | " + " | ".join(f"{r['log_score']:.4g}" if r else "-" for r in rows) + " |")
    lines += ["", "## Claims", ""]
    for n, c in summary["per_dataset"].items():
        lines.append(f"- **{n}**: best distributed filter `{c['best_distributed_filter']}`; beats the baselines: "
                     f"{'yes' if c['beats_baselines'] else 'NO'}; beats the local filters: "
                     f"{'yes' if c['beats_local_filters'] else 'NO'}. Ranking: {', '.join(c['ranking'])}."
                     + (f" Best new distributed method `{c['best_new_distributed']}`: {c['new_over_dekf']:.3f} x the "
                        f"DEKF's TAE ({'within 10% or better' if c['new_within_10pct_of_dekf'] else 'NOT within 10%'})."
                        if "best_new_distributed" in c else ""))
    lines += ["", "## Forecasting against the naive forecasts", "",
              "Per dataset, the best distributed learner by final TAE: its final TAE and its MSE over the last half "
              "of each node's labels over the better baseline's (below 1: better than both naive forecasts); the "
              "share of those late labels inside its 90% predictive interval; its learnt label variance over that "
              "MSE (in the label's units).", "",
              "| dataset | best distributed learner | TAE / best baseline | late-half MSE / best baseline | "
              "90% interval coverage | learnt r / late MSE |", "| --- | --- | ---: | ---: | ---: | ---: |"]
    for n, c in summary["per_dataset"].items():
        f = c.get("forecasting")
        if f:
            lines.append(f"| {n} | {f['best_distributed_learner']} | {f['tae_over_best_baseline']:.3f} | "
                         f"{f['late_half_mse_over_best_baseline']:.3f} | {f['coverage90']:.3f} | {f['r_over_mse']:.2f} |")
    lines += ["", "## Online model average", "",
              f"`{AVERAGE}` mixes every other method's predictive density, naive forecasts included, with weights "
              "from how well each forecast the earlier labels (its mean scored at the mixture's variance; forgetting "
              "learnt), pooled over the network's nodes (`bl.model_average`; `average[pool=node]`: each node on its "
              "own labels; `average[calibrate]`: its variance rescaled to its errors; "
              "`average[score=density,forgetting=0.98]`: weights from each member's own log density, one "
              "forgetting factor). Its final TAE over the best single method's, the three largest weights at the "
              "last step and the weight of each forgetting factor then (network mean, mean over seeds).", "",
              "| dataset | best member | average / best member | largest final weights | forgetting: final weights |",
              "| --- | --- | ---: | --- | --- |"]
    for n, c in summary["per_dataset"].items():
        a = c.get("averaging")
        if a:
            top = ", ".join(f"{m} {w:.2f}" for m, w in list(a["final_weights"].items())[:3])
            memory = ", ".join(f"{f:g}: {w:.2f}" for f, w in a.get("final_forgetting_weights", {}).items()) or "-"
            lines.append(f"| {n} | {a['best_member']} | {a['average_over_best_member']:.3f} | {top} | {memory} |")
    lines += ["", "Calibration of every learner (late half, mean over seeds): 90% interval coverage / learnt r over late MSE.",
              "", "| method | " + " | ".join(names) + " |", "| --- |" + " --- |" * len(names)]
    for label in labels:
        if label.startswith("baseline"):
            continue
        cells = []
        for n in names:
            cal = results[n].get("calibration", {}).get(label, [])
            cells.append(" / ".join(finite_mean([c[k] for c in cal]) for k in ("coverage90", "r_over_mse"))
                         if cal else "-")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", f"The best distributed filter beats the trivial baselines and the local filters on "
              f"{summary['datasets_where_claim_holds']} of {summary['datasets']} datasets."]
    path.write_text("\n".join(lines) + "\n")


def main(argv=None) -> int:
    from bayeslstm.data.datasets import DATASETS as KNOWN
    from bayeslstm.engine.encoding import to_json

    args = parse_args(argv)
    names = [n.strip() for n in args.datasets.split(",") if n.strip()]
    for n in names:
        if n not in KNOWN:
            raise SystemExit(f"unknown dataset {n!r}; choose from {sorted(KNOWN)}")
    specs = common.parse_methods(args.methods)
    start = time.perf_counter()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    command = ("python benchmarks/paper_real.py " + " ".join(sys.argv[1:] if argv is None else argv)).strip()
    results: dict[str, Any] = {}
    for name in names:  # the files are rewritten after each dataset, so a long call shows progress
        results[name] = run_all(args, name, specs)
        results[name]["comparison"] = common.seed_statistics(results[name]["runs"])
        summary = summarise(results)
        datasets = {n: {"shape": r["shape"], "info": r["info"], "errors": r["errors"],
                        "network_tae": {label: r["comparison"].dataset["network_tae"].sel(method=label).values
                                        for label in r["comparison"].dataset["method"].values}}
                    for n, r in results.items()}
        payload = {"command": command, "args": vars(args), "model_options": MODEL_OPTIONS, "machine": common.machine(),
                   "wall_seconds": time.perf_counter() - start, "finished": list(results), "summary": summary,
                   "datasets": datasets}
        (out / "paper_real.json").write_text(to_json(payload))  # compact: it holds every per-step curve
        write_markdown(out / "paper_real.md", results, summary, command)
        panels = {}
        for n, r in results.items():
            shown = {label: runs[:1] for label, runs in r["runs"].items() if label in PLOTTED and runs}
            panels[n] = common.seed_statistics(shown)
        common.plot_panels(out / "paper_real.png", panels, ylabel="TAE (original units), seed 0")
    print(f"wrote {out / 'paper_real.json'}, paper_real.md and paper_real.png; claim holds on "
          f"{summary['datasets_where_claim_holds']} of {summary['datasets']} datasets")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
