"""Files of one concept, functions of one job: no module of the package over 450 lines and no
function over 80, so that a change is read in one place."""

import ast
import pathlib

PACKAGE = pathlib.Path(__file__).resolve().parents[2] / "bayeslstm"
MAX_MODULE_LINES, MAX_FUNCTION_LINES = 450, 80


def oversized(root: pathlib.Path) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        text = path.read_text()
        if text.count("\n") > MAX_MODULE_LINES:
            found.append(f"{path.relative_to(root.parent)}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    found.append(f"{path.relative_to(root.parent)}:{node.lineno} {node.name}: {length} lines")
    return found


def test_no_module_or_function_is_too_long():
    assert not oversized(PACKAGE), "split these:\n" + "\n".join(oversized(PACKAGE))


def test_the_size_check_finds_a_long_function(tmp_path):
    (tmp_path / "pkg").mkdir()
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    (tmp_path / "pkg" / "long.py").write_text(f"def long():\n{body}\n")
    assert oversized(tmp_path / "pkg") == ["pkg/long.py:1 long: 81 lines"]
