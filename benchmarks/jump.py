"""Learnt process noise after a jump: a teacher stream whose weights change at T/2, learnt by
the EKF and LoFi with the model's fixed q and with ``fading=0.9`` (q scaled by a learnt factor).

    python benchmarks/jump.py            # 3 seeds, T = 1200 (a few minutes)
    python benchmarks/jump.py --quick    # 1 seed

For each run: the MSE of the 150 steps before the jump, the steps after it until a 50-step
window's MSE is back within 20% of that, and the MSE of the last 150 steps. Writes
benchmarks/results/jump[_quick].json and docs/figures/jump.png (50-step rolling MSE).
"""

from __future__ import annotations

import argparse
import json
import pathlib

import common
import numpy as np

import bayeslstm as bl

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
FIGURE = pathlib.Path(__file__).resolve().parents[1] / "docs" / "figures" / "jump.png"
STEPS, WINDOW = 1200, 50
SETTINGS = {"fixed q": None, "fading=0.9": 0.9}


def jump_stream(seed: int) -> bl.Stream:
    halves = [bl.teacher_stream(steps=STEPS // 2, nodes=1, features=2, min_len=2, max_len=4, seed=s, noise_var=0.01)[0]
              for s in (2 * seed + 1, 2 * seed + 2)]
    return bl.Stream(*(np.concatenate(parts) for parts in zip(*halves)))


def measure(stream: bl.Stream, method: str, fading: float | None) -> dict:
    result = bl.run(stream, method, model_options={"hidden": 4}, fading=fading)
    e = (result.predictions[:, 0] - stream.d[:, 0]) ** 2
    half = STEPS // 2
    before = float(e[half - 150:half].mean())
    back = next((k - half for k in range(half, STEPS - WINDOW) if e[k:k + WINDOW].mean() <= 1.2 * before), None)
    rolling = np.convolve(e, np.ones(WINDOW) / WINDOW, mode="valid")
    return {"before": before, "steps_back": back, "last": float(e[-150:].mean()), "rolling": rolling.tolist()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one seed")
    args = parser.parse_args()
    seeds = [0] if args.quick else [0, 1, 2]
    runs: dict = {}
    for seed in seeds:
        stream = jump_stream(seed)
        for method in ("ekf", "lofi"):
            for name, fading in SETTINGS.items():
                runs.setdefault(f"{method}, {name}", []).append(measure(stream, method, fading))
    table = {label: {key: [r[key] for r in rows] for key in ("before", "steps_back", "last")} for label, rows in runs.items()}
    report = {"machine": common.machine(), "steps": STEPS, "seeds": seeds, "runs": table}
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"jump{'_quick' if args.quick else ''}.json"
    path.write_text(json.dumps(report, indent=1))
    for label, row in table.items():
        print(f"{label:>20s}  steps back {row['steps_back']}  MSE before {np.round(row['before'], 4)}  last {np.round(row['last'], 4)}")
    if not args.quick:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
        for ax, method in zip(axes, ("ekf", "lofi")):
            for name in SETTINGS:
                curve = np.mean([r["rolling"] for r in runs[f"{method}, {name}"]], axis=0)
                ax.plot(np.arange(len(curve)) + WINDOW, curve, label=name)
            ax.axvline(STEPS // 2, color="grey", linestyle=":")
            ax.set_yscale("log")
            ax.set_title(f"{method}: teacher changes at step {STEPS // 2}")
            ax.set_xlabel("step")
        axes[0].set_ylabel(f"{WINDOW}-step MSE (mean of {len(seeds)} seeds)")
        axes[0].legend()
        fig.tight_layout()
        FIGURE.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(FIGURE, dpi=110)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
