"""The domain's modules speak to each other through public names only.

(import-linter checks that ``domain/`` has no import cycle; this checks what it cannot see.)
"""

from __future__ import annotations

import ast
from pathlib import Path

DOMAIN = Path(__file__).resolve().parents[2] / "domain"


def _private_uses(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    modules: set[str] = set()  # local names bound to domain modules
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("domain"):
            for alias in node.names:
                if node.module == "domain":
                    modules.add(alias.asname or alias.name)
                elif alias.name.startswith("_"):
                    found.append(f"{path.name}:{node.lineno} imports {node.module}.{alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("domain."):
                    modules.add(alias.asname or alias.name)
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and node.attr.startswith("_")
                and not node.attr.startswith("__") and isinstance(node.value, ast.Name)
                and node.value.id in modules):
            found.append(f"{path.name}:{node.lineno} uses {node.value.id}.{node.attr}")
    return found


def test_no_domain_module_uses_another_modules_private_names() -> None:
    found = [use for path in sorted(DOMAIN.glob("*.py")) for use in _private_uses(path)]
    assert found == []


def test_the_check_sees_a_private_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from domain.fieldwork import _apply\nfrom domain import issues\n"
                   "issues._secret()\n", encoding="utf-8")
    assert _private_uses(bad) == ["bad.py:1 imports domain.fieldwork._apply",
                                  "bad.py:3 uses issues._secret"]
