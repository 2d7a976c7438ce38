"""Drive a network method over a stream: predict, score, update, step after step.

The whole stream runs inside jitted ``lax.scan`` calls over fixed-size chunks of time. Each
step's sequences are cut to the smallest length bucket (powers of two up to the stream's
maximum) holding all of them, and ``lax.switch`` picks the compiled branch for that bucket,
so variable lengths cost what they use and the program compiles once per run shape (the
buckets some step needs are branches of that one program). Keys are ``fold_in(fold_in(seed, 1), step)``
(the initial state uses ``fold_in(seed, 0)``), so the keys do not depend on the chunking.

``record`` bounds what a long run keeps: every step (``"full"``), every ``s``-th step (an
integer) or about :data:`SUMMARY_ROWS` evenly spaced steps (``"summary"``); the TAE is exact
at every kept step because running error sums are carried over all steps (see
:mod:`bayeslstm.engine.records`). ``checkpoint``
saves the complete run state to a folder on chunk boundaries (see :mod:`bayeslstm.engine.checkpoint`)
and ``resume`` continues from it with the same numbers as an uninterrupted run.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from ..data.streams import Stream, step_buckets, used_buckets, validate
from ..data.tables import TableStream, in_table_units
from ..errors import MAX_SEED, NumericalError, OptionError, number, writable_folder
from ..methods import reads_table_units
from ..model.layout import ParamLayout
from ..network.method import NetworkMethod, StepData
from ..network.sharding import addressable
from . import checkpoint as ckpt
from .assembly import assemble
from .compilation_cache import use_compilation_cache
from .metrics import Units
from .progress import interactive, progress_bar
from .records import RunResult, Trace, keep, record_stride, running_tae
from .sizes import check_state_size


def chunk_length(chunk_size: int, steps: int, checkpoint_every: int | None) -> int:
    """Steps per compiled chunk: ``chunk_size`` (at most ``steps``), cut to divide ``checkpoint_every``
    so that checkpoints fall on chunk boundaries and every chunk keeps one compiled shape."""
    if chunk_size < 1:
        raise OptionError(f"chunk_size must be positive; got {chunk_size}")
    chunk = min(chunk_size, steps)
    if checkpoint_every is None:
        return chunk
    if checkpoint_every < 1:
        raise OptionError(f"checkpoint_every must be a positive number of steps; got {checkpoint_every}")
    return max(d for d in range(1, min(chunk, checkpoint_every) + 1) if checkpoint_every % d == 0)


def step_inputs(t0: int, size: int, X, lengths, d, observed, buckets: tuple[int, ...], dtype) -> tuple:
    """Scan inputs of the steps t0, t0+1, .. given by the (n, K, ..) arrays, padded with inactive steps to ``size``."""
    n = len(X)

    def pad(a, fill=0):
        return a if n == size else np.concatenate([a, np.full((size - n,) + a.shape[1:], fill, a.dtype)])

    return (np.arange(t0, t0 + size), pad(X.astype(dtype)), pad(lengths, 1), pad(d.astype(dtype)),
            pad(observed, False), pad(step_buckets(lengths, buckets), 0), np.arange(size) < n)


def chunk_program(method: NetworkMethod, buckets: tuple[int, ...], trace_counter: list[int], donate: bool = True):
    """Jitted (state, seed key, chunk of :func:`step_inputs`) -> (state, infos) over one chunk of steps."""

    def branch(length: int) -> Callable:
        def run_branch(state, key, X, mask, d, observed):
            return method.step(key, state, StepData(X[:, :length], mask[:, :length], d, observed))

        return run_branch

    branches = [branch(length) for length in buckets]

    def run_chunk(state, seed_key, chunk):
        trace_counter[0] += 1  # runs once per compilation
        step_key = jax.random.fold_in(seed_key, 1)

        def one_step(state, inputs):
            t, X, lengths, d, observed, bucket, active = inputs
            mask = jnp.arange(X.shape[1])[None, :] < lengths[:, None]
            key = jax.random.fold_in(step_key, t)
            new_state, info = jax.lax.switch(bucket, branches, state, key, X, mask, d, observed)
            state = jax.tree_util.tree_map(lambda a, b: jnp.where(active, a, b), new_state, state)
            return state, info

        return jax.lax.scan(one_step, state, chunk)

    return jax.jit(run_chunk, donate_argnums=(0,) if donate else ())


def initial_state(method: NetworkMethod, seed_key, nodes: int):
    """The network's state before the first step (key ``fold_in(seed, 0)``)."""
    return jax.jit(method.init, static_argnums=1)(jax.random.fold_in(seed_key, 0), nodes)


def check_finite(infos: dict[str, np.ndarray], t0: int, method: str) -> None:
    """Raise NumericalError naming the first step and node with a non-finite output."""
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


@jax.jit
def _finite_per_leaf(state):
    """For every floating leaf: is each row (node) free of NaN and inf? A log-evidence may be
    -inf (every particle had zero likelihood: the honest value), so there only NaN and +inf count."""

    def rows(path, leaf):
        if not jnp.issubdtype(leaf.dtype, jnp.inexact):
            return jnp.ones((1,), bool)
        flat = jnp.reshape(leaf, (leaf.shape[0], -1)) if leaf.ndim else jnp.reshape(leaf, (1, 1))
        evidence = jax.tree_util.keystr(path).endswith("log_evidence")
        ok = (~jnp.isnan(flat) & (flat != jnp.inf)) if evidence else jnp.isfinite(flat)
        return jnp.all(ok, axis=1)

    return jax.tree_util.tree_map_with_path(rows, state)


def check_state(state, step: int, method: str, per_node: bool) -> None:
    """Raise NumericalError naming the quantity and node of the first non-finite value in the state."""
    if not all(getattr(leaf, "is_fully_addressable", True) for leaf in jax.tree_util.tree_leaves(state)):
        return  # multi-host: each process holds part of the state; its outputs are checked
    flags, _ = jax.tree_util.tree_flatten_with_path(_finite_per_leaf(state))
    for path, ok in flags:
        ok = np.asarray(ok)
        if not ok.all():
            where = f"node {int(np.argmin(ok))}" if per_node else "the network's filter"
            quantity = jax.tree_util.keystr(path).lstrip(".")
            raise NumericalError(
                f"{method}: non-finite {quantity} in the filter state after step {step}, {where}; "
                "the filter diverged - try float64 (--x64), a smaller q or learning rate, or more particles"
            )


class RunPlan(NamedTuple):
    """How a run goes through its stream: chunking, what it keeps, and the checkpoint it resumes."""

    chunk_size: int
    checkpoint_every: int | None
    stride: int
    buckets: tuple[int, ...]
    dtype: Any
    config: dict  # the run's description (RunResult.config)
    saved: Any  # the checkpoint resumed, or None


class Progress(NamedTuple):
    """Where a run stands: the filter state, the kept rows and the steps done."""

    state: Any
    trace: Trace
    done: int


def plan_run(method: NetworkMethod, stream: Stream, seed: int, chunk_size: int, config: dict | None,
             record: str | int, checkpoint, checkpoint_every: int | None, resume: bool) -> RunPlan:
    """Check the run's options (loading the checkpoint to resume) and fix its chunking."""
    T, K = stream.steps, stream.nodes
    stride = record_stride(record, T)
    if resume and checkpoint is None:
        raise OptionError("resume=True needs the checkpoint folder: pass checkpoint=DIR")
    if checkpoint is not None:
        writable_folder("checkpoint", checkpoint)
    saved = ckpt.load(checkpoint) if resume else None
    if saved is not None and checkpoint_every is None:
        checkpoint_every = saved.config["checkpoint_every"]
    if checkpoint is not None and checkpoint_every is None:
        checkpoint_every = min(chunk_size, T)
    chunk_size = chunk_length(chunk_size, T, checkpoint_every if checkpoint is not None else None)
    buckets = used_buckets(stream.lengths, stream.max_len)
    run_config = dict(config or {}, method=method.name, seed=seed, steps=T, nodes=K, buckets=list(buckets),
                      record=record, stride=stride)
    return RunPlan(chunk_size, checkpoint_every, stride, buckets, jnp.asarray(0.0).dtype, run_config, saved)


def start_run(method: NetworkMethod, stream: Stream, seed_key, plan: RunPlan, checkpoint) -> tuple[Progress, Any]:
    """The progress before the first chunk (fresh, or restored from the checkpoint) and the
    checkpoint's identity (None without a checkpoint)."""
    state = initial_state(method, seed_key, stream.nodes)
    if checkpoint is None:
        return Progress(state, Trace(), 0), None
    assert plan.checkpoint_every is not None  # plan_run sets it whenever there is a checkpoint
    identity = ckpt.run_identity(plan.config, stream, plan.dtype, plan.chunk_size, plan.checkpoint_every)
    saved = plan.saved
    if saved is None:
        ckpt.refuse_existing(checkpoint)
        return Progress(state, Trace(), 0), identity
    ckpt.check_identity(saved, identity, checkpoint)
    state = ckpt.restore_state(saved, state, checkpoint)
    trace = Trace((saved.records,), saved.totals["sq_sum"], saved.totals["count"])
    return Progress(state, trace, saved.step), identity


def chunk_inputs(stream: Stream, plan: RunPlan, c: int) -> tuple:
    """The scan inputs of chunk ``c``."""
    size = plan.chunk_size
    sl = slice(c * size, (c + 1) * size)
    return step_inputs(c * size, size, stream.X[sl], stream.lengths[sl], stream.d[sl], stream.observed[sl],
                       plan.buckets, plan.dtype)


def save_checkpoint(checkpoint, progress: Progress, identity) -> None:
    """Write the run's complete state (multi-host: every process gathers; process 0 writes)."""
    whole = addressable(progress.state)
    if jax.process_index() == 0:
        sq_sum, count = progress.trace.sq_sum, progress.trace.count
        assert sq_sum is not None and count is not None  # saved only after a chunk has run
        totals = {"sq_sum": sq_sum, "count": count}
        ckpt.save(checkpoint, ckpt.Checkpoint(progress.done, whole, progress.trace.merged(), totals, identity))


def run_chunk(compiled, method: NetworkMethod, stream: Stream, plan: RunPlan, seed_key, c: int, progress: Progress,
              units: Units | None, shown: str) -> Progress:
    """Run chunk ``c``, check its outputs and state, and keep its rows."""
    T = stream.steps
    t0 = c * plan.chunk_size
    n = min(plan.chunk_size, T - t0)
    state, infos = compiled(progress.state, seed_key, chunk_inputs(stream, plan, c))
    infos = {name: np.asarray(value)[:n] for name, value in infos.items()}
    check_finite(infos, t0, shown)
    check_state(state, t0 + n, shown, method.node_step is not None)
    trace = keep(progress.trace, infos, t0, stream.d[t0:t0 + n], stream.observed[t0:t0 + n], plan.stride, T, units)
    return Progress(state, trace, t0 + n)


def gathered(state, steps: int, shown: str, per_node: bool):
    """The final state, whole on every process (multi-host: each held its own nodes' rows; all
    processes reach this point together), so that reading the result needs no peer."""
    if all(getattr(leaf, "is_fully_addressable", True) for leaf in jax.tree_util.tree_leaves(state)):
        return state
    state = addressable(state)
    check_state(state, steps, shown, per_node)
    return state


def run_method(
    method: NetworkMethod,
    stream: Stream,
    seed: int = 0,
    chunk_size: int = 256,
    progress: bool = False,
    config: dict | None = None,
    layout: ParamLayout | None = None,
    *,
    record: str | int = "full",
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
    resume: bool = False,
    units: Units | None = None,
    compiler_options: dict[str, Any] | None = None,
    cache: bool = True,
) -> RunResult:
    """Run a built :class:`NetworkMethod` over ``stream``; ``layout`` names theta's blocks.

    ``units``: the labels were standardised (a table stream): predictions, variances, labels
    and TAE are reported in the original units.

    ``record``: "full" (every step), "summary" (about :data:`SUMMARY_ROWS` steps) or an
    integer stride. ``checkpoint``: a folder that receives the complete state every
    ``checkpoint_every`` steps (default: every chunk) and at the end; ``resume=True``
    continues the run saved there (``config`` should describe the method's options: a
    checkpoint of another run is refused). ``compiler_options``: XLA options for the run's one
    compilation, e.g. ``{"xla_backend_optimization_level": 0}`` compiles faster and runs
    slower; they override ``XLA_FLAGS`` for this program only. ``progress``: a progress bar on
    stderr that says when the method is compiling and, after every chunk of ``chunk_size``
    steps, how far it has got and its running network-mean TAE (without a terminal, a line
    at most every tenth of the run and every 30 seconds: :mod:`bayeslstm.engine.progress`).
    ``cache``: keep compiled programs across runs in the user's cache folder
    (:mod:`bayeslstm.engine.compilation_cache`; ``BAYESLSTM_NO_CACHE=1`` also turns it off).
    """
    use_compilation_cache(cache)
    stream = validate(stream)
    seed = number("seed", seed, int, 0, MAX_SEED)
    T = stream.steps
    plan = plan_run(method, stream, seed, chunk_size, config, record, checkpoint, checkpoint_every, resume)
    shown = str(plan.config.get("label") or method.name)
    check_state_size(method, stream.nodes, shown, plan.config.get("options"))  # before the state is made
    seed_key = jax.random.key(seed)
    counter = [0]
    runner = chunk_program(method, plan.buckets, counter)
    now, identity = start_run(method, stream, seed_key, plan, checkpoint)
    per_node = method.node_step is not None
    bar = progress_bar(T, now.done, progress, shown)
    live = interactive()
    with bar:
        start = time.perf_counter()
        if now.done < T:  # a finished checkpoint needs no program
            bar.set_description_str(f"{shown}: compiling")
            # every chunk has the same shapes: one compilation
            compiled = runner.lower(now.state, seed_key, chunk_inputs(stream, plan, 0)).compile(
                compiler_options=compiler_options)
            check_state(now.state, now.done, shown, per_node)  # compiles the check outside the timing
            bar.set_description_str(shown)
        compile_seconds = time.perf_counter() - start
        bar.start_t = bar.last_print_t = time.time()  # the rate counts the steps, not the compilation
        start = time.perf_counter()
        if now.trace.count is not None:
            bar.set_postfix_str(running_tae(now.trace), refresh=False)
        for c in range(-(-now.done // plan.chunk_size), -(-T // plan.chunk_size)):  # a checkpoint ends a chunk or the run
            now = run_chunk(compiled, method, stream, plan, seed_key, c, now, units, shown)
            if checkpoint is not None:
                assert plan.checkpoint_every is not None  # plan_run sets it whenever there is a checkpoint
                if now.done % plan.checkpoint_every == 0 or now.done == T:
                    save_checkpoint(checkpoint, now, identity)
            bar.update(now.done - c * plan.chunk_size)
            bar.set_postfix_str(running_tae(now.trace), refresh=live)  # on a terminal: after every chunk
    jax.block_until_ready(now.state)
    seconds = time.perf_counter() - start
    state = gathered(now.state, T, shown, per_node)
    return _result(method, stream, now.trace.merged(), state, seconds, counter[0], plan.config, layout,
                   compile_seconds)


def table_data(table: TableStream, method: str) -> tuple[Stream, Units]:
    """The stream ``method`` learns from on a table, and how its numbers go back to the table's
    units: the standardised stream, or for a method that learns in the table's own units (the
    naive forecasts) the labels as given (:func:`bayeslstm.data.tables.in_table_units`)."""
    learnt = in_table_units(table) if reads_table_units(method) else table
    return learnt.stream, Units(learnt.label_offset, learnt.label_scale)


def _result(method: NetworkMethod, stream: Stream, rows: dict[str, np.ndarray], state, seconds: float, compilations: int,
            config: dict, layout: ParamLayout | None, compile_seconds: float) -> RunResult:
    """Package the kept rows of a finished run."""
    steps, tae, labels, scored = rows.pop("step"), rows.pop("tae"), rows.pop("label"), rows.pop("scored")
    coords = {"time": steps, "node": np.arange(stream.nodes)}
    diagnostics = xr.Dataset(
        {name: (("time", "node") + tuple(f"{name}_dim{i}" for i in range(v.ndim - 2)), v) for name, v in rows.items()},
        coords=coords,
    )
    return RunResult(
        method=method.name,
        predictions=rows["prediction"],
        labels=labels,
        observed=scored,
        tae=xr.DataArray(tae.T, coords=coords, dims=("node", "time"), name="tae"),
        diagnostics=diagnostics,
        final_state=state,
        seconds=seconds,
        compilations=compilations,
        config=config,
        layout=layout,
        compile_seconds=compile_seconds,
        posterior=method.posterior,
        label_sites=method.label_sites,
    )


def run(
    stream: Stream | TableStream,
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
    *,
    record: str | int = "full",
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
    resume: bool = False,
    compiler_options: dict[str, Any] | None = None,
    cache: bool = True,
    **options: Any,
) -> RunResult:
    """Run ``method`` on ``stream``.

    ``method``: a kernel (pf, ekf, enkf, gspf, lofi, sgd, adam, baseline-last, baseline-mean;
    with fusion local, centralized, or distributed where it has a distributed form) or a
    distributed method (dpf, dpf-consensus, dekf, denkf, denkf-consensus, dgspf, dlofi, dsgd,
    dadam); ``NAME@FUSION`` is accepted too.
    ``model``: a declaration, a
    factory, a built-in name or ``path.py:name`` (default: the paper's LSTM);
    ``model_options`` go to its factory. ``graph`` (distributed methods): a networkx graph,
    a topology spec such as ``"ring"`` or ``"erdos-renyi:p=0.3"``, or a file (default: a
    small-world graph); ``rule``: combination weights. ``record``, ``checkpoint``,
    ``checkpoint_every``, ``resume``, ``compiler_options`` and ``cache``: see :func:`run_method`.
    ``options`` go to the method (for example ``num_particles=500``; each method's options
    and defaults: ``bayeslstm.methods.method_table()``), or are fault options (``link_failure``,
    ``node_dropout``, ``link_schedule``, ``node_schedule``, ``partition``) or sharding (``mesh``,
    ``exchange``). A :class:`~bayeslstm.data.tables.TableStream` (real data) runs on its
    standardised stream and reports predictions and TAE in the label's original units.
    Everything is checked before anything is computed; the method is built by
    :func:`bayeslstm.engine.assembly.assemble`, the path every entry point shares.
    """
    use_compilation_cache(cache)  # before the model is read: its probes compile too
    seed = number("seed", seed, int, 0, MAX_SEED)
    units = None
    if isinstance(stream, TableStream):
        stream = stream._replace(stream=validate(stream.stream))
        data, units = table_data(stream, method)
    else:
        stream = data = validate(stream)
    (built,) = assemble(stream, [method], fusion=fusion, model=model, model_options=model_options, graph=graph,
                        rule=rule, allow_disconnected=allow_disconnected, seed=seed, **options)
    return run_method(built.method, data, seed=seed, chunk_size=chunk_size, progress=progress, config=built.config,
                      layout=built.ssm.layout, record=record, checkpoint=checkpoint, checkpoint_every=checkpoint_every,
                      resume=resume, units=units, compiler_options=compiler_options, cache=cache)
