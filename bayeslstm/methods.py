"""Names of inference methods -> network-level methods.

Every node-level kernel (``pf``, ``ekf``, ``sgd``, ``adam``) exists in three cooperation
modes: ``local`` (each node alone), ``centralized`` (one filter sees every node's data) and
``distributed`` (its graph scheme: ``dpf``, ``dekf``, ``dsgd``, ``dadam``; the
likelihood-consensus ``dpf-consensus`` is the second distributed particle filter).
:func:`build_method` checks the name, the mode and the options before anything is computed.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

from .distributed import (
    consensus_particle_filter,
    diffusion_ekf,
    diffusion_gradient,
    markov_chain_particle_filter,
)
from .ekf import extended_kalman_filter
from .errors import OptionError, choose
from .fusion import NetworkMethod, centralized, local
from .gradient import gradient_descent
from .graph import Network
from .particle_filter import particle_filter
from .statespace import StateSpace

KERNELS: dict[str, Callable] = {
    "pf": particle_filter,
    "ekf": extended_kalman_filter,
    "sgd": lambda ssm, learning_rate=None: gradient_descent(ssm, "sgd", learning_rate),
    "adam": lambda ssm, learning_rate=None: gradient_descent(ssm, "adam", learning_rate),
}
DISTRIBUTED: dict[str, Callable] = {
    "dpf": markov_chain_particle_filter,
    "dpf-consensus": consensus_particle_filter,
    "dekf": diffusion_ekf,
    "dsgd": lambda ssm, network, learning_rate=None: diffusion_gradient(ssm, network, "sgd", learning_rate),
    "dadam": lambda ssm, network, learning_rate=None: diffusion_gradient(ssm, network, "adam", learning_rate),
}
DISTRIBUTED_OF = {"pf": "dpf", "ekf": "dekf", "sgd": "dsgd", "adam": "dadam"}
METHODS = tuple(KERNELS) + tuple(DISTRIBUTED)
FUSIONS = ("local", "centralized", "distributed")


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
    return (DISTRIBUTED_OF[method], fusion) if fusion == "distributed" else (method, fusion)


def needs_graph(method: str, fusion: str | None = None) -> bool:
    return resolve(method, fusion)[1] == "distributed"


def method_options(method: str, fusion: str | None = None) -> list[str]:
    """Option names the method accepts."""
    name, mode = resolve(method, fusion)
    builder = DISTRIBUTED[name] if mode == "distributed" else KERNELS[name]
    return [p for p in inspect.signature(builder).parameters if p not in ("ssm", "network")]


def build_method(
    method: str, ssm: StateSpace, fusion: str | None = None, network: Network | None = None, **options: Any
) -> NetworkMethod:
    """Method ``method`` with ``options`` in cooperation mode ``fusion``."""
    name, mode = resolve(method, fusion)
    accepted = method_options(name, mode)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise OptionError(f"method {name!r} has no option(s) {unknown}; it accepts {accepted}")
    if mode == "distributed":
        if network is None:
            raise OptionError(f"method {name!r} needs a graph (graph=... / --graph)")
        return DISTRIBUTED[name](ssm, network, **options)
    kernel = KERNELS[name](ssm, **options)
    return local(kernel) if mode == "local" else centralized(kernel)
