"""The tiny synthetic problem of the report tests (tests/report/): four runs in Python, the same
on the command line (``bayeslstm compare``), and the same as tests/test_cli.py's, so that the
compiled programs are shared."""

TINY = dict(steps=30, nodes=3, features=2, max_len=6)
CLI_TINY = ["--steps", "30", "--nodes", "3", "--features", "2", "--max-len", "6", "--model-arg", "hidden=2",
            "--particles", "32", "--no-progress", "--walk-steps", "2", "--graph", "ring"]
RUNS = {
    "pf": ("pf", dict(num_particles=32)),
    "ekf": ("ekf", {}),
    "pf@centralized": ("pf", dict(fusion="centralized", num_particles=32)),
    "dpf": ("dpf", dict(graph="ring", num_particles=32, walk_steps=2)),
}
