"""The architecture, read from the source: which package imports which."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Iterator


ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("checks", "store", "notify", "console", "ingest")

# The bottom: pure modules every package may import (the vocabulary, the typed errors with their Chinese lines).
BOTTOM = {"checks.domain", "checks.errors"}
# package → what of ours it may import (a package, or one module of one)
ALLOWED = {
    "checks": {"checks"},
    "store": {"store"} | BOTTOM,
    "notify": {"notify"} | BOTTOM,
    "console": {"console", "store"} | BOTTOM,
    "ingest": set(PACKAGES),
}


def _sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _imports_of_ours(path: Path) -> Iterator[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: inside its own package
                continue
            names = [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] in PACKAGES:
                yield node.lineno, name


def _allowed(name: str, allowed: set[str]) -> bool:
    return any(name == a or name.startswith(a + ".") for a in allowed)


def test_packages_import_only_what_the_layering_allows() -> None:
    wrong = [f"{path.relative_to(ROOT)}:{line} imports {name}"
             for package, allowed in ALLOWED.items() for path in _sources(package)
             for line, name in _imports_of_ours(path) if not _allowed(name, allowed)]
    assert wrong == []


def test_the_bottom_imports_nothing_of_ours() -> None:
    for module in BOTTOM:
        assert list(_imports_of_ours(ROOT / (module.replace(".", "/") + ".py"))) == [], module


def test_the_layering_check_sees_a_wrong_import(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text("from notify.render import Renderer\nimport store.models\nfrom checks.domain import FileRole\n")
    found = [name for _, name in _imports_of_ours(source)]
    assert found == ["notify.render.Renderer", "store.models", "checks.domain.FileRole"]
    assert [n for n in found if not _allowed(n, ALLOWED["store"])] == ["notify.render.Renderer"]
