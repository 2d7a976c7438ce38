"""The one assembly path: from names and options to built network methods.

``bl.run``, ``bl.online_learner``, the command line (``bayeslstm run`` and ``compare``) and the
benchmarks all build their methods here, so they share one set of defaults: the registered
ones (:mod:`bayeslstm.methods`), the default graph
:data:`DEFAULT_GRAPH`, and, for table streams whose target is among the features, the
naive forecast's column for ``baseline-last``. Everything is checked before anything is
computed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np

from ..data.streams import Stream
from ..data.tables import TableStream
from ..errors import GraphError, OptionError
from ..methods import REGISTRY, builder, distributed_names, family, method_defaults, method_options, method_specs, resolve
from ..model.declarations import build_model, load_declaration
from ..model.declarations import model_options as factory_options
from ..model.statespace import StateSpace, is_declaration, read_model
from ..network.faults import LINK_FAULTS, Faults, require_graph, with_faults
from ..network.graph import Network, make_network
from ..network.method import NetworkMethod
from ..network.references import centralized, local
from ..network.topology import DEFAULT_GRAPH, parse_graph
from .learnt import track_static_sites

# one configuration for every table stream (a forecasting problem): the label variance learnt,
# the last hidden state read out, and, when the target is among the features, the naive forecast
# as the starting point (readout="residual"); model options the user gives override them
TABLE_MODEL_DEFAULTS = {"learn_r": True, "pooling": "last"}
GRAPH_ONLY = LINK_FAULTS  # faults that need a graph
NODE_AXIS_ONLY = ("mesh", "exchange")  # options of methods with a node axis (not centralized)
RUN_OPTIONS = NODE_AXIS_ONLY + Faults._fields  # options every method takes, handled here rather than by its builder


class Assembled(NamedTuple):
    """One method built for a stream: its label (``NAME`` or ``NAME@FUSION``), name and mode,
    the built :class:`NetworkMethod`, the kernel options in force (defaults filled in), the
    configuration that describes the run, and the model and network it was built on."""

    label: str
    name: str
    fusion: str
    method: NetworkMethod
    options: dict
    config: dict
    ssm: StateSpace
    network: Network | None


def prepare_model(stream: Stream, model=None, model_options: dict | None = None) -> StateSpace:
    """Build the declaration for ``stream``'s feature width and read it."""
    declaration = build_model(model, stream.features, **(model_options or {}))
    return read_model(declaration, stream.X[0, 0], np.ones(stream.max_len, bool))


def real_data_model_options(model, model_options: dict | None) -> dict:
    """:data:`TABLE_MODEL_DEFAULTS` that the model's factory takes, under the user's own options
    (a NumPyro declaration gets the user's options only): the one configuration for real data."""
    given = dict(model_options or {})
    factory = load_declaration("lstm" if model is None else model)
    if is_declaration(factory):
        return given
    accepted = factory_options(factory)
    return {**{k: v for k, v in TABLE_MODEL_DEFAULTS.items() if k in accepted}, **given}


def table_model_options(model, model_options: dict | None, table: TableStream | None) -> dict:
    """The model options for a stream: for a table stream, :func:`real_data_model_options` and
    the residual readout on the target's column where the model's factory takes them."""
    given = dict(model_options or {})
    if table is None:
        return given
    options = real_data_model_options(model, given)
    factory = load_declaration("lstm" if model is None else model)
    if not is_declaration(factory) and {"readout", "target_feature"} <= set(factory_options(factory)) \
            and table.target in table.features:
        options = {"readout": "residual", "target_feature": table.features.index(table.target), **options}
    return options


def prepare_network(graph, nodes: int, seed: int = 0, rule: str = "metropolis", allow_disconnected: bool = False) -> Network:
    """A :class:`Network` from a Network, a networkx graph, a topology spec or a file path
    (default: :data:`DEFAULT_GRAPH`)."""
    if isinstance(graph, Network):
        if graph.nodes != nodes:
            raise GraphError(f"the graph has {graph.nodes} nodes but the data has {nodes}")
        return graph
    if graph is None or isinstance(graph, str):
        graph = parse_graph(graph or DEFAULT_GRAPH, nodes, seed)
    return make_network(graph, rule=rule, allow_disconnected=allow_disconnected, nodes=nodes)


def _model_name(model) -> str:
    return "lstm" if model is None else model if isinstance(model, str) else getattr(model, "__name__", repr(model))


def _options_for(name: str, fusion: str, options: dict[str, Any], strict: bool, table: TableStream | None) -> dict[str, Any]:
    """The kernel and run options that go to one method: all of them (``strict``: a method
    that does not take one is an error) or those it takes."""
    accepted = method_options(name, fusion)
    kernel = {k: v for k, v in options.items() if k in accepted}
    extra = {k: v for k, v in options.items() if k in RUN_OPTIONS and v is not None}
    if fusion != "distributed":
        skipped = [k for k in GRAPH_ONLY if k in extra]
        if strict and skipped:
            require_graph(skipped[0], None)  # a method that is not distributed runs without one
        extra = {k: v for k, v in extra.items() if k not in GRAPH_ONLY}
    if fusion == "centralized":
        if strict and "mesh" in extra:
            raise OptionError("a centralized method is one filter with no node axis: run it without a mesh")
        extra = {k: v for k, v in extra.items() if k not in NODE_AXIS_ONLY}
    if strict:
        rejected = sorted(set(options) - set(accepted) - set(RUN_OPTIONS))
        if rejected:
            raise OptionError(f"method {name!r} has no option(s) {rejected}; it accepts {sorted(accepted + list(RUN_OPTIONS))}")
    if "target_feature" in accepted and "target_feature" not in kernel and table is not None and table.target in table.features:
        kernel["target_feature"] = table.features.index(table.target)  # the naive forecast: the target's last value
    return {**kernel, **extra}


def assemble(stream: Stream | TableStream, methods: str | Sequence[str] = "pf", *, fusion: str | None = None,
             model=None, model_options: dict | None = None, graph=None, rule: str = "metropolis",
             allow_disconnected: bool = False, seed: int = 0, strict: bool = True,
             describe: dict | None = None, **options: Any) -> list[Assembled]:
    """Build every method named in ``methods`` (``NAME`` or ``NAME@FUSION``, a list or one
    comma-separated string; ``fusion`` is the default mode) for ``stream``.

    The model is read once and the network built once (when a distributed method needs it),
    then each method is built with the ``options`` it takes: all of them with ``strict``
    (an option a method does not take is an error), else each method takes the ones it
    accepts and an option no method takes is an error. ``describe`` adds to every
    configuration (the command line records its stream there).
    """
    table = stream if isinstance(stream, TableStream) else None
    base: Stream = stream.stream if isinstance(stream, TableStream) else stream
    specs = method_specs(methods, fusion)
    if not strict:
        takers = set(RUN_OPTIONS).union(*(method_options(m, f) for _, m, f in specs))
        unknown = sorted(set(options) - takers)
        if unknown:
            raise OptionError(f"no method among {[label for label, _, _ in specs]} takes {unknown}")
    network = None
    if any(f == "distributed" for _, _, f in specs):
        network = prepare_network(graph, base.nodes, seed, rule, allow_disconnected)
    elif strict and (graph is not None or allow_disconnected):
        _refuse_graph(graph, specs)
    model_options = table_model_options(model, model_options, table)
    ssm = prepare_model(base, model, model_options)
    graph_config = None if network is None else {"rule": network.rule, "edges": [list(e) for e in network.graph.edges]}
    built = []
    for label, name, mode in specs:
        given = _options_for(name, mode, options, strict, table)
        method = track_static_sites(build_method(name, ssm, mode, network if mode == "distributed" else None, **given), ssm)
        kernel_options = {**method_defaults(name, mode), **{k: v for k, v in given.items() if k not in RUN_OPTIONS}}
        config = {
            **(describe or {}),
            "label": label,
            "method_name": name,
            "fusion": mode,
            "family": family(name),
            "model": _model_name(model),
            "model_options": dict(model_options or {}),
            "options": kernel_options,
            "run_options": {k: v for k, v in given.items() if k in RUN_OPTIONS},
            "parameters": ssm.dim,
            "dtype": str(jnp.asarray(0.0).dtype),
            "seed": seed,
            "graph": graph_config if mode == "distributed" else None,
            **({"target": table.target, "unit": table.unit} if table is not None else {}),
        }
        built.append(Assembled(label, name, mode, method, kernel_options, config, ssm, network))
    return built


def _refuse_graph(graph, specs) -> None:
    """A graph given to methods that use none is a mistake (the command line refuses it too)."""
    given = f"graph={graph!r}" if isinstance(graph, str) or graph is None else f"a graph ({type(graph).__name__})"
    if graph is None:
        given = "allow_disconnected=True"
    label, _, fusion = specs[0]
    raise OptionError(f"{given} is for distributed methods ({', '.join(distributed_names())}, or a kernel with "
                      f"fusion='distributed'); {label!r} runs {fusion}, without a graph: leave it out")


def build_method(
    method: str,
    ssm: StateSpace,
    fusion: str | None = None,
    network: Network | None = None,
    mesh=None,
    exchange: str = "auto",
    **options: Any,
) -> NetworkMethod:
    """Method ``method`` with ``options`` (the rest at their registered defaults) in
    cooperation mode ``fusion``.

    ``mesh`` (a :class:`jax.sharding.Mesh` or a device count) shards the node axis (see
    :mod:`bayeslstm.network.sharding`); ``link_failure``, ``node_dropout``, ``link_schedule``,
    ``node_schedule`` and ``partition`` inject faults (see :mod:`bayeslstm.network.faults`).
    """
    name, mode = resolve(method, fusion)
    faults = Faults(**{k: options.pop(k) for k in Faults._fields if k in options})
    record = REGISTRY[name]
    unknown = sorted(set(options) - set(record.options))
    if unknown:
        raise OptionError(f"method {name!r} has no option(s) {unknown}; it accepts {list(record.options) + list(RUN_OPTIONS)}")
    given = {**record.options, **options}
    if mode == "distributed":
        built = builder(name)(ssm=ssm, network=require_graph(f"method {name!r}", network), **record.bind, **given)
    else:
        kernel = builder(name)(ssm=ssm, **record.bind, **given)
        built = local(kernel) if mode == "local" else centralized(kernel)
    if mesh is not None:
        from ..network.sharding import shard  # jax.sharding only when asked for

        built = shard(built, mesh, network if mode == "distributed" else None, exchange)
    return with_faults(built, network if mode == "distributed" else None, faults)
