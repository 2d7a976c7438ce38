"""The consensus ensemble Kalman filter (``denkf-consensus``): every node applies the
centralized EnKF transform.

Every node holds the same N members: they start from one shared draw and move with shared
keys, as the consensus DPF's particles do. Each node predicts its own example with every
member; in ensemble space the centralized update needs only sums over the nodes of

    S_k = y'_k y'_k^T / r          (N, N)  the members' prediction deviations, outer product
    t_k = y'_k (d_k - ybar_k) / r   (N,)    against the innovation (square-root form), or
    T_k = y'_k (d_k + eps_ik - y_ik)^T / r  (N, N) against perturbed innovations (stochastic
          form; eps drawn with the shared key, so every node perturbs every label alike),

so each live group of nodes agrees on their sums (:mod:`bayeslstm.network.agreement`):
exactly over a spanning tree of the group (``consensus="exact"``, the default) or by L rounds
of average consensus times the group's size (``"average"``), then the leader's; every member
computes the same transform and keeps bit-identical members. The transforms are the
ensemble-space forms of the EnKF of :mod:`bayeslstm.kernels.enkf`: with exact sums each live
group is the centralized EnKF over its own labels, every present label counted once. When
groups meet again the members that have absorbed the most labels are kept (ties: the smallest
leader id).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import Array

from ..errors import ModelError
from ..kernels.enkf import (
    DEFAULT_MEMBERS,
    EnsembleState,
    anomalies,
    check_ensemble_options,
    inflate,
    posterior,
    predictive_moments,
    require_gaussian_label,
)
from ..kernels.particle_filter import observe_all
from ..kernels.protocol import gaussian_log_density
from ..model.statespace import StateSpace
from .agreement import DEFAULT_CONSENSUS_ITERS, agree_on_total, changed, group_report, join_groups, plan, start_together
from .graph import Network
from .method import NetworkMethod, NodeAxis, StepData, graph_method, node_map, own_batch, own_prediction, traffic
from .mixing import Links


def sqrt_transform(members: Array, gram: Array, weights_rhs: Array) -> Array:
    """The ETKF in ensemble space from the summed statistics: with
    (N - 1) I + gram = V diag(N - 1 + l) V^T, the mean weights
    w = V diag(1 / (N - 1 + l)) V^T weights_rhs and the deviations times
    V diag(sqrt((N - 1) / (N - 1 + l))) V^T."""
    n = members.shape[0]
    mean, A = anomalies(members)
    values, vectors = jnp.linalg.eigh(0.5 * (gram + gram.T))
    denominator = (n - 1) + jnp.maximum(values, 0.0)
    w = vectors @ ((vectors.T @ weights_rhs) / denominator)
    root = (vectors * jnp.sqrt((n - 1) / denominator)) @ vectors.T
    return mean + w @ A + root @ A


def stochastic_transform(members: Array, gram: Array, perturbed: Array) -> Array:
    """The perturbed-observation EnKF in ensemble space: member i moves by
    A^T [(N - 1) I + gram]^-1 perturbed[:, i]."""
    n = members.shape[0]
    _, A = anomalies(members)
    solved = jnp.linalg.solve((n - 1) * jnp.eye(n, dtype=gram.dtype) + gram, perturbed)  # (N, N)
    return members + solved.T @ A


def consensus_enkf(ssm: StateSpace, network: Network, num_members: int = DEFAULT_MEMBERS, update: str = "sqrt",
                   inflation: float = 1.0, consensus: str = "exact", consensus_iters: int = DEFAULT_CONSENSUS_ITERS,
                   flood_rounds: int | None = None) -> NetworkMethod:
    """denkf-consensus (see the module docstring; ``consensus``, ``consensus_iters`` and
    ``flood_rounds`` as the consensus DPF's). Traffic per node and step: the groups' flood,
    then N^2 + N numbers (2 N^2 for the stochastic form) up and down the group's tree, or L
    times as many per live neighbour with average consensus."""
    n = check_ensemble_options(num_members, update, inflation)
    inflation = float(inflation)
    if require_gaussian_label(ssm, "consensus EnKF"):
        raise ModelError("the consensus EnKF needs a fixed label variance; a static site sets it here: use denkf, "
                         "dgspf or the particle filters")
    agreement = plan(network, "the consensus EnKF", consensus, consensus_iters, flood_rounds)
    r = ssm.obs_var

    def draw(key: Array) -> EnsembleState:
        members = jax.vmap(ssm.sample_prior)(jax.random.split(key, n))
        return EnsembleState(members, jnp.zeros((), members.dtype))

    def statistics(predictions: Array, d: Array, observed: Array, noise: Array):
        """One node's S_k and its right-hand side (t_k, or T_k for the stochastic form)."""
        rr = jnp.asarray(r, predictions.dtype)
        ybar, dev = anomalies(predictions)
        dev = jnp.where(observed, dev, 0.0)
        gram = jnp.outer(dev, dev) / rr
        if update == "sqrt":
            rhs = dev * jnp.where(observed, d - ybar, 0.0) / rr
        else:
            rhs = jnp.outer(dev, jnp.where(observed, d + noise - predictions, 0.0)) / rr
        return gram, rhs

    def node_step(key: Array, state: EnsembleState, data: StepData, links: Links, axis: NodeAxis):
        rows = axis.index
        key_move, key_update = jax.random.split(key)  # shared by every node
        groups, adopted = join_groups(agreement, links, axis, state, state.labels_seen)
        stale = changed(adopted.members, state.members)
        members = jax.vmap(lambda m: inflate(ssm.propagate(key_move, m), inflation))(adopted.members)
        predictions = node_map(lambda m, b: observe_all(ssm, m, b)[0], members, own_batch(data))[..., 0]  # (K_here, N)
        rr = jnp.asarray(r, members.dtype)
        prediction, pred_var = jax.vmap(lambda p: predictive_moments(p[:, None], rr))(predictions)
        log_pred = gaussian_log_density(data.d[:, None], prediction, pred_var)
        noise = jnp.sqrt(rr) * jax.random.normal(key_update, (n, axis.nodes), members.dtype)[:, rows].T
        gram, rhs = jax.vmap(statistics)(predictions, data.d, data.observed, noise)
        agreed = agree_on_total(agreement, groups, (gram, rhs), data.observed, links, rows, axis)
        gram, rhs = agreed.total
        transform = sqrt_transform if update == "sqrt" else stochastic_transform
        members = jax.vmap(transform)(members, gram, rhs)
        increment = jnp.where(data.observed, log_pred[:, 0], 0.0)
        out = own_prediction(prediction, pred_var, log_pred)
        out.update(log_evidence_increment=increment, spread=jnp.mean(jnp.var(members, axis=1), axis=1))
        out.update(traffic(agreed.messages + stale, agreed.floats + stale * (n * ssm.dim + 2)))
        labels_seen = adopted.labels_seen + agreed.labels
        out.update(group_report(groups, (members, labels_seen)))
        return EnsembleState(members, adopted.log_evidence + increment, None, labels_seen), out

    return graph_method(network, start_together(network, draw), node_step, "denkf-consensus", posterior)
