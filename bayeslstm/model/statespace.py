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

The kernels see one flat vector theta: the sites raveled in sorted name order
(``jax.flatten_util.ravel_pytree``), static sites with a constrained support (a positive
scale, say) in unconstrained coordinates (``biject_to``), so that Gaussian filters and
kernel moves act on the real line. :class:`Site` records each site's place, support and
whether it moves the label's mean or its variance.

:func:`read_model` traces the declaration with NumPyro's handlers (``seed``, ``trace``,
``substitute``) and returns a :class:`StateSpace`: samplers for the prior and transition,
the observation distribution, and, where the declaration is Gaussian, the moments the EKF
needs. Nothing about the LSTM is hard-wired: any model in this form runs with every kernel.

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
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from jax import Array
from jax.flatten_util import ravel_pytree
from numpyro import handlers
from numpyro.distributions.transforms import biject_to
from numpyro.infer.util import log_density

from ..errors import ModelError
from .layout import ParamLayout, unflatten
from .noise import random_walk_noise

THETA = "theta"
LABEL = "d"

# XLA options for programs that run once on one example: about half the compile time
ONE_OFF = {"xla_backend_optimization_level": 0}
PROBE_OFFSET = 0.37  # moves every unconstrained coordinate to tell what depends on what
MOMENT_DRAWS = 4096  # prior draws for moments of non-Gaussian priors (unconstrained coordinates)


class Site(NamedTuple):
    """One latent site of a declaration and its place in the flat vector theta."""

    name: str
    shape: tuple[int, ...]
    start: int  # first entry in theta
    static: bool  # its distribution does not depend on theta_prev: carried unchanged, learnt
    support: Any  # a NumPyro constraint; theta holds unconstrained values where it is not real
    affects_mean: bool  # changes the label's mean
    affects_variance: bool  # changes the label's variance (a noise site)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def index(self) -> np.ndarray:
        """Its entries in theta."""
        return np.arange(self.start, self.start + self.size)


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
        return parts[0] if len(parts) == 1 else tuple(jnp.concatenate(p) for p in zip(*parts))

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


def trace_declaration(model: Callable, key, *args, **kwargs) -> dict:
    """Trace one run of ``model``, invisible to any enclosing NumPyro handler (e.g. NUTS)."""
    with handlers.block():
        return handlers.trace(handlers.seed(model, key)).get_trace(*args, **kwargs)


FORM = ("a declaration is model(X, mask, theta_prev=None, d=None): latent sites with their prior (theta_prev is "
        "None) and transition (theta_prev: their previous values), and the label site 'd'; or model(X, mask, "
        "d=None) when every latent site is static")


def declaration_form(model: Callable) -> str:
    """``"transition"`` (it takes ``theta_prev``) or ``"static"`` (it does not); a ModelError
    saying which forms are expected for anything else."""
    try:
        params = inspect.signature(model).parameters
    except (TypeError, ValueError):
        return "transition"
    name = getattr(model, "__name__", repr(model))
    if "d" not in params:
        raise ModelError(f"{FORM}; {name!r} takes ({', '.join(params)}), with no 'd'. If it is a factory, call it "
                         "first (for example lstm_regression(features=4)); if it is a plain NumPyro model, name "
                         "its label argument and site 'd' and give it the mask argument")
    positional = [p for p in params.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name != "d"]
    if len(positional) < 2 and not any(p.kind == p.VAR_POSITIONAL for p in params.values()):
        raise ModelError(f"{FORM}; {name!r} takes ({', '.join(params)}): it needs X and mask before d")
    return "transition" if "theta_prev" in params else "static"


def _moments(fn: dist.Distribution, shape: tuple[int, ...]) -> tuple[Array, Array] | None:
    """(loc, var) broadcast to ``shape`` if ``fn`` is a (possibly Independent) Normal or a Delta."""
    base = fn.base_dist if isinstance(fn, dist.Independent) else fn
    if isinstance(base, dist.Delta):
        return jnp.broadcast_to(base.v, shape), jnp.zeros(shape, jnp.result_type(base.v))
    if not isinstance(base, dist.Normal):
        return None
    return jnp.broadcast_to(base.loc, shape), jnp.broadcast_to(base.scale**2, shape)


def _unconstrained(support) -> Callable | None:
    """The bijection to a site's support, or None for a real-valued site."""
    return None if support is dist.constraints.real or getattr(support, "base_constraint", None) is dist.constraints.real \
        else biject_to(support)


def _named_blocks(sites: ParamLayout, blocks: ParamLayout | None) -> ParamLayout:
    """The sites' layout, with a packed site ``theta`` split into the blocks a declaration's
    ``layout`` attribute names (so reports keep W_i, R_f... beside the other sites)."""
    if blocks is None or THETA not in sites.names:
        return sites
    at = sites.names.index(THETA)
    if math.prod(sites.shapes[at]) != blocks.size:
        raise ModelError(f"the layout describes {blocks.size} parameters but '{THETA}' has {math.prod(sites.shapes[at])}")
    supports = sites.supports or (None,) * len(sites.names)
    return ParamLayout(sites.names[:at] + blocks.names + sites.names[at + 1:],
                       sites.shapes[:at] + blocks.shapes + sites.shapes[at + 1:],
                       supports[:at] + (None,) * len(blocks.names) + supports[at + 1:])


def read_model(model: Callable, X: Array, mask: Array, layout: ParamLayout | None = None) -> StateSpace:
    """Trace ``model`` on one example sequence and return its :class:`StateSpace`.

    ``X``/``mask`` only fix the shapes used for tracing. Raises ModelError with a
    description of the expected form when the declaration does not follow it.
    """
    form = declaration_form(model)
    X = jnp.asarray(X)
    mask = jnp.asarray(mask)
    found: dict[str, Any] = {}

    def run(key, X_, mask_, prev=None, substitute=None):
        fn = model if substitute is None else handlers.substitute(model, data=substitute)
        if form == "static":
            return trace_declaration(fn, key, X_, mask_)
        return trace_declaration(fn, key, X_, mask_, theta_prev=prev)

    def structure(prior: dict) -> None:
        """Names, shapes and supports of the latent sites, checked (Python side, while tracing)."""
        if LABEL not in prior or prior[LABEL]["type"] != "sample":
            raise ModelError(f"the declaration has no sample site {LABEL!r} for the label; {FORM}")
        if jnp.shape(prior[LABEL]["value"]) != ():
            raise ModelError(f"site '{LABEL}' must be a scalar label; got shape {jnp.shape(prior[LABEL]['value'])}")
        names = sorted(n for n, site in prior.items() if site["type"] == "sample" and n != LABEL and not site["is_observed"])
        if not names:
            raise ModelError(f"the declaration has no latent sample site (nothing to learn); {FORM}")
        supports = {n: prior[n]["fn"].support for n in names}
        for n in names:
            bijection = _unconstrained(supports[n])
            value = prior[n]["value"]
            if bijection is not None and jnp.shape(bijection.inv(value)) != jnp.shape(value):
                raise ModelError(f"site {n!r} has support {supports[n]}, whose unconstrained form changes its "
                                 "shape; only elementwise supports (real, positive, intervals) are read")
        found.update(names=names, shapes={n: tuple(jnp.shape(prior[n]["value"])) for n in names},
                     supports=supports, single=names == [THETA])
        if found["single"] and len(found["shapes"][THETA]) != 1:
            raise ModelError(f"site '{THETA}' must be a flat vector (use .to_event(1)); got shape {found['shapes'][THETA]}")

    def pack(values: dict) -> Array:
        """Site values -> flat theta (unconstrained coordinates for constrained sites)."""
        if found["single"]:
            return values[THETA]
        free = {}
        for n in found["names"]:
            bijection = _unconstrained(found["supports"][n])
            free[n] = values[n] if bijection is None else bijection.inv(values[n])
        return ravel_pytree(free)[0]

    def unpack(theta: Array) -> Any:
        """Flat theta -> the sites' values (the array itself for the packed form)."""
        if found["single"]:
            return theta
        blocks = unflatten(found["layout"], theta)
        return {n: v if _unconstrained(found["supports"][n]) is None else _unconstrained(found["supports"][n])(v)
                for n, v in blocks.items()}

    def as_dict(values) -> dict:
        return {THETA: values} if found["single"] else values

    def probe(X, mask):  # traced once under jit: no op-by-op execution of the network
        prior = run(0, X, mask)
        structure(prior)
        names = found["names"]
        found["layout"] = ParamLayout(tuple(names), tuple(found["shapes"][n] for n in names),
                                      tuple(None if _unconstrained(found["supports"][n]) is None else found["supports"][n]
                                            for n in names))
        theta0 = pack({n: prior[n]["value"] for n in names})
        found["dim"] = int(theta0.shape[0])
        moved = unpack(theta0 + PROBE_OFFSET)
        out = {"probe": theta0 + PROBE_OFFSET}
        if form == "transition":
            step = run(1, X, mask, prev=moved)
            if any(step[n]["value"].shape != prior[n]["value"].shape for n in names):
                raise ModelError("the transition of a latent site changes its shape")
            still = run(1, X, mask, prev=unpack(theta0))
            out["static"] = [jnp.all(step[n]["value"] == still[n]["value"]) for n in names]
            out["step"] = [_moments(step[n]["fn"], found["shapes"][n]) for n in names]
        # each site moved alone, on a random input (a zero input can hide a weight): what does it change?
        X_probe = jax.random.normal(jax.random.key(3), X.shape, X.dtype)
        labels = [run(0, X_probe, mask, substitute=as_dict(unpack(theta0)))[LABEL]["fn"]]
        for site in found["layout"].names:
            offset = jnp.zeros_like(theta0)
            start = found["layout"].offsets[found["layout"].names.index(site)]
            offset = offset.at[start:start + math.prod(found["shapes"][site])].set(PROBE_OFFSET)
            labels.append(run(0, X_probe, mask, substitute=as_dict(unpack(theta0 + offset)))[LABEL]["fn"])
        out["label_mean"] = [fn.mean for fn in labels]
        gaussian_label = _moments(labels[0], ()) is not None
        found["gaussian_label"] = gaussian_label
        out["label_var"] = [fn.variance for fn in labels] if gaussian_label else None
        prior_moments = [_moments(prior[n]["fn"], found["shapes"][n]) for n in names]
        other = run(5, X, mask)  # another draw: do the prior's moments depend on other sites' values?
        other_moments = [_moments(other[n]["fn"], found["shapes"][n]) for n in names]
        out["prior_fixed"] = [a is not None and b is not None and jnp.all(a[0] == b[0]) & jnp.all(a[1] == b[1])
                              for a, b in zip(prior_moments, other_moments)]
        out["prior_fixed"] = [jnp.asarray(v) for v in out["prior_fixed"]]
        if any(m is None for m in prior_moments) or any(_unconstrained(found["supports"][n]) is not None for n in names):
            draws = jax.vmap(lambda k: pack({n: v["value"] for n, v in run(k, X, mask).items() if n in names}))(
                jax.random.split(jax.random.key(2), MOMENT_DRAWS))
            out["prior"] = (jnp.mean(draws, axis=0), jnp.var(draws, axis=0))
            out["prior_draws"] = draws
        elif found["single"]:
            out["prior"] = prior_moments[0]
        else:
            out["prior"] = (pack({n: m[0] for n, m in zip(names, prior_moments)}),
                            ravel_pytree({n: m[1] for n, m in zip(names, prior_moments)})[0])
        return out

    try:  # run once on one example: compiled for speed of compilation, not of execution
        moments = jax.jit(probe, compiler_options=ONE_OFF)(X, mask)
    except ModelError:
        raise
    except Exception as exc:  # user code: report it in terms of the declaration
        raise ModelError(f"tracing the declaration failed: {type(exc).__name__}: {exc}") from exc
    dim, names, shapes = found["dim"], found["names"], found["shapes"]
    blocks = layout or getattr(model, "layout", None)
    if found["single"]:
        layout = blocks or ParamLayout((THETA,), ((dim,),))
        if layout.size != dim:
            raise ModelError(f"the layout describes {layout.size} parameters but '{THETA}' has {dim}")
    else:
        layout = _named_blocks(found["layout"], blocks)
    static = [True] * len(names) if form == "static" else [bool(v) for v in moments["static"]]
    means = [np.asarray(m) for m in moments["label_mean"]]
    variances = None if moments["label_var"] is None else [np.asarray(v) for v in moments["label_var"]]
    offsets = found["layout"].offsets
    sites = tuple(
        Site(n, shapes[n], offsets[i], static[i], found["supports"][n],
             affects_mean=not np.allclose(means[i + 1], means[0], rtol=1e-6, atol=0),
             affects_variance=variances is not None and not np.allclose(variances[i + 1], variances[0], rtol=1e-6, atol=0))
        for i, n in enumerate(names)
    )
    transition_var = None
    if form == "static":
        transition_var = jnp.zeros(dim, moments["probe"].dtype)
    else:
        walks = [step is not None and bool(np.allclose(step[0], np.asarray(unpack(moments["probe"]) if found["single"]
                                                                             else unpack(moments["probe"])[n])))
                 for n, step in zip(names, moments["step"])]
        if all(walk or site.static for walk, site in zip(walks, sites)):
            transition_var = jnp.concatenate([jnp.zeros(site.size, moments["probe"].dtype) if site.static
                                              else jnp.ravel(step[1]) for site, step in zip(sites, moments["step"])])
    prior = moments["prior"]
    gaussian_prior = all(bool(v) for v in moments["prior_fixed"]) and "prior_draws" not in moments
    if not gaussian_prior and "prior_draws" not in moments:  # hierarchical Gaussian priors: moments by Monte Carlo
        draws = jax.jit(jax.vmap(lambda k: pack({n: v["value"] for n, v in run(k, X, mask).items() if n in names})))(
            jax.random.split(jax.random.key(2), MOMENT_DRAWS))
        prior = (jnp.mean(draws, axis=0), jnp.var(draws, axis=0))
    noise = [s for s in sites if s.affects_variance]
    obs_var = None if variances is None or noise else jnp.asarray(variances[0])

    def sample_prior(key: Array) -> Array:
        if gaussian_prior and not found["single"]:  # one draw for every site, as the packed form takes it
            eps = jax.random.normal(jax.random.split(key)[1], (dim,), prior[0].dtype)
            return prior[0] + eps * jnp.sqrt(prior[1])
        trace = run(key, X, mask)
        return pack({n: trace[n]["value"] for n in names})

    def sample_transition(key: Array, theta_prev: Array) -> Array:
        trace = run(key, X, mask, prev=unpack(theta_prev))
        if found["single"]:
            return theta_prev if sites[0].static else trace[THETA]["value"]
        kept = as_dict(unpack(theta_prev))
        return pack({s.name: kept[s.name] if s.static else trace[s.name]["value"] for s in sites})

    def observation(theta: Array, X_: Array, mask_: Array) -> dist.Distribution:
        return run(0, X_, mask_, substitute=as_dict(unpack(theta)))[LABEL]["fn"]

    def label_var(theta: Array) -> Array:
        return observation(theta, X, mask).variance

    label_prior = None
    if noise and variances is not None:  # the label variance's prior, as an inverse gamma (moment matched)
        draws = moments.get("prior_draws")
        if draws is None:
            draws = jax.jit(jax.vmap(sample_prior))(jax.random.split(jax.random.key(2), MOMENT_DRAWS))
        values = np.asarray(jax.jit(jax.vmap(label_var))(draws), np.float64)
        mean, var = float(values.mean()), float(values.var())
        shape = float(np.clip(mean**2 / max(var, 1e-30) + 2.0, 2.01, 1e4))
        label_prior = (shape, mean * (shape - 1.0))

    return StateSpace(
        model=model,
        dim=dim,
        layout=layout,
        sample_prior=sample_prior,
        sample_transition=sample_transition,
        observation=observation,
        prior_mean=None if prior is None else prior[0],
        prior_var=None if prior is None else prior[1],
        transition_var=transition_var,
        obs_var=obs_var,
        sites=sites,
        values=unpack,
        pack=pack,
        label_var=label_var if variances is not None else None,
        label_var_prior=label_prior,
    )


def log_likelihood(ssm: StateSpace, theta: Array, X: Array, mask: Array, d: Array) -> Array:
    """log p(d | theta, X) through ``numpyro.infer.util.log_density`` (the latent sites' own
    terms hidden; any ``numpyro.factor`` of the declaration counts)."""
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
