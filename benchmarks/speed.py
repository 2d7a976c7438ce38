"""Speed and scaling of the kernels and fusion schemes, measured in one process and one run.

    python benchmarks/speed.py --quick --json out.json     # about 1.5 minutes on 2 CPU cores
    python benchmarks/speed.py --json benchmarks/results/speed.json

Per-step times exclude compilation (reported separately). ``pf_flop_fraction_of_matmul`` is
the particle filter's achieved FLOP rate (LSTM matrix products only) over the rate of a
2048x2048 float32 matmul measured in the same run; ``scaling_slopes`` are log-log slopes of
per-step time against N, K and m between the two largest points of each grid (past fixed
overheads; ``scaling`` has the points and the slope over the whole grid). ``targets`` says
which of the speed targets (docs/performance.md) hold in this run. ``fast_paths`` (skipped by ``--quick`` unless
``--fast-paths``) times, in this same process, the particle
filter's pieces and whole step before and after the fast paths (the plain paths are
put back for the "before" numbers: ``jax.random.normal`` for the random-walk noise and one
``vmap`` over all particles for the observation). Peers (Pyro's SMCFilter on the same
LSTM state-space model in PyTorch, dynamax's EKF with the same LSTM as emission function) are
measured only when installed (``pip install -e .[bench]``); otherwise their keys are null and
``peers`` says why.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib.util
import json
import math
import os
import platform
import resource
import sys
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np

import bayeslstm as bl

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402  (the benchmarks' shared pieces, next to this file)

from bayeslstm.kernels import particle_filter as pf
from bayeslstm.kernels.ekf import extended_kalman_filter
from bayeslstm.kernels.protocol import Batch
from bayeslstm.model import statespace as statespace
from bayeslstm.model.lstm import GATES, lstm_predict
from bayeslstm.models.lstm import lstm_regression


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


@functools.cache
def fixed_stream(steps: int, nodes: int, length: int, features: int, seed: int = 0):
    """Generated once per shape: grid points and methods that share a shape share the stream."""
    return bl.teacher_stream(steps=steps, nodes=nodes, features=features, min_len=length, max_len=length, seed=seed)[0]


def per_step(method: str, steps: int, nodes: int, length: int, hidden: int, features: int, repeats: int = 2,
             **options) -> dict:
    """Best of ``repeats`` runs (the second compiles from the persistent cache): a burst of load
    from another process on the shared cores spoils one run, rarely both."""
    stream = fixed_stream(steps, nodes, length, features)
    runs = [bl.run(stream, method, model_options={"hidden": hidden}, **options) for _ in range(repeats)]
    return {
        "method": method, "nodes": nodes, "length": length, "hidden": hidden, "features": features,
        "options": {k: v for k, v in options.items() if isinstance(v, (int, float, str))},
        "seconds_per_step": min(r.seconds for r in runs) / steps, "compile_seconds": runs[0].compile_seconds,
        "seconds_per_step_each_run": [r.seconds / steps for r in runs],
    }


def best_of(functions: dict, rounds: int = 7) -> dict:
    """Best wall time of each jitted zero-argument function, calls interleaved round by round
    so that load from other processes hits every candidate alike."""
    for f in functions.values():
        jax.block_until_ready(f())
    best = {name: math.inf for name in functions}
    for _ in range(rounds):
        for name, f in functions.items():
            t = time.perf_counter()
            jax.block_until_ready(f())
            best[name] = min(best[name], time.perf_counter() - t)
    return best


@contextlib.contextmanager
def plain_paths():
    """The paths before the fast paths: random-walk noise from ``jax.random.normal`` itself and one
    ``vmap`` over all particles. Both are read when a step is traced."""
    saved = statespace.random_walk_noise, statespace.particle_blocks
    statespace.random_walk_noise = lambda key, shape, dtype: jax.random.normal(key, shape, dtype)
    statespace.particle_blocks = lambda count, block, max_blocks=statespace.MAX_BLOCKS: [(0, count)]
    try:
        yield
    finally:
        statespace.random_walk_noise, statespace.particle_blocks = saved


def fast_path_comparison(N: int, n: int, p: int, m: int, steps: int, rounds: int = 7) -> dict:
    """The PF's pieces and its whole step, before and after the fast paths, in this process."""
    model = lstm_regression(features=p, hidden=n)
    ssm = statespace.read_model(model, np.zeros((m, p), np.float32), np.ones(m, bool))
    plain_ssm = ssm._replace(particle_block=None)
    key = jax.random.key(0)
    particles = jax.jit(lambda k: pf.init_particles(ssm, k, N).particles)(key)
    X = jax.random.normal(jax.random.key(1), (1, m, p))
    batch = Batch(X, jnp.ones((1, m), bool), jnp.zeros(1), jnp.ones(1, bool))

    def noise(draw):
        f = jax.jit(lambda k, x: x + 0.01 * draw(k, x.shape, x.dtype))
        return lambda: f(key, particles)

    generators = {
        "threefry jax.random.normal (before)": noise(jax.random.normal),
        "threefry unrolled, bit-identical (after)": noise(statespace.random_walk_noise),
    }
    for impl in ("rbg", "unsafe_rbg"):  # other generators, for the record (numbers differ)
        other = jax.random.key(0, impl=impl)
        f = jax.jit(lambda k, x: x + 0.01 * jax.random.normal(k, x.shape, x.dtype))
        generators[f"{impl} jax.random.normal"] = (lambda f, k: lambda: f(k, particles))(f, other)
    noise_times = best_of(generators, rounds)

    observers = {"one vmap over all particles (before)": jax.jit(lambda P: pf.observe_all(plain_ssm, P, batch))}
    for block in (64, 256, 512):
        observers[f"blocks of {block}"] = jax.jit(lambda P, b=block: pf.observe_all(ssm._replace(particle_block=b), P, batch))
    default_block = statespace.CPU_PARTICLE_BLOCK if jax.default_backend() == "cpu" else "one"
    observers[f"blocks of {default_block} (after, default)"] = jax.jit(lambda P: pf.observe_all(ssm, P, batch))
    observe_times = best_of({name: (lambda f: lambda: f(particles))(f) for name, f in observers.items()}, rounds)

    step_times = {}
    kernels = {"after": pf.particle_filter(ssm, N), "before": pf.particle_filter(ssm, N)}
    state = pf.init_particles(ssm, key, N)
    compiled = {}
    for name, kernel in kernels.items():
        context = plain_paths() if name == "before" else contextlib.nullcontext()
        with context:  # the noise function is read when the step is traced
            compiled[name] = jax.jit(kernel.step).lower(key, state, batch).compile()
    step_times = best_of({name: (lambda f: lambda: f(key, state, batch))(f) for name, f in compiled.items()}, rounds)

    stream = fixed_stream(steps, 1, m, p)
    with plain_paths():
        before = bl.run(stream, "pf", model=model, num_particles=N)
    after = bl.run(stream, "pf", model=model, num_particles=N)
    return {
        "config": {"particles": N, "hidden": n, "features": p, "length": m},
        "noise_seconds": noise_times,
        "noise_speedup": noise_times["threefry jax.random.normal (before)"] / noise_times["threefry unrolled, bit-identical (after)"],
        "observe_seconds": observe_times,
        "observe_speedup": observe_times["one vmap over all particles (before)"]
        / observe_times[f"blocks of {default_block} (after, default)"],
        "step_seconds": step_times,
        "step_speedup": step_times["before"] / step_times["after"],
        "run_seconds_per_step": {"before": before.seconds / steps, "after": after.seconds / steps},
        "run_speedup": before.seconds / after.seconds,
        "run_max_abs_prediction_diff": float(np.max(np.abs(before.predictions - after.predictions))),
    }


def observation_slopes(n: int, p: int, rounds: int) -> dict:
    """Slopes of the observation alone (the LSTM over every particle, no per-step fixed costs
    such as the noise or resampling) against m and N, best-of timings in this process."""
    model = lstm_regression(features=p, hidden=n)
    times = {}
    for N, m in ((256, 5), (256, 10), (256, 20), (256, 40), (1024, 20)):
        ssm = statespace.read_model(model, np.zeros((m, p), np.float32), np.ones(m, bool))
        particles = jax.jit(lambda k, ssm=ssm, N=N: pf.init_particles(ssm, k, N).particles)(jax.random.key(0))
        batch = Batch(jax.random.normal(jax.random.key(1), (1, m, p)), jnp.ones((1, m), bool), jnp.zeros(1), jnp.ones(1, bool))
        f = jax.jit(lambda P, b, ssm=ssm: pf.observe_all(ssm, P, b))
        times[(N, m)] = (lambda f, P, b: lambda: f(P, b))(f, particles, batch)
    best = best_of(times, rounds)
    ms = [5, 10, 20, 40]
    return {
        "seconds": {f"N={N},m={m}": t for (N, m), t in best.items()},
        "length": slope(ms, [best[(256, m)] for m in ms]),
        "particles": slope([256, 1024], [best[(256, 20)], best[(1024, 20)]]),
    }


def torch_lstm_predict(torch, layout, thetas, X, mask):
    """The LSTM of bayeslstm.model.lstm (fused gates, mean pooling) for N weight vectors, in PyTorch."""
    blocks = {}
    for name, shape, at in zip(layout.names, layout.shapes, layout.offsets):
        blocks[name] = thetas[..., at : at + math.prod(shape)].reshape(*thetas.shape[:-1], *shape)
    W = torch.cat([blocks[f"W_{g}"] for g in GATES], dim=-2)  # (N, 4n, p)
    R = torch.cat([blocks[f"R_{g}"] for g in GATES], dim=-2)  # (N, 4n, n)
    b = torch.cat([blocks[f"b_{g}"] for g in GATES], dim=-1)  # (N, 4n)
    n = R.shape[-1]
    h = torch.zeros(*thetas.shape[:-1], n)
    c, total = torch.zeros_like(h), torch.zeros_like(h)
    inputs = torch.einsum("...gp,mp->m...g", W, X) + b
    count = 0
    for t in range(X.shape[0]):
        if not bool(mask[t]):
            continue
        pre = inputs[t] + (R @ h.unsqueeze(-1)).squeeze(-1)
        z, i, f, o = pre.chunk(4, dim=-1)
        c = torch.sigmoid(i) * torch.tanh(z) + torch.sigmoid(f) * c
        h = torch.sigmoid(o) * torch.tanh(c)
        total = total + h
        count += 1
    return (blocks["w_out"] * total / max(count, 1)).sum(-1)


def pyro_smcfilter_seconds_per_step(stream, N: int, n: int, p: int, steps: int, passes: int, q=1e-4, r=0.01,
                                    prior_scale=0.5) -> dict:
    """Pyro's SMCFilter on the same state-space model: theta_t ~ N(theta_{t-1}, q I) over the
    flat LSTM weights, d_t ~ N(LSTM(theta_t, X_t), r), bootstrap proposal, N particles. Timed as
    ours is: ``steps`` steps (after two warm-up steps), best of ``passes`` passes."""
    import pyro
    import pyro.distributions as pdist
    import torch
    from pyro.infer import SMCFilter

    layout = lstm_regression(features=p, hidden=n).layout
    dim = layout.size

    class Model:
        def init(self, state):
            self.t = 0
            state["theta"] = pyro.sample("theta_0", pdist.Normal(torch.zeros(dim), prior_scale).to_event(1))

        def step(self, state, X, mask, d):
            self.t += 1
            state["theta"] = pyro.sample(f"theta_{self.t}", pdist.Normal(state["theta"], q**0.5).to_event(1))
            mean = torch_lstm_predict(torch, layout, state["theta"], X, mask)
            pyro.sample(f"d_{self.t}", pdist.Normal(mean, r**0.5), obs=d)

    class Guide:  # the transition itself: a bootstrap filter, as ours
        def init(self, state):
            self.t = 0
            pyro.sample("theta_0", pdist.Normal(torch.zeros(dim), prior_scale).to_event(1))

        def step(self, state, X, mask, d):
            self.t += 1
            pyro.sample(f"theta_{self.t}", pdist.Normal(state["theta"], q**0.5).to_event(1))

    data = [(torch.tensor(stream.X[t, 0], dtype=torch.float32), torch.tensor(np.arange(stream.X.shape[2]) < stream.lengths[t, 0]),
             torch.tensor(float(stream.d[t, 0]))) for t in range(stream.steps)]
    warm, best = 2, math.inf
    for _ in range(passes):
        pyro.set_rng_seed(0)
        smc = SMCFilter(Model(), Guide(), num_particles=N, max_plate_nesting=0)
        smc.init()
        for t in range(warm):
            smc.step(*data[t])
        start = time.perf_counter()
        for t in range(warm, warm + steps):
            smc.step(*data[t])
        best = min(best, (time.perf_counter() - start) / steps)
    return {"seconds_per_step": best, "steps": steps, "passes": passes, "torch": torch.__version__,
            "pyro": pyro.__version__, "torch_threads": torch.get_num_threads()}


def dynamax_comparison(stream, n: int, p: int, steps: int) -> dict:
    """dynamax's extended_kalman_filter and ours on the same model, start and data: per-step
    time of each (compiled, whole run in one scan) and the largest differences of the filtered
    means and of the one-step-ahead predictions."""
    import dynamax
    from dynamax.nonlinear_gaussian_ssm import ParamsNLGSSM
    from dynamax.nonlinear_gaussian_ssm import extended_kalman_filter as dynamax_ekf

    model = lstm_regression(features=p, hidden=n)
    m = stream.X.shape[2]
    ssm = statespace.read_model(model, np.zeros((m, p), np.float32), np.ones(m, bool))
    kernel = extended_kalman_filter(ssm, covariance="full", init="sample")
    X = jnp.asarray(stream.X[:steps, 0], jnp.float32)
    mask = jnp.asarray(np.arange(m)[None, :] < stream.lengths[:steps, 0][:, None])
    d = jnp.asarray(stream.d[:steps, 0], jnp.float32)
    init = jax.jit(kernel.init)(jax.random.key(0))
    q, r = ssm.transition_var, ssm.obs_var

    @jax.jit
    def ours(init):
        def body(state, t):
            state, info = kernel.step(None, state, Batch(X[t][None], mask[t][None], d[t][None], jnp.ones(1, bool)))
            return state, (state.mean, info.prediction[0])
        return jax.lax.scan(body, init, jnp.arange(steps))[1]

    params = ParamsNLGSSM(
        initial_mean=init.mean,
        initial_covariance=init.cov + jnp.diag(q),  # dynamax conditions first: p(z_1) includes the first step's q
        dynamics_function=lambda z, u: z,
        dynamics_covariance=jnp.diag(q),
        emission_function=lambda z, u: jnp.atleast_1d(lstm_predict(ssm.layout, z, u[:-m].reshape(m, p), u[-m:] > 0.5)),
        emission_covariance=jnp.reshape(r, (1, 1)),
    )
    inputs = jnp.concatenate([X.reshape(steps, m * p), mask.astype(jnp.float32)], axis=1)
    theirs = jax.jit(lambda: dynamax_ekf(params, d[:, None], inputs=inputs, output_fields=["filtered_means"]).filtered_means)

    our_means, our_pred = jax.block_until_ready(ours(init))
    their_means = jax.block_until_ready(theirs())
    previous = jnp.concatenate([init.mean[None], their_means[:-1]])
    their_pred = jax.vmap(lambda z, x, k: lstm_predict(ssm.layout, z, x, k))(previous, X, mask)
    times = best_of({"ours": lambda: ours(init), "dynamax": theirs}, rounds=3)  # the same passes for both
    return {
        "steps": steps, "parameters": ssm.dim, "dynamax": dynamax.__version__,
        "ours_seconds_per_step": times["ours"] / steps, "dynamax_seconds_per_step": times["dynamax"] / steps,
        "max_abs_diff_filtered_means": float(jnp.max(jnp.abs(our_means - their_means))),
        "max_abs_diff_predictions": float(jnp.max(jnp.abs(our_pred - their_pred))),
        "max_abs_filtered_mean": float(jnp.max(jnp.abs(our_means))),
    }


def peer(name: str, module: str, measure):
    """(result, note): the measurement, or None and why not."""
    if importlib.util.find_spec(module) is None:
        return None, f"{module} not installed (pip install -e .[bench])"
    try:
        return measure(), "measured"
    except Exception as exc:  # a peer's failure must not lose our own numbers
        return None, f"{name} failed: {type(exc).__name__}: {exc}"


def slope(xs, ys) -> float:
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


def peak_memory_bytes() -> dict:
    out = {"host_max_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}
    stats = jax.devices()[0].memory_stats() or {}
    if "peak_bytes_in_use" in stats:
        out["device_peak_bytes"] = int(stats["peak_bytes_in_use"])
    return out


GRIDS = {  # axis: (--quick grid, full grid); slopes "past fixed overheads" use the two largest points
    "particles": ([256, 1000], [256, 512, 1024, 2048, 4096]),  # quick: shares the reference point N = 1000
    "nodes": ([1, 4, 16], [1, 4, 16, 64, 256]),
    "length": ([20, 50, 100], [5, 10, 20, 50, 100]),
}


def scaling(rows: list[dict], axis: str) -> dict:
    xs = [r[axis] for r in rows]
    ys = [r["seconds_per_step"] for r in rows]
    return {"grid": xs, "seconds_per_step": ys, "past_fixed_overheads": slope(xs[-2:], ys[-2:]), "whole_grid": slope(xs, ys)}


def verdicts(results: dict) -> dict:
    """Each speed target: the measured value, its bound, and whether it holds (None: not measured)."""
    slopes = results["scaling_slopes"]
    checks = {
        "pf_flop_fraction_of_matmul": (results["pf_flop_fraction_of_matmul"], ">= 0.10", lambda v: v >= 0.10),
        "speedup_vs_pyro_smcfilter": (results["speedup_vs_pyro_smcfilter"], ">= 50", lambda v: v >= 50),
        "ekf_speedup_vs_dynamax": (results["ekf_speedup_vs_dynamax"], ">= 1", lambda v: v >= 1),
        "ekf_max_abs_diff_vs_dynamax": (results["ekf_max_abs_diff_vs_dynamax"], "<= 1e-4", lambda v: v <= 1e-4),
        "compilations": (results["compile_counts"]["compilations"], f"<= {results['compile_counts']['bound']}",
                         lambda v: v <= results["compile_counts"]["bound"]),
    }
    for axis, value in slopes.items():
        checks[f"slope_{axis}"] = (value, "1 +/- 0.15", lambda v: abs(v - 1) <= 0.15)
    return {name: {"value": value, "target": target, "holds": None if value is None else bool(test(value))}
            for name, (value, target, test) in checks.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small grid, fewer steps; skips the before/after timing of the fast paths")
    parser.add_argument("--fast-paths", action="store_true", help="time the fast paths before/after also with --quick")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args(argv)

    quick = args.quick
    began = time.perf_counter()
    jax.config.update("jax_compilation_cache_dir", tempfile.mkdtemp(prefix="bayeslstm-speed-cache-"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    steps = 20 if quick else 100
    grid = {axis: grids[0] if quick else grids[1] for axis, grids in GRIDS.items()}
    h_grid = [16] if quick else [8, 16, 32]
    p, n, m, N = 8, 16, 20, 1000
    small_N = 256  # particles per node on the K and m axes
    rows, measured = [], {}

    def section(name):
        print(f"-- {name} ({time.perf_counter() - began:.0f} s)", flush=True)

    def record(method, nodes, length, hidden, repeats=1 if quick else 2, **options):
        """One grid point, measured once per run (grid axes share points)."""
        key = (method, nodes, length, hidden, tuple(sorted(options.items())))
        if key not in measured:
            row = per_step(method, steps, nodes, length, hidden, p, repeats=repeats, **options)
            row["particles"] = options.get("num_particles", "")
            rows.append(row)
            measured[key] = row
            print(f"{method:>14s} K={nodes:<4d} m={length:<4d} n={hidden:<3d} {row['particles']:>6} "
                  f"{1e3 * row['seconds_per_step']:9.3f} ms/step  (compile {row['compile_seconds']:.1f} s)", flush=True)
        return measured[key]

    load_before = os.getloadavg()
    matmul = matmul_flops_per_second()
    print(f"matmul 2048x2048 float32: {matmul / 1e9:.1f} GFLOP/s on {jax.devices()[0].device_kind}")

    section("reference particle filter and scaling grid")
    reference = record("pf", 1, m, n, repeats=3, num_particles=N)  # the headline figure: best of 3
    pf_rate = lstm_flops(N, 1, m, n, p) / reference["seconds_per_step"]
    by_axis = {
        "particles": [record("pf", 1, m, n, num_particles=x) for x in grid["particles"]],
        "nodes": [record("pf", k, m, n, num_particles=small_N) for k in grid["nodes"]],
        "length": [record("pf", 1, x, n, num_particles=small_N) for x in grid["length"]],
    }

    section("kernels")
    for h in h_grid:
        record("pf", 1, m, h, num_particles=small_N)
        record("ekf", 1, m, h)
        record("sgd", 1, m, h)

    section("fusion schemes")
    fusion_nodes = 4 if quick else 8
    for method, options in [("dpf", dict(num_particles=small_N, walk_steps=4, graph="ring")),
                            ("dpf-consensus", dict(num_particles=small_N, consensus_iters=10, graph="ring")),
                            ("pf", dict(num_particles=small_N, fusion="centralized")),
                            ("dekf", dict(graph="ring")), ("dsgd", dict(graph="ring")), ("dadam", dict(graph="ring"))]:
        record(method, fusion_nodes, m, n, **options)

    section("compile count")
    M = 20
    varied = bl.teacher_stream(steps=60, nodes=2, features=p, min_len=1, max_len=M, seed=1)[0]
    # the count is the runner's (one program, a lax.switch branch per used bucket), whatever the
    # method: the cheapest method to compile measures it
    compilations = bl.run(varied, "sgd", model_options={"hidden": 4}).compilations

    fast = observe = None
    if not quick or args.fast_paths:
        section("fast paths: before/after in this process")
        fast = fast_path_comparison(N, n, p, m, steps, rounds=5 if quick else 9)
        print(json.dumps(fast, indent=1), flush=True)
        observe = observation_slopes(n, p, rounds=5 if quick else 9)
        print("observation-only slopes", json.dumps(observe), flush=True)

    section("peers: pyro")  # timed as our reference is: the same steps, best of the same 3 passes
    stream = fixed_stream(steps + 2, 1, m, p)
    pyro_result, pyro_note = peer("pyro", "pyro", lambda: pyro_smcfilter_seconds_per_step(stream, N, n, p, steps, passes=3))
    section("peers: dynamax")
    dynamax_result, dynamax_note = peer("dynamax", "dynamax", lambda: dynamax_comparison(stream, n, p, steps))
    ekf_row = next(row for row in rows if row["method"] == "ekf" and row["hidden"] == n)
    peers = {"pyro_smcfilter": pyro_result or pyro_note, "dynamax_ekf": dynamax_result or dynamax_note}
    print(json.dumps(peers, indent=1), flush=True)

    axes = {axis: scaling(rows_, axis) for axis, rows_ in by_axis.items()}
    results = {
        "machine": common.machine(),
        "device": jax.devices()[0].device_kind,
        "platform": platform.platform(),
        "load_average_1min": {"start": load_before[0], "end": os.getloadavg()[0], "cores": os.cpu_count()},
        "jax": jax.__version__,
        "quick": quick,
        "steps_per_run": steps,
        "matmul_flops_per_second": matmul,
        "pf_reference": {"particles": N, "hidden": n, "features": p, "length": m,
                         "seconds_per_step": reference["seconds_per_step"], "flops_per_second": pf_rate},
        "pf_flop_fraction_of_matmul": pf_rate / matmul,
        "scaling_slopes": {axis: a["past_fixed_overheads"] for axis, a in axes.items()},
        "scaling": axes,
        "observation_scaling_slopes": observe,
        "compile_counts": {"max_len": M, "bound": math.ceil(math.log2(M)) + 1, "compilations": compilations},
        "peak_memory": peak_memory_bytes(),
        "fast_paths": fast,
        "speedup_vs_pyro_smcfilter": None if pyro_result is None else pyro_result["seconds_per_step"] / reference["seconds_per_step"],
        "ekf_speedup_vs_dynamax": None if dynamax_result is None else
            dynamax_result["dynamax_seconds_per_step"] / dynamax_result["ours_seconds_per_step"],
        "ekf_max_abs_diff_vs_dynamax": None if dynamax_result is None else dynamax_result["max_abs_diff_filtered_means"],
        "ekf_runner_seconds_per_step": ekf_row["seconds_per_step"],
        "peers": peers,
        "rows": rows,
        "command": " ".join([sys.executable.split("/")[-1], *sys.argv]),
    }
    results["targets"] = verdicts(results)
    results["wall_seconds"] = time.perf_counter() - began
    print(json.dumps({k: v for k, v in results.items() if k not in ("rows", "fast_paths", "scaling")}, indent=1))
    section("targets")
    for name, v in results["targets"].items():
        value = "not measured" if v["value"] is None else f"{v['value']:.4g}"
        verdict = "-" if v["holds"] is None else "holds" if v["holds"] else "DOES NOT HOLD"
        print(f"{name:>30s} {value:>14s}  target {v['target']:<12s} {verdict}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
