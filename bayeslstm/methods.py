"""Names of inference methods -> network-level methods.

Every kernel exists in each cooperation mode; ``build_method`` checks the method name, the
fusion mode and the options before anything is computed.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

from .ekf import extended_kalman_filter
from .errors import OptionError, choose
from .fusion import NetworkMethod, centralized, local
from .gradient import gradient_descent
from .particle_filter import particle_filter
from .statespace import StateSpace

KERNELS: dict[str, Callable] = {
    "pf": particle_filter,
    "ekf": extended_kalman_filter,
    "sgd": lambda ssm, learning_rate=None: gradient_descent(ssm, "sgd", learning_rate),
    "adam": lambda ssm, learning_rate=None: gradient_descent(ssm, "adam", learning_rate),
}
FUSIONS: dict[str, Callable] = {"local": local, "centralized": centralized}


def kernel_options(method: str) -> list[str]:
    """Option names the kernel called ``method`` accepts."""
    params = inspect.signature(KERNELS[choose("method", method, KERNELS)]).parameters
    return [name for name in params if name != "ssm"]


def build_method(method: str, ssm: StateSpace, fusion: str = "local", **options: Any) -> NetworkMethod:
    """Kernel ``method`` with ``options``, in cooperation mode ``fusion``."""
    choose("method", method, KERNELS)
    choose("fusion", fusion, FUSIONS)
    accepted = kernel_options(method)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise OptionError(f"method {method!r} has no option(s) {unknown}; it accepts {accepted}")
    return FUSIONS[fusion](KERNELS[method](ssm, **options))
