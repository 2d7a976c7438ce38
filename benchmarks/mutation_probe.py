"""Mutation probe: do the tests catch small, realistic bugs?

    python benchmarks/mutation_probe.py                    # every mutation, a few minutes each at most
    python benchmarks/mutation_probe.py --only pf-predictive-variance ekf-diagonal-cross-term
    python benchmarks/mutation_probe.py --json benchmarks/results/mutation_probe.json
    python benchmarks/mutation_probe.py --list             # the mutations and their tests, nothing run
    python benchmarks/mutation_probe.py --rev HEAD         # probe a commit instead of the working tree

Each entry of :data:`MUTATIONS` names a file of the package, a piece of its text that must
occur exactly once (so an entry that no longer matches the code fails loudly instead of
"surviving"), the text that replaces it, what bug that is, and the tests that should catch
it. The probe copies the working tree (or, with ``--rev``, a commit) into a temporary folder,
never touching the checkout, applies one mutation at a time there, runs that mutation's
tests with ``pytest -x`` and puts the file back. A mutation is *killed* when one of its tests fails, and the table names that
test; it *survives* when they all pass. Exit status 0 only if every mutation was killed.

``--baseline`` first runs every listed test on the unmutated copy (they must pass, or a
"kill" would mean nothing). The runs share one JAX compilation cache, so programs that a
mutation does not touch are compiled once for the whole probe.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import pathlib
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from typing import NamedTuple

ROOT = pathlib.Path(__file__).resolve().parents[1]
IGNORED = (".git", ".venv", "venv", "__pycache__", ".pytest_cache", ".hypothesis", "runs", "*.egg-info", "results",
           ".mypy_cache", ".ruff_cache")


class Mutation(NamedTuple):
    """One small bug: in ``file`` replace ``old`` (which occurs exactly once) by ``new``."""

    name: str
    file: str
    old: str
    new: str
    description: str
    tests: tuple[str, ...]


MUTATIONS: list[Mutation] = [
    # ---- kernels -------------------------------------------------------------------------
    Mutation(
        "ekf-diagonal-cross-term", "bayeslstm/kernels/ekf.py",
        "cov = (1.0 - gain * H) ** 2 * cov + gain**2 * (jnp.sum(H**2 * cov) - H**2 * cov + r)",
        "cov = (1.0 - gain * H) ** 2 * cov + gain**2 * r",
        "diagonal EKF: the Joseph update without its cross term K_i^2 sum_{j!=i} H_j^2 P_j",
        ("tests/properties/test_exact.py::test_diagonal_ekf_with_several_weights_is_the_diagonal_joseph_filter",
         "tests/kernels/test_ekf.py::test_diagonal_covariance_update_is_the_diagonal_of_the_joseph_form"),
    ),
    Mutation(
        "lofi-direction-sign-free", "bayeslstm/kernels/lofi.py",
        "directions = directions * jnp.where(largest < 0, -1.0, 1.0).astype(directions.dtype)",
        "directions = directions",
        "LoFi: each kept direction left with the sign eigh picked (a sharded run drifts from the single-device one)",
        ("tests/kernels/test_lofi.py::test_truncation_gives_one_factor_whatever_the_input_signs_and_order",),
    ),
    Mutation(
        "gaussian-sum-low-rank-respawn-keeps-factor", "bayeslstm/kernels/gaussian_sum.py",
        "covs = jax.tree_util.tree_map(lambda c: jnp.where(collapsed.reshape((count,) + (1,) * (c.ndim - 1)), c[sources], c),",
        "covs = jax.tree_util.tree_map(lambda c: jnp.where(collapsed.reshape((count,) + (1,) * (c.ndim - 1)), c, c),",
        "Gaussian sum: a re-spawned component keeps its own covariance instead of its source's",
        ("tests/kernels/test_gaussian_sum.py::test_collapsed_components_are_respawned_near_a_live_one",),
    ),
    Mutation(
        "ekf-joseph-noise-term", "bayeslstm/kernels/ekf.py",
        "cov = cov - jnp.outer(gain, u) - jnp.outer(u, gain) + s * jnp.outer(gain, gain)",
        "cov = cov - jnp.outer(gain, u) - jnp.outer(u, gain) + (s - r) * jnp.outer(gain, gain)",
        "full EKF: the Joseph form without its r K K^T term",
        ("tests/kernels/test_ekf.py::test_full_covariance_update_is_the_textbook_kalman_update",),
    ),
    Mutation(
        "pf-predictive-variance", "bayeslstm/kernels/particle_filter.py",
        "return prediction, jnp.maximum(second - prediction**2, 0.0), log_pred",
        "return prediction, second, log_pred",
        "particle filter: the mixture's variance without subtracting the squared mean",
        ("tests/properties/test_exact.py::test_particle_filter_predictive_variance_is_the_kalman_filters",
         "tests/kernels/test_particle_filter.py::test_mixture_prediction_by_hand"),
    ),
    Mutation(
        "ekf-learns-missing-labels", "bayeslstm/kernels/ekf.py",
        "keep = lambda new, old: jnp.where(valid, new, old)  # noqa: E731",
        "keep = lambda new, old: new  # noqa: E731",
        "EKF: updates on batch entries flagged invalid (missing labels)",
        ("tests/engine/test_runner.py::test_unobserved_labels_are_not_scored_or_learnt",),
    ),
    Mutation(
        "pf-ignores-labels", "bayeslstm/kernels/particle_filter.py",
        "log_w, increment, collapsed = reweight(state.log_weights, total)",
        "log_w, increment, collapsed = reweight(state.log_weights, 0.0 * total)",
        "particle filter: the weights never take in the labels (its predictions stay the prior's)",
        ("tests/properties/test_nuts.py::test_pf_posterior_predictive_matches_nuts",),
    ),
    Mutation(
        "pf-learns-invalid-entries", "bayeslstm/kernels/particle_filter.py",
        "total = jnp.sum(jnp.where(batch.valid[None, :], loglik, 0.0), axis=1)",
        "total = jnp.sum(loglik, axis=1)",
        "particle filter: batch entries flagged invalid (missing labels, padding) are learnt from",
        ("tests/kernels/test_particle_filter.py::test_entries_that_are_not_valid_change_no_weight",),
    ),
    Mutation(
        "pf-evidence-increment", "bayeslstm/kernels/particle_filter.py",
        "state = ParticleState(state.particles, log_w, state.log_evidence + increment)",
        "state = ParticleState(state.particles, log_w, state.log_evidence + increment - jnp.log(log_w.shape[0]))",
        "particle filter: the evidence increment divided by N (the mean likelihood taken as a sum's share)",
        ("tests/properties/test_exact.py::test_particle_filter_evidence_is_unbiased",),
    ),
    Mutation(
        "liu-west-no-shrinkage", "bayeslstm/kernels/particle_filter.py",
        "return a * particles + (1.0 - a) * mean + h * noise",
        "return particles + h * noise",
        "Liu-West move: the kernel noise added without shrinking towards the mean (inflates the cloud)",
        ("tests/kernels/test_particle_filter.py::test_liu_west_moves_keep_the_weighted_mean_and_covariance",),
    ),
    Mutation(
        "liu-west-on-every-step", "bayeslstm/kernels/particle_filter.py",
        "return state._replace(particles=jax.lax.cond(resampled, move, lambda p: p, state.particles))",
        "return state._replace(particles=jax.lax.cond(~resampled, move, lambda p: p, state.particles))",
        "Liu-West move: applied on the steps that did not resample instead of those that did",
        ("tests/kernels/test_particle_filter.py::test_liu_west_moves_only_after_a_resampling",),
    ),
    Mutation(
        "systematic-fixed-offset", "bayeslstm/kernels/resampling.py",
        "u = jax.random.uniform(key, (), log_weights.dtype)",
        "u = jnp.asarray(0.5, log_weights.dtype)",
        "systematic resampling with a fixed offset instead of a uniform one (biased copy counts)",
        ("tests/kernels/test_resampling.py::test_resampling_is_unbiased",),
    ),
    Mutation(
        "adaptive-resampling-inverted", "bayeslstm/kernels/resampling.py",
        "do = ess < threshold * n",
        "do = ess > threshold * n",
        "adaptive resampling: resamples when the ESS is high, not when it is low",
        ("tests/kernels/test_resampling.py::test_adaptive_resampling_acts_only_below_the_threshold",),
    ),
    Mutation(
        "enkf-sqrt-transform", "bayeslstm/kernels/enkf.py",
        "shrink = 1.0 / jnp.sqrt(1.0 + s**2) - 1.0",
        "shrink = 1.0 / (1.0 + s**2) - 1.0",
        "ETKF: the deviations shrunk by (1 + s^2)^-1 instead of its square root",
        ("tests/kernels/test_enkf.py::test_square_root_update_is_the_exact_kalman_update_on_a_linear_model",),
    ),
    Mutation(
        "enkf-predictive-variance", "bayeslstm/kernels/enkf.py",
        "return mean, jnp.sum(dev**2, axis=0) / (n - 1) + r",
        "return mean, jnp.sum(dev**2, axis=0) / (n - 1)",
        "EnKF: the predictive variance without the label noise r",
        ("tests/kernels/test_enkf.py::test_enkf_tracks_the_exact_kalman_filter_on_linear_gaussian_data",),
    ),
    Mutation(
        "enkf-stochastic-noise", "bayeslstm/kernels/enkf.py",
        "noise = jnp.sqrt(r) * jax.random.normal(key, predictions.shape, predictions.dtype)",
        "noise = r * jax.random.normal(key, predictions.shape, predictions.dtype)",
        "perturbed-observation EnKF: perturbations with variance r^2 instead of r",
        ("tests/kernels/test_enkf.py::test_stochastic_update_matches_the_kalman_moments_within_monte_carlo_error",),
    ),
    Mutation(
        "gaussian-sum-spread", "bayeslstm/kernels/gaussian_sum.py",
        "spread = jnp.sum(w * (var + (prediction - mean) ** 2), axis=0)",
        "spread = jnp.sum(w * var, axis=0)",
        "Gaussian-sum filter: the mixture's variance without the spread of the component means",
        ("tests/kernels/test_gaussian_sum.py::test_mixture_moments_by_hand",),
    ),
    Mutation(
        "gaussian-sum-prior-weights", "bayeslstm/kernels/gaussian_sum.py",
        "unnormalised = log_weights + increments",
        "unnormalised = increments",
        "Gaussian-sum filter: component weights from this step's evidence only, forgetting the old weights",
        ("tests/kernels/test_gaussian_sum.py::test_weights_multiply_by_each_components_evidence",),
    ),
    Mutation(
        "adam-moments-frozen", "bayeslstm/kernels/gradient.py",
        "return GradientState(theta, opt_state, noise), info",
        "return GradientState(theta, state.opt_state, noise), info",
        "SGD/Adam: the optimiser state is not carried (Adam's moments and step count never advance)",
        ("tests/kernels/test_gradient.py::test_adam_three_steps_by_hand",),
    ),
    Mutation(
        "baseline-variance-invalid", "bayeslstm/kernels/baselines.py",
        "batch_m2 = jnp.sum(valid * (batch.d - batch_mean) ** 2)",
        "batch_m2 = jnp.sum((batch.d - batch_mean) ** 2)",
        "baselines: the running variance takes in labels flagged invalid",
        ("tests/kernels/test_baselines.py::test_centralized_batches_give_the_running_mean_and_variance_of_valid_labels",),
    ),
    # ---- model ---------------------------------------------------------------------------
    Mutation(
        "gru-update-gate-swapped", "bayeslstm/model/gru.py",
        "return ((1.0 - u) * c + u * h,)",
        "return (u * c + (1.0 - u) * h,)",
        "GRU: the update gate's u and 1 - u swapped",
        ("tests/model/test_gru.py::test_gru_matches_numpy_reference",),
    ),
    Mutation(
        "rnn-no-recurrence", "bayeslstm/model/rnn.py",
        'return (jnp.tanh(p["W"] @ x + p["R"] @ h + p["b"]),)',
        'return (jnp.tanh(p["W"] @ x + p["b"]),)',
        "RNN: the recurrent term R h dropped (each step sees only its input)",
        ("tests/model/test_rnn.py::test_rnn_matches_numpy_reference",),
    ),
    # ---- fusion --------------------------------------------------------------------------
    Mutation(
        "group-sum-not-broadcast", "bayeslstm/network/agreement.py",
        "    return from_leader(subtree, groups.leader, axis)",
        "    return subtree",
        "exact sums: each node keeps its own subtree's partial sum instead of the leader's total",
        ("tests/network/test_agreement.py::test_group_sums_are_the_live_components_sums_at_every_member_bit_for_bit",
         "tests/network/test_consensus_dpf.py::test_every_node_holds_node_zeros_particles_bit_for_bit_over_300_steps"),
    ),
    Mutation(
        "consensus-average-times-k", "bayeslstm/network/agreement.py",
        "lambda v: v * size.reshape(size.shape + (1,) * (v.ndim - 1)).astype(v.dtype),",
        "lambda v: v * axis.nodes,",
        "average consensus: the group's average times K, all nodes, instead of the group's size (labels over-counted)",
        ("tests/network/test_faults.py::test_with_half_the_nodes_away_the_weights_are_the_centralized_pfs_on_the_present_labels",),
    ),
    Mutation(
        "flood-for-a-fixed-bound", "bayeslstm/network/agreement.py",
        "until_stable = lambda carry: carry[3] & (carry[2] < axis.nodes)",
        "until_stable = lambda carry: carry[3] & (carry[2] < 3)",
        "groups: flooding for a fixed number of rounds (a ring's diameter) instead of until nothing changes",
        ("tests/network/test_agreement.py::test_a_ring_with_a_node_away_is_one_group_wider_than_the_rings_diameter",),
    ),
    Mutation(
        "markov-chain-walk-from-start", "bayeslstm/network/markov_chain_dpf.py",
        "nxt = table[where, slot]",
        "nxt = table[jnp.broadcast_to(rows[:, None], where.shape), slot]",
        "Markov-chain DPF: every walk step leaves from the particle's start node (walks never go past one hop)",
        ("tests/network/test_markov_chain_dpf.py::test_on_a_ring_the_estimates_approach_centralized_as_walks_grow",),
    ),
    Mutation(
        "markov-chain-weight-scale", "bayeslstm/network/markov_chain_dpf.py",
        "log_w = (size[:, None] / S) * log_w",
        "log_w = log_w / S",
        "Markov-chain DPF: the walk averages the nodes' log-likelihoods instead of summing them",
        ("tests/network/test_markov_chain_dpf.py::test_markov_chain_dpf_approaches_centralized_as_walks_grow",),
    ),
    Mutation(
        "markov-chain-scale-by-k", "bayeslstm/network/markov_chain_dpf.py",
        "log_w = (size[:, None] / S) * log_w",
        "log_w = (K / S) * log_w",
        "Markov-chain DPF: visits weighted by K, all nodes, instead of the walk's live group (labels over-counted)",
        ("tests/network/test_faults.py::test_an_isolated_markov_chain_dpf_node_weights_its_own_label_once",),
    ),
    Mutation(
        "markov-chain-traffic", "bayeslstm/network/markov_chain_dpf.py",
        "sent = sent.at[where.ravel()].add((nxt != where).ravel().astype(sent.dtype))",
        "sent = sent.at[where.ravel()].add(jnp.ones(where.size, sent.dtype))",
        "Markov-chain DPF: a particle that stays put is counted as sent",
        ("tests/network/test_method.py::test_distributed_methods_report_traffic_and_occupancy",),
    ),
    Mutation(
        "markov-chain-keys-by-position", "bayeslstm/network/markov_chain_dpf.py",
        "new_particles, ess, empty = jax.vmap(gather)(rows, node_keys(key_resample, rows), particles)",
        "new_particles, ess, empty = jax.vmap(gather)(rows, node_keys(key_resample, rows.shape[0]), particles)",
        "Markov-chain DPF: resampling keys by a node's position on its device, not its global id (sharded runs differ)",
        ("tests/network/test_sharding.py::test_one_step_on_four_devices_equals_one_device",),
    ),
    Mutation(
        "leaders-ignore-dead-links", "bayeslstm/network/agreement.py",
        "return neighbours, links.live[rows] & (neighbours != rows[:, None])",
        "return neighbours, neighbours != rows[:, None]",
        "groups: flood triples heard (and sums sent) over links that are down",
        ("tests/network/test_agreement.py::test_a_cut_link_gives_each_side_its_own_leader_tree_and_depths",),
    ),
    Mutation(
        "consensus-round-skips-links", "bayeslstm/network/agreement.py",
        "        return jax.tree_util.tree_map(lambda x: combine(weights, neighbours, x), everyone)\n\n"
        "    return jax.lax.fori_loop(0, rounds, round_, values)",
        "        return jax.tree_util.tree_map(lambda x: combine(weights, neighbours, x), everyone)\n\n"
        "    return jax.lax.fori_loop(0, min(rounds, 1), round_, values)",
        "average consensus: one round whatever the number asked for",
        ("tests/network/test_agreement.py::test_average_consensus_tends_to_the_network_mean",),
    ),
    Mutation(
        "leaders-ignore-labels-seen", "bayeslstm/network/consensus_dpf.py",
        "groups = find_groups(links, rows, agreement.table, axis, state.labels_seen, agreement.rounds)",
        "groups = find_groups(links, rows, agreement.table, axis, 0 * state.labels_seen, agreement.rounds)",
        "merging groups: the smallest id leads even when its state missed steps (a returning or cut-off node takes over)",
        ("tests/network/test_consensus_dpf.py::test_a_node_that_comes_back_does_not_undo_what_the_others_learnt",
         "tests/network/test_faults.py::test_an_isolated_node_does_not_take_the_others_over_when_its_links_return"),
    ),
    Mutation(
        "diffusion-no-combine", "bayeslstm/network/diffusion.py",
        "return jax.vmap(estimate.write)(psi, mixed), out",
        "return psi, out",
        "diffusion: adapt without combining (the DEKF becomes a local EKF on its neighbours' data)",
        ("tests/network/test_diffusion.py::test_one_dekf_step_on_a_ring_adapts_on_the_neighbourhood_then_combines",),
    ),
    Mutation(
        "faults-absent-nodes-learn", "bayeslstm/network/faults.py",
        "lambda new, old: jnp.where(present.reshape((K,) + (1,) * (new.ndim - 1)), new, old), inner, state.inner",
        "lambda new, old: new, inner, state.inner",
        "faults: a node that is away keeps updating its state",
        ("tests/network/test_faults.py::test_an_absent_node_freezes_and_rejoins",
         "tests/network/test_markov_chain_dpf.py::test_a_node_that_was_away_is_frozen_and_rejoins"),
    ),
    Mutation(
        "markov-chain-absent-node-moves", "bayeslstm/network/markov_chain_dpf.py",
        "log_moves = jnp.log(jnp.where(links.live, links.weights, 0.0))",
        "log_moves = jnp.log(jnp.asarray(network.neighbor_weights, links.weights.dtype))",
        "Markov-chain DPF: walks move with the graph's weights, not the step's live links (they cross failed links)",
        ("tests/network/test_markov_chain_dpf.py::test_a_node_that_is_away_sends_and_receives_no_particles",
         "tests/network/test_markov_chain_dpf.py::test_a_node_that_was_away_is_frozen_and_rejoins"),
    ),
    # ---- data, engine ----------------------------------------------------------------------
    Mutation(
        "tables-label-row-seen", "bayeslstm/data/tables.py",
        'before_label = np.searchsorted(time_id, time_id[label], side="left")',
        'before_label = np.searchsorted(time_id, time_id[label], side="right")',
        "tables: the label's own row counts in the standardisation statistics (look-ahead)",
        ("tests/data/test_tables.py::test_labels_use_only_earlier_rows",
         "tests/data/test_tables.py::test_rows_at_the_same_time_count_as_unknown_for_a_label"),
    ),
    Mutation(
        "tables-population-variance", "bayeslstm/data/tables.py",
        "var = np.maximum(squares[seen] - n * mean_c**2, 0.0) / np.maximum(n - 1.0, 1.0)",
        "var = np.maximum(squares[seen] - n * mean_c**2, 0.0) / np.maximum(n, 1.0)",
        "tables: the running scale from the population variance instead of the sample variance",
        ("tests/data/test_tables.py::test_running_stats_match_pandas",),
    ),
    Mutation(
        "checkpoint-checksum-ignored", "bayeslstm/engine/checkpoint.py",
        'if len(payload) != manifest["bytes"] or hashlib.sha256(payload).hexdigest() != manifest["sha256"]:',
        'if len(payload) != manifest["bytes"]:',
        "checkpoints: the payload's sha256 is not checked (only its size)",
        ("tests/engine/test_checkpoint.py::test_a_payload_changed_without_changing_its_size_is_refused",),
    ),
    Mutation(
        "resume-restarts-key-sequence", "bayeslstm/engine/runner.py",
        "return step_inputs(c * size, size, stream.X[sl]",
        "return step_inputs(c * size - (plan.saved.step if plan.saved else 0), size, stream.X[sl]",
        "resume: the resumed run numbers its steps (hence its random keys) from 0 again",
        ("tests/engine/test_checkpoint.py::test_sigkilled_run_resumes_bit_identical[dpf]",),
    ),
    Mutation(
        "online-step-key", "bayeslstm/engine/online.py",
        "return step_inputs(online.step, 1, *stream, program.buckets, jnp.asarray(0.0).dtype)",
        "return step_inputs(0, 1, *stream, program.buckets, jnp.asarray(0.0).dtype)",
        "streaming: every online step draws the first step's random keys",
        ("tests/engine/test_online.py::test_streaming_equals_batch",),
    ),
    Mutation(
        "tae-counts-unobserved", "bayeslstm/engine/metrics.py",
        "counts = (0 if count is None else count) + np.cumsum(observed, axis=0)",
        "counts = (0 if count is None else count) + np.cumsum(np.ones_like(observed), axis=0)",
        "TAE: steps without a label counted in the running mean's denominator",
        ("tests/engine/test_runner.py::test_unobserved_labels_are_not_scored_or_learnt",),
    ),
]


class Outcome(NamedTuple):
    name: str
    status: str  # killed | survived | error
    killed_by: str | None
    seconds: float
    detail: str = ""


def check_mutations(mutations: list[Mutation], root: pathlib.Path) -> None:
    """Every mutation's old text occurs exactly once in its file (under ``root``); names are unique."""
    problems = []
    names = [m.name for m in mutations]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"{name}: the name is used twice")
    for m in mutations:
        path = root / m.file
        if not path.exists():
            problems.append(f"{m.name}: {m.file} does not exist")
            continue
        count = path.read_text().count(m.old)
        if count != 1:
            problems.append(f"{m.name}: its old text occurs {count} times in {m.file} (it must occur exactly once; "
                            "the code changed: update the entry)")
        if m.old == m.new:
            problems.append(f"{m.name}: old and new text are the same")
        if not m.tests:
            problems.append(f"{m.name}: no tests listed")
    if problems:
        raise SystemExit("stale or malformed mutations:\n  " + "\n  ".join(problems))


def copy_tree(root: pathlib.Path, target: pathlib.Path, rev: str | None = None) -> pathlib.Path:
    """The working tree (uncommitted changes included, no .git, no virtualenv) under ``target``,
    or the commit ``rev`` when given."""
    copy = target / "repo"
    if rev is None:
        shutil.copytree(root, copy, ignore=shutil.ignore_patterns(*IGNORED), symlinks=True)
    else:
        archive = subprocess.run(["git", "-C", str(root), "archive", "--format=tar", rev], capture_output=True, check=True)
        copy.mkdir()
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(copy, filter="data")
    return copy


# The package's models/ folder is bayeslstm.models only through the installed package's
# mapping (pyproject.toml's package-dir), which points at the checkout. This startup hook,
# on the copy's PYTHONPATH, maps it to the copy's models/ instead, so that nothing is read
# from the checkout and the copy's tree stays exactly the repository's.
MODELS_HOOK = """\
import importlib.abc, importlib.util, sys

class _CopyModels(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "bayeslstm.models":
            return importlib.util.spec_from_file_location(
                name, {init!r}, submodule_search_locations=[{folder!r}])
        return None

sys.meta_path.insert(0, _CopyModels())
"""


def environment(copy: pathlib.Path, tmp: pathlib.Path) -> dict:
    """The tests' environment: the copy first on the path, its models/ as bayeslstm.models,
    one compilation cache for every run."""
    site = tmp / "site"
    site.mkdir(exist_ok=True)
    models = copy / "models"
    (site / "sitecustomize.py").write_text(MODELS_HOOK.format(init=str(models / "__init__.py"), folder=str(models)))
    env = dict(os.environ)
    paths = [str(copy), str(site)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    cache = tmp / "jax-cache"
    env["BAYESLSTM_TEST_CACHE"] = str(cache)  # tests/conftest.py: one compilation cache for every run
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # a file and its mutant may share a size and an mtime second
    env.pop("PYTEST_ADDOPTS", None)
    return env


def check_imports(copy: pathlib.Path, env: dict) -> None:
    """The copy's package is the one the tests import, not the checkout's."""
    code = "import bayeslstm, bayeslstm.models; print(bayeslstm.__file__); print(bayeslstm.models.__file__)"
    out = subprocess.run([sys.executable, "-c", code], cwd=copy, env=env, capture_output=True, text=True, check=True)
    for line in out.stdout.split():
        if not pathlib.Path(line).resolve().is_relative_to(copy.resolve()):
            raise SystemExit(f"the tests would import {line}, outside the copy {copy}: refusing to probe")


FAILED = re.compile(r"^(?:FAILED|ERROR) (\S+)", re.M)


def run_tests(tests: tuple[str, ...], copy: pathlib.Path, env: dict, timeout: float, workers: int) -> tuple[int, str, float]:
    command = [sys.executable, "-m", "pytest", "-q", "-x", "-n", str(workers), "-p", "no:cacheprovider", *tests]
    start = time.perf_counter()
    try:
        out = subprocess.run(command, cwd=copy, env=env, capture_output=True, text=True, timeout=timeout)
        rc, text = out.returncode, out.stdout + out.stderr
    except subprocess.TimeoutExpired as exc:
        partial = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else exc.stdout or ""
        rc, text = -1, f"timed out after {timeout:.0f} s\n{partial}"
    return rc, text, time.perf_counter() - start


def probe(m: Mutation, copy: pathlib.Path, env: dict, timeout: float, workers: int) -> Outcome:
    path = copy / m.file
    original = path.read_text()
    if original.count(m.old) != 1:
        return Outcome(m.name, "error", None, 0.0, "old text not found exactly once in the copy")
    path.write_text(original.replace(m.old, m.new))
    try:
        rc, text, seconds = run_tests(m.tests, copy, env, timeout, workers)
    finally:
        path.write_text(original)
    if rc == 0:
        return Outcome(m.name, "survived", None, seconds)
    if rc == -1:
        return Outcome(m.name, "killed", "(timeout)", seconds, text[-2000:])
    failed = FAILED.findall(text)
    if rc == 1 and failed:
        return Outcome(m.name, "killed", failed[0], seconds)
    # 2: interrupted (a collection error), 4: usage (a test id that does not exist), 5: nothing collected
    return Outcome(m.name, "error", failed[0] if failed else None, seconds, text[-3000:])


def cpu_model() -> str:
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def table(outcomes: list[Outcome], mutations: dict[str, Mutation]) -> str:
    lines = ["| mutation | file | bug | result | caught by | seconds |", "|---|---|---|---|---|---:|"]
    for o in outcomes:
        m = mutations[o.name]
        caught = f"`{o.killed_by}`" if o.killed_by else "-"
        lines.append(f"| `{o.name}` | `{m.file.removeprefix('bayeslstm/')}` | {m.description} | {o.status} | "
                     f"{caught} | {o.seconds:.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", metavar="NAME", help="probe only these mutations")
    parser.add_argument("--list", action="store_true", help="list the mutations and their tests; run nothing")
    parser.add_argument("--json", metavar="OUT", help="write the outcomes to this JSON file")
    parser.add_argument("--baseline", action="store_true", help="first check that every listed test passes unmutated")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per mutation (default 900)")
    parser.add_argument("--workers", type=int, default=0, help="pytest-xdist workers per run (default 0: in process)")
    parser.add_argument("--rev", metavar="COMMIT", help="probe this commit (git archive) instead of the working tree")
    args = parser.parse_args(argv)

    chosen = MUTATIONS
    if args.only:
        unknown = sorted(set(args.only) - {m.name for m in MUTATIONS})
        if unknown:
            parser.error(f"unknown mutations {unknown}; --list shows them")
        chosen = [m for m in MUTATIONS if m.name in args.only]
    if args.list:
        check_mutations(MUTATIONS, ROOT)
        for m in chosen:
            print(f"{m.name}  ({m.file})\n    {m.description}\n    " + "\n    ".join(m.tests))
        return 0

    commit = None
    if args.rev:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--verify", f"{args.rev}^{{commit}}"],
                                capture_output=True, text=True, check=True).stdout.strip()
    start = time.perf_counter()
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="bayeslstm-mutation-") as tmp:
        tmp = pathlib.Path(tmp)
        copy = copy_tree(ROOT, tmp, commit)
        check_mutations(MUTATIONS, copy)  # before anything runs: a stale entry fails loudly
        env = environment(copy, tmp)
        check_imports(copy, env)
        if args.baseline:
            tests = tuple(dict.fromkeys(t for m in chosen for t in m.tests))
            rc, text, seconds = run_tests(tests, copy, env, args.timeout * 2, args.workers)
            print(f"baseline: {len(tests)} tests in {seconds:.0f} s, exit status {rc}", flush=True)
            if rc != 0:
                print(text[-5000:])
                raise SystemExit("the listed tests fail on the unmutated code: fix that first")
        for i, m in enumerate(chosen, 1):
            outcome = probe(m, copy, env, args.timeout, args.workers)
            outcomes.append(outcome)
            print(f"[{i}/{len(chosen)}] {m.name}: {outcome.status}"
                  f"{' by ' + outcome.killed_by if outcome.killed_by else ''} ({outcome.seconds:.0f} s)", flush=True)
            if outcome.status == "error":
                print(outcome.detail)
    total = time.perf_counter() - start
    by_name = {m.name: m for m in MUTATIONS}
    print()
    print(table(outcomes, by_name))
    killed = sum(o.status == "killed" for o in outcomes)
    print(f"\n{killed} of {len(outcomes)} mutations killed in {total / 60:.1f} minutes on {cpu_model()} "
          f"({os.cpu_count()} CPUs)")
    if args.json:
        report = {
            "cpu": cpu_model(), "cpus": os.cpu_count(), "python": platform.python_version(),
            "source": f"commit {commit}" if commit else "working tree",
            "seconds": round(total, 1), "killed": killed, "total": len(outcomes),
            "mutations": [dict(o._asdict(), file=by_name[o.name].file, description=by_name[o.name].description,
                               tests=list(by_name[o.name].tests)) for o in outcomes],
        }
        pathlib.Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    return 0 if killed == len(outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
