"""Run by tests/network/test_sharding.py in fresh processes (JAX's device count is fixed at start):
one step of every distributed construction and 30 steps of the particle methods, sharded and not.

    python sharding_worker.py devices OUT.json            # one process, 4 CPU devices
    python sharding_worker.py process ID N PORT OUT.json  # one of N jax.distributed processes
"""

import json
import sys

import jax

MODE = sys.argv[1]
if MODE == "devices":
    jax.config.update("jax_num_cpu_devices", 4)
else:
    from bayeslstm.network.sharding import initialize

    process, processes, port = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    address = f"127.0.0.1:{port}"
    initialize(address, processes, process, bind_address=address)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import bayeslstm as bl  # noqa: E402
from bayeslstm.engine.assembly import (  # noqa: E402
    build_method,  # noqa: E402
    prepare_model,
    prepare_network,
)
from bayeslstm.errors import BayesLSTMError  # noqa: E402
from bayeslstm.network.method import StepData  # noqa: E402

# every distributed construction (dsgd/dadam share the DEKF's adapt-then-combine), both
# exchanges, and faults; compilation dominates, so one case per construction
CASES = [
    ("dekf", {"exchange": "all-gather"}), ("dpf", {"num_particles": 16}),
    ("dpf-consensus", {"num_particles": 16, "exchange": "halo"}),
    ("dekf", {"exchange": "halo", "link_failure": 0.3, "node_dropout": 0.2}),
    ("dsgd", {}),
    ("dgspf", {"exchange": "halo"}), ("denkf", {"num_members": 4}), ("denkf-consensus", {"num_members": 4}),
    ("dlofi", {"rank": 3}),
]


def one_step_differences() -> dict:
    """Largest |sharded - unsharded| / (1 + |unsharded|) over the state and diagnostics after one
    step, per case: float32 rounding relative to each value's size (LoFi's precision entries
    run to the hundreds, where one rounding step is 1e-5)."""
    stream = bl.teacher_stream(steps=1, nodes=8, features=2, max_len=4, seed=1)[0]
    ssm = prepare_model(stream, None, {"hidden": 2})
    network = prepare_network("ring", 8)
    mask = jnp.arange(4)[None, :] < stream.lengths[0][:, None]
    data = StepData(jnp.asarray(stream.X[0]), mask, jnp.asarray(stream.d[0]), jnp.asarray(stream.observed[0]))
    key = jax.random.key(3)
    out = {}
    for method, options in CASES:
        graph = network if method.startswith("d") else None
        results = []
        for mesh in (None, 4):
            built = build_method(method, ssm, None, graph, mesh=mesh, **options)
            state = jax.jit(built.init, static_argnums=1)(key, 8)
            results.append(jax.jit(built.step)(key, state, data))
        leaves = zip(*(jax.tree_util.tree_leaves(r) for r in results))
        out[f"{method} {sorted(options.items())}"] = max(
            float(jnp.max(jnp.abs(jnp.asarray(a, jnp.float32) - jnp.asarray(b, jnp.float32))
                          / (1.0 + jnp.abs(jnp.asarray(b, jnp.float32))))) for a, b in leaves
        )
    return out


# particle methods over many steps: resampling, walks and (for the consensus DPF) leader
# elections happen at every step, so any per-node key or exchange that depended on the layout
# would make the sharded run drift from the unsharded one; the model learns its label variance,
# which the particle methods integrate out (each particle's posterior of r travels with it)
MANY_STEPS = [  # the Markov-chain DPF's walks run under faults: its fault-free walks are the same code
    ("dpf-consensus", {"num_particles": 16, "ess_threshold": 0.9, "exchange": "halo"}),
    ("dpf", {"num_particles": 16, "walk_steps": 2, "link_failure": 0.2, "node_dropout": 0.2}),
]


def many_step_differences(steps: int = 30) -> dict:
    """Largest |sharded - unsharded| over the predictions and the final state of ``steps`` steps,
    and how many (step, node) pairs resampled, per case."""
    stream = bl.teacher_stream(steps=steps, nodes=8, features=2, max_len=4, seed=2)[0]
    out = {}
    for method, options in MANY_STEPS:
        runs = [bl.run(stream, method, graph="ring", model_options={"hidden": 2, "learn_r": True}, mesh=mesh, **options)
                for mesh in (None, 4)]
        pairs = [(runs[0].predictions, runs[1].predictions)]
        pairs += list(zip(jax.tree_util.tree_leaves(runs[0].final_state), jax.tree_util.tree_leaves(runs[1].final_state)))
        diagnostics = runs[0].diagnostics
        resampled = diagnostics["resampled"].values if "resampled" in diagnostics else diagnostics["ess"].values > 0
        out[f"{method} {sorted(options.items())}"] = {
            "difference": max(float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)))) for a, b in pairs),
            "resampled": int(np.sum(resampled)),
            "steps": steps,
        }
    return out


def refusals() -> dict:
    stream = bl.teacher_stream(steps=1, nodes=6, features=2, max_len=4)[0]
    said = {}
    for name, call in {
        "uneven": lambda: bl.run(stream, "dekf", graph="ring", mesh=4, model_options={"hidden": 2}),
        "centralized": lambda: bl.run(stream, "ekf", fusion="centralized", mesh=2, model_options={"hidden": 2}),
        "too many": lambda: bl.run(stream, "dekf", graph="ring", mesh=64, model_options={"hidden": 2}),
    }.items():
        try:
            call()
            said[name] = None
        except BayesLSTMError as error:
            said[name] = f"{type(error).__name__}: {error}"
    return said


def distributed_run() -> dict:
    """bl.run on every process: its predictions, final state and posterior draws (the state is
    gathered from both processes when the run ends, so each process reads all of it)."""
    from bayeslstm.report.inference_data import to_inference_data

    stream = bl.teacher_stream(steps=2, nodes=4, features=2, max_len=4, seed=2)[0]
    out = {"devices": len(jax.devices()), "process": jax.process_index()}
    for method, options in (("dekf", {}), ("dpf", {"num_particles": 8})):
        result = bl.run(stream, method, graph="ring", model_options={"hidden": 2}, mesh=len(jax.devices()), **options)
        posterior = to_inference_data(result, num_draws=10, seed=1).posterior
        out[method] = {
            "predictions": np.asarray(result.predictions).tolist(),
            "final_state": [np.asarray(leaf).tolist() for leaf in jax.tree_util.tree_leaves(result.final_state)],
            "draws": {name: posterior[name].values.tolist() for name in posterior.data_vars},
        }
    return out


if __name__ == "__main__":
    if MODE == "devices":
        report = {"differences": one_step_differences(), "many_steps": many_step_differences(),
                  "refusals": refusals()}
    else:
        report = distributed_run()
    with open(sys.argv[-1], "w") as f:
        json.dump(report, f)
    if MODE != "devices":
        jax.distributed.shutdown()
