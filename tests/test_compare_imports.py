"""The compare package's modules import one another without a cycle, deferred imports included."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "deliverymodes" / "_compare"


def sibling_imports(path: Path) -> set[str]:
    """The modules of the package that ``path`` imports, anywhere in it (``_run``, …)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(alias.name for alias in node.names)
    return found


def test_no_import_cycle_in_the_compare_package() -> None:
    graph = {path.stem: sibling_imports(path) for path in PACKAGE.glob("*.py")}
    assert graph["_run"].isdisjoint({"_remote", "__init__"})  # the engine imports no runner

    def reaches(start: str, target: str, seen: set[str]) -> bool:
        for module in graph.get(start, set()):
            if module == target or (
                module not in seen and reaches(module, target, seen | {module})
            ):
                return True
        return False

    cycles = [module for module in graph if reaches(module, module, {module})]
    assert cycles == []
