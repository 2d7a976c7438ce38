"""The likelihood-consensus distributed particle filter (``dpf-consensus``).

All nodes draw the same particles (shared keys), compute their local log-likelihood vectors
over them, and average those vectors by rounds of consensus with the combination matrix;
K times the average estimates the centralized log-likelihood, so every node weights the
particles (nearly) as a centralized filter would. Only numbers cross the network, never
particles.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import Array

from ..errors import number
from ..kernels.particle_filter import (
    DEFAULT_PARTICLES, LOGLIK_FLOOR, ParticleState, check_particle_options, init_particles, mixture_prediction, move_and_observe, posterior,
    resample_state, reweight,
)
from ..kernels.resampling import adaptive, get_scheme
from ..model.statespace import StateSpace
from .graph import Network, require_doubly_stochastic
from .method import (
    NetworkMethod, NodeAxis, StepData, check_nodes, graph_method, live_degree, node_map, own_batch, own_prediction,
    traffic,
)
from .mixing import Links, combine

def consensus_particle_filter(
    ssm: StateSpace,
    network: Network,
    num_particles: int = DEFAULT_PARTICLES,
    consensus_iters: int = 20,
    resampling: str = "systematic",
    ess_threshold: float = 0.5,
) -> NetworkMethod:
    """Likelihood-consensus DPF: all nodes draw the same particles (shared keys), average
    their local log-likelihood vectors by ``consensus_iters`` rounds of consensus with C, and
    weight by K times the result, an estimate of the centralized log-likelihood. Only
    L * N numbers per neighbour and step cross the network, never particles."""
    n = check_particle_options(num_particles, resampling, ess_threshold)
    require_doubly_stochastic(network, "the likelihood-consensus DPF")
    iters = number("consensus_iters", consensus_iters, int, 0)
    resample = adaptive(get_scheme(resampling), ess_threshold)
    table = jnp.asarray(network.neighbors)

    def init_fn(key: Array, nodes: int) -> ParticleState:
        check_nodes(network, nodes)
        shared = init_particles(ssm, key, n)
        return jax.tree_util.tree_map(lambda a: jnp.broadcast_to(a, (nodes,) + a.shape), shared)

    def node_step(key: Array, state: ParticleState, data: StepData, links: Links, axis: NodeAxis):
        rows = axis.index
        key_move, key_resample = jax.random.split(key)  # shared by every node
        particles, (mean, var, loglik) = node_map(lambda p, b: move_and_observe(ssm, key_move, p, b),
                                                  state.particles, own_batch(data))
        prediction, pred_var, log_pred = jax.vmap(mixture_prediction)(state.log_weights, mean, var, loglik)
        local_ll = jnp.where(data.observed[:, None], jnp.maximum(loglik[..., 0], LOGLIK_FLOOR), 0.0)
        weights, neighbours = links.weights[rows], table[rows]
        average = jax.lax.fori_loop(0, iters, lambda _, v: combine(weights, neighbours, axis.gather(v)), local_ll)
        log_w, increment, collapsed = jax.vmap(reweight)(state.log_weights, axis.nodes * average)
        state = ParticleState(particles, log_w, state.log_evidence + increment)
        resampled = jax.vmap(lambda log_w: resample(key_resample, log_w))(state.log_weights)
        state = jax.vmap(resample_state)(state, resampled)
        out = own_prediction(prediction, pred_var, log_pred)
        out.update(log_evidence_increment=increment, ess=resampled.ess, resampled=resampled.resampled, collapsed=collapsed)
        degree = live_degree(links, rows)
        out.update(traffic(iters * degree, iters * degree * n))
        return state, out

    return graph_method(network, init_fn, node_step, "dpf-consensus", posterior)
