"""Nothing under simulators/ may import the gateway side (gateway, adapters, mappings)."""

from __future__ import annotations

import ast
from pathlib import Path

SIMULATORS = Path(__file__).resolve().parents[1] / "simulators"
FORBIDDEN = {"gateway", "adapters", "mappings"}


def _imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name | ast.Attribute)
            and getattr(node.func, "id", getattr(node.func, "attr", "")) in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.lineno, node.args[0].value))
    return found


def test_simulators_import_nothing_from_the_gateway_side() -> None:
    sources = sorted(SIMULATORS.rglob("*.py"))
    assert sources, "no simulator sources found"
    offending = [
        f"{path.relative_to(SIMULATORS.parent)}:{line}: {module}"
        for path in sources
        for line, module in _imported_modules(ast.parse(path.read_text(encoding="utf-8"), str(path)))
        if module.split(".")[0] in FORBIDDEN
    ]
    assert offending == []


def test_the_check_sees_a_forbidden_import() -> None:
    tree = ast.parse("import os\nfrom gateway.domain import uscc\nimport adapters.x\n")
    modules = [module for _line, module in _imported_modules(tree)]
    assert [m for m in modules if m.split(".")[0] in FORBIDDEN] == ["gateway.domain", "adapters.x"]
