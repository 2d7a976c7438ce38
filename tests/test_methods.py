"""The registry of inference methods (bayeslstm.methods): names, cooperation modes, kernel
families, options and their defaults, all checked before anything is built."""

import inspect
import os
import pathlib
import re

import pytest

from bayeslstm.engine.assembly import build_method
from bayeslstm.errors import OptionError
from bayeslstm.kernels.particle_filter import DEFAULT_PARTICLES
from bayeslstm.methods import (
    OPTIONS,
    REGISTRY,
    builder,
    distributed_form,
    distributed_names,
    family,
    kernel_names,
    method_defaults,
    method_names,
    method_options,
    method_specs,
    method_table,
    methods_sentence,
    needs_graph,
    resolve,
)


def test_method_names_and_labels():
    """One NAME@FUSION parser serves the command line and the benchmarks."""

    specs = method_specs("dpf, pf,pf@local,ekf@centralized,pf@distributed,baseline-last@local")
    assert [label for label, _, _ in specs] == ["dpf", "pf", "pf@local", "ekf@centralized", "dpf", "baseline-last@local"]
    assert specs[4][1:] == ("dpf", "distributed")
    assert method_specs(["pf"], "centralized") == [("pf@centralized", "pf", "centralized")]
    assert method_specs(["sgd"], "distributed") == [("dsgd", "dsgd", "distributed")]


def test_every_method_has_a_family_and_every_distributed_one_a_kernel():
    assert family("dpf") == "pf" and family("dpf-consensus") == "pf" and family("dekf") == "ekf"
    assert family("dsgd") == "sgd" and family("dadam") == "adam"
    assert family("pf") == "pf" and family("baseline-mean") == "baseline-mean"  # a kernel is its own family
    assert set(method_names()) == set(kernel_names()) | set(distributed_names()) == set(REGISTRY)
    for method in distributed_names():
        assert family(method) in kernel_names(), method
    assert distributed_form("pf") == "dpf"  # the first of a family is its kernel's distributed form
    assert distributed_form("enkf") == "denkf" and distributed_form("baseline-mean") is None


@pytest.mark.parametrize("method, fusion, expected", [
    ("pf", None, ("pf", "local")),
    ("pf", "centralized", ("pf", "centralized")),
    ("pf", "distributed", ("dpf", "distributed")),
    ("ekf", "distributed", ("dekf", "distributed")),
    ("dpf-consensus", None, ("dpf-consensus", "distributed")),
    ("dsgd", "distributed", ("dsgd", "distributed")),
    ("baseline-last", "centralized", ("baseline-last", "centralized")),
])
def test_resolve_fills_in_the_mode(method, fusion, expected):
    assert resolve(method, fusion) == expected
    assert needs_graph(method, fusion) == (expected[1] == "distributed")


@pytest.mark.parametrize("method, fusion, message", [
    ("kalman", None, "unknown method 'kalman'"),
    ("pf", "gossip", "unknown fusion 'gossip'"),
    ("dpf", "local", "'dpf' is a distributed method"),
    ("dekf", "centralized", "'dekf' is a distributed method"),
    ("baseline-mean", "distributed", "'baseline-mean' has no distributed form"),
])
def test_resolve_refuses_what_does_not_exist(method, fusion, message):
    with pytest.raises(OptionError, match=message):
        resolve(method, fusion)


def test_options_and_defaults_come_from_the_registry():
    assert method_options("ekf") == ["covariance", "init", "robust", "fading", "noise_forgetting"]
    assert method_defaults("ekf", "distributed") == {"covariance": "full", "init": "sample", "robust": None, "fading": None,
                                                     "noise_forgetting": 0.99}
    from bayeslstm.kernels.label_noise import DEFAULT_FORGETTING

    assert {method_defaults(m).get("noise_forgetting") for m in ("ekf", "lofi", "gspf", "dekf", "dlofi", "dgspf")} \
        == {DEFAULT_FORGETTING}
    dpf = method_defaults("dpf")
    assert dpf["num_particles"] == DEFAULT_PARTICLES and dpf["walk_steps"] == 10
    assert method_defaults("pf", "centralized")["num_particles"] == DEFAULT_PARTICLES
    assert method_options("sgd") == ["learning_rate"] and method_defaults("dsgd") == {"learning_rate": 0.05}
    assert method_defaults("adam") == {"learning_rate": 0.01}


def test_build_method_refuses_unknown_options_and_a_missing_graph():
    with pytest.raises(OptionError, match=r"method 'ekf' has no option\(s\) \['num_particles'\]; it accepts"):
        build_method("ekf", None, num_particles=10)
    with pytest.raises(OptionError, match="needs a graph"):
        build_method("dekf", None)


BLOCK = re.compile(r"(<!-- registry:methods[^>]*-->\n)(.*?)(\n<!-- /registry:methods -->)", re.S)
DOCS = pathlib.Path(__file__).resolve().parents[1] / "docs"


@pytest.mark.parametrize("page", ["methods.md", "api.md"])
def test_the_docs_method_tables_are_the_registry(page):
    """The docs' method tables are generated: BAYESLSTM_WRITE_DOCS=1 rewrites them from the registry."""
    path = DOCS / page
    text = path.read_text()
    found = BLOCK.findall(text)
    assert found, f"{page} has no registry:methods block"
    if os.environ.get("BAYESLSTM_WRITE_DOCS"):
        path.write_text(BLOCK.sub(lambda m: m[1] + method_table() + m[3], text))
    else:
        assert all(body == method_table() for _, body, _ in found), \
            f"docs/{page} lists other methods than the registry: run BAYESLSTM_WRITE_DOCS=1 pytest {__file__}"
    assert page != "api.md" or methods_sentence() in " ".join(text.split())


def test_every_builder_default_is_the_registered_default():
    """The registry says each option's default; a builder's own keyword default must agree."""
    for name in method_names():
        record = REGISTRY[name]
        parameters = inspect.signature(builder(name)).parameters
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):  # a generic scheme
            parameters = inspect.signature(builder(record.bind["kernel"])).parameters  # passes them to its kernel
        for option, default in record.options.items():
            assert option in parameters, (name, option)
            own = parameters[option].default
            if own is not None or default is None:
                assert own == default, (name, option, own, default)
        for option in record.options:
            assert OPTIONS[option].name == option


def test_the_registered_choices_are_the_kernels_own():
    from bayeslstm.kernels.ekf import INITS
    from bayeslstm.kernels.enkf import UPDATES
    from bayeslstm.kernels.gaussian_sum import MIXTURE_COVARIANCES
    from bayeslstm.kernels.particle_filter import MOVES
    from bayeslstm.kernels.resampling import SCHEMES
    from bayeslstm.network.agreement import CONSENSUS

    expected = {"init": INITS, "update": UPDATES, "covariance": MIXTURE_COVARIANCES, "move": MOVES,
                "resampling": tuple(SCHEMES), "consensus": CONSENSUS}
    assert {name: OPTIONS[name].choices for name in expected} == expected


def test_bl_run_names_every_registered_method():
    import bayeslstm as bl

    assert methods_sentence() in " ".join(bl.run.__doc__.split())
