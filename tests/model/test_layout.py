"""Flat parameter vectors <-> named weights (bayeslstm.model.layout)."""

import jax.numpy as jnp
import numpy as np

from bayeslstm.model.layout import ParamLayout, flatten, unflatten
from bayeslstm.model.lstm import lstm_layout


def test_layout_round_trip(rng):
    layout = lstm_layout(4, 3, True)
    theta = jnp.asarray(rng.normal(size=(7, layout.size)), jnp.float32)
    named = unflatten(layout, theta)
    assert named["W_i"].shape == (7, 3, 4) and named["R_f"].shape == (7, 3, 3) and named["b_out"].shape == (7,)
    np.testing.assert_array_equal(np.asarray(flatten(layout, named)), np.asarray(theta))


def test_blocks_are_consecutive_slices_in_the_layout_order():
    """Written out by hand: a round trip alone would pass with any consistent permutation of
    the entries, this fails if a block is read from the wrong offset or in the wrong order."""
    layout = ParamLayout(("a", "b", "c"), ((2, 3), (2,), ()))
    assert layout.size == 9 and layout.offsets == (0, 6, 8)
    named = unflatten(layout, jnp.arange(9.0))
    np.testing.assert_array_equal(named["a"], [[0, 1, 2], [3, 4, 5]])
    np.testing.assert_array_equal(named["b"], [6, 7])
    assert named["c"].shape == () and float(named["c"]) == 8.0
