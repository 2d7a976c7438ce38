"""The online model average on streams that are not in the package: its defaults (chosen on
the built-in tables) tried on river's bundled series, with its members and the naive forecasts.

    python benchmarks/average_streams.py            # 3 seeds (a few minutes on 2 cores)
    python benchmarks/average_streams.py --quick    # 1 seed, the first 300 examples of each stream

Streams (bundled with river, no download), with the features of benchmarks/river_streams.py:
AirlinePassengers (144 months), WaterFlow (1268 hours) and TrumpApproval (1001 days), each one
node of a bayeslstm stream (``bayeslstm.river.network_stream``, window 8). The members, every one
learning online with its defaults at hidden size 4: ``ekf``, ``lofi`` and ``gspf``, and the naive
forecasts ``baseline-last`` and ``baseline-mean``. Three averages of them: the default
(``bl.model_average(members)``), its calibrated variance (``calibrate=True``) and the previous
release's (``score="density", forgetting=0.98``). Scored like every run: the TAE in the label's
units, the mean log predictive density and the share of the last half's labels inside the 90%
interval. Writes benchmarks/results/average_streams[_quick].json and .md.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import time

import common
import numpy as np
from river_streams import streams

import bayeslstm as bl
from bayeslstm.river.streams import network_stream

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
MEMBERS = ("ekf", "lofi", "gspf", "baseline-last", "baseline-mean")
AVERAGES = {"average": {}, "average[calibrate]": {"calibrate": True},
            "average[score=density,forgetting=0.98]": {"score": "density", "forgetting": 0.98}}
Z90 = 1.6448536269514722


def scores(result) -> dict[str, float]:
    """Final TAE, mean log density per label, and 90% coverage over the last half of the labels."""
    seen = np.flatnonzero(result.observed[:, 0])
    late = seen[len(seen) // 2:]
    err = result.labels[late, 0] - result.predictions[late, 0]
    sd = np.sqrt(result.diagnostics["predictive_var"].values[late, 0])
    log_density = result.diagnostics["log_pred_density"].values[:, 0][result.observed[:, 0]]
    return {"tae": float(result.final_tae), "log_score": float(np.mean(log_density)),
            "coverage90": float(np.mean(np.abs(err) <= Z90 * sd))}


def one_stream(examples, seeds: int) -> dict[str, list[dict[str, float]]]:
    table = network_stream([examples], window=8)
    rows: dict[str, list[dict[str, float]]] = {}
    for seed in range(seeds):
        members = {m: bl.run(table, m, seed=seed, **({} if m.startswith("baseline") else {"model_options": {"hidden": 4}}))
                   for m in MEMBERS}
        for label, result in members.items():
            rows.setdefault(label, []).append(scores(result))
        for label, options in AVERAGES.items():
            average = bl.model_average(members, name=label, **options)
            rows.setdefault(label, []).append(scores(average) | {"best_member": min(r.final_tae for r in members.values())})
    return rows


def markdown(results: dict) -> str:
    lines = [f"Command: `{results['command']}`", ""]
    for stream, rows in results["streams"].items():
        best = np.mean([r["best_member"] for r in rows["average"]])
        lines += [f"### {stream}", "", "| method | TAE (mean over seeds) | / best member | log score | 90% coverage |",
                  "| --- | ---: | ---: | ---: | ---: |"]
        for label, runs in rows.items():
            tae = np.mean([r["tae"] for r in runs])
            ratio = np.mean([r["tae"] / r["best_member"] for r in runs]) if "best_member" in runs[0] else tae / best
            lines.append(f"| {label} | {tae:.4g} | {ratio:.3f} | {np.mean([r['log_score'] for r in runs]):.3f} | "
                         f"{np.mean([r['coverage90'] for r in runs]):.3f} |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 seed, the first 300 examples of each stream")
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args(argv)
    seeds, limit = (1, 300) if args.quick else (args.seeds, None)
    start = time.perf_counter()
    results = {"command": "python benchmarks/average_streams.py" + (" --quick" if args.quick else ""),
               "machine": common.machine(), "seeds": seeds, "streams": {}}
    for name, examples in streams(limit).items():
        print(f"[{name}] {len(examples)} examples", flush=True)
        results["streams"][name] = one_stream(examples, seeds)
    results["wall_seconds"] = time.perf_counter() - start
    stem = RESULTS / ("average_streams_quick" if args.quick else "average_streams")
    stem.with_suffix(".json").write_text(json.dumps(results, indent=1))
    stem.with_suffix(".md").write_text(markdown(results))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
