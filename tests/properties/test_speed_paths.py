"""The fast paths give the numbers of the plain paths they replace, on whole runs.

* a particle filter run with the particles in blocks (``StateSpace.particle_block``) and the
  unrolled random-walk noise (``random_walk_noise``) equals one with a single ``vmap`` and
  ``jax.random.normal``;
* a network step with the nodes in chunks (``node_map`` on the CPU) equals one ``vmap``.

The pieces are checked on their own with their modules: ``random_walk_noise`` in
tests/model/test_noise.py, the particle blocks in tests/model/test_statespace.py, ``node_map``
in tests/network/test_method.py.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayeslstm.kernels import particle_filter as pf
from bayeslstm.kernels.protocol import Batch
from bayeslstm.model import statespace
from bayeslstm.model.statespace import read_model
from bayeslstm.models.lstm import lstm_regression


def _ssm(hidden=4, features=3, m=6, **options):
    model = lstm_regression(features=features, hidden=hidden, **options)
    return read_model(model, np.zeros((m, features), np.float32), np.ones(m, bool))


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
