"""The registry of inference methods: names -> network-level methods.

Every node-level kernel (``pf``, ``ekf``, ``sgd``, ``adam``) exists in three cooperation
modes: ``local`` (each node alone), ``centralized`` (one filter sees every node's data) and
``distributed`` (its graph scheme: ``dpf``, ``dekf``, ``dsgd``, ``dadam``; the
likelihood-consensus ``dpf-consensus`` is a second distributed particle filter). The trivial
baselines run ``local`` or ``centralized``. :data:`FAMILY` is the one map from a method to
its kernel family; :func:`build_method` checks the name, the mode and the options before
anything is computed. Methods are built from names through :mod:`bayeslstm.engine.assembly`.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Sequence

from .errors import OptionError, choose
from .kernels.baselines import baseline
from .kernels.ekf import extended_kalman_filter
from .kernels.enkf import ensemble_kalman_filter
from .kernels.gaussian_sum import gaussian_sum_filter
from .kernels.lofi import low_rank_filter
from .kernels.gradient import gradient_descent
from .kernels.particle_filter import particle_filter
from .model.statespace import StateSpace
from .network.consensus_dpf import consensus_particle_filter
from .network.consensus_enkf import consensus_enkf
from .network.diffusion import diffusion_ekf, diffusion_enkf, diffusion_gradient, diffusion_lofi
from .network.faults import Faults, with_faults
from .network.gaussian_sum_diffusion import diffusion_gaussian_sum
from .network.graph import Network
from .network.markov_chain_dpf import markov_chain_particle_filter
from .network.method import NetworkMethod
from .network.references import centralized, local

KERNELS: dict[str, Callable] = {
    "pf": particle_filter,
    "ekf": extended_kalman_filter,
    "enkf": ensemble_kalman_filter,
    "gspf": gaussian_sum_filter,
    "lofi": low_rank_filter,
    "sgd": lambda ssm, learning_rate=None: gradient_descent(ssm, "sgd", learning_rate),
    "adam": lambda ssm, learning_rate=None: gradient_descent(ssm, "adam", learning_rate),
    "baseline-last": lambda ssm, target_feature=None: baseline("last", ssm, target_feature),
    "baseline-mean": lambda ssm: baseline("mean", ssm),
}
DISTRIBUTED: dict[str, Callable] = {
    "dpf": markov_chain_particle_filter,
    "dpf-consensus": consensus_particle_filter,
    "dekf": diffusion_ekf,
    "denkf": diffusion_enkf,
    "denkf-consensus": consensus_enkf,
    "dgspf": diffusion_gaussian_sum,
    "dlofi": diffusion_lofi,
    "dsgd": lambda ssm, network, learning_rate=None: diffusion_gradient(ssm, network, "sgd", learning_rate),
    "dadam": lambda ssm, network, learning_rate=None: diffusion_gradient(ssm, network, "adam", learning_rate),
}
# every distributed method's kernel family; the first of a family is its kernel's distributed form
FAMILY: dict[str, str] = {"dpf": "pf", "dpf-consensus": "pf", "dekf": "ekf", "denkf": "enkf", "denkf-consensus": "enkf", "dgspf": "gspf", "dlofi": "lofi",
                          "dsgd": "sgd", "dadam": "adam"}
DISTRIBUTED_OF: dict[str, str] = {kind: method for method, kind in reversed(FAMILY.items())}
METHODS = tuple(KERNELS) + tuple(DISTRIBUTED)
FUSIONS = ("local", "centralized", "distributed")
# options every method takes, handled here rather than by the kernel
RUN_OPTIONS = ("mesh", "exchange") + Faults._fields


def family(method: str) -> str:
    """The kernel family of a method: ``dpf`` -> ``pf``; a kernel is its own family."""
    return FAMILY.get(method, method)


def resolve(method: str, fusion: str | None = None) -> tuple[str, str]:
    """(method, fusion) after defaults: ``pf`` + distributed -> ``dpf``; ``dpf`` is distributed."""
    choose("method", method, METHODS)
    if fusion is not None:
        choose("fusion", fusion, FUSIONS)
    if method in DISTRIBUTED:
        if fusion not in (None, "distributed"):
            raise OptionError(f"{method!r} is a distributed method; for fusion {fusion!r} use one of {sorted(KERNELS)}")
        return method, "distributed"
    fusion = fusion or "local"
    if fusion == "distributed" and method not in DISTRIBUTED_OF:
        raise OptionError(f"{method!r} has no distributed form; use fusion 'local' or 'centralized'")
    return (DISTRIBUTED_OF[method], fusion) if fusion == "distributed" else (method, fusion)


def method_specs(names: str | Sequence[str], default_fusion: str | None = None) -> list[tuple[str, str, str]]:
    """(label, method, fusion) for each ``NAME`` or ``NAME@FUSION`` (a list, or one comma-separated
    string), resolved and checked before any work. The label is the method's name for a
    distributed method and for a kernel named without ``@`` that runs locally, else
    ``NAME@FUSION``: ``"dpf,pf,pf@local,ekf@centralized"`` gives ``dpf``, ``pf``, ``pf@local``,
    ``ekf@centralized``."""
    entries = names.split(",") if isinstance(names, str) else names
    specs = []
    for name in filter(None, (entry.strip() for entry in entries)):
        method, _, fusion = name.partition("@")
        method, fusion = resolve(method, fusion or default_fusion)
        plain = fusion == "distributed" or (fusion == "local" and "@" not in name)
        specs.append((method if plain else f"{method}@{fusion}", method, fusion))
    if not specs:
        raise OptionError("no method given (--methods is empty)")
    return specs


def needs_graph(method: str, fusion: str | None = None) -> bool:
    return resolve(method, fusion)[1] == "distributed"


def _builder(method: str, fusion: str | None) -> Callable:
    name, mode = resolve(method, fusion)
    return DISTRIBUTED[name] if mode == "distributed" else KERNELS[name]


def method_options(method: str, fusion: str | None = None) -> list[str]:
    """Option names the method's kernel accepts (besides :data:`RUN_OPTIONS`)."""
    return [p for p in inspect.signature(_builder(method, fusion)).parameters if p not in ("ssm", "network")]


def method_defaults(method: str, fusion: str | None = None) -> dict[str, Any]:
    """The method's kernel options with their default values."""
    parameters = inspect.signature(_builder(method, fusion)).parameters
    return {name: p.default for name, p in parameters.items()
            if name not in ("ssm", "network") and p.default is not inspect.Parameter.empty}


def build_method(
    method: str,
    ssm: StateSpace,
    fusion: str | None = None,
    network: Network | None = None,
    mesh=None,
    exchange: str = "auto",
    **options: Any,
) -> NetworkMethod:
    """Method ``method`` with ``options`` in cooperation mode ``fusion``.

    ``mesh`` (a :class:`jax.sharding.Mesh` or a device count) shards the node axis (see
    :mod:`bayeslstm.network.sharding`); ``link_failure``, ``node_dropout``, ``link_schedule``
    and ``node_schedule`` inject faults (see :mod:`bayeslstm.network.faults`).
    """
    name, mode = resolve(method, fusion)
    faults = Faults(**{k: options.pop(k) for k in Faults._fields if k in options})
    accepted = method_options(name, mode)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise OptionError(f"method {name!r} has no option(s) {unknown}; it accepts {accepted + list(RUN_OPTIONS)}")
    if mode == "distributed":
        if network is None:
            raise OptionError(f"method {name!r} needs a graph (graph=... / --graph)")
        built = DISTRIBUTED[name](ssm, network, **options)
    else:
        kernel = KERNELS[name](ssm, **options)
        built = local(kernel) if mode == "local" else centralized(kernel)
    if mesh is not None:
        from .network.sharding import shard  # jax.sharding only when asked for

        built = shard(built, mesh, network if mode == "distributed" else None, exchange)
    return with_faults(built, network if mode == "distributed" else None, faults)
