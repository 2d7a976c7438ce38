"""The tiny synthetic problem of the report tests (tests/report/): four runs in Python, the same
on the command line (``bayeslstm compare``), and the same as tests/test_cli.py's, so that the
compiled programs are shared; and a toy declaration whose sites name their dimensions."""

import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist

from bayeslstm.model.noise import random_walk

TINY = dict(steps=30, nodes=3, features=2, max_len=6)
CLI_TINY = ["--steps", "30", "--nodes", "3", "--features", "2", "--max-len", "6", "--model-arg", "hidden=2",
            "--particles", "32", "--no-progress", "--walk-steps", "2", "--graph", "ring"]
RUNS = {
    "pf": ("pf", dict(num_particles=32)),
    "ekf": ("ekf", {}),
    "pf@centralized": ("pf", dict(fusion="centralized", num_particles=32)),
    "dpf": ("dpf", dict(graph="ring", num_particles=32, walk_steps=2)),
}


def annotated(X, mask, theta_prev=None, d=None):
    """A plate names b's dimension; an annotation names both of Wh's; c is left unnamed."""
    with numpyro.plate("gate", 3):
        b = numpyro.sample("b", dist.Normal(0.0, 1.0) if theta_prev is None else dist.Normal(theta_prev["b"], 0.01))
    Wh = numpyro.sample("Wh", dist.Normal(jnp.zeros((2, 3)), 1.0).to_event(2) if theta_prev is None
                        else random_walk(theta_prev["Wh"], 1e-4), infer={"dims": ("hidden", "gate")})
    c = numpyro.sample("c", dist.Normal(jnp.zeros(2), 1.0).to_event(1) if theta_prev is None
                       else random_walk(theta_prev["c"], 1e-4))
    xbar = (mask / jnp.maximum(mask.sum(), 1)) @ X
    numpyro.sample("d", dist.Normal(jnp.sum(Wh @ jnp.tanh(b)) + c @ xbar, 0.1), obs=d)
