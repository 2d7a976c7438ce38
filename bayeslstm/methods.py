"""The registry of inference methods: one record per method, read by every entry point.

A :class:`Method` names its builder, its family, its cooperation modes, its options with their
defaults and its posterior form; an :class:`Option` says what an option does and which
command-line flag sets it. The command line's flags and help, the option checks of
``bl.run`` and ``compare``, and the method lists of the docs are all read from here, so a
method is added by writing its builder and one record (see ``docs/adding-a-method.md``).

Every node-level kernel runs ``local`` (each node alone) or ``centralized`` (one filter sees
every node's data); a method marked ``distributed`` is a graph scheme built on a kernel of its
``family`` (``dpf`` on ``pf``), and the first distributed method of a family is what
``NAME@distributed`` means. This module imports nothing heavy: builders are named as
``"module:function"`` and imported only when a method is built.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from .errors import OptionError, choose

FUSIONS = ("local", "centralized", "distributed")


class Option(NamedTuple):
    """A method option: its keyword ``name``, the command-line ``flag`` that sets it ("" when
    the command line sets it itself), what it does, and how a flag's text is read: ``type``
    (int, float or str), ``minimum`` for whole numbers, ``choices`` for names, and what a
    default of None means (``none_means``)."""

    name: str
    flag: str
    help: str
    type: type = str
    minimum: int | None = None
    choices: tuple[str, ...] = ()
    none_means: str = ""


class Method(NamedTuple):
    """One inference method. ``builder`` is a callable or ``"module:function"``, called as
    ``builder(ssm=..., [network=...,] **bind, **options)``; ``options`` maps each option it
    takes to its default; ``family`` is the kernel a distributed method builds on (a kernel is
    its own); ``posterior`` is the form its state holds about the weights; ``table_units``: it
    learns from the labels in the table's own units (a naive forecast averages labels across
    steps, which the per-step standardisation of a table would mix)."""

    name: str
    summary: str
    builder: str | Callable[..., Any]
    options: Mapping[str, Any] = {}
    family: str = ""
    distributed: bool = False
    posterior: str = "none"
    bind: Mapping[str, Any] = {}
    table_units: bool = False

    @property
    def kind(self) -> str:
        """The kernel family (the method itself for a kernel)."""
        return self.family or self.name

    @property
    def fusions(self) -> tuple[str, ...]:
        return ("distributed",) if self.distributed else ("local", "centralized")


PARTICLE_OPTIONS = ("num_particles", "resampling", "ess_threshold", "move", "discount")
CONSENSUS_OPTIONS = {"consensus": "exact", "consensus_iters": 20, "flood_rounds": None}

OPTIONS: dict[str, Option] = {option.name: option for option in (
    Option("num_particles", "--particles", "particles per filter", int, 1),
    Option("resampling", "--resampling", "resampling scheme",
           choices=("systematic", "stratified", "multinomial", "residual")),
    Option("ess_threshold", "--ess-threshold", "resample when the effective sample size is below this times N", float),
    Option("move", "--move", "rejuvenate the particles after resampling (auto: Liu-West on static sites only)",
           choices=("auto", "none", "liu-west")),
    Option("discount", "--discount", "Liu-West discount delta in (0, 1), with --move liu-west", float),
    Option("walk_steps", "--walk-steps", "random-walk steps S per time step", int, 1),
    Option("consensus", "--consensus", "how each live group agrees on its sums: exact (over a spanning tree of the "
                                       "group) or average (--consensus-iters rounds of average consensus)",
           choices=("exact", "average")),
    Option("consensus_iters", "--consensus-iters", "average-consensus rounds L per time step with --consensus average",
           int, 0),
    Option("flood_rounds", "--flood-rounds", "flooding rounds that find each live group and its leader", int, 0,
           none_means="until nothing changes"),
    Option("covariance", "--covariance", "the covariance kept: full or diagonal, or for the Gaussian sums also "
                                         "low-rank (LoFi components of --rank)",
           choices=("full", "diagonal", "low-rank")),
    Option("init", "--ekf-init", "the starting mean: a draw from the prior, or the prior's mean",
           choices=("sample", "prior-mean")),
    Option("rank", "--rank", "rank of the low-rank precision", int, 1),
    Option("num_members", "--members", "ensemble members", int, 2),
    Option("update", "--ensemble-update", "sqrt (ETKF) or stochastic (perturbed observations)",
           choices=("sqrt", "stochastic")),
    Option("robust", "--robust", "outlier-robust updates: each label weighted as a Student-t label with this many "
                                 "degrees of freedom would be (e.g. 4)", float, none_means="a Gaussian label"),
    Option("fading", "--fading", "learnt process noise: q scaled by a factor learnt from the innovations, each "
                                 "update keeping this share of its past (e.g. 0.9)", float, none_means="the model's fixed q"),
    Option("noise_forgetting", "--noise-forgetting", "how much a learnt label variance remembers: its posterior keeps "
                                                     "this share of itself at each label, in (0.5, 1] (1: every label)",
           float, none_means="remembers every label"),
    Option("inflation", "--inflation", "multiplies the ensemble's spread each step, >= 1", float),
    Option("num_components", "--components", "Gaussian components, each an EKF", int, 1),
    Option("respawn_below", "--respawn-below", "re-spawn components whose weight falls below this (0 turns it off)",
           float),
    Option("learning_rate", "--learning-rate", "step size", float),
    Option("target_feature", "", "the input column whose last value is the forecast (set from a table's target)", int),
)}

_PF = {"num_particles": 300, "resampling": "systematic", "ess_threshold": 0.5, "move": "auto", "discount": 0.98}
_EKF = {"covariance": "full", "init": "sample", "robust": None, "fading": None, "noise_forgetting": 0.99}
_ENKF = {"num_members": 64, "update": "sqrt", "inflation": 1.0}
_GSPF = {"num_components": 2, "covariance": "full", "init": "sample", "respawn_below": 0.0, "rank": 10, "robust": None,
         "fading": None, "noise_forgetting": 0.99}
_LOFI = {"rank": 10, "init": "sample", "robust": None, "fading": None, "noise_forgetting": 0.99}
# a kernel's diffusion (adapt, then combine over live links) is one record naming this builder
_DIFFUSION = "bayeslstm.network.diffusion:diffusion_of"
_DPF = {k: v for k, v in _PF.items() if k != "ess_threshold"}

REGISTRY: dict[str, Method] = {}


def register(method: Method, *options: Option) -> Method:
    """Add ``method`` (and any new ``options`` it takes) to the registry; every entry point
    then knows it. A name already taken is refused."""
    if method.name in REGISTRY:
        raise OptionError(f"a method named {method.name!r} is already registered")
    for option in options:
        if option.name in OPTIONS and OPTIONS[option.name] != option:
            raise OptionError(f"option {option.name!r} is already registered with another meaning")
    unknown = sorted(set(method.options) - set(OPTIONS) - {o.name for o in options})
    if unknown:
        raise OptionError(f"method {method.name!r} takes options that are not registered: {unknown}")
    if method.family and method.family not in REGISTRY:
        raise OptionError(f"method {method.name!r} builds on {method.family!r}, which is not registered")
    OPTIONS.update({option.name: option for option in options})
    REGISTRY[method.name] = method
    return method


def unregister(name: str) -> None:
    """Remove the method ``name`` and the options no registered method takes any longer."""
    REGISTRY.pop(name, None)
    taken = {option for method in REGISTRY.values() for option in method.options}
    for option in [option for option in OPTIONS if option not in taken]:
        del OPTIONS[option]


for _method in (
    Method("pf", "bootstrap particle filter (SMC)", "bayeslstm.kernels.particle_filter:particle_filter", _PF,
           posterior="weighted sample"),
    Method("ekf", "extended Kalman filter, Joseph-form updates", "bayeslstm.kernels.ekf:extended_kalman_filter", _EKF,
           posterior="Gaussian"),
    Method("enkf", "ensemble Kalman filter (ETKF or perturbed observations)",
           "bayeslstm.kernels.enkf:ensemble_kalman_filter", _ENKF, posterior="equally weighted sample"),
    Method("gspf", "Gaussian-sum filter: a weighted mixture of EKFs", "bayeslstm.kernels.gaussian_sum:gaussian_sum_filter",
           _GSPF, posterior="Gaussian mixture"),
    Method("lofi", "low-rank EKF (LoFi): diagonal plus low-rank precision", "bayeslstm.kernels.lofi:low_rank_filter",
           _LOFI, posterior="low-rank Gaussian"),
    Method("sgd", "online stochastic gradient descent (optax)", "bayeslstm.kernels.gradient:gradient_descent",
           {"learning_rate": 0.05}, posterior="point estimate", bind={"optimizer": "sgd"}),
    Method("adam", "online Adam (optax)", "bayeslstm.kernels.gradient:gradient_descent", {"learning_rate": 0.01},
           posterior="point estimate", bind={"optimizer": "adam"}),
    Method("baseline-last", "naive forecast: the last label (or the target's last value when it is an input)",
           "bayeslstm.kernels.baselines:baseline", {"target_feature": None}, bind={"kind": "last"}, table_units=True),
    Method("baseline-mean", "naive forecast: the running mean of the labels", "bayeslstm.kernels.baselines:baseline",
           bind={"kind": "mean"}, table_units=True),
    Method("dpf", "Markov-chain distributed particle filter (random walks of the likelihood)",
           "bayeslstm.network.markov_chain_dpf:markov_chain_particle_filter", {**_DPF, "walk_steps": 10}, "pf", True,
           "weighted sample"),
    Method("dpf-consensus", "likelihood-consensus distributed particle filter",
           "bayeslstm.network.consensus_dpf:consensus_particle_filter", {**_PF, **CONSENSUS_OPTIONS}, "pf", True,
           "weighted sample"),
    Method("dekf", "diffusion EKF (adapt then combine)", _DIFFUSION, _EKF, "ekf", True, "Gaussian", {"kernel": "ekf"}),
    Method("denkf", "diffusion ensemble Kalman filter", _DIFFUSION, _ENKF, "enkf", True, "equally weighted sample",
           {"kernel": "enkf", "estimate": "ensemble-mean"}),
    Method("denkf-consensus", "ensemble Kalman filter with exact or average consensus on its sums",
           "bayeslstm.network.consensus_enkf:consensus_enkf", {**_ENKF, **CONSENSUS_OPTIONS}, "enkf", True,
           "equally weighted sample"),
    Method("dgspf", "diffusion Gaussian-sum filter, component weights by consensus",
           "bayeslstm.network.gaussian_sum_diffusion:diffusion_gaussian_sum", {**_GSPF, **CONSENSUS_OPTIONS}, "gspf",
           True, "Gaussian mixture"),
    Method("dlofi", "diffusion low-rank EKF", _DIFFUSION, _LOFI, "lofi", True, "low-rank Gaussian", {"kernel": "lofi"}),
    Method("dsgd", "diffusion SGD", _DIFFUSION, {"learning_rate": 0.05}, "sgd", True, "point estimate",
           {"kernel": "sgd", "estimate": "theta", "examples": False}),
    Method("dadam", "diffusion Adam", _DIFFUSION, {"learning_rate": 0.01}, "adam", True, "point estimate",
           {"kernel": "adam", "estimate": "theta", "examples": False}),
):
    register(_method)


def method_names() -> tuple[str, ...]:
    """Every registered method's name: the kernels first, then the distributed methods."""
    return tuple(sorted(REGISTRY, key=lambda name: REGISTRY[name].distributed))


def kernel_names() -> tuple[str, ...]:
    return tuple(name for name in method_names() if not REGISTRY[name].distributed)


def distributed_names() -> tuple[str, ...]:
    return tuple(name for name in method_names() if REGISTRY[name].distributed)


def baseline_names() -> tuple[str, ...]:
    return tuple(name for name in kernel_names() if name.startswith("baseline-"))


def reads_table_units(method: str) -> bool:
    """Whether ``method`` (``NAME`` or ``NAME@FUSION``) learns from a table's labels in their own units."""
    return lookup(method.partition("@")[0]).table_units


def distributed_form(kernel: str) -> str | None:
    """The distributed method ``NAME@distributed`` means: the first registered on ``kernel``."""
    return next((name for name in distributed_names() if REGISTRY[name].kind == kernel), None)


def lookup(method: str) -> Method:
    """The record of ``method``, or an OptionError listing the registered names."""
    choose("method", method, method_names())
    return REGISTRY[method]


def family(method: str) -> str:
    """The kernel family of a method: ``dpf`` -> ``pf``; a kernel is its own family."""
    return lookup(method).kind


def resolve(method: str, fusion: str | None = None) -> tuple[str, str]:
    """(method, fusion) after defaults: ``pf`` + distributed -> ``dpf``; ``dpf`` is distributed."""
    record = lookup(method)
    if fusion is not None:
        choose("fusion", fusion, FUSIONS)
    if record.distributed:
        if fusion not in (None, "distributed"):
            raise OptionError(f"{method!r} is a distributed method; for fusion {fusion!r} use one of "
                              f"{sorted(kernel_names())}")
        return method, "distributed"
    fusion = fusion or "local"
    if fusion != "distributed":
        return method, fusion
    distributed = distributed_form(method)
    if distributed is None:
        raise OptionError(f"{method!r} has no distributed form; use fusion 'local' or 'centralized'")
    return distributed, fusion


def method_specs(names: str | Sequence[str], default_fusion: str | None = None) -> list[tuple[str, str, str]]:
    """(label, method, fusion) for each ``NAME`` or ``NAME@FUSION`` (a list, or one comma-separated
    string), resolved and checked before any work. The label is the method's name for a
    distributed method and for a kernel named without ``@`` that runs locally, else
    ``NAME@FUSION``: ``"dpf,pf,pf@local,ekf@centralized"`` gives ``dpf``, ``pf``, ``pf@local``,
    ``ekf@centralized``."""
    entries = names.split(",") if isinstance(names, str) else names
    specs = []
    for name in filter(None, (entry.strip() for entry in entries)):
        method, _, fusion = name.partition("@")
        method, fusion = resolve(method, fusion or default_fusion)
        plain = fusion == "distributed" or (fusion == "local" and "@" not in name)
        specs.append((method if plain else f"{method}@{fusion}", method, fusion))
    if not specs:
        raise OptionError("no method given (--methods is empty)")
    return specs


def needs_graph(method: str, fusion: str | None = None) -> bool:
    return resolve(method, fusion)[1] == "distributed"


def method_options(method: str, fusion: str | None = None) -> list[str]:
    """Option names the method takes (besides the run options: faults and sharding)."""
    return list(REGISTRY[resolve(method, fusion)[0]].options)


def method_defaults(method: str, fusion: str | None = None) -> dict[str, Any]:
    """The method's options with their default values."""
    return dict(REGISTRY[resolve(method, fusion)[0]].options)


def builder(method: str) -> Callable[..., Any]:
    """The registered builder of ``method``, imported on first use."""
    target = lookup(method).builder
    if callable(target):
        return target
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def takers(option: str) -> tuple[str, ...]:
    """The methods that take ``option``."""
    return tuple(name for name in method_names() if option in REGISTRY[name].options)


def default_text(option: str) -> str:
    """An option's default as help and docs say it: one value, or the value of each method."""
    values = {name: REGISTRY[name].options[option] for name in takers(option)}
    shown = {name: OPTIONS[option].none_means if value is None else value for name, value in values.items()}
    if len(set(map(repr, shown.values()))) == 1:
        return str(next(iter(shown.values()), ""))
    by_value: dict[str, list[str]] = {}
    for name, value in shown.items():
        by_value.setdefault(str(value), []).append(name)
    return "; ".join(f"{value} for {', '.join(names)}" for value, names in by_value.items())


def describe_option(option: str) -> str:
    """The option's help with the methods that take it and its default."""
    text = f"{OPTIONS[option].help} ({', '.join(takers(option))}; default {default_text(option)})"
    return text.replace("default ;", "default:")


def method_table() -> str:
    """The registered methods as a Markdown table (the docs' lists are this table)."""
    rows = ["| method | modes | what it is | posterior | options |", "|---|---|---|---|---|"]
    for name in method_names():
        record = REGISTRY[name]
        modes = "distributed" + (f" (on `{record.family}`)" if record.family else "") if record.distributed \
            else "local, centralized" + (f", distributed (`{distributed_form(name)}`)" if distributed_form(name) else "")
        options = ", ".join(f"`{option}={value!r}`" for option, value in record.options.items()) or "none"
        rows.append(f"| `{name}` | {modes} | {record.summary} | {record.posterior} | {options} |")
    return "\n".join(rows)


def methods_sentence() -> str:
    """The methods in one sentence, for docstrings and help."""
    kernels = ", ".join(kernel_names())
    return (f"a kernel ({kernels}; with fusion local, centralized, or distributed where it has a distributed "
            f"form) or a distributed method ({', '.join(distributed_names())})")
