"""Read a NumPyro state-space declaration into what the kernels need.

The declaration form (spec section 3) is a NumPyro model ``model(X, mask, theta_prev=None,
d=None)`` for ONE example (X (m, p), mask (m,)):

* a latent site ``"theta"`` whose distribution is the prior when ``theta_prev`` is None and
  the transition p(theta_t | theta_prev) otherwise;
* an observed site ``"d"`` for the scalar label, whose distribution's mean is the regression
  output f(theta, X).

:func:`read_model` traces the declaration with NumPyro's handlers (``seed``, ``trace``,
``substitute``) and returns a :class:`StateSpace`: samplers for the prior and transition,
the observation distribution, and, where the declaration is Gaussian, the moments the EKF
needs. Nothing about the LSTM is hard-wired: any model in this form runs with every kernel.

Two speed-ups keep the numbers of the plain paths (see docs/performance.md):

* a Gaussian random walk draws its noise with :func:`random_walk_noise`, bit for bit
  ``jax.random.normal`` but with the Threefry rounds unrolled into one fused loop (jax lowers
  them as a rolled loop on the CPU, which streams the whole array through memory 5 times);
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
import numpyro
import numpyro.distributions as dist
from jax import Array
from numpyro import handlers
from numpyro.infer.util import log_density

from .errors import ModelError
from .layout import ParamLayout

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


def _rotate_left(v: Array, r: int) -> Array:
    return (v << np.uint32(r)) | (v >> np.uint32(32 - r))


def _threefry2x32(k1: Array, k2: Array, x1: Array, x2: Array) -> tuple[Array, Array]:
    """Threefry-2x32 with 20 rounds (Salmon et al. 2011), the hash of ``jax.random``, unrolled."""
    ks = (k1, k2, k1 ^ k2 ^ np.uint32(0x1BD11BDA))
    rotations = ((13, 15, 26, 6), (17, 29, 16, 24))
    x1, x2 = x1 + ks[0], x2 + ks[1]
    for i in range(5):
        for r in rotations[i % 2]:
            x1 = x1 + x2
            x2 = x1 ^ _rotate_left(x2, r)
        x1, x2 = x1 + ks[(i + 1) % 3], x2 + ks[(i + 2) % 3] + np.uint32(i + 1)
    return x1, x2


def _threefry_key_data(key: Array) -> Array | None:
    """The (2,) uint32 words of a Threefry key, or None for another generator."""
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        if "threefry2x32" not in str(jax.random.key_impl(key)):
            return None
        return jax.random.key_data(key)
    if key.dtype == jnp.uint32 and key.shape == (2,) and "threefry" in str(jax.config.jax_default_prng_impl):
        return key
    return None


def random_walk_noise(key: Array, shape: tuple[int, ...], dtype) -> Array:
    """``jax.random.normal(key, shape, dtype)``, bit for bit, several times faster on the CPU.

    jax lowers the Threefry hash on the CPU as a rolled loop over its 20 rounds, so a large
    draw goes 5 times through memory; here the rounds are unrolled and fuse with the
    uniform-to-normal transform into one pass. The bits follow jax's partitionable Threefry
    layout (the default); any other generator, layout, dtype or size, and any backend other
    than the CPU (where jax already unrolls the rounds), falls back to ``jax.random.normal``.
    tests/test_speed_paths.py checks the equality.
    """
    words = _threefry_key_data(key)
    size = math.prod(shape)
    if (jax.default_backend() != "cpu" or words is None or jnp.dtype(dtype) != jnp.float32
            or not jax.config.jax_threefry_partitionable or not 0 < size < 2**32):
        return jax.random.normal(key, shape, dtype)
    counts = jax.lax.iota(jnp.uint32, size).reshape(shape)  # the 64-bit counter's low word
    b1, b2 = _threefry2x32(words[..., 0], words[..., 1], jnp.zeros_like(counts), counts)
    mantissa = ((b1 ^ b2) >> np.uint32(32 - 23)) | np.uint32(0x3F800000)  # a float in [1, 2)
    floats = jax.lax.bitcast_convert_type(mantissa, jnp.float32) - np.float32(1.0)
    lo = np.nextafter(np.float32(-1.0), np.float32(0.0))
    uniform = jax.lax.max(lo, floats * (np.float32(1.0) - lo) + lo)
    return np.float32(np.sqrt(2.0)) * jax.lax.erf_inv(uniform)


def _trace(model: Callable, key, *args, **kwargs) -> dict:
    """Trace one run of ``model``, invisible to any enclosing NumPyro handler (e.g. NUTS)."""
    with handlers.block():
        return handlers.trace(handlers.seed(model, key)).get_trace(*args, **kwargs)


def random_walk(theta_prev: Array, q: float) -> dist.Distribution:
    """The transition theta_t ~ N(theta_prev, q I) over a flat vector; a point mass when q = 0
    (static parameters, as NUTS sees them)."""
    if q == 0:
        return dist.Delta(theta_prev, event_dim=1)
    return dist.Normal(theta_prev, jnp.sqrt(q)).to_event(1)


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
        prior_trace = _trace(model, 0, X, mask)
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
        step_trace = _trace(model, 1, X, mask, theta_prev=probe_point)
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
        return _trace(model, key, X, mask)[THETA]["value"]

    def sample_transition(key: Array, theta_prev: Array) -> Array:
        return _trace(model, key, X, mask, theta_prev=theta_prev)[THETA]["value"]

    def observation(theta: Array, X_: Array, mask_: Array) -> dist.Distribution:
        return _trace(handlers.substitute(model, data={THETA: theta}), 0, X_, mask_)[LABEL]["fn"]

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


def static_model(ssm: StateSpace) -> Callable:
    """The q = 0 form of a declaration over a whole batch, for NUTS (the gold standard).

    theta ~ prior of the declaration; every (X_t, mask_t, d_t) observed with the declaration's
    own likelihood. Sample it with ``numpyro.infer.MCMC(NUTS(static_model(ssm)))`` and
    arguments ``(X (T, m, p), mask (T, m), d (T,))``.
    """
    def batch_model(X: Array, mask: Array, d: Array | None = None) -> None:
        prior_fn = _trace(ssm.model, 0, X[0], mask[0])[THETA]["fn"]
        theta = numpyro.sample(THETA, prior_fn)
        logliks = jax.vmap(lambda x, m, y: log_likelihood(ssm, theta, x, m, y))(X, mask, d)
        numpyro.factor("labels", jnp.sum(logliks))

    return batch_model


def model_options(factory: Callable) -> dict[str, Any]:
    """Keyword options a model factory accepts, with their defaults."""
    return {
        name: p.default
        for name, p in inspect.signature(factory).parameters.items()
        if p.default is not inspect.Parameter.empty
    }


def load_declaration(spec: str | Callable) -> Callable:
    """A built-in name (``lstm``, ``gru``, ``rnn``, ``linear-gaussian``), ``path.py:name``,
    ``package.module:name``, or a callable, to the callable it names (factory or model)."""
    if callable(spec):
        return spec
    from .models import BUILTIN

    if spec in BUILTIN:
        return BUILTIN[spec]
    if ":" not in spec:
        raise ModelError(f"unknown model {spec!r}: use one of {sorted(BUILTIN)}, path/to/file.py:name or module:name")
    where, name = spec.rsplit(":", 1)
    import importlib
    import importlib.util
    import pathlib

    if where.endswith(".py"):
        path = pathlib.Path(where)
        if not path.is_file():
            raise ModelError(f"model file {where!r} does not exist")
        module_spec = importlib.util.spec_from_file_location(f"bayeslstm_user_{path.stem}", path)
        module = importlib.util.module_from_spec(module_spec)
        try:
            module_spec.loader.exec_module(module)
        except Exception as exc:
            raise ModelError(f"importing {where!r} failed: {type(exc).__name__}: {exc}") from exc
    else:
        try:
            module = importlib.import_module(where)
        except ImportError as exc:
            raise ModelError(f"cannot import module {where!r}: {exc}") from exc
    if not hasattr(module, name):
        raise ModelError(f"{where!r} defines no {name!r}")
    return getattr(module, name)


def is_declaration(fn: Callable) -> bool:
    """True for a model(X, mask, theta_prev=None, d=None); False for a factory."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return True
    return "theta_prev" in params and "d" in params


def build_model(spec: str | Callable | None, features: int, **options: Any) -> Callable:
    """Resolve ``spec`` (default: the paper's LSTM) and call it if it is a factory.

    ``features`` is passed to factories that accept it; unknown ``options`` are an error.
    """
    fn = load_declaration("lstm" if spec is None else spec)
    if is_declaration(fn):
        if options:
            raise ModelError(f"options {sorted(options)} given, but the model is already a declaration, not a factory")
        return fn
    accepted = model_options(fn)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ModelError(f"unknown model option(s) {unknown}; {getattr(fn, '__name__', 'the factory')} accepts {sorted(accepted)}")
    if "features" in accepted:
        options = {"features": features, **options}
    declaration = fn(**options)
    if not callable(declaration) or not is_declaration(declaration):
        raise ModelError("a model factory must return model(X, mask, theta_prev=None, d=None)")
    return declaration
