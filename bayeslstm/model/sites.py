"""The latent sites of a NumPyro declaration and their place in the flat vector theta.

A declaration is a NumPyro model ``model(X, mask, theta_prev=None, d=None)`` for one example;
its latent sample sites are what the kernels learn and its observed site ``"d"`` is the label.
The kernels see one flat vector theta: the sites raveled in sorted name order
(``jax.flatten_util.ravel_pytree``), sites with a constrained support (a positive scale, say)
in unconstrained coordinates (``biject_to``), so that Gaussian filters and kernel moves act on
the real line. :class:`Structure` holds the sites' names, shapes and supports, read from one
abstract trace of the declaration (no numbers are computed); :func:`pack` and :func:`unpack`
go between the sites' values and theta; :class:`Site` records what a site is found to do.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from jax import Array
from jax.flatten_util import ravel_pytree
from numpyro import handlers
from numpyro.distributions.transforms import Transform, biject_to

from ..errors import ModelError
from .layout import ParamLayout, block_dims, unflatten, with_dims

THETA = "theta"
LABEL = "d"

FORM = ("a declaration is model(X, mask, theta_prev=None, d=None): latent sites with their prior (theta_prev is "
        "None) and transition (theta_prev: their previous values), and the label site 'd'; or model(X, mask, "
        "d=None) when every latent site is static")


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
    def index(self) -> np.ndarray:  # type: ignore[override]  # shadows tuple.index; callers read site.index
        """Its entries in theta."""
        return np.arange(self.start, self.start + self.size)


class Structure(NamedTuple):
    """The latent sites of a declaration: names (sorted), shapes, NumPyro supports and the
    dimension names the model gives each site (:func:`site_dims`)."""

    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    supports: tuple[Any, ...]
    dims: tuple[tuple[str, ...] | None, ...] | None = None

    @property
    def single(self) -> bool:
        """The packed form: one flat site called ``"theta"``, which theta is as it is."""
        return self.names == (THETA,)

    @property
    def layout(self) -> ParamLayout:
        """The sites' blocks in theta, with the support of those kept unconstrained and the
        dimension names the model gives them."""
        return with_dims(self.names, self.shapes, tuple(None if to_support(s) is None else s for s in self.supports),
                         self.dims or (None,) * len(self.names))

    @property
    def dim(self) -> int:
        """Entries of theta."""
        return self.layout.size


Runner = Callable[..., dict]  # (key, X, mask, prev=None, values=None) -> a NumPyro trace


def trace_declaration(model: Callable, key, *args, **kwargs) -> dict:
    """Trace one run of ``model``, invisible to any enclosing NumPyro handler (e.g. NUTS)."""
    with handlers.block():
        return handlers.trace(handlers.seed(model, key)).get_trace(*args, **kwargs)


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


def declaration_runner(model: Callable, form: str) -> Runner:
    """``run(key, X, mask, prev=None, values=None)``: the trace of one run of the declaration,
    given the sites' previous values ``prev`` and with the sites set to ``values`` if given."""

    def run(key, X: Array, mask: Array, prev=None, values: dict | None = None) -> dict:
        fn = model if values is None else handlers.substitute(model, data=values)
        if form == "static":
            return trace_declaration(fn, key, X, mask)
        return trace_declaration(fn, key, X, mask, theta_prev=prev)

    return run


def read_structure(trace: dict) -> Structure:
    """The latent sites of a prior trace, checked against the declaration form."""
    if LABEL not in trace or trace[LABEL]["type"] != "sample":
        raise ModelError(f"the declaration has no sample site {LABEL!r} for the label; {FORM}")
    if jnp.shape(trace[LABEL]["value"]) != ():
        raise ModelError(f"site '{LABEL}' must be a scalar label; got shape {jnp.shape(trace[LABEL]['value'])}")
    names = sorted(n for n, site in trace.items() if site["type"] == "sample" and n != LABEL and not site["is_observed"])
    if not names:
        raise ModelError(f"the declaration has no latent sample site (nothing to learn); {FORM}")
    supports = tuple(trace[n]["fn"].support for n in names)
    for n, support in zip(names, supports):
        bijection = to_support(support)
        value = trace[n]["value"]
        if bijection is not None and jnp.shape(bijection.inv(value)) != jnp.shape(value):
            raise ModelError(f"site {n!r} has support {support}, whose unconstrained form changes its "
                             "shape; only elementwise supports (real, positive, intervals) are read")
    structure = Structure(tuple(names), tuple(tuple(jnp.shape(trace[n]["value"])) for n in names), supports,
                          tuple(site_dims(n, trace[n]) for n in names))
    if structure.single and len(structure.shapes[0]) != 1:
        raise ModelError(f"site '{THETA}' must be a flat vector (use .to_event(1)); got shape {structure.shapes[0]}")
    return structure


def site_dims(name: str, site: dict) -> tuple[str, ...] | None:
    """The dimension names a sample site gives itself, None where nothing names any.

    ``infer={"dims": ("hidden", "gate")}`` names every dimension of the value. Otherwise, as
    ArviZ's ``from_numpyro`` reads a model, the ``numpyro.plate``s the site sits in name its
    batch dimensions and ``infer={"event_dims": (...)}`` its event dimensions; a dimension
    left unnamed is ``<site>_dim_<k>``.
    """
    shape = tuple(jnp.shape(site["value"]))
    infer = site.get("infer") or {}
    if infer.get("dims") is not None:
        return _checked_dims(name, tuple(infer["dims"]), len(shape), "dims")
    event = len(site["fn"].event_shape)
    batch = len(shape) - event
    dims: list[str | None] = [None] * len(shape)
    for frame in site.get("cond_indep_stack", ()):
        if 0 <= batch + frame.dim < batch:
            dims[batch + frame.dim] = str(frame.name)
    if infer.get("event_dims") is not None:
        dims[batch:] = _checked_dims(name, tuple(infer["event_dims"]), event, "event_dims")
    if all(d is None for d in dims):
        return None
    return tuple(f"{name}_dim_{k}" if d is None else d for k, d in enumerate(dims))


def _checked_dims(name: str, dims: tuple, count: int, key: str) -> tuple[str, ...]:
    """``dims`` as names, refused unless there is one per dimension they name."""
    if len(dims) != count or not all(isinstance(d, str) and d for d in dims):
        what = "dimension" if key == "dims" else "event dimension"
        raise ModelError(f"site {name!r} has infer={{{key!r}: {dims!r}}} but {count} {what}{'s' * (count != 1)}: "
                         f"give one name (a string) per {what}")
    return dims


class _Static:
    """A Python value passed out of ``jax.eval_shape`` as tree structure (it has no leaves)."""

    def __init__(self, value: Any):
        self.value = value


jax.tree_util.register_pytree_node(_Static, lambda s: ((), s.value), lambda value, _: _Static(value))


def declaration_structure(run: Runner, X: Array, mask: Array) -> Structure:
    """The declaration's latent sites, from an abstract trace of its prior (nothing is computed)."""
    return jax.eval_shape(lambda X_, mask_: _Static(read_structure(run(0, X_, mask_))), X, mask).value


def pack(structure: Structure, values: dict) -> Array:
    """The sites' values by name -> flat theta (unconstrained coordinates for constrained sites)."""
    if structure.single:
        return values[THETA]
    free = {}
    for n, support in zip(structure.names, structure.supports):
        bijection = to_support(support)
        free[n] = values[n] if bijection is None else bijection.inv(values[n])
    return ravel_pytree(free)[0]


def unpack(structure: Structure, theta: Array) -> Any:
    """Flat theta -> the sites' values (the array itself for the packed form)."""
    if structure.single:
        return theta
    blocks = unflatten(structure.layout, theta)
    supports = dict(zip(structure.names, structure.supports))
    values = {}
    for n, v in blocks.items():
        bijection = to_support(supports[n])
        values[n] = v if bijection is None else bijection(v)
    return values


def as_dict(structure: Structure, values: Any) -> dict:
    """The sites' values by name (the packed form's array under ``"theta"``)."""
    return {THETA: values} if structure.single else values


def normal_moments(fn: dist.Distribution, shape: tuple[int, ...]) -> tuple[Array, Array] | None:
    """(loc, var) broadcast to ``shape`` if ``fn`` is a (possibly Independent) Normal or a Delta."""
    base = fn.base_dist if isinstance(fn, dist.Independent) else fn
    if isinstance(base, dist.Delta):
        return jnp.broadcast_to(base.v, shape), jnp.zeros(shape, jnp.result_type(base.v))
    if not isinstance(base, dist.Normal):
        return None
    return jnp.broadcast_to(base.loc, shape), jnp.broadcast_to(base.scale**2, shape)


def to_support(support) -> Transform | None:
    """The bijection from the real line to a site's support, or None for a real-valued site."""
    return None if support is dist.constraints.real or getattr(support, "base_constraint", None) is dist.constraints.real \
        else biject_to(support)


def named_blocks(sites: ParamLayout, blocks: ParamLayout | None) -> ParamLayout:
    """The sites' layout, with a packed site ``theta`` split into the blocks a declaration's
    ``layout`` attribute names (so reports keep W_i, R_f... beside the other sites)."""
    if blocks is None or THETA not in sites.names:
        return sites
    at = sites.names.index(THETA)
    if math.prod(sites.shapes[at]) != blocks.size:
        raise ModelError(f"the layout describes {blocks.size} parameters but '{THETA}' has {math.prod(sites.shapes[at])}")
    supports = sites.supports or (None,) * len(sites.names)
    dims = tuple(block_dims(sites).values())
    return with_dims(sites.names[:at] + blocks.names + sites.names[at + 1:],
                     sites.shapes[:at] + blocks.shapes + sites.shapes[at + 1:],
                     supports[:at] + (None,) * len(blocks.names) + supports[at + 1:],
                     dims[:at] + tuple(block_dims(blocks).values()) + dims[at + 1:])
