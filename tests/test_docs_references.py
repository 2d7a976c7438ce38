"""Every file, test and Python name the prose mentions exists, so the docs cannot go stale
silently when a module moves or a name is renamed.

What is read, as text: README.md and docs/**/*.md; and, in a separate test, the string
literals (docstrings and messages) of bayeslstm/**/*.py, parsed with :mod:`ast`, not
imported. What counts as a reference:

* a repository path: a token with a ``/`` whose first folder is one of :data:`TOP` (relative
  to the repository root; ``{a,b}`` expanded, ``*`` globbed), or whose first folder is a
  wing of the package (``network/faults.py``, read as ``bayeslstm/network/faults.py``), or
  one of the top-level files in :data:`ROOT_FILES`. Paths that ``.gitignore`` names
  (generated output such as ``benchmarks/results/cache/``) are skipped, and so is anything
  under another folder (``runs/...``, ``OUT/...``, ``path/to/file.py``) and every URL;
* a Markdown link or image target, relative to the page that holds it;
* a pytest id ``tests/...py::name`` (the test function or class must be in that file) and a
  model name ``file.py:name`` (a top-level definition of that file);
* ``bl.name.attr...``: resolved by getattr on the imported ``bayeslstm`` package;
* ``bayeslstm.module.name...``: the longest importable module, then getattr for the rest.

A fenced block right after a ``<!-- example -->`` line is a template with placeholder names
(what to fill in, not what exists) and is not read.

No JAX computation runs: importing the package is all.
"""

import ast
import fnmatch
import functools
import importlib
import itertools
import pathlib
import re
from typing import NamedTuple

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
SOURCES = sorted((ROOT / "bayeslstm").rglob("*.py"))

# folders at the repository root that the prose may name; a path under any other folder
# (runs/, OUT/, path/to/, jax/_src/...) is an example or an output, not a reference
TOP = ("bayeslstm", "benchmarks", "docs", "models", "tests", ".ci")
# folders of the package that the prose names without the leading bayeslstm/
WINGS = ("model", "kernels", "network", "data", "engine", "report", "river")
ROOT_FILES = ("README.md", "pyproject.toml", "mkdocs.yml", "setup.py", "setup.cfg",
              "CHANGELOG.md", "CONTRIBUTING.md", "LICENSE", "LICENSE.md", "LICENSE.txt", ".gitignore")

URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s)>\]`'\"]*")
EXAMPLE = re.compile(r"^<!-- example -->[ \t]*\n(```|~~~).*?^\1[ \t]*$", re.M | re.S)
LINK = re.compile(r"\]\(\s*<?([^)\s>]+)")
SEGMENT = r"(?:[\w.*-]|\{[\w.,*-]*\})+"
PATH = re.compile(rf"(?<![\w./:~{{}}-])({SEGMENT}(?:/{SEGMENT})+/?)(?:::([\w:]+)|:([A-Za-z_]\w*))?")
ROOT_FILE = re.compile(r"(?<![\w./-])(" + "|".join(re.escape(f) for f in ROOT_FILES) + r")(?![\w/-])")
BL = re.compile(r"(?<![\w.])bl((?:\.[A-Za-z_]\w*)+)")
DOTTED = re.compile(r"(?<![\w./-])(bayeslstm(?:\.[A-Za-z_]\w*)+)")


class Reference(NamedTuple):
    line: int
    kind: str  # "path", "link", "bl", "dotted"
    text: str  # as written
    detail: str = ""  # a pytest id's ::name or a model's :name


def _blank(text: str, pattern: re.Pattern) -> str:
    """The text with every match of pattern replaced by spaces (line numbers kept)."""
    return pattern.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)


def references(text: str, markdown: bool = True) -> list[Reference]:
    """Every reference a text makes, in the order of the text."""
    found = []
    line_of = lambda pos: text.count("\n", 0, pos) + 1  # noqa: E731
    if markdown:
        text = _blank(text, EXAMPLE)
        for m in LINK.finditer(text):
            target = m.group(1)
            if not URL.match(target) and not target.startswith(("#", "mailto:")):
                found.append(Reference(line_of(m.start(1)), "link", target))
        text = _blank(text, LINK)
    text = _blank(text, URL)
    for m in PATH.finditer(text):
        path = m.group(1).rstrip(".")
        first = path.split("/")[0]
        if first in TOP or (first in WINGS and path.endswith(".py")):
            found.append(Reference(line_of(m.start()), "path", path, m.group(2) or m.group(3) or ""))
    for m in ROOT_FILE.finditer(text):
        found.append(Reference(line_of(m.start()), "path", m.group(1)))
    for m in BL.finditer(text):
        found.append(Reference(line_of(m.start()), "bl", "bl" + m.group(1)))
    for m in DOTTED.finditer(text):
        found.append(Reference(line_of(m.start()), "dotted", m.group(1)))
    return sorted(found)


def expand(path: str) -> list[str]:
    """``a.{json,md}`` -> ``a.json``, ``a.md`` (several braces give every combination)."""
    parts = re.split(r"\{([^}]*)\}", path)
    choices = [[p] if i % 2 == 0 else p.split(",") for i, p in enumerate(parts)]
    return ["".join(c) for c in itertools.product(*choices)]


@functools.cache
def ignore_patterns() -> tuple[str, ...]:
    lines = (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    return tuple(p.strip().strip("/") for p in lines if p.strip() and not p.startswith(("#", "!")))


def ignored(path: str) -> bool:
    """Whether .gitignore names the path or a folder above it (generated output)."""
    parts = path.strip("/").split("/")
    for i in range(1, len(parts) + 1):
        prefix = "/".join(parts[:i])
        for pattern in ignore_patterns():
            if fnmatch.fnmatch(prefix if "/" in pattern else parts[i - 1], pattern):
                return True
    return False


@functools.cache
def top_level_names(file: pathlib.Path) -> frozenset[str]:
    """Names a Python file defines at top level (functions, classes, assignments, imports),
    with ``Class::method`` for the methods of its classes."""
    names = set()
    for node in ast.parse(file.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
            if isinstance(node, ast.ClassDef):
                names.update(f"{node.name}::{n.name}" for n in node.body
                             if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)))
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return frozenset(names)


def resolve_dotted(name: str) -> bool:
    """Whether ``bayeslstm.a.b.c`` is a module or an attribute of one."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


def problem(ref: Reference, base: pathlib.Path) -> str | None:
    """Why a reference does not resolve, or None when it does. base: the folder that a
    Markdown link is relative to."""
    if ref.kind == "bl":
        import bayeslstm

        obj = bayeslstm
        for attr in ref.text.split(".")[1:]:
            if not hasattr(obj, attr):
                return f"{ref.text}: bayeslstm has no {attr!r} there"
            obj = getattr(obj, attr)
        return None
    if ref.kind == "dotted":
        return None if resolve_dotted(ref.text) else f"{ref.text}: neither a module nor an attribute"
    if ref.kind == "link":
        target = ref.text.split("#")[0]
        return None if not target or (base / target).exists() else f"{ref.text}: no such file"
    for path in expand(ref.text):
        if ignored(path):
            continue
        real = path if path.split("/")[0] in TOP or "/" not in path else f"bayeslstm/{path}"
        hits = sorted(ROOT.glob(real.rstrip("/"))) if "*" in real else [ROOT / real]
        hits = [h for h in hits if h.exists() and (h.is_dir() or not real.endswith("/"))]
        if not hits:
            return f"{path}: no such file or folder"
        if ref.detail and real.endswith(".py"):
            name = ref.detail.split("[")[0]
            if name not in top_level_names(hits[0]):
                return f"{path}: defines no {name!r}"
    return None


def check(text: str, base: pathlib.Path = ROOT, markdown: bool = True) -> list[str]:
    """``line N: what`` for every reference of the text that does not resolve."""
    return [f"line {ref.line}: {why}" for ref in references(text, markdown)
            if (why := problem(ref, base)) is not None]


def string_problems(file: pathlib.Path) -> list[str]:
    """``file:line: what`` for every reference of a Python file's string literals (docstrings,
    messages) that does not resolve; line: the first source line of the literal that holds the
    reference as written (strings joined across lines have no newlines of their own)."""
    source = file.read_text(encoding="utf-8")
    lines = source.splitlines()
    problems = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
            continue
        for ref in references(node.value, markdown=False):
            if (why := problem(ref, ROOT)) is None:
                continue
            span = range(node.lineno, node.end_lineno + 1)
            line = next((n for n in span if ref.text in lines[n - 1]), node.lineno + ref.line - 1)
            problems.append(f"{file.relative_to(ROOT)}:{line}: {why}")
    return problems


# --- the checker itself -------------------------------------------------------------------


FAKE = """# A page
See `bayeslstm/network/faults.py`, `docs/{faults,sharding}.md` and [faults](docs/faults.md),
`network/agreement.py` and `tests/network/test_faults.py::test_an_absent_node_freezes_and_rejoins`.
Output lands in `runs/dpf/summary.json` and `OUT/report.md`; see https://example.org/tests/x.py.
`models/my_mlp.py:mlp_regression` and `bl.run`, `bl.online.online_learner` and `bl.DATASETS`.
`bayeslstm.network.faults.live_groups` and `bayeslstm.data.tables.TableStream`; `pyproject.toml`.
Made up: `bayeslstm/faults.py`, `benchmarks/nothing.{py,md}`, [x](docs/nothing.md),
`network/nothing.py`, `tests/network/test_faults.py::test_nothing[ring]`, `models/my_mlp.py:nothing`,
`bl.compare`, `bl.online.nothing`, `bayeslstm.tables.TableStream`, `bayeslstm.data.tables.Nothing`.
"""


def test_the_checker_finds_each_kind_of_reference():
    refs = references(FAKE)
    texts = [r.text for r in refs]
    assert "bayeslstm/network/faults.py" in texts and "docs/{faults,sharding}.md" in texts
    assert "docs/faults.md" in texts and "network/agreement.py" in texts
    assert not any(t.startswith(("runs/", "OUT/", "https")) or "example.org" in t for t in texts)
    assert Reference(3, "path", "tests/network/test_faults.py",
                     "test_an_absent_node_freezes_and_rejoins") in refs
    assert Reference(5, "path", "models/my_mlp.py", "mlp_regression") in refs
    assert {r.text for r in refs if r.kind == "bl"} >= {"bl.run", "bl.online.online_learner", "bl.compare"}
    assert "bayeslstm.tables.TableStream" in texts and "pyproject.toml" in texts


def test_the_checker_passes_real_references_and_fails_made_up_ones():
    problems = check(FAKE)
    # every reference on lines 7-9 is made up, every one before them is real
    assert [p for p in problems if int(p.split()[1].rstrip(":")) < 7] == []
    for made_up in ("bayeslstm/faults.py", "benchmarks/nothing.py", "docs/nothing.md", "network/nothing.py",
                    "defines no 'test_nothing'", "defines no 'nothing'", "bl.compare:", "bl.online.nothing",
                    "bayeslstm.tables.TableStream", "bayeslstm.data.tables.Nothing"):
        assert any(made_up in p for p in problems), (made_up, problems)
    assert len(problems) == 10, problems


def test_the_checker_skips_generated_output_that_gitignore_names():
    assert ignored("benchmarks/results/cache/") and ignored("runs/dpf/summary.json")
    assert not ignored("benchmarks/results/faults.json")
    assert check("cached in `benchmarks/results/cache/` and `bayeslstm/__pycache__/x.pyc`") == []


def test_a_block_marked_as_an_example_is_not_read():
    block = "```text\n`tests/x/test_nothing.py::test_to_fill_in`\n```\n"
    assert check(block) != []
    assert check("<!-- example -->\n" + block + "`bl.nothing`\n") == ["line 5: bl.nothing: bayeslstm has no 'nothing' there"]


def test_a_link_is_relative_to_its_page():
    docs = ROOT / "docs"
    assert check("![a](figures/tae.png) [b](reference/index.md#x) [c](../benchmarks/results/scale.png)", docs) == []
    assert len(check("![a](figures/tae.png) [c](benchmarks/results/scale.png)", docs / "reference")) == 2


# --- the docs -----------------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_reference_of_the_docs_exists(page):
    problems = check(page.read_text(encoding="utf-8"), page.parent)
    assert not problems, f"{page.relative_to(ROOT)} names what is not there:\n" + "\n".join(problems)


def test_the_docs_are_read():
    """Guards the checker against matching nothing: the pages make hundreds of references."""
    refs = [r for page in PAGES for r in references(page.read_text(encoding="utf-8"))]
    kinds = {kind: sum(r.kind == kind for r in refs) for kind in ("path", "link", "bl", "dotted")}
    assert kinds["path"] > 100 and kinds["link"] > 20 and kinds["bl"] > 50 and kinds["dotted"] > 50, kinds


# --- the package's own strings ------------------------------------------------------------


def test_every_reference_of_the_package_strings_exists():
    problems = [p for file in SOURCES for p in string_problems(file)]
    assert not problems, "the package's strings name what is not there:\n" + "\n".join(problems)
