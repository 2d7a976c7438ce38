"""The package's imports, read from the source: no cycles, and data flows one way.

Every ``import`` and ``from ... import`` in every module is read with ``ast``, including the
lazy ones inside functions, and resolved to the package's modules (``from pkg import name``
counts as importing ``pkg.name`` when that is a module). Importing ``a.b.c`` also runs the
wing ``a.b``'s ``__init__``, so that edge is counted too; the root ``bayeslstm/__init__.py``
only re-exports the public names and is left out, as it would close every path.
"""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGE = "bayeslstm"


def module_files() -> dict[str, pathlib.Path]:
    """Module name -> file, for the package and its examples (installed as bayeslstm.models)."""
    files = {}
    for folder, prefix in ((ROOT / "bayeslstm", PACKAGE), (ROOT / "models", f"{PACKAGE}.models")):
        for path in folder.rglob("*.py"):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            files[".".join([prefix, *parts])] = path
    return files


def imports_of(name: str, path: pathlib.Path, modules: set[str]) -> set[str]:
    """The package modules ``name`` imports, anywhere in its body."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:  # a name inside a module: the module
                target = target.rpartition(".")[0]
            if target:
                found.add(target)
    wings = set()
    for target in found:  # importing a.b.c runs a.b's __init__ (the root's is left out)
        parts = target.split(".")
        wings.update(".".join(parts[:i]) for i in range(2, len(parts)))
    return (found | wings) - {PACKAGE, name}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    files = module_files()
    return {name: imports_of(name, path, set(files)) for name, path in files.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in graph.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_the_reader_sees_lazy_and_relative_imports(graph):
    assert "bayeslstm.kernels.particle_filter" in graph["bayeslstm.network.consensus_dpf"]  # relative, at the top
    assert "bayeslstm.report.folder" in graph["bayeslstm.cli.outputs"]  # inside a function
    assert "bayeslstm.network.sharding" in graph["bayeslstm.engine.assembly"]  # lazy, inside build_method
    assert "bayeslstm.model" in graph["bayeslstm.models.lstm"]  # the wing's __init__ runs too


def test_there_is_no_import_cycle(graph):
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_report_wing_does_not_reach_the_runner(graph):
    for name in graph:
        if name.startswith("bayeslstm.report"):
            assert "bayeslstm.engine.runner" not in reachable(graph, name), name


def test_the_examples_import_only_model_primitives(graph):
    for name, imported in graph.items():
        if name.startswith("bayeslstm.models"):
            outside = {m for m in imported if not m.startswith(("bayeslstm.model", "bayeslstm.models"))}
            assert not outside, (name, outside)
            assert "bayeslstm.model.builtin" not in imported and "bayeslstm.model.declarations" not in imported


def test_wing_inits_import_nothing():
    for path in (ROOT / "bayeslstm").glob("*/__init__.py"):
        tree = ast.parse(path.read_text())
        assert not [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))], path
