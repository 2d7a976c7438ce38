"""What the static sites are learnt to be, step by step: a diagnostic per site.

A static site (a noise scale, a prior scale) is part of every method's state: in the particles
of a particle filter, in the mean of a Gaussian filter, or, for the label variance of a Kalman
filter, in a closed-form posterior. :func:`track_static_sites` reports, after every step and
for every node, the site's posterior mean in its own support: the particles' weighted mean of
the site's values, the Gaussian filters' mean mapped back from unconstrained coordinates, the
Gaussian sum's weighted means. A noise site that a Kalman-type filter learns through the label
variance r is read back from r, inverting the declaration's map from the site to r by
bisection. The diagnostics are named ``learnt_<site>``.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
from jax import Array
from numpyro.distributions.transforms import biject_to

from ..kernels.protocol import Gaussian, GaussianMixture, LowRankGaussian, PointEstimate, WeightedSample
from ..model.statespace import Site, StateSpace
from ..network.method import NetworkMethod, StepData

BISECTION_STEPS = 60
UNCONSTRAINED_RANGE = 30.0


def _site_value(site: Site, form: Any) -> Array:
    """Posterior mean of one static site, in its support, from one filter's posterior form."""
    index = jnp.asarray(site.index)
    to_support = biject_to(site.support)
    if isinstance(form, WeightedSample):
        w = jax.nn.softmax(form.log_weights)
        return w @ to_support(form.values[:, index])
    if isinstance(form, (Gaussian, LowRankGaussian)):
        return to_support(form.mean[index])
    if isinstance(form, GaussianMixture):
        return jax.nn.softmax(form.log_weights) @ to_support(form.means[:, index])
    return to_support(form.value[index])


def _site_from_label_var(ssm: StateSpace, site: Site, theta: Array, label_var: Array) -> Array:
    """The value of the scalar noise site whose label variance is ``label_var`` (the others held
    at ``theta``), by bisection on its unconstrained coordinate."""
    start = site.start

    def variance(u):
        return ssm.label_var(theta.at[start].set(u))

    low, high = -UNCONSTRAINED_RANGE, UNCONSTRAINED_RANGE
    rising = variance(high) > variance(low)

    def halve(_, bounds):
        lo, hi = bounds
        mid = 0.5 * (lo + hi)
        above = (variance(mid) > label_var) == rising
        return jnp.where(above, lo, mid), jnp.where(above, mid, hi)

    lo, hi = jax.lax.fori_loop(0, BISECTION_STEPS, halve, (jnp.asarray(low, theta.dtype), jnp.asarray(high, theta.dtype)))
    return biject_to(site.support)(0.5 * (lo + hi))[None]


def _centre(form: Any) -> Array:
    """A representative theta of one filter's posterior, to hold the other sites at."""
    if isinstance(form, WeightedSample):
        return jax.nn.softmax(form.log_weights) @ form.values
    if isinstance(form, (Gaussian, LowRankGaussian)):
        return form.mean
    if isinstance(form, GaussianMixture):
        return form.means[jnp.argmax(form.log_weights)]
    return form.value


def learnt_values(ssm: StateSpace, form: Any) -> dict[str, Array]:
    """``learnt_<site>`` of every static site from one filter's posterior form."""
    out = {}
    for site in ssm.sites:
        if not site.static:
            continue
        label_var = getattr(form, "label_var", None)
        if site.affects_variance and label_var is not None:
            if isinstance(form, GaussianMixture):  # each component's r; the mixture's by weight
                label_var = jax.nn.softmax(form.log_weights) @ label_var
            value = _site_from_label_var(ssm, site, _centre(form), label_var)
        else:
            value = _site_value(site, form)
        out[f"learnt_{site.name}"] = value.reshape(site.shape)
    return out


def label_noise_sites(ssm: StateSpace, form: Any) -> dict[str, Array]:
    """The static sites that set the label variance, read from one filter's ``form.label_var``
    (the others held at the form's centre): how a report turns draws of r into draws of the site."""
    label_var = form.label_var
    if isinstance(form, GaussianMixture):
        label_var = jax.nn.softmax(form.log_weights) @ label_var
    return {site.name: _site_from_label_var(ssm, site, _centre(form), label_var).reshape(site.shape)
            for site in ssm.sites if site.static and site.affects_variance}


def _per_node(form: Any, dim: int) -> bool:
    """Does this posterior form carry a leading node axis?"""
    leaf = form.values if isinstance(form, WeightedSample) else form.mean if isinstance(form, (Gaussian, LowRankGaussian)) \
        else form.means if isinstance(form, GaussianMixture) else form.value
    single = {WeightedSample: 2, Gaussian: 1, LowRankGaussian: 1, GaussianMixture: 2, PointEstimate: 1}[type(form)]
    return leaf.ndim > single


def track_static_sites(method: NetworkMethod, ssm: StateSpace) -> NetworkMethod:
    """``method`` with a ``learnt_<site>`` diagnostic per static site (unchanged without static sites)."""
    if not any(site.static for site in ssm.sites):
        return method

    def step(key: Array, state, data: StepData, links=None):
        state, info = method.step(key, state, data, links)
        form = method.posterior(state)
        if form is None:  # a baseline: it learns no weights
            return state, info
        nodes = data.d.shape[0]
        if _per_node(form, ssm.dim):
            learnt = jax.vmap(lambda f: learnt_values(ssm, f))(form)
        else:
            learnt = jax.tree_util.tree_map(lambda v: jnp.broadcast_to(v, (nodes,) + v.shape), learnt_values(ssm, form))
        return state, dict(info, **learnt)

    return method._replace(step=step, node_step=None, label_sites=functools.partial(label_noise_sites, ssm))
