"""Every ```python block of README.md and docs/*.md runs.

Each file's blocks run in order in one namespace (later blocks use earlier names), in a
fresh temporary working directory so that files they write land there; blocks that write
checkpoints then run a second time there, as a reader running a snippet again would. The docs speak to a
reader at the repository root, so that directory links the checkout's ``models/`` folder
(``models/my_mlp.py:...`` resolves). A block preceded by a ``<!-- skip-test -->`` line is
not run: only for blocks that cannot run offline.
"""

import contextlib
import os
import pathlib
import re
import warnings

import matplotlib
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
SKIP = "<!-- skip-test -->"
FENCE = re.compile(r"^(?P<skip><!-- skip-test -->\s*\n)?```python[^\n]*\n(?P<code>.*?)^```\s*$", re.M | re.S)


def python_blocks(text: str) -> list[tuple[int, str, bool]]:
    """(line, code, skipped) of every ```python block of a Markdown text."""
    return [(text.count("\n", 0, m.start("code")) + 1, m.group("code"), bool(m.group("skip")))
            for m in FENCE.finditer(text)]


def test_block_extraction():
    text = "a\n```python\nx = 1\n```\n\n<!-- skip-test -->\n```python\nimport nothing\n```\n```bash\nls\n```\n"
    assert python_blocks(text) == [(3, "x = 1\n", False), (8, "import nothing\n", True)]


@pytest.mark.parametrize("path", [p for p in DOCS if python_blocks(p.read_text())], ids=lambda p: p.name)
def test_python_blocks_run(path, tmp_path, monkeypatch):
    matplotlib.use("Agg")
    (tmp_path / "models").symlink_to(ROOT / "models", target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    blocks = [(line, code) for line, code, skipped in python_blocks(path.read_text()) if not skipped]
    # blocks that checkpoint run twice in the same folder: a reader runs a snippet again
    again = [(line, code) for line, code in blocks if "checkpoint=" in code]
    with registry_restored():
        _run_blocks(path, blocks + again)
    assert os.getcwd() == str(tmp_path)


@contextlib.contextmanager
def registry_restored():
    """A page that registers a method (adding-a-method.md) leaves the registry as it found it."""
    from bayeslstm.methods import OPTIONS, REGISTRY

    saved = dict(REGISTRY), dict(OPTIONS)
    try:
        yield
    finally:
        for table, before in zip((REGISTRY, OPTIONS), saved):
            table.clear()
            table.update(before)


def _run_blocks(path: pathlib.Path, blocks: list[tuple[int, str]]) -> None:
    import matplotlib.pyplot as plt

    namespace = {"__name__": f"docs_{path.stem}"}
    for line, code in blocks:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                warnings.simplefilter("ignore", DeprecationWarning)  # third-party deprecations inside arviz
                exec(compile(code, f"{path.relative_to(ROOT)}:{line}", "exec"), namespace)
        except Exception as exc:
            raise AssertionError(f"{path.relative_to(ROOT)}, block at line {line} failed: {type(exc).__name__}: {exc}") from exc
        finally:
            plt.close("all")
