"""Read a NumPyro state-space declaration into what the kernels need.

The declaration form is a NumPyro model ``model(X, mask, theta_prev=None, d=None)`` for ONE
example (X (m, p), mask (m,)):

* latent sites of any names and shapes (``W = numpyro.sample("W", ...)``), whose
  distributions are the prior when ``theta_prev`` is None and the transition given their
  previous values otherwise; ``theta_prev`` is a dict of those values by site name (the
  array itself when the only site is called ``"theta"``, the packed form). A site whose
  distribution does not depend on ``theta_prev`` is *static* (a noise scale, a prior scale):
  it keeps its value from step to step and is learnt, never redrawn. A declaration
  ``model(X, mask, d=None)`` without ``theta_prev`` has static sites only (q = 0);
* an observed site ``"d"`` for the scalar label, whose distribution's mean is the regression
  output f(theta, X).

The kernels see one flat vector theta (see :mod:`bayeslstm.model.sites`): the sites raveled
in sorted name order, constrained ones in unconstrained coordinates.

:func:`read_model` goes in four steps, each a function of the previous ones' results:
it reads the sites' names, shapes and supports from an abstract trace of the prior
(:func:`~bayeslstm.model.sites.declaration_structure`); traces the prior, the transition and
the label around one prior draw in one compiled program (:func:`probe_declaration`); tells
from that what each site does (:func:`classify_sites`: static or moving, setting the label's
mean or its variance), whether the transition is a Gaussian random walk and the prior's
moments; and assembles the :class:`StateSpace`: samplers for the prior and transition, the
observation distribution, and, where the declaration is Gaussian, the moments the EKF needs.
NumPyro's handlers (``seed``, ``trace``, ``substitute``) do the tracing. Nothing about the
LSTM is hard-wired: any model in this form runs with every kernel.

Two speed-ups keep the numbers of the plain paths (see docs/performance.md):

* a Gaussian random walk draws its noise with :func:`bayeslstm.model.noise.random_walk_noise`,
  bit for bit ``jax.random.normal`` but with the Threefry rounds unrolled;
* :meth:`StateSpace.observe_particles` runs the particles in blocks of ``particle_block``
  (a ``vmap`` per block; 256 on the CPU by default) so that a block's weights stay in cache
  through the recurrence, instead of one ``vmap`` over all N whose weights are streamed from
  memory at every step.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from jax import Array
from jax.flatten_util import ravel_pytree
from jax.typing import ArrayLike
from numpyro import handlers
from numpyro.infer.util import log_density

from ..errors import ModelError
from .layout import ParamLayout
from .noise import random_walk_noise
from .sites import (  # noqa: F401  (FORM, trace_declaration: importable from here as before)
    FORM,
    LABEL,
    THETA,
    Runner,
    Site,
    Structure,
    as_dict,
    declaration_form,
    declaration_runner,
    declaration_structure,
    named_blocks,
    normal_moments,
    pack,
    to_support,
    trace_declaration,
    unpack,
)

# XLA options for programs that run once on one example: about half the compile time
ONE_OFF = {"xla_backend_optimization_level": 0}
PROBE_OFFSET = 0.37  # moves every unconstrained coordinate to tell what depends on what
MOMENT_DRAWS = 4096  # prior draws for moments of non-Gaussian priors (unconstrained coordinates)


class StateSpace(NamedTuple):
    """What the kernels read from a declaration. Callables are pure and jit/vmap-able."""

    model: Callable
    dim: int
    layout: ParamLayout
    sample_prior: Callable[[Array], Array]
    sample_transition: Callable[[Array, Array], Array]
    observation: Callable[[Array, Array, Array], dist.Distribution]
    prior_mean: Array | None
    prior_var: Array | None
    transition_var: Array | None  # diagonal q of a Gaussian random walk, else None
    obs_var: Array | None  # r of a Gaussian label that no latent site sets, else None
    particle_block: int | str | None = "auto"  # particles per block in observe_particles; None: one vmap
    sites: tuple[Site, ...] = ()
    values: Callable[[Array], Any] | None = None  # theta -> the sites' values (a dict; the array for "theta")
    pack: Callable[[dict], Array] | None = None  # the sites' values by name -> theta
    label_var: Callable[[Array], Array] | None = None  # theta -> the label's variance (a Normal label)
    label_var_prior: tuple[float, float] | None = None  # inverse-gamma (shape, rate) of the label variance

    @property
    def static_index(self) -> np.ndarray:
        """Entries of theta that belong to static sites."""
        return np.concatenate([s.index for s in self.sites if s.static] or [np.zeros(0, np.int64)])

    @property
    def noise_sites(self) -> tuple[Site, ...]:
        """Sites that set the label's variance."""
        return tuple(s for s in self.sites if s.affects_variance)

    def mean(self, theta: Array, X: Array, mask: Array) -> Array:
        """Regression output f(theta, X): the mean of the label's distribution."""
        return self.observation(theta, X, mask).mean

    def observe(self, theta: Array, X: Array, mask: Array, d: Array) -> tuple[Array, Array]:
        """(f(theta, X), log p(d | theta, X)) from a single trace of the declaration."""
        fn = self.observation(theta, X, mask)
        return fn.mean, fn.log_prob(d)

    def observe_particles(self, particles: Array, X: Array, mask: Array, d: Array) -> tuple[Array, Array, Array]:
        """Mean, variance and log p(d_b | theta_i, X_b) of B examples (X (B, m, p), mask (B, m),
        d (B,)) under N particles (N, dim): three (N, B) arrays.

        The particles go in at most :data:`MAX_BLOCKS` blocks of about ``particle_block``, each
        a ``vmap`` of the declaration's trace; the numbers are those of one ``vmap`` over all
        (``particle_block=None``). Blocking pays on the CPU, where one particle's LSTM weights
        (6 KB for n = 16) times N no longer fit in cache; measured in benchmarks/speed.py (blocks
        of 128 ran a little faster than 256 but compiled 1.7 times longer).
        """

        def one(theta):
            def entry(X_, mask_, d_):
                fn = self.observation(theta, X_, mask_)
                return fn.mean, fn.variance, fn.log_prob(d_)

            return jax.vmap(entry)(X, mask, d)

        spans = particle_blocks(particles.shape[0], self.particle_block)
        parts = [jax.vmap(one)(particles[start:stop]) for start, stop in spans]
        if len(parts) == 1:
            return parts[0]
        means, variances, log_probs = (jnp.concatenate(p) for p in zip(*parts))
        return means, variances, log_probs

    def propagate(self, key: Array, particles: Array) -> Array:
        """Draw theta_t for every row of ``particles`` (N, dim) from the transition."""
        if self.sites and all(s.static for s in self.sites):  # static weights: nothing moves
            return particles
        if self.transition_var is not None:  # Gaussian random walk: one batched draw
            noise = random_walk_noise(key, particles.shape, particles.dtype)
            return particles + jnp.sqrt(self.transition_var).astype(particles.dtype) * noise
        keys = jax.random.split(key, particles.shape[0])
        return jax.vmap(self.sample_transition)(keys, particles)


MAX_BLOCKS = 8  # each block is its own copy of the per-particle program: bounds compile time


CPU_PARTICLE_BLOCK = 256  # what particle_block="auto" means on the CPU


def particle_blocks(count: int, block: int | str | None, max_blocks: int = MAX_BLOCKS) -> list[tuple[int, int]]:
    """(start, stop) of near-equal blocks of about ``block`` particles (at most ``max_blocks``).

    ``"auto"``: blocks of :data:`CPU_PARTICLE_BLOCK` on the CPU, one block elsewhere (a GPU is
    bound by the latency of the recurrence's steps, which blocks would multiply; unmeasured).
    """
    if block == "auto":
        block = CPU_PARTICLE_BLOCK if jax.default_backend() == "cpu" else None
    if block is not None and (isinstance(block, bool) or not isinstance(block, int) or block < 1):
        raise ValueError(f"particle_block must be a positive integer, 'auto' or None; got {block!r}")
    if block is None or count <= block:
        return [(0, count)]
    pieces = min(-(-count // block), max_blocks)
    size = -(-count // pieces)  # 1000 particles at 256 go as 4 x 250, not 3 x 256 + 232
    return [(start, min(start + size, count)) for start in range(0, count, size)]


class Probe(NamedTuple):
    """What one compiled pass over the declaration finds, on one example (arrays only)."""

    theta: Array  # a prior draw moved by PROBE_OFFSET in every unconstrained coordinate
    static: list[Array] | None  # per site: the transition leaves it unchanged (None: static form)
    step: list[tuple[Array, Array] | None] | None  # per site: (loc, var) of its transition from ``theta``
    label_mean: list[Array]  # the label's mean at the prior draw, then with each site moved alone
    label_var: list[Array] | None  # the same for its variance (None: the label is not Normal)
    prior_fixed: list[Array]  # per site: a Normal prior whose moments do not depend on other sites
    prior: tuple[Array, Array]  # the prior's mean and variance in theta
    prior_draws: Array | None  # the draws they came from, if by Monte Carlo


def probe_transition(run: Runner, structure: Structure, X: Array, mask: Array, theta0: Array) -> tuple[list, list]:
    """Per site: does the transition leave it unchanged, and its transition's (loc, var) from a
    moved point (None where it is not Normal)."""
    step = run(1, X, mask, prev=unpack(structure, theta0 + PROBE_OFFSET))
    if any(step[n]["value"].shape != shape for n, shape in zip(structure.names, structure.shapes)):
        raise ModelError("the transition of a latent site changes its shape")
    still = run(1, X, mask, prev=unpack(structure, theta0))
    static = [jnp.all(step[n]["value"] == still[n]["value"]) for n in structure.names]
    return static, [normal_moments(step[n]["fn"], shape) for n, shape in zip(structure.names, structure.shapes)]


def probe_label(run: Runner, structure: Structure, X: Array, mask: Array, theta0: Array) -> list[dist.Distribution]:
    """The label's distribution at ``theta0``, then with each site moved alone, on a random input
    (a zero input can hide a weight)."""
    X_probe = jax.random.normal(jax.random.key(3), X.shape, X.dtype)
    labels = [run(0, X_probe, mask, values=as_dict(structure, unpack(structure, theta0)))[LABEL]["fn"]]
    layout = structure.layout
    for start, shape in zip(layout.offsets, layout.shapes):
        offset = jnp.zeros_like(theta0).at[start:start + math.prod(shape)].set(PROBE_OFFSET)
        labels.append(run(0, X_probe, mask, values=as_dict(structure, unpack(structure, theta0 + offset)))[LABEL]["fn"])
    return labels


def prior_draw(run: Runner, structure: Structure, X: Array, mask: Array) -> Callable[[Array], Array]:
    """key -> theta drawn from the declaration's prior."""
    return lambda key: pack(structure, {n: v["value"] for n, v in run(key, X, mask).items() if n in structure.names})


def moment_keys() -> Array:
    """The keys of the :data:`MOMENT_DRAWS` prior draws that moments are estimated from."""
    return jax.random.split(jax.random.key(2), MOMENT_DRAWS)


def probe_prior(run: Runner, structure: Structure, X: Array, mask: Array, prior: dict) -> tuple[list, tuple, Array | None]:
    """Per site: a Normal prior with moments fixed (the same on another draw of the other sites);
    the prior's mean and variance in theta, and the draws if they were found by Monte Carlo."""
    names, shapes = structure.names, structure.shapes
    moments = [normal_moments(prior[n]["fn"], shape) for n, shape in zip(names, shapes)]
    other = run(5, X, mask)  # another draw: do the prior's moments depend on other sites' values?
    others = [normal_moments(other[n]["fn"], shape) for n, shape in zip(names, shapes)]
    fixed = [jnp.asarray(a is not None and b is not None and jnp.all(a[0] == b[0]) & jnp.all(a[1] == b[1]))
             for a, b in zip(moments, others)]
    known = [m for m in moments if m is not None]
    if len(known) < len(moments) or any(to_support(s) is not None for s in structure.supports):
        draws = jax.vmap(prior_draw(run, structure, X, mask))(moment_keys())
        return fixed, (jnp.mean(draws, axis=0), jnp.var(draws, axis=0)), draws
    if structure.single:
        return fixed, known[0], None
    return fixed, (pack(structure, {n: m[0] for n, m in zip(names, known)}),
                   ravel_pytree({n: m[1] for n, m in zip(names, known)})[0]), None


def probe_declaration(run: Runner, structure: Structure, form: str, X: Array, mask: Array) -> Probe:
    """Trace the declaration's prior, transition and label around one prior draw, in one
    program compiled for speed of compilation (it runs once)."""

    def probe(X, mask):  # traced once under jit: no op-by-op execution of the network
        prior = run(0, X, mask)
        theta0 = pack(structure, {n: prior[n]["value"] for n in structure.names})
        static, step = probe_transition(run, structure, X, mask, theta0) if form == "transition" else (None, None)
        labels = probe_label(run, structure, X, mask, theta0)
        gaussian_label = normal_moments(labels[0], ()) is not None
        fixed, moments, draws = probe_prior(run, structure, X, mask, prior)
        return Probe(theta0 + PROBE_OFFSET, static, step, [fn.mean for fn in labels],
                     [fn.variance for fn in labels] if gaussian_label else None, fixed, moments, draws)

    return jax.jit(probe, compiler_options=ONE_OFF)(X, mask)


def traced(fn: Callable, *args) -> Any:
    """``fn(*args)``, with an error of the user's code reported in terms of the declaration."""
    try:
        return fn(*args)
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(f"tracing the declaration failed: {type(exc).__name__}: {exc}") from exc


def classify_sites(structure: Structure, probe: Probe) -> tuple[Site, ...]:
    """Each latent site: where it sits in theta, whether it moves, and what of the label it sets."""
    static = [True] * len(structure.names) if probe.static is None else [bool(v) for v in probe.static]
    means = [np.asarray(m) for m in probe.label_mean]
    variances = None if probe.label_var is None else [np.asarray(v) for v in probe.label_var]
    return tuple(
        Site(n, shape, start, static[i], support,
             affects_mean=not np.allclose(means[i + 1], means[0], rtol=1e-6, atol=0),
             affects_variance=variances is not None and not np.allclose(variances[i + 1], variances[0], rtol=1e-6, atol=0))
        for i, (n, shape, start, support) in enumerate(zip(structure.names, structure.shapes, structure.layout.offsets,
                                                           structure.supports))
    )


def transition_variance(structure: Structure, probe: Probe, sites: tuple[Site, ...]) -> Array | None:
    """The diagonal q when every moving site is a Gaussian random walk (zeros for static sites)."""
    dtype = probe.theta.dtype
    if probe.step is None:  # the static form: nothing moves
        return jnp.zeros(structure.dim, dtype)
    at = unpack(structure, probe.theta)
    walks = [step is not None and bool(np.allclose(step[0], np.asarray(at if structure.single else at[n])))
             for n, step in zip(structure.names, probe.step)]
    if not all(walk or site.static for walk, site in zip(walks, sites)):
        return None
    # a moving site's step is a walk's (loc, var) here: step is None only for static sites
    return jnp.concatenate([jnp.zeros(site.size, dtype) if site.static or step is None else jnp.ravel(step[1])
                            for site, step in zip(sites, probe.step)])


def prior_moments(run: Runner, structure: Structure, probe: Probe, X: Array, mask: Array) -> tuple[tuple, bool]:
    """The prior's (mean, var) in theta, and whether it is a Gaussian with those moments
    (hierarchical Gaussian priors get their moments by Monte Carlo)."""
    gaussian = all(bool(v) for v in probe.prior_fixed) and probe.prior_draws is None
    if gaussian or probe.prior_draws is not None:
        return probe.prior, gaussian
    draws = jax.jit(jax.vmap(prior_draw(run, structure, X, mask)))(moment_keys())
    return (jnp.mean(draws, axis=0), jnp.var(draws, axis=0)), False


class Samplers(NamedTuple):
    """The declaration's pure functions of theta, as the kernels call them."""

    sample_prior: Callable[[Array], Array]
    sample_transition: Callable[[Array, Array], Array]
    observation: Callable[[Array, Array, Array], dist.Distribution]
    label_var: Callable[[Array], Array]  # theta -> the label's variance on the example traced


def samplers(run: Runner, structure: Structure, sites: tuple[Site, ...], prior: tuple, gaussian_prior: bool,
             X: Array, mask: Array) -> Samplers:
    """Draws from the prior and the transition, and the label's distribution given theta."""
    draw = prior_draw(run, structure, X, mask)

    def sample_prior(key: Array) -> Array:
        if gaussian_prior and not structure.single:  # one draw for every site, as the packed form takes it
            eps = jax.random.normal(jax.random.split(key)[1], (structure.dim,), prior[0].dtype)
            return prior[0] + eps * jnp.sqrt(prior[1])
        return draw(key)

    def sample_transition(key: Array, theta_prev: Array) -> Array:
        trace = run(key, X, mask, prev=unpack(structure, theta_prev))
        if structure.single:
            return theta_prev if sites[0].static else trace[THETA]["value"]
        kept = as_dict(structure, unpack(structure, theta_prev))
        return pack(structure, {s.name: kept[s.name] if s.static else trace[s.name]["value"] for s in sites})

    def observation(theta: Array, X_: Array, mask_: Array) -> dist.Distribution:
        return run(0, X_, mask_, values=as_dict(structure, unpack(structure, theta)))[LABEL]["fn"]

    def label_var(theta: Array) -> Array:
        return observation(theta, X, mask).variance

    return Samplers(sample_prior, sample_transition, observation, label_var)


def label_variance_prior(probe: Probe, fns: Samplers) -> tuple[float, float]:
    """The label variance's prior as an inverse gamma (shape, rate), matched to its prior moments."""
    draws = probe.prior_draws
    if draws is None:
        draws = jax.jit(jax.vmap(fns.sample_prior))(moment_keys())
    values = np.asarray(jax.jit(jax.vmap(fns.label_var))(draws), np.float64)
    mean, var = float(values.mean()), float(values.var())
    shape = float(np.clip(mean**2 / max(var, 1e-30) + 2.0, 2.01, 1e4))
    return shape, mean * (shape - 1.0)


def report_layout(structure: Structure, blocks: ParamLayout | None) -> ParamLayout:
    """The names and shapes reports give theta's blocks (``blocks``: the declaration's own)."""
    if not structure.single:
        return named_blocks(structure.layout, blocks)
    layout = blocks or ParamLayout((THETA,), ((structure.dim,),), dims=structure.dims if any(structure.dims or ()) else None)
    if layout.size != structure.dim:
        raise ModelError(f"the layout describes {layout.size} parameters but '{THETA}' has {structure.dim}")
    return layout


def read_model(model: Callable, X: ArrayLike, mask: ArrayLike, layout: ParamLayout | None = None) -> StateSpace:
    """Trace ``model`` on one example sequence and return its :class:`StateSpace`.

    ``X``/``mask`` only fix the shapes used for tracing. Raises ModelError with a
    description of the expected form when the declaration does not follow it.
    """
    form = declaration_form(model)
    X, mask = jnp.asarray(X), jnp.asarray(mask)
    run = declaration_runner(model, form)
    structure = traced(declaration_structure, run, X, mask)
    probe = traced(probe_declaration, run, structure, form, X, mask)
    layout = report_layout(structure, layout or getattr(model, "layout", None))
    sites = classify_sites(structure, probe)
    prior, gaussian_prior = prior_moments(run, structure, probe, X, mask)
    fns = samplers(run, structure, sites, prior, gaussian_prior, X, mask)
    noise = any(s.affects_variance for s in sites)
    normal_label = probe.label_var is not None
    return StateSpace(
        model=model,
        dim=structure.dim,
        layout=layout,
        sample_prior=fns.sample_prior,
        sample_transition=fns.sample_transition,
        observation=fns.observation,
        prior_mean=prior[0],
        prior_var=prior[1],
        transition_var=transition_variance(structure, probe, sites),
        obs_var=jnp.asarray(np.asarray(probe.label_var[0])) if normal_label and not noise else None,
        sites=sites,
        values=partial(unpack, structure),
        pack=partial(pack, structure),
        label_var=fns.label_var if normal_label else None,
        label_var_prior=label_variance_prior(probe, fns) if noise and normal_label else None,
    )


def log_likelihood(ssm: StateSpace, theta: Array, X: Array, mask: Array, d: Array) -> Array:
    """log p(d | theta, X) through ``numpyro.infer.util.log_density`` (the latent sites' own
    terms hidden; any ``numpyro.factor`` of the declaration counts)."""
    if ssm.values is None:
        raise ModelError("log_likelihood needs the StateSpace's values (theta -> the sites' values); it has none")
    values = ssm.values(theta)
    names = [site.name for site in ssm.sites]
    data = values if isinstance(values, dict) else {THETA: values}
    conditioned = handlers.block(handlers.substitute(ssm.model, data=data), hide=names)
    with handlers.block():  # keep the inner run's sites out of any enclosing NumPyro context
        value, _ = log_density(conditioned, (X, mask), {"d": d}, {})
    return value


def is_declaration(fn: Callable) -> bool:
    """True for a declaration (it takes the label ``d``); False for a factory."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return True
    return "d" in params
