"""The latent sites of a declaration (bayeslstm.model.sites): the dimension names a model gives
its sites, through plates and ``infer`` annotations, carried in the layout reports read."""

import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist
import pytest

from bayeslstm.errors import ModelError
from bayeslstm.model.layout import ParamLayout, block_dims
from bayeslstm.model.lstm import lstm_layout
from bayeslstm.model.sites import declaration_runner, declaration_structure, named_blocks
from tiny_runs import annotated

X = jnp.ones((4, 2))
MASK = jnp.array([1, 1, 1, 0], bool)


def _dims(model, form="transition"):
    return block_dims(declaration_structure(declaration_runner(model, form), X, MASK).layout)


def test_plates_and_annotations_name_a_site_s_dimensions():
    assert _dims(annotated) == {"Wh": ("hidden", "gate"), "b": ("gate",), "c": None}


def test_event_dimensions_follow_arviz_s_convention():
    """Plates name the batch dimensions, ``infer={"event_dims": ...}`` the event ones (as
    ``az.from_numpyro`` reads them); a dimension nothing names keeps ``<site>_dim_<k>``."""

    def model(X, mask, d=None):
        with numpyro.plate("node", 2):
            w = numpyro.sample("w", dist.Normal(jnp.zeros(3), 1.0).to_event(1), infer={"event_dims": ["feature"]})
            v = numpyro.sample("v", dist.Normal(jnp.zeros((4, 2)), 1.0))  # batch (4, 2): the plate names the last
        numpyro.sample("d", dist.Normal(w.sum() + v.sum(), 1.0), obs=d)

    assert _dims(model, "static") == {"v": ("v_dim_0", "node"), "w": ("node", "feature")}


@pytest.mark.parametrize("infer, count", [({"dims": ("hidden",)}, "2 dimensions"), ({"event_dims": ("a", "b")}, "1 event dimension")])
def test_names_that_do_not_fit_the_site_are_refused(infer, count):
    def model(X, mask, d=None):
        w = numpyro.sample("w", dist.Normal(jnp.zeros((2, 3)), 1.0).to_event(1), infer=infer)
        numpyro.sample("d", dist.Normal(w.sum(), 1.0), obs=d)

    with pytest.raises(ModelError, match=rf"site 'w' has infer=.* but {count}: give one name"):
        _dims(model, "static")


def test_a_packed_theta_takes_the_names_of_its_blocks():
    blocks = lstm_layout(2, 2)
    sites = ParamLayout(("r", "theta"), ((), (blocks.size,)), dims=(None, ("theta_dim_0",)))
    named = block_dims(named_blocks(sites, blocks))
    assert named["r"] is None and named["W_i"] == ("hidden", "feature") and named["w_out"] == ("hidden",)
    assert block_dims(named_blocks(sites._replace(dims=None), ParamLayout(("a",), ((blocks.size,),)))) == {
        "r": None, "a": None}
