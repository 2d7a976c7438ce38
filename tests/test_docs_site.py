"""The documentation site builds in strict mode, its reference comes from the docstrings, and
every figure the pages show exists.

The build runs ``mkdocs build --strict`` with the interpreter running the tests: mkdocs,
mkdocs-material and mkdocstrings are in the ``test`` extra, so a missing one fails here
rather than being skipped. Strict mode turns every warning into a failure: a broken link
or anchor, a page left out of the nav, a reference to a module that does not import.
"""

import html
import inspect
import os
import pathlib
import re
import subprocess
import sys

import pytest

import bayeslstm
from bayeslstm.data import tables
from bayeslstm.engine import runner
from bayeslstm.kernels import particle_filter
from bayeslstm.report import comparison, inference_data

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)")
ROLE = re.compile(r":(?:py:)?[a-z]+:`(~?)([^`]*)`")

# (built page, object whose docstring's first sentence the page must show)
DOCUMENTED = [
    ("reference/index.html", bayeslstm.run),
    ("reference/index.html", bayeslstm.compare_results),
    ("reference/engine/index.html", runner.run),
    ("reference/data/index.html", tables.table_stream),
    ("reference/report/index.html", inference_data.to_inference_data),
    ("reference/report/index.html", comparison.compare_results),
    ("reference/kernels/index.html", particle_filter.particle_filter),
]


def first_sentence(obj) -> str:
    """The first sentence of a docstring as a reader sees it: no ``code`` marks, and a
    Sphinx role shown as its name (its last component after ``~``)."""
    text = inspect.getdoc(obj).split("\n\n")[0]
    text = ROLE.sub(lambda m: m.group(2).rsplit(".", 1)[-1] if m.group(1) else m.group(2), text)
    text = " ".join(text.replace("``", "").split())
    end = text.find(". ")
    return text if end < 0 else text[: end + 1]


def page_text(path: pathlib.Path) -> str:
    """A built page's text: tags removed, entities decoded, whitespace collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", path.read_text(encoding="utf-8"))).split())


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> pathlib.Path:
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stdout}\n{done.stderr}"
    return out


def test_the_first_sentence_helper_reads_roles_and_code():
    def f():
        """Cut ``table`` into pairs: a :class:`~a.b.TableStream` for :func:`run`. More."""

    assert first_sentence(f) == "Cut table into pairs: a TableStream for run."


@pytest.mark.parametrize("page, obj", DOCUMENTED, ids=lambda x: x if isinstance(x, str) else x.__name__)
def test_the_reference_shows_the_docstrings(site, page, obj):
    sentence = first_sentence(obj)
    assert sentence, f"{obj.__module__}.{obj.__name__} has no docstring"
    assert sentence in page_text(site / page), f"{page} does not show {obj.__name__}'s {sentence!r}"


def test_every_public_wing_has_a_reference_page(site):
    for wing in ("model", "kernels", "network", "data", "engine", "report", "river"):
        text = (site / "reference" / wing / "index.html").read_text(encoding="utf-8")
        modules = sorted(p.stem for p in (ROOT / "bayeslstm" / wing).glob("*.py") if p.stem != "__init__")
        missing = [m for m in modules if f'id="bayeslstm.{wing}.{m}"' not in text]
        assert not missing, f"reference/{wing}.md lists no ::: block for {missing}"


def test_sphinx_roles_are_shown_as_code(site):
    for page in (site / "reference").rglob("index.html"):
        assert not re.search(r":(func|class|mod|data|meth|attr|exc):<code>", page.read_text(encoding="utf-8")), page


def test_every_figure_the_docs_show_exists(site):
    shown = 0
    for page in sorted(DOCS.rglob("*.md")):
        for target in IMAGE.findall(page.read_text(encoding="utf-8")):
            if "://" in target:
                continue
            shown += 1
            assert (page.parent / target).resolve().is_file(), f"{page.relative_to(ROOT)} shows a missing {target}"
    assert shown >= 5
    # and on the site: every image a built page shows was published with it
    for built in site.rglob("*.html"):
        for src in re.findall(r'<img[^>]*\ssrc="([^"]+)"', built.read_text(encoding="utf-8")):
            if "://" in src or src.startswith("data:"):
                continue
            assert (built.parent / src).resolve().is_file(), f"{built.relative_to(site)} shows a missing {src}"


def test_the_report_figures_are_small_and_shown():
    text = "".join(p.read_text(encoding="utf-8") for p in DOCS.rglob("*.md"))
    figures = sorted((DOCS / "figures").glob("*.png"))
    assert {p.name for p in figures} >= {"tae.png", "ess.png", "weights.png", "network.png"}
    for figure in figures:
        assert figure.stat().st_size < 150_000, f"{figure.name} is {figure.stat().st_size} bytes"
        assert f"figures/{figure.name}" in text, f"no page shows {figure.name}"
