"""The fast paths of issue 6 give the numbers of the plain paths they replace.

* ``random_walk_noise`` is ``jax.random.normal`` bit for bit (the same draws, so every
  particle filter's results are unchanged);
* ``observe_all`` with the particles in blocks equals one ``vmap`` over all of them (with
  padding, blocks that do not divide N, several batch entries), and a whole particle-filter
  run is the same either way.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayeslstm.kernels import particle_filter as pf
from bayeslstm.model import statespace
from bayeslstm.kernels.protocol import Batch
from bayeslstm.models.lstm import lstm_regression
from bayeslstm.model.statespace import particle_blocks, read_model
from bayeslstm.model.noise import random_walk_noise


@pytest.mark.parametrize("shape", [(37, 101), (3, 4, 7)])
def test_random_walk_noise_is_jax_normal_bit_for_bit(shape):
    key = jax.random.fold_in(jax.random.key(3), 11)
    fast = jax.jit(lambda k: random_walk_noise(k, shape, jnp.float32))(key)
    plain = jax.jit(lambda k: jax.random.normal(k, shape, jnp.float32))(key)
    np.testing.assert_array_equal(np.asarray(fast), np.asarray(plain))


def test_random_walk_noise_under_vmap_raw_keys_and_other_generators():
    @jax.jit
    def both(keys, raw, rbg):
        fast = (jax.vmap(lambda k: random_walk_noise(k, (6, 9), jnp.float32))(keys),
                random_walk_noise(raw, (8, 3), jnp.float32), random_walk_noise(rbg, (8, 3), jnp.float32))
        plain = (jax.vmap(lambda k: jax.random.normal(k, (6, 9), jnp.float32))(keys),
                 jax.random.normal(raw, (8, 3), jnp.float32), jax.random.normal(rbg, (8, 3), jnp.float32))
        return fast, plain

    # keys split per node (as the distributed filters vmap them), a legacy uint32 key, and
    # another generator (which falls back to jax.random.normal)
    fast, plain = both(jax.random.split(jax.random.key(0), 4), jax.random.PRNGKey(5), jax.random.key(5, impl="rbg"))
    for a, b in zip(fast, plain):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_particle_blocks_cover_every_particle_once():
    assert particle_blocks(10, None) == [(0, 10)]
    assert particle_blocks(10, 16) == [(0, 10)]
    assert particle_blocks(1000, 256) == [(i, i + 250) for i in range(0, 1000, 250)]
    spans = particle_blocks(4001, 128)  # capped at MAX_BLOCKS blocks
    assert len(spans) == statespace.MAX_BLOCKS and spans[0][0] == 0 and spans[-1][1] == 4001
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
    assert particle_blocks(1000, "auto") == particle_blocks(1000, statespace.CPU_PARTICLE_BLOCK)  # on the CPU
    for bad in (0, "many", 2.5):
        with pytest.raises(ValueError):
            particle_blocks(10, bad)


def _ssm(hidden=4, features=3, m=6, **options):
    model = lstm_regression(features=features, hidden=hidden, **options)
    return read_model(model, np.zeros((m, features), np.float32), np.ones(m, bool))


def test_observe_all_in_blocks_equals_one_vmap():
    ssm = _ssm(pooling="max", output_bias=True)._replace(particle_block=4)  # 3 uneven blocks of 11
    plain_ssm = ssm._replace(particle_block=None)
    particles = jax.jit(lambda k: pf.init_particles(ssm, k, 11).particles)(jax.random.key(0))
    B, m, p = 3, 6, 3
    X = jax.random.normal(jax.random.key(4), (B, m, p))
    mask = jnp.arange(m)[None, :] < jnp.array([6, 2, 0])[:, None]  # full, padded, empty
    batch = Batch(X, mask, jnp.array([0.3, -1.0, 0.1]), jnp.array([True, True, False]))
    fast = jax.jit(lambda P, b: pf.observe_all(ssm, P, b))(particles, batch)
    plain = jax.jit(lambda P, b: pf.observe_all(plain_ssm, P, b))(particles, batch)
    for a, b in zip(fast, plain):
        assert a.shape == (11, B)
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)


def test_particle_filter_run_is_unchanged_by_the_fast_paths():
    T, m, p = 6, 5, 3
    X = jax.random.normal(jax.random.key(5), (T, m, p))
    mask = jnp.arange(m)[None, :] < jax.random.randint(jax.random.key(6), (T, 1), 1, m + 1)
    d = jax.random.normal(jax.random.key(7), (T,))
    ssm = _ssm(hidden=3, features=p, m=m)

    def run(ssm, noise):
        kernel = pf.particle_filter(ssm, 24)

        def body(state, t):
            batch = Batch(X[t][None], mask[t][None], d[t][None], jnp.ones(1, bool))
            state, info = kernel.step(jax.random.fold_in(jax.random.key(9), t), state, batch)
            return state, info.prediction[0]

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(statespace, "random_walk_noise", noise)  # read when the step is traced
            return jax.jit(lambda: jax.lax.scan(body, kernel.init(jax.random.key(8)), jnp.arange(T)))()

    fast_state, fast_pred = run(ssm._replace(particle_block=8), statespace.random_walk_noise)  # 3 blocks
    plain_state, plain_pred = run(ssm._replace(particle_block=None), jax.random.normal)
    np.testing.assert_allclose(np.asarray(fast_pred), np.asarray(plain_pred), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(fast_state.particles), np.asarray(plain_state.particles), rtol=1e-5, atol=1e-6)


def test_node_map_in_chunks_equals_one_vmap(monkeypatch):
    from bayeslstm.network import method as fusion

    def per_node(key, state, scale):
        noise = jax.random.normal(key, state["x"].shape)
        return {"x": state["x"] * scale + noise, "total": jnp.sum(state["x"])}, scale * 2

    K = 7
    keys = fusion.node_keys(jax.random.key(1), K)
    state = {"x": jax.random.normal(jax.random.key(2), (K, 5, 3))}
    scale = jnp.arange(K, dtype=jnp.float32)
    plain = jax.vmap(per_node)(keys, state, scale)
    per_node_bytes = 5 * 3 * 4 + 4 + 8
    monkeypatch.setattr(fusion, "NODE_CHUNK_BYTES", 3 * per_node_bytes)  # chunks of 3: 3 + 3 + 1
    chunked = jax.jit(lambda *a: fusion.node_map(per_node, *a))(keys, state, scale)
    jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-6), chunked, plain)
    if jax.default_backend() == "cpu":  # the chunked path was taken: a scan over chunks is in the program
        text = jax.jit(lambda *a: fusion.node_map(per_node, *a)).lower(keys, state, scale).as_text()
        assert "while" in text


@pytest.mark.parametrize("method", ["pf", "dpf"])
def test_network_step_with_nodes_in_chunks_equals_one_vmap(method, monkeypatch):
    import bayeslstm as bl
    from bayeslstm.network import method as fusion

    stream = bl.teacher_stream(steps=3, nodes=5, features=3, min_len=2, max_len=4, seed=0)[0]

    def run():
        graph = {"graph": "ring"} if method == "dpf" else {}
        return bl.run(stream, method, model_options={"hidden": 2}, num_particles=16, **graph)

    plain = run()
    monkeypatch.setattr(fusion, "NODE_CHUNK_BYTES", 1)  # one node at a time
    chunked = run()
    np.testing.assert_allclose(chunked.predictions, plain.predictions, rtol=1e-5, atol=1e-6)
