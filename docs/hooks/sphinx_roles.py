"""mkdocs hook: show the docstrings' Sphinx roles as plain code.

The docstrings name functions and classes the Sphinx way, :func:`run_method` or
:class:`~bayeslstm.engine.runner.RunResult`. Rendered as Markdown this reads
":func:" followed by the code; the hook keeps the code alone, shortened to its last
component where the name starts with ``~`` (as Sphinx shows it).
"""

from __future__ import annotations

import re

ROLE = re.compile(r":(?:py:)?(?:func|class|mod|meth|attr|data|exc|obj|const):(<code>)(~?)([^<]*)(</code>)")


def shown(match: re.Match) -> str:
    name = match.group(3)
    if match.group(2):
        name = name.rsplit(".", 1)[-1]
    return match.group(1) + name + match.group(4)


def on_page_content(html, page, config, files):
    return ROLE.sub(shown, html)
