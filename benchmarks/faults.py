"""The fault soak: every distributed method on sparse and random graphs under link failures,
node dropout and a partition that heals.

    python benchmarks/faults.py                    # the whole grid (many hours on 2 CPU cores)
    python benchmarks/faults.py --quick            # the grid docs/faults.md shows (about an hour)

Graphs with K = 10 nodes: ring, path, grid, small-world and Erdos-Renyi. Faults: link failure
0, 0.1, 0.3, 0.5 crossed with node dropout 0, 0.1, 0.3, drawn as schedules here (so the live
groups of every step are known), and a partition that cuts the graph into nodes 0-4 and 5-9
for 100 steps from the first third on, then heals. Per run it records:

* ``disagreements``: steps at which two members of one live group (networkx's connected
  components of the present nodes and up links) hold different states, from the exact
  methods' ``digest`` diagnostic (the target is 0);
* ``heal_steps``: after the partition heals, steps until the whole graph agrees again;
* ``tae_ratio``: final TAE over the same method's fault-free run on the same graph and seed;
* ``floats``: numbers sent per node and step.

A separate float64 pass (``--exactness``) replays the consensus DPF step by step and compares
its log-weights, at every step at which it did not resample, with the centralized particle
filter's update of its live group on the same particles and the same present labels: the
group's state before the step is the member state that absorbed the most labels (the merge
rule), the increments are the present members' log-likelihoods computed here, and the groups
come from networkx. ``largest_gap`` is the largest difference over nodes, particles and steps.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from common import machine  # noqa: E402

GRAPHS = ("ring", "path", "grid", "small-world:k=4,p=0.2", "erdos-renyi:p=0.3")
LINKS = (0.0, 0.1, 0.3, 0.5)
DROPS = (0.0, 0.1, 0.3)
METHODS = {
    "dpf": dict(num_particles=64, walk_steps=5),
    "dpf-consensus": dict(num_particles=64),
    "denkf-consensus": dict(num_members=16),
    "dgspf": {},
    "dekf": {},
    "dlofi": dict(rank=3),
    "dsgd": {},
}
NODES, FEATURES, HIDDEN, MIN_LEN, MAX_LEN, NOISE_VAR = 10, 2, 2, 2, 8, 0.01
PARTITION_STEPS = 100


def stream_for(steps: int, seed: int):
    import bayeslstm as bl
    from bayeslstm.models import lstm_regression

    teacher = lstm_regression(features=FEATURES, hidden=HIDDEN, prior_scale=2.0)
    return bl.teacher_stream(steps=steps, nodes=NODES, features=FEATURES, min_len=MIN_LEN, max_len=MAX_LEN,
                             noise_var=NOISE_VAR, seed=seed, model=teacher)[0]


def network_for(graph: str, seed: int):
    from bayeslstm.engine.assembly import prepare_network

    return prepare_network(graph, NODES, seed)


def schedules(network, steps: int, link_failure: float, dropout: float, seed: int) -> dict:
    """The fault options of one setting, as schedules drawn here (``partition`` for the split)."""
    rng = np.random.default_rng(seed + 7919)
    links = rng.random((steps, network.graph.number_of_edges())) >= link_failure
    nodes = rng.random((steps, NODES)) >= dropout
    return dict(link_schedule=links, node_schedule=nodes)


def partition_for(steps: int) -> tuple[int, int, list[int]]:
    start = steps // 3
    return (start, start + PARTITION_STEPS, list(range(NODES // 2)))


def live_at(network, faults: dict, t: int) -> list[set[int]]:
    """The live groups of step t (networkx), from the schedules and the partition."""
    from bayeslstm.network.faults import Partition, cut_edges, live_groups

    up = faults["link_schedule"][t].copy() if "link_schedule" in faults else np.ones(network.graph.number_of_edges(), bool)
    present = faults["node_schedule"][t] if "node_schedule" in faults else None
    if "partition" in faults:
        partition = Partition(*faults["partition"])
        if partition.start <= t < partition.stop:
            up &= ~cut_edges(network, partition)
    return live_groups(network, up, present)


def disagreements(result, network, faults: dict) -> tuple[int, int | None]:
    """Steps with two members of a live group in different states; steps after the partition
    heals until every node agrees (None without a partition)."""
    digests = result.diagnostics["digest"].values
    count = 0
    for t in range(digests.shape[0]):
        count += any(len({digests[t, k] for k in group}) > 1 for group in live_at(network, faults, t))
    heal = None
    if "partition" in faults:
        stop = faults["partition"][1]
        agreed = [t for t in range(stop, digests.shape[0]) if len(set(digests[t])) == 1]
        heal = (agreed[0] - stop + 1) if agreed else None
    return count, heal


def one_run(stream, network, method: str, seed: int, faults: dict):
    import bayeslstm as bl

    return bl.run(stream, method, graph=network, seed=seed, model_options=dict(hidden=HIDDEN, prior_scale=1.0),
                  **METHODS[method], **faults)


QUICK_SETTINGS = ((0.0, 0.0), (0.1, 0.0), (0.0, 0.3), (0.3, 0.1), (0.5, 0.3))
TARGET_GRAPH, TARGET_METHODS, TARGET_SETTING = "small-world:k=4,p=0.2", ("dekf", "dgspf", "dpf-consensus"), (0.3, 0.1)


def soak(args, graphs, seeds, methods, settings, steps) -> list[dict]:
    """Every (graph, seed, setting, method) run; settings are (link failure, dropout) pairs or
    ("partition", None). The fault-free setting, when present, gives each run's TAE ratio."""
    rows = []
    total = len(graphs) * len(seeds) * len(settings) * len(methods)
    done = 0
    for graph in graphs:
        for seed in seeds:
            network, stream = network_for(graph, seed), stream_for(steps, seed)
            clean = {}
            for setting in settings:
                if setting[0] == "partition":
                    faults = dict(partition=partition_for(steps))
                elif setting == (0.0, 0.0):
                    faults = {}
                else:
                    faults = schedules(network, steps, setting[0], setting[1], seed)
                for method in methods:
                    started = time.perf_counter()
                    result = one_run(stream, network, method, seed, faults)
                    if not faults:
                        clean[method] = result.final_tae
                    row = dict(graph=graph, seed=seed, method=method, steps=steps,
                               link_failure=None if setting[0] == "partition" else setting[0],
                               dropout=setting[1], partition=setting[0] == "partition", final_tae=result.final_tae,
                               floats=float(np.nanmean(result.diagnostics["floats"].values)),
                               seconds=time.perf_counter() - started)
                    if "digest" in result.diagnostics:
                        row["disagreements"], row["heal_steps"] = disagreements(result, network, faults)
                    rows.append(row)
                    done += 1
                    print(f"[{done}/{total}] {graph} seed {seed} {setting} {method}: TAE {result.final_tae:.4f}"
                          f" disagreements {row.get('disagreements', '-')} ({row['seconds']:.1f} s)", flush=True)
            for row in rows:
                if row["graph"] == graph and row["seed"] == seed and row["method"] in clean:
                    row["tae_ratio"] = row["final_tae"] / clean[row["method"]]
    return rows


def exactness(args) -> list[dict]:
    """The float64 replay of the consensus DPF against each live group's centralized update."""
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    from bayeslstm.engine.assembly import assemble
    from bayeslstm.kernels.particle_filter import LOGLIK_FLOOR
    from bayeslstm.network.method import StepData

    out = []
    for graph in args.graphs:
        seed = args.seeds[0]
        network, stream = network_for(graph, seed), stream_for(args.exact_steps, seed)
        for setting in ((0.3, 0.1), (0.5, 0.3), "partition"):
            faults = (dict(partition=partition_for(args.exact_steps)) if setting == "partition"
                      else schedules(network, args.exact_steps, *setting, seed))
            built = assemble(stream, "dpf-consensus", graph=network, seed=seed, num_particles=64,
                             model_options=dict(hidden=HIDDEN, prior_scale=1.0), **faults)[0]
            method, ssm = built.method, built.ssm
            step = jax.jit(method.step)

            @jax.jit
            def logliks(particles, X, mask, d):  # (K data, N) for one node's particles
                per = lambda x, m, y: jax.vmap(lambda th: ssm.observation(th, x, m).log_prob(y))(particles)  # noqa: E731
                return jnp.maximum(jnp.nan_to_num(jax.vmap(per)(X, mask, d), nan=LOGLIK_FLOOR), LOGLIK_FLOOR)

            key = jax.random.key(seed)
            state = jax.jit(method.init, static_argnums=1)(jax.random.fold_in(key, 0), NODES)
            step_key = jax.random.fold_in(key, 1)
            gap, checked = 0.0, 0
            for t in range(stream.steps):
                mask = np.arange(stream.max_len)[None, :] < stream.lengths[t][:, None]
                data = StepData(jnp.asarray(stream.X[t]), jnp.asarray(mask), jnp.asarray(stream.d[t]),
                                jnp.asarray(stream.observed[t]))
                new, info = step(jax.random.fold_in(step_key, t), state, data)
                old_seen = np.asarray(state.inner.labels_seen)
                present = np.asarray(info["present"])
                for group in live_at(network, faults, t):
                    members = sorted(group)
                    best = max(old_seen[k] for k in members)
                    source = min(k for k in members if old_seen[k] == best)  # the merge rule, from the counts
                    if bool(np.asarray(info["resampled"])[members[0]]):
                        continue
                    particles = new.inner.particles[members[0]]
                    ll = np.asarray(logliks(particles, data.X, data.mask, data.d))
                    use = np.zeros(NODES, bool)
                    use[members] = True
                    use &= present & np.asarray(stream.observed[t])
                    reference = np.asarray(state.inner.log_weights[source]) + ll[use].sum(axis=0)
                    reference -= np.logaddexp.reduce(reference)
                    weights = np.asarray(new.inner.log_weights)[members]
                    gap = max(gap, float(np.abs(weights - reference[None]).max()))
                    checked += 1
                state = new
            out.append(dict(graph=graph, setting=str(setting), steps=stream.steps, groups_checked=checked,
                            largest_gap=gap))
            print(f"exactness {graph} {setting}: largest gap {gap:.2e} over {checked} group-steps", flush=True)
    return out


def _settings(rows: list[dict]) -> list:
    """The faulty settings of the soak, in order: (link failure, dropout) pairs, then "partition"."""
    pairs = dict.fromkeys((r["link_failure"], r["dropout"]) for r in rows if not r["partition"])
    return [pair for pair in pairs if pair != (0.0, 0.0)] + (["partition"] if any(r["partition"] for r in rows) else [])


def _ratios(rows: list[dict], method: str, setting) -> list[float]:
    return [r["tae_ratio"] for r in rows if r["method"] == method and "tae_ratio" in r and (
        r["partition"] if setting == "partition" else (not r["partition"] and (r["link_failure"], r["dropout"]) == setting))]


def plot(rows: list[dict], path: pathlib.Path) -> None:
    """Each method's final TAE over its fault-free run's per fault setting: the mean over the
    graphs (bars) and the largest (ticks)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods, settings = list(dict.fromkeys(r["method"] for r in rows)), _settings(rows)
    fig, ax = plt.subplots(figsize=(10, 3.8))
    width = 0.8 / len(settings)
    for j, setting in enumerate(settings):
        label = "partition, healed" if setting == "partition" else f"links {setting[0]}, nodes {setting[1]}"
        x = np.arange(len(methods)) + (j - (len(settings) - 1) / 2) * width
        means = [np.mean(_ratios(rows, m, setting)) for m in methods]
        worst = [max(_ratios(rows, m, setting)) for m in methods]
        bars = ax.bar(x, means, width, label=label)
        ax.scatter(x, worst, marker="_", color=bars.patches[0].get_facecolor(), s=60)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.axhline(1.15, color="grey", linestyle=":", linewidth=1)
    ax.set_xticks(np.arange(len(methods)), methods)
    ax.set_ylabel("final TAE / fault-free TAE")
    ax.set_title("Fault soak: mean over 5 graphs (bars), largest (ticks); dotted: 1.15")
    ax.legend(fontsize=8, ncol=3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def markdown(report: dict) -> str:
    """The tables docs/faults.md shows, from a report this script wrote."""
    rows, targets, exact = report["soak"], report["targets"], report["exactness"]
    lines = []
    exact_rows = [r for r in rows + targets if "disagreements" in r]
    lines.append(f"Steps with two members of one live group in different states, exact methods: "
                 f"**{sum(r['disagreements'] for r in exact_rows)}** over {len(exact_rows)} runs "
                 f"({sum(r['steps'] for r in exact_rows)} run-steps). After the partition healed, every node agreed "
                 f"within {max((r['heal_steps'] for r in exact_rows if r.get('heal_steps') is not None), default=0)} step(s).")
    lines.append("")
    lines.append(f"Largest gap between the consensus DPF's log-weights and its live group's centralized update (float64, "
                 f"{sum(e['groups_checked'] for e in exact)} group-steps without resampling): "
                 f"**{max(e['largest_gap'] for e in exact):.1e}**.")
    lines.append("")
    settings = _settings(rows)
    header = ["method"] + [s if s == "partition" else f"links {s[0]}, nodes {s[1]}" for s in settings]
    lines.append("Final TAE over the fault-free run's, mean over the graphs (largest in brackets):")
    lines.append("")
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    for method in dict.fromkeys(r["method"] for r in rows):
        cells = [f"`{method}`"]
        for setting in settings:
            pick = _ratios(rows, method, setting)
            cells.append(f"{np.mean(pick):.2f} ({max(pick):.2f})" if pick else "-")
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("Numbers sent per node and step, mean over the graphs:")
    lines.append("")
    lines.append("| method | fault-free | links 0.5, nodes 0.3 |")
    lines.append("|---|---:|---:|")
    for method in dict.fromkeys(r["method"] for r in rows):
        free = [r["floats"] for r in rows if r["method"] == method and not r["partition"] and r["link_failure"] == 0.0
                and r["dropout"] == 0.0]
        worst = [r["floats"] for r in rows if r["method"] == method and r["link_failure"] == 0.5 and r["dropout"] == 0.3]
        lines.append(f"| `{method}` | {np.mean(free):.0f} | {np.mean(worst):.0f} |" if free and worst else f"| `{method}` | - | - |")
    lines.append("")
    lines.append(f"The targets' setting ({TARGET_GRAPH}, 1000 steps, seeds 0-2, link failure {TARGET_SETTING[0]} and "
                 f"node dropout {TARGET_SETTING[1]}; target: within 15% of the fault-free TAE):")
    lines.append("")
    lines.append("| method | fault-free TAE | faulty TAE | ratio (per seed) | holds |")
    lines.append("|---|---:|---:|---|---|")
    for method in TARGET_METHODS:
        free = [r["final_tae"] for r in targets if r["method"] == method and r["link_failure"] == 0.0]
        faulty = [r for r in targets if r["method"] == method and r["link_failure"] == TARGET_SETTING[0]]
        ratios = [r["tae_ratio"] for r in faulty]
        lines.append(f"| `{method}` | {np.mean(free):.4f} | {np.mean([r['final_tae'] for r in faulty]):.4f} | "
                     f"{np.mean(ratios):.3f} ({', '.join(f'{x:.3f}' for x in ratios)}) | "
                     f"{'yes' if np.mean(ratios) < 1.15 else 'no'} |")
    m = report["machine"]
    lines.append("")
    lines.append(f"Measured on {m['cpu']} ({m['cores']} cores, shared), jax {m['jax']}, in {report['wall_seconds'] / 60:.0f} "
                 f"minutes: `{' '.join(['python benchmarks/faults.py'] + (['--quick'] if report['settings'].get('quick') else []))}`.")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--graphs", nargs="+", default=list(GRAPHS))
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--links", type=float, nargs="+", default=list(LINKS))
    parser.add_argument("--drops", type=float, nargs="+", default=list(DROPS))
    parser.add_argument("--no-partition", dest="partition", action="store_false")
    parser.add_argument("--exact-steps", type=int, default=300, help="steps of the float64 exactness replay (0: skip)")
    parser.add_argument("--quick", action="store_true",
                        help="300 steps, seed 0, (link failure, dropout) in " + str(QUICK_SETTINGS) + " and the partition")
    parser.add_argument("--out", default="benchmarks/results/faults")
    parser.add_argument("--table", metavar="JSON", help="print the markdown tables of a report written before and "
                                                        "redraw its figure beside it; run nothing")
    args = parser.parse_args(argv)
    if args.table:
        report = json.loads(pathlib.Path(args.table).read_text())
        plot(report["soak"], pathlib.Path(args.table).with_suffix(".png"))
        print(markdown(report))
        return 0
    settings = [(lf, dr) for lf in args.links for dr in args.drops]
    if args.quick:
        args.steps, args.seeds, settings = 300, [0], list(QUICK_SETTINGS)
    settings += [("partition", None)] if args.partition else []
    started = time.perf_counter()
    exact = exactness(args) if args.exact_steps else []
    import jax

    jax.config.update("jax_enable_x64", False)
    # the targets' setting: 3 seeds, 1000 steps, with and without faults
    targets = soak(args, [TARGET_GRAPH], [0, 1, 2], TARGET_METHODS, [(0.0, 0.0), TARGET_SETTING], 1000)
    rows = soak(args, args.graphs, args.seeds, args.methods, settings, args.steps)
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    report = dict(machine=machine(), settings=dict(vars(args)), wall_seconds=time.perf_counter() - started,
                  soak=rows, targets=targets, exactness=exact)
    out.with_suffix(".json").write_text(json.dumps(report, indent=1, default=str))
    plot(rows, out.with_suffix(".png"))
    out.with_suffix(".md").write_text(markdown(report) + "\n")
    exact_rows = [r for r in rows if "disagreements" in r]
    print(f"steps in disagreement inside a live group, exact methods: {sum(r['disagreements'] for r in exact_rows)} "
          f"over {len(exact_rows)} runs; largest float64 log-weight gap: {max((e['largest_gap'] for e in exact), default=0):.2e}")
    for method in TARGET_METHODS:
        ratios = [r["tae_ratio"] for r in targets if r["method"] == method and r["link_failure"] == TARGET_SETTING[0]]
        print(f"{method} on {TARGET_GRAPH}, link failure {TARGET_SETTING[0]}, dropout {TARGET_SETTING[1]}: TAE / fault-free "
              f"{np.mean(ratios):.3f} (seeds: {', '.join(f'{x:.3f}' for x in ratios)}; target < 1.15)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
