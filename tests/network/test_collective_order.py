"""Collectives in program order: the dependency that orders them changes no value, and it holds
across loops without leaking a loop's values out of it. (That it keeps 4 CPU devices from
hanging is checked by the sharding tests, which run collectives on real devices.)"""

import jax
import jax.numpy as jnp
import numpy as np

from bayeslstm.network.collective_order import after, program_order


def test_the_order_changes_no_value_of_any_dtype():
    values = [jnp.array([1.0, jnp.nan, jnp.inf, -0.0]), jnp.arange(4), jnp.array([True, False]),
              jax.random.split(jax.random.key(0), 3)]
    for token in (jnp.float32(2.0), jnp.float32(jnp.nan), jnp.float32(-jnp.inf)):
        for x in values:
            tied = jax.jit(after)(x, token)
            if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
                tied, x = jax.random.key_data(tied), jax.random.key_data(x)
            assert tied.dtype == x.dtype
            np.testing.assert_array_equal(np.asarray(tied), np.asarray(x))


def test_each_collective_waits_for_the_one_before_also_through_a_loop():
    calls = []

    def collective(x):  # stands in for an all-gather: records what it was given
        calls.append(x)
        return x * 2

    def step(x):
        wrap = program_order()
        ordered = wrap(collective)
        y = ordered(x)
        z = jax.lax.fori_loop(0, 3, lambda _, v: ordered(v) / 2, y)  # inside: its own trace
        return ordered(z + 1.0)

    out = jax.jit(step)(jnp.arange(3.0))
    np.testing.assert_allclose(out, (jnp.arange(3.0) * 2 + 1) * 2)
    text = jax.jit(step).lower(jnp.arange(3.0)).as_text()
    assert text.count("call @_where") == 2  # the loop's and the last call's inputs wait for earlier outputs
    assert len(calls) == 3  # traced once (lowering reuses the trace): each wrapped call once
