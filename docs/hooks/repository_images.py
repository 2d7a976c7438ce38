"""mkdocs hook: show the images that pages take from the repository outside ``docs/``.

Pages show figures that other scripts write elsewhere in the repository, e.g.
``![...](../benchmarks/results/paper_real.png)``: the link is right when the Markdown is read
in the repository, but mkdocs publishes only ``docs/``. This hook publishes each such image
under ``repository/<its path>`` and points the page's link there, so the figure has one
copy, the one its script writes. Other links out of ``docs/`` are left alone (a strict build
reports them).
"""

from __future__ import annotations

import pathlib
import posixpath
import re

from mkdocs.structure.files import File

LINK = re.compile(r"(!?\[[^\]]*\]\()([^)\s]+)((?:\s+\"[^\"]*\")?\))")
IMAGES = (".png", ".svg", ".jpg", ".jpeg", ".gif", ".webp")
PREFIX = "repository/"


def outside_docs(page_uri: str, target: str, docs: str) -> str | None:
    """The repository path a relative link of a page points to, when it leaves ``docs/``."""
    path = target.split("#", 1)[0]
    if not path or "://" in path or path.startswith(("/", "mailto:")):
        return None
    joined = posixpath.normpath(posixpath.join(docs, posixpath.dirname(page_uri), path))
    if joined.startswith("../") or joined == docs or joined.startswith(docs + "/"):
        return None
    return joined


def layout(config) -> tuple[pathlib.Path, str]:
    root = pathlib.Path(config.config_file_path).resolve().parent
    return root, pathlib.Path(config.docs_dir).resolve().relative_to(root).as_posix()


def on_files(files, config):
    root, docs = layout(config)
    for page in list(files.documentation_pages()):
        text = pathlib.Path(page.abs_src_path).read_text(encoding="utf-8")
        for match in LINK.finditer(text):
            path = outside_docs(page.src_uri, match.group(2), docs)
            if path and path.lower().endswith(IMAGES) and (root / path).is_file():
                if files.get_file_from_path(PREFIX + path) is None:
                    files.append(File.generated(config, PREFIX + path, abs_src_path=str(root / path)))
    return files


def on_page_markdown(markdown, page, config, files):
    _, docs = layout(config)

    def relink(match: re.Match) -> str:
        path = outside_docs(page.file.src_uri, match.group(2), docs)
        if path is None or files.get_file_from_path(PREFIX + path) is None:
            return match.group(0)
        here = posixpath.dirname(page.file.src_uri) or "."
        return match.group(1) + posixpath.relpath(PREFIX + path, here) + match.group(3)

    return LINK.sub(relink, markdown)
