"""The two references every kernel exists in: ``local`` (each node alone on its own data)
and ``centralized`` (one filter conditions on every node's example at every step).

The local mode is the lower reference a distributed method must beat; the centralized mode is
the upper reference it approaches.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import Array

from ..kernels.protocol import Batch, Kernel
from .method import PER_ENTRY, NetworkMethod, NodeAxis, StepData, from_node_step, info_per_node, node_keys, node_map, own_batch


def local(kernel: Kernel) -> NetworkMethod:
    """Each node runs its own kernel on its own data; nothing is exchanged."""

    def init(key: Array, nodes: int):
        return jax.vmap(kernel.init)(node_keys(key, nodes))

    def node_step(key: Array, state, data: StepData, links, axis: NodeAxis):
        state, info = node_map(kernel.step, node_keys(key, axis.index), state, own_batch(data))
        return state, info_per_node(info, data.d.shape[0])

    return from_node_step(init, node_step, f"{kernel.name}-local", kernel.posterior)


def centralized(kernel: Kernel) -> NetworkMethod:
    """One kernel conditions on every node's example at every step (the upper reference)."""

    def init(key: Array, nodes: int):
        return kernel.init(key)

    def step(key: Array, state, data: StepData, links=None):
        nodes = data.d.shape[0]
        state, info = kernel.step(key, state, Batch(data.X, data.mask, data.d, data.observed))
        out = {}
        for name, value in info._asdict().items():
            if value is None:  # an optional field the kernel left off (the EKF's robust_increment)
                continue
            value = jnp.asarray(value)
            out[name] = value if name in PER_ENTRY else jnp.broadcast_to(value, (nodes,))
        return state, out

    return NetworkMethod(init, step, f"{kernel.name}-centralized", None, kernel.posterior)
