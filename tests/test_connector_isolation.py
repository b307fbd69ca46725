"""The connector seam holds: adapters (transport) never import mappings (fields), mappings never
import adapters, and the contract both import (gateway/contract.py, gateway/feedtime.py) imports
neither (STYLE.md "Neutral shapes between transport and fields")."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.test_simulators_isolation import _imported_modules

ROOT = Path(__file__).resolve().parents[1]
NEUTRAL = (ROOT / "gateway" / "contract.py", ROOT / "gateway" / "feedtime.py", ROOT / "gateway" / "filedrop.py")


def _offending(paths: list[Path], forbidden: set[str]) -> list[str]:
    return [
        f"{path.relative_to(ROOT)}:{line}: {module}"
        for path in paths
        for line, module in _imported_modules(ast.parse(path.read_text(encoding="utf-8"), str(path)))
        if module.split(".")[0] in forbidden
    ]


def test_adapters_never_import_mappings() -> None:
    sources = sorted((ROOT / "adapters").rglob("*.py"))
    assert sources
    assert _offending(sources, {"mappings"}) == []


def test_mappings_never_import_adapters() -> None:
    sources = sorted((ROOT / "mappings").rglob("*.py"))
    assert sources
    assert _offending(sources, {"adapters"}) == []


def test_the_contract_imports_neither_side() -> None:
    assert all(path.exists() for path in NEUTRAL)
    assert _offending(list(NEUTRAL), {"adapters", "mappings", "simulators"}) == []
    # Only the pure domain of the gateway: nothing that does I/O or knows a system.
    gateway_imports = [
        module
        for path in NEUTRAL
        for _line, module in _imported_modules(ast.parse(path.read_text(encoding="utf-8")))
        if module.split(".")[0] == "gateway"
    ]
    assert all(module.startswith("gateway.domain") for module in gateway_imports), gateway_imports
