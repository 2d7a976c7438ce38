"""Read a NumPyro state-space declaration into what the kernels need.

The declaration form is a NumPyro model ``model(X, mask, theta_prev=None, d=None)`` for ONE
example (X (m, p), mask (m,)):

* a latent site ``"theta"`` whose distribution is the prior when ``theta_prev`` is None and
  the transition p(theta_t | theta_prev) otherwise;
* an observed site ``"d"`` for the scalar label, whose distribution's mean is the regression
  output f(theta, X).

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
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from jax import Array
from numpyro import handlers
from numpyro.infer.util import log_density

from ..errors import ModelError
from .layout import ParamLayout
from .noise import random_walk_noise

THETA = "theta"
LABEL = "d"

# XLA options for programs that run once on one example: about half the compile time
ONE_OFF = {"xla_backend_optimization_level": 0}


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
    obs_var: Array | None  # r of a Gaussian label, else None
    particle_block: int | str | None = "auto"  # particles per block in observe_particles; None: one vmap

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


def _gaussian_moments(fn: dist.Distribution, dim: int) -> tuple[Array, Array] | None:
    """(loc, var) broadcast to (dim,) if ``fn`` is a (possibly Independent) Normal or a Delta."""
    base = fn.base_dist if isinstance(fn, dist.Independent) else fn
    if isinstance(base, dist.Delta):
        return jnp.broadcast_to(base.v, (dim,)), jnp.zeros((dim,), jnp.result_type(base.v))
    if not isinstance(base, dist.Normal):
        return None
    return jnp.broadcast_to(base.loc, (dim,)), jnp.broadcast_to(base.scale**2, (dim,))


def _call_signature_check(model: Callable) -> None:
    try:
        params = inspect.signature(model).parameters
    except (TypeError, ValueError):
        return
    if "theta_prev" not in params or "d" not in params:
        raise ModelError(
            "a state-space declaration must be model(X, mask, theta_prev=None, d=None); "
            f"{getattr(model, '__name__', model)!r} takes ({', '.join(params)}). "
            "If it is a factory, call it first (for example lstm_regression(features=4))."
        )


def read_model(model: Callable, X: Array, mask: Array, layout: ParamLayout | None = None) -> StateSpace:
    """Trace ``model`` on one example sequence and return its :class:`StateSpace`.

    ``X``/``mask`` only fix the shapes used for tracing. Raises ModelError with a
    description of the expected form when the declaration does not follow it.
    """
    _call_signature_check(model)
    X = jnp.asarray(X)
    mask = jnp.asarray(mask)
    found: dict[str, Any] = {}

    def probe(X, mask):  # traced once under jit: no op-by-op execution of the network
        prior_trace = trace_declaration(model, 0, X, mask)
        for site in (THETA, LABEL):
            if site not in prior_trace or prior_trace[site]["type"] != "sample":
                raise ModelError(f"the declaration has no sample site {site!r}; it needs a latent "
                                 f"'{THETA}' and an observed label '{LABEL}'")
        theta0 = prior_trace[THETA]["value"]
        if theta0.ndim != 1:
            raise ModelError(f"site '{THETA}' must be a flat vector (use .to_event(1)); got shape {theta0.shape}")
        if jnp.shape(prior_trace[LABEL]["value"]) != ():
            raise ModelError(f"site '{LABEL}' must be a scalar label; got shape {jnp.shape(prior_trace[LABEL]['value'])}")
        dim = theta0.shape[0]
        probe_point = theta0 + 0.37
        step_trace = trace_declaration(model, 1, X, mask, theta_prev=probe_point)
        if step_trace[THETA]["value"].shape != (dim,):
            raise ModelError(f"the transition of '{THETA}' changes its shape")
        found["dim"] = int(dim)
        return {
            "probe": probe_point,
            "prior": _gaussian_moments(prior_trace[THETA]["fn"], dim),
            "step": _gaussian_moments(step_trace[THETA]["fn"], dim),
            "label": _gaussian_moments(prior_trace[LABEL]["fn"], 1),
        }

    try:  # run once on one example: compiled for speed of compilation, not of execution
        moments = jax.jit(probe, compiler_options=ONE_OFF)(X, mask)
    except ModelError:
        raise
    except Exception as exc:  # user code: report it in terms of the declaration
        raise ModelError(f"tracing the declaration failed: {type(exc).__name__}: {exc}") from exc
    dim = found["dim"]
    layout = layout or getattr(model, "layout", None) or ParamLayout((THETA,), ((dim,),))
    if layout.size != dim:
        raise ModelError(f"the layout describes {layout.size} parameters but '{THETA}' has {dim}")
    prior, step, label = moments["prior"], moments["step"], moments["label"]
    random_walk = step is not None and bool(np.allclose(step[0], moments["probe"]))

    def sample_prior(key: Array) -> Array:
        return trace_declaration(model, key, X, mask)[THETA]["value"]

    def sample_transition(key: Array, theta_prev: Array) -> Array:
        return trace_declaration(model, key, X, mask, theta_prev=theta_prev)[THETA]["value"]

    def observation(theta: Array, X_: Array, mask_: Array) -> dist.Distribution:
        return trace_declaration(handlers.substitute(model, data={THETA: theta}), 0, X_, mask_)[LABEL]["fn"]

    return StateSpace(
        model=model,
        dim=dim,
        layout=layout,
        sample_prior=sample_prior,
        sample_transition=sample_transition,
        observation=observation,
        prior_mean=None if prior is None else prior[0],
        prior_var=None if prior is None else prior[1],
        transition_var=step[1] if random_walk else None,
        obs_var=None if label is None else label[1][0],
    )


def log_likelihood(ssm: StateSpace, theta: Array, X: Array, mask: Array, d: Array) -> Array:
    """log p(d | theta, X) through ``numpyro.infer.util.log_density`` (theta's own term hidden)."""
    conditioned = handlers.block(handlers.substitute(ssm.model, data={THETA: theta}), hide=[THETA])
    with handlers.block():  # keep the inner run's sites out of any enclosing NumPyro context
        value, _ = log_density(conditioned, (X, mask), {"d": d}, {})
    return value


def is_declaration(fn: Callable) -> bool:
    """True for a model(X, mask, theta_prev=None, d=None); False for a factory."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return True
    return "theta_prev" in params and "d" in params
