"""The registry of inference methods (bayeslstm.methods): names, cooperation modes, kernel
families, options and their defaults, all checked before anything is built."""

import pytest

from bayeslstm.errors import OptionError
from bayeslstm.kernels.particle_filter import DEFAULT_PARTICLES
from bayeslstm.engine.assembly import build_method
from bayeslstm.methods import (
    REGISTRY, distributed_form, distributed_names, family, kernel_names, method_defaults, method_names,
    method_options, method_specs, needs_graph, resolve,
)


def test_method_names_and_labels():
    """One NAME@FUSION parser serves the command line and the benchmarks."""
    from bayeslstm.methods import method_specs

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
    assert method_options("ekf") == ["covariance", "init"]
    assert method_defaults("ekf", "distributed") == {"covariance": "full", "init": "sample"}
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
