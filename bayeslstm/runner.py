"""Drive a network method over a stream: predict, score, update, step after step.

The whole stream runs inside jitted ``lax.scan`` calls over fixed-size chunks of time. Each
step's sequences are cut to the smallest length bucket (powers of two up to the stream's
maximum) holding all of them, and ``lax.switch`` picks the compiled branch for that bucket,
so variable lengths cost what they use and the program compiles once per run shape (the
buckets are branches of that one program). Keys are ``fold_in(seed, step)``, so results do
not depend on the chunking.
"""

from __future__ import annotations

import time
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
from tqdm.auto import tqdm

from .errors import GraphError, NumericalError, OptionError
from .fusion import NetworkMethod, StepData
from .graph import Network, make_network, parse_graph
from .layout import ParamLayout
from .methods import build_method, resolve
from .statespace import StateSpace, build_model, read_model
from .streams import Stream, bucket_lengths, step_buckets, validate


class RunResult(NamedTuple):
    """Everything a run produced. Arrays are (time, node)."""

    method: str
    predictions: np.ndarray
    labels: np.ndarray
    observed: np.ndarray
    tae: xr.DataArray  # (node, time): running mean of squared errors
    diagnostics: xr.Dataset  # every per-step info field, (time, node)
    final_state: Any
    seconds: float  # running time, compilation excluded
    compilations: int
    config: dict
    layout: ParamLayout | None = None  # names and shapes of the blocks of theta, for reports
    compile_seconds: float = 0.0

    @property
    def final_tae(self) -> float:
        """Network mean of TAE at the last step."""
        return float(self.tae.isel(time=-1).mean())

    @property
    def network_tae(self) -> np.ndarray:
        """Network-mean TAE per step."""
        return self.tae.mean("node").values


def time_accumulated_error(predictions: np.ndarray, labels: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """TAE_k(t) = mean over observed s <= t of (d - dhat)^2; (T, K). NaN before any label."""
    sq = np.where(observed, (labels - predictions) ** 2, 0.0)
    counts = np.cumsum(observed, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, np.cumsum(sq, axis=0) / np.maximum(counts, 1), np.nan)


def _chunk_runner(method: NetworkMethod, buckets: tuple[int, ...], seed_key, trace_counter: list[int]):
    """Jitted (state, chunk) -> (state, infos) over one chunk of steps."""

    def branch(length: int) -> Callable:
        def run_branch(state, key, X, mask, d, observed):
            return method.step(key, state, StepData(X[:, :length], mask[:, :length], d, observed))

        return run_branch

    branches = [branch(length) for length in buckets]

    def one_step(state, inputs):
        t, X, lengths, d, observed, bucket, active = inputs
        mask = jnp.arange(X.shape[1])[None, :] < lengths[:, None]
        key = jax.random.fold_in(seed_key, t)
        new_state, info = jax.lax.switch(bucket, branches, state, key, X, mask, d, observed)
        state = jax.tree_util.tree_map(lambda a, b: jnp.where(active, a, b), new_state, state)
        return state, info

    def run_chunk(state, chunk):
        trace_counter[0] += 1  # runs once per compilation
        return jax.lax.scan(one_step, state, chunk)

    return jax.jit(run_chunk, donate_argnums=(0,))


def _check_finite(infos: dict[str, np.ndarray], t0: int, method: str) -> None:
    for name in ("prediction", "predictive_var"):
        bad = ~np.isfinite(infos[name])
        if bad.any():
            s, k = np.argwhere(bad)[0]
            raise NumericalError(
                f"{method}: non-finite {name} ({infos[name][s, k]}) at step {t0 + s}, node {k}; "
                "the filter diverged - try float64 (--x64), a smaller q or learning rate, or more particles"
            )
    for name, value in infos.items():
        if np.issubdtype(value.dtype, np.floating) and np.isnan(value).any():
            s, k = np.argwhere(np.isnan(value))[0][:2]
            raise NumericalError(f"{method}: NaN in {name} at step {t0 + s}, node {k}")


def run_method(
    method: NetworkMethod,
    stream: Stream,
    seed: int = 0,
    chunk_size: int = 256,
    progress: bool = False,
    config: dict | None = None,
    layout: ParamLayout | None = None,
) -> RunResult:
    """Run a built :class:`NetworkMethod` over ``stream``; ``layout`` names theta's blocks."""
    stream = validate(stream)
    if chunk_size < 1:
        raise OptionError(f"chunk_size must be positive; got {chunk_size}")
    T, K = stream.steps, stream.nodes
    buckets = bucket_lengths(stream.max_len)
    bucket_of_step = step_buckets(stream.lengths, buckets)
    chunk_size = min(chunk_size, T)
    n_chunks = -(-T // chunk_size)
    padded = n_chunks * chunk_size

    def pad(a, fill=0):
        return np.concatenate([a, np.full((padded - T,) + a.shape[1:], fill, a.dtype)]) if padded > T else a

    dtype = jnp.asarray(0.0).dtype
    X = pad(stream.X.astype(dtype))
    lengths = pad(stream.lengths, 1)
    d = pad(stream.d.astype(dtype))
    observed = pad(stream.observed, False)
    bucket = pad(bucket_of_step, 0)
    active = np.arange(padded) < T

    seed_key = jax.random.key(seed)
    counter = [0]
    runner = _chunk_runner(method, buckets, jax.random.fold_in(seed_key, 1), counter)
    state = jax.jit(method.init, static_argnums=1)(jax.random.fold_in(seed_key, 0), K)
    collected: list[dict[str, np.ndarray]] = []
    def chunk_at(c: int):
        sl = slice(c * chunk_size, (c + 1) * chunk_size)
        return (np.arange(padded)[sl], X[sl], lengths[sl], d[sl], observed[sl], bucket[sl], active[sl])

    start = time.perf_counter()
    compiled = runner.lower(state, chunk_at(0)).compile()  # every chunk has the same shapes
    compile_seconds = time.perf_counter() - start
    start = time.perf_counter()
    with tqdm(total=T, disable=not progress, desc=method.name, unit="step", leave=False) as bar:
        for c in range(n_chunks):
            state, infos = compiled(state, chunk_at(c))
            infos = {name: np.asarray(value) for name, value in infos.items()}
            _check_finite({k: v[: max(0, min(chunk_size, T - c * chunk_size))] for k, v in infos.items()},
                          c * chunk_size, method.name)
            collected.append(infos)
            bar.update(min(chunk_size, T - c * chunk_size))
    jax.block_until_ready(state)
    seconds = time.perf_counter() - start

    infos = {name: np.concatenate([c[name] for c in collected])[:T] for name in collected[0]}
    predictions = infos["prediction"]
    tae = time_accumulated_error(predictions, stream.d, stream.observed)
    coords = {"time": np.arange(1, T + 1), "node": np.arange(K)}
    diagnostics = xr.Dataset(
        {name: (("time", "node") + tuple(f"{name}_dim{i}" for i in range(v.ndim - 2)), v) for name, v in infos.items()},
        coords=coords,
    )
    return RunResult(
        method=method.name,
        predictions=predictions,
        labels=stream.d,
        observed=stream.observed,
        tae=xr.DataArray(tae.T, coords={"node": coords["node"], "time": coords["time"]}, dims=("node", "time"), name="tae"),
        diagnostics=diagnostics,
        final_state=state,
        seconds=seconds,
        compilations=counter[0],
        config=dict(config or {}, method=method.name, seed=seed, steps=T, nodes=K, buckets=list(buckets)),
        layout=layout,
        compile_seconds=compile_seconds,
    )


DEFAULT_GRAPH = "small-world"


def prepare_model(stream: Stream, model=None, model_options: dict | None = None) -> StateSpace:
    """Build the declaration for ``stream``'s feature width and read it."""
    declaration = build_model(model, stream.features, **(model_options or {}))
    return read_model(declaration, stream.X[0, 0], np.ones(stream.max_len, bool))


def prepare_network(graph, nodes: int, seed: int = 0, rule: str = "metropolis", allow_disconnected: bool = False) -> Network:
    """A :class:`Network` from a Network, a networkx graph, a topology spec or a file path."""
    if isinstance(graph, Network):
        if graph.nodes != nodes:
            raise GraphError(f"the graph has {graph.nodes} nodes but the data has {nodes}")
        return graph
    if graph is None or isinstance(graph, str):
        graph = parse_graph(graph or DEFAULT_GRAPH, nodes, seed)
    return make_network(graph, rule=rule, allow_disconnected=allow_disconnected, nodes=nodes)


def run(
    stream: Stream,
    method: str = "pf",
    model=None,
    fusion: str | None = None,
    seed: int = 0,
    model_options: dict | None = None,
    graph=None,
    rule: str = "metropolis",
    allow_disconnected: bool = False,
    chunk_size: int = 256,
    progress: bool = False,
    **options: Any,
) -> RunResult:
    """Run ``method`` on ``stream``.

    ``method``: pf, ekf, sgd, adam (with ``fusion`` local | centralized | distributed) or a
    distributed scheme: dpf, dpf-consensus, dekf, dsgd, dadam. ``model``: a declaration, a
    factory, a built-in name or ``path.py:name`` (default: the paper's LSTM);
    ``model_options`` go to its factory. ``graph`` (distributed methods): a networkx graph,
    a topology spec such as ``"ring"`` or ``"erdos-renyi:p=0.3"``, or a file (default: a
    small-world graph); ``rule``: combination weights. ``options`` go to the kernel (for
    example ``num_particles=500``). Everything is checked before anything is computed.
    """
    stream = validate(stream)
    name, mode = resolve(method, fusion)
    network = prepare_network(graph, stream.nodes, seed, rule, allow_disconnected) if mode == "distributed" else None
    ssm = prepare_model(stream, model, model_options)
    built = build_method(name, ssm, mode, network, **options)
    config = {
        "method_name": name,
        "fusion": mode,
        "model": model if isinstance(model, str) or model is None else getattr(model, "__name__", repr(model)),
        "model_options": dict(model_options or {}),
        "options": options,
        "parameters": ssm.dim,
        "dtype": str(jnp.asarray(0.0).dtype),
        "graph": None if network is None else {"rule": network.rule, "edges": [list(e) for e in network.graph.edges]},
    }
    return run_method(built, stream, seed=seed, chunk_size=chunk_size, progress=progress, config=config, layout=ssm.layout)
