"""Compiled programs kept across runs: a warm run gives the cold run's bits, a corrupt entry is
compiled again, ``--no-cache`` leaves the folder alone, and ``bayeslstm cache --clear`` empties it.
Each run is a fresh process (the cache is set once per process), on a tiny EKF run."""

import json
import os
import subprocess
import sys

from bayeslstm.engine.compilation_cache import cache_root, cache_size, clear_cache

TINY = ["run", "--method", "ekf", "--steps", "20", "--nodes", "2", "--features", "2", "--max-len", "4",
        "--model-arg", "hidden=2", "--no-progress"]


def cli(args, home, out=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("BAYESLSTM_")}
    env["XDG_CACHE_HOME"] = str(home)
    command = [*args, "--out", str(out)] if out is not None else args
    code = f"from bayeslstm.cli.main import main; raise SystemExit(main({command!r}))"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    if out is None:
        return done.stdout
    return json.loads((out / "summary.json").read_text())["methods"]["ekf"]


def test_a_warm_cache_gives_the_cold_runs_numbers_and_survives_corrupt_entries(tmp_path):
    """Two processes: the cold run keeps its programs; one of them is then overwritten with
    garbage (the smallest, so that the programs read back still save most of the compiling),
    and the warm run compiles that one again and reads the rest: the same numbers, less
    compiling, no error."""
    home = tmp_path / "home"
    cold = cli(TINY, home, tmp_path / "cold")
    folder = home / "bayeslstm"
    files, size = cache_size(folder)
    assert files > 1 and size > 0  # the programs were kept
    entries = sorted((path for path in folder.rglob("*") if path.is_file()), key=lambda path: path.stat().st_size)
    entries[0].write_bytes(b"not a program")
    warm = cli(TINY, home, tmp_path / "warm")
    assert warm["tae"] == cold["tae"] and warm["log_score"] == cold["log_score"]
    assert warm["compile_seconds"] < cold["compile_seconds"]
    assert "files" in cli(["cache"], home)
    assert "removed" in cli(["cache", "--clear"], home) and not folder.exists()


def test_no_cache_leaves_the_folder_alone(tmp_path):
    home = tmp_path / "home"
    cli([*TINY, "--no-cache"], home, tmp_path / "out")
    assert not (home / "bayeslstm").exists()


def test_the_folder_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("BAYESLSTM_CACHE_DIR", raising=False)
    assert cache_root() == tmp_path / "xdg" / "bayeslstm"
    monkeypatch.setenv("BAYESLSTM_CACHE_DIR", str(tmp_path / "mine"))
    assert cache_root() == tmp_path / "mine"
    assert clear_cache() == (0, 0)  # nothing there: nothing removed, no error
