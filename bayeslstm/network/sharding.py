"""Sharding the node axis over devices and hosts with JAX itself (``jax.shard_map``).

A method's ``node_step`` is written for the rows of the nodes one program instance holds;
:func:`shard` runs it under ``jax.shard_map`` over a one-axis :class:`jax.sharding.Mesh`
named ``"nodes"``, with node k on device ``k // (K / D)``. Neighbour values arrive by

* **all-gather** (``lax.all_gather``): every device receives every node's value; best for
  small payloads (raw examples, log-likelihood vectors);
* **halo exchange** (``lax.ppermute``): a device receives only the blocks of the devices that
  hold a neighbour of one of its nodes (one ppermute per needed block offset); best for large
  payloads on sparse graphs (a ring needs two offsets whatever D is).

``exchange="auto"`` (the default) picks the halo exchange for payloads over
:data:`HALO_FROM_BYTES` when it needs fewer than D - 1 offsets. Values that travel further
than one hop (the particles of the Markov-chain DPF) always use the all-gather. Per-node keys
are ``fold_in(key, global node id)``, so a sharded step computes the numbers of the unsharded
one (up to the order of floating-point sums).

Several devices on one CPU: ``jax.config.update("jax_num_cpu_devices", n)`` before JAX starts.
Several hosts: every process calls :func:`initialize` (``jax.distributed`` with gloo
collectives on CPU, NCCL on GPU) and runs the same program; see ``docs/sharding.md``. A run's
final state is gathered to every process where the run ends (:func:`addressable`), so results
read the same on every process as in one; :func:`agree` and :func:`leave` make a failure in any
process fail them all.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from ..errors import GraphError, OptionError, choose
from .collective_order import program_order
from .graph import Network
from .method import NetworkMethod, NodeAxis
from .mixing import live_links

AXIS = "nodes"
EXCHANGES = ("auto", "all-gather", "halo")
HALO_FROM_BYTES = 1 << 16


def node_mesh(devices: int | Sequence | None = None) -> Mesh:
    """A one-axis mesh named ``"nodes"`` over ``devices`` (a count, a list of devices, or all)."""
    available = jax.devices()
    if devices is None:
        chosen = available
    elif isinstance(devices, (int, np.integer)) and not isinstance(devices, bool):
        if not 1 <= devices <= len(available):
            raise OptionError(
                f"asked for {devices} devices but {len(available)} are available ({available[0].platform}); on a CPU, "
                f"start with --devices N (or jax.config.update('jax_num_cpu_devices', N) before JAX starts)"
            )
        chosen = available[:devices]
    elif isinstance(devices, (list, tuple)) and devices and all(isinstance(d, jax.Device) for d in devices):
        chosen = list(devices)
    else:
        raise OptionError(f"mesh must be a device count, a list of devices or a jax.sharding.Mesh; got {devices!r}")
    return Mesh(np.asarray(chosen), (AXIS,))


def as_mesh(mesh) -> Mesh:
    """``mesh`` as given, or a mesh over that many devices (an int)."""
    if isinstance(mesh, Mesh):
        if AXIS not in mesh.axis_names:
            raise OptionError(f"the mesh needs an axis named {AXIS!r}; it has {mesh.axis_names}")
        return mesh
    return node_mesh(mesh)


def halo_offsets(network: Network, devices: int) -> tuple[int, ...]:
    """Block offsets s (device i needs device i - s) that some edge crosses, in contiguous blocks."""
    block = network.nodes // devices
    offsets = set()
    for u, v in network.graph.edges:
        bu, bv = u // block, v // block
        if bu != bv:
            offsets.update({(bu - bv) % devices, (bv - bu) % devices})
    return tuple(sorted(offsets))


def _all_gather(tree, gather: Callable = lax.all_gather):
    return jax.tree_util.tree_map(lambda x: gather(x, AXIS, tiled=True), tree)


def _halo(offsets: tuple[int, ...], devices: int, permute: Callable = lax.ppermute):
    """Gather that fills only the blocks of devices holding a neighbour (others stay zero)."""

    def gather_leaf(x):
        here = lax.axis_index(AXIS)
        block = x.shape[0]
        out = jnp.zeros((devices * block,) + x.shape[1:], x.dtype)
        out = lax.dynamic_update_slice_in_dim(out, x, here * block, axis=0)
        for s in offsets:
            received = permute(x, AXIS, perm=[(j, (j + s) % devices) for j in range(devices)])
            out = lax.dynamic_update_slice_in_dim(out, received, ((here - s) % devices) * block, axis=0)
        return out

    return lambda tree: jax.tree_util.tree_map(gather_leaf, tree)


def _neighbour_gather(exchange: str, offsets: tuple[int, ...] | None, devices: int, gather: Callable,
                      permute: Callable):
    gather_all = lambda tree: _all_gather(tree, gather)  # noqa: E731
    if exchange == "all-gather" or offsets is None:
        return gather_all
    halo = _halo(offsets, devices, permute)
    if exchange == "halo":
        return halo

    def auto(tree):
        nbytes = sum(x.size * x.dtype.itemsize for x in jax.tree_util.tree_leaves(tree))
        return halo(tree) if nbytes > HALO_FROM_BYTES and len(offsets) < devices - 1 else gather_all(tree)

    return auto


def shard(method: NetworkMethod, mesh, network: Network | None = None, exchange: str = "auto") -> NetworkMethod:
    """``method`` with its node axis sharded over ``mesh`` (a Mesh or a device count).

    K must be a multiple of the number of devices. Centralized methods hold one filter with no
    node axis and cannot be sharded.
    """
    choose("exchange", exchange, EXCHANGES)
    if method.node_step is None:
        raise OptionError(
            f"{method.name} has no node axis to shard (a centralized method is one filter); run it without a mesh"
        )
    mesh = as_mesh(mesh)
    devices = mesh.shape[AXIS]
    if network is not None and network.nodes % devices:
        raise GraphError(
            f"{network.nodes} nodes cannot be split evenly over {devices} devices; use a device count that divides K"
        )
    offsets = halo_offsets(network, devices) if network is not None and exchange != "all-gather" else None
    default_links = (lambda: live_links(network)) if network is not None else (lambda: None)
    nodes_sharded = NamedSharding(mesh, P(AXIS))

    def body(key, state, data, links):
        here = data.d.shape[0]
        index = lax.axis_index(AXIS) * here + jnp.arange(here)
        ordered = program_order()  # every device runs the step's collectives in the same order
        gather, permute, total = ordered(lax.all_gather), ordered(lax.ppermute), ordered(lax.psum)
        axis = NodeAxis(index, here * devices, _neighbour_gather(exchange, offsets, devices, gather, permute),
                        lambda x: total(x, AXIS), lambda tree: _all_gather(tree, gather))
        state, info = method.node_step(key, state, data, links, axis)
        return state, _all_gather(info, gather)  # diagnostics are small: every process gets all of them

    sharded_body = jax.shard_map(
        body, mesh=mesh, in_specs=(P(), P(AXIS), P(AXIS), P()), out_specs=(P(AXIS), P()), check_vma=False
    )

    def init(key, nodes: int):
        if nodes % devices:
            raise GraphError(f"{nodes} nodes cannot be split evenly over {devices} devices; use a device count that divides K")
        state = method.init(key, nodes)
        return jax.tree_util.tree_map(lambda x: jax.lax.with_sharding_constraint(x, nodes_sharded), state)

    def step(key, state, data, links=None):
        if data.d.shape[0] % devices:
            raise GraphError(f"{data.d.shape[0]} nodes cannot be split evenly over {devices} devices")
        return sharded_body(key, state, data, default_links() if links is None else links)

    return NetworkMethod(init, step, method.name, method.node_step, method.posterior, method.label_sites)


# jax.distributed's own defaults, in seconds: how long a process waits for all to join, after how
# long without a heartbeat a process counts as dead (then every process is ended), and how long
# a process ending normally waits for the others at the shutdown barrier
INITIALIZATION_TIMEOUT, HEARTBEAT_TIMEOUT, SHUTDOWN_TIMEOUT = 300, 100, 300


def initialize(coordinator: str, processes: int, process_id: int, bind_address: str | None = None, local_devices=None,
               *, initialization_timeout: int = INITIALIZATION_TIMEOUT, heartbeat_timeout: int = HEARTBEAT_TIMEOUT,
               shutdown_timeout: int = SHUTDOWN_TIMEOUT) -> None:
    """Join a multi-host run: ``jax.distributed.initialize``, with gloo for the CPU's
    collectives (GPUs use NCCL, JAX's default there). Call before anything else uses JAX.

    The timeouts are in seconds (see :data:`INITIALIZATION_TIMEOUT` and the docs' "When a
    process fails")."""
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=coordinator, num_processes=processes, process_id=process_id,
        coordinator_bind_address=bind_address, local_device_ids=local_devices,
        initialization_timeout=initialization_timeout, heartbeat_timeout_seconds=heartbeat_timeout,
        shutdown_timeout_seconds=shutdown_timeout,
    )
    # Every process publishes its devices when JAX's backend starts, and waits for all the
    # others' there, with no timeout short of the heartbeat's; start it now, while all are
    # here, so that a process that fails later leaves the others no such wait.
    jax.devices()


def joined() -> bool:
    """Whether this process has joined a multi-host run (:func:`initialize`); starts nothing."""
    return "jax" in sys.modules and jax.distributed.is_initialized()


def _identity(tree):  # one function, so that each gather of the same shapes compiles once
    return tree


def addressable(tree):
    """``tree`` with every array that spans devices of other processes gathered whole to every
    process (each process then holds its own copy, on its first local device).

    Collective: under ``jax.distributed`` every process must call it at the same point of the
    program, or they wait for each other forever. Arrays this process can read whole (one
    process, however many devices) are returned as they are, with their sharding.
    """
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    far = [i for i, leaf in enumerate(leaves) if isinstance(leaf, jax.Array) and not leaf.is_fully_addressable]
    if not far:
        return tree
    named = [i for i in far if isinstance(leaves[i].sharding, NamedSharding)]
    if named:  # one program gathers them all (replicated output = an all-gather per sharded leaf)
        everywhere = [NamedSharding(leaves[i].sharding.mesh, P()) for i in named]
        gathered = jax.jit(_identity, out_shardings=everywhere)([leaves[i] for i in named])
        for i, value in zip(named, gathered):
            leaves[i] = value.addressable_data(0)
    for i in far:  # other shardings (not made by this package): JAX's own gather, leaf by leaf
        if i not in named:
            from jax.experimental import multihost_utils

            leaves[i] = jnp.asarray(multihost_utils.process_allgather(leaves[i], tiled=True))
    return jax.tree_util.tree_unflatten(treedef, leaves)


def agree(code: int) -> int:
    """Multi-host: the exit code of the whole run, known to every process once process 0 has
    written the outputs (process 0's code unless this process's own is already a failure).
    Collective: every process calls it once, at the end. One process: ``code``."""
    if not joined() or jax.process_count() == 1:
        return code
    from jax.experimental import multihost_utils

    writer = int(multihost_utils.broadcast_one_to_all(np.asarray(code, np.int32)))
    return code or writer


def leave(code: int) -> int:
    """Multi-host: end this process now with ``code`` when it fails on its own (its peers
    cannot finish without it). A normal exit would wait at ``jax.distributed``'s shutdown
    barrier for peers that are themselves waiting for this process, until a timeout; ending it
    closes its connections, so a peer's next exchange fails at once and it ends too. Outside a
    multi-host run, or with ``code`` 0: returns ``code``."""
    if not joined() or code == 0:
        return code
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
