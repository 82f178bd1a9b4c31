"""Every public function, class and method of ingest/ and store/ says in a docstring what it is for (issue 19 §7):
a newcomer reads the module map in docs/ARCHITECTURE.md, then the one line under each name."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("ingest", "store")
# Migrations are Alembic's generated shape (upgrade/downgrade).
LEFT_OUT = ("store/migrations/",)


def undocumented(path: Path) -> Iterator[str]:
    """``line name`` of each public function, class or method (of a public class) without a docstring; nested
    functions and private names (a leading underscore) are left to comments."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))

    def walk(body: list[ast.stmt], prefix: str) -> Iterator[str]:
        for node in body:
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            if node.name.startswith("_"):
                continue
            if ast.get_docstring(node) is None:
                yield f"{node.lineno} {prefix}{node.name}"
            if isinstance(node, ast.ClassDef):
                yield from walk(node.body, f"{prefix}{node.name}.")

    yield from walk(tree.body, "")


def _sources() -> list[Path]:
    return [p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))
            if not p.relative_to(ROOT).as_posix().startswith(LEFT_OUT)]


def test_every_public_name_has_a_docstring() -> None:
    missing = [f"{path.relative_to(ROOT)}:{where}" for path in _sources() for where in undocumented(path)]
    assert missing == []


def test_the_check_reads_the_packages() -> None:
    sources = _sources()
    assert len(sources) > 80
    assert ROOT / "store" / "repo.py" in sources and ROOT / "ingest" / "files" / "facts.py" in sources
    assert ROOT / "ingest" / "pipeline" / "process.py" in sources
    assert ROOT / "ingest" / "pipeline" / "stages.py" in sources


def test_the_check_sees_a_missing_docstring(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text('def f():\n    """Said."""\n\n\ndef g():\n    pass\n\n\ndef _h():\n    pass\n\n\n'
                      'class C:\n    """Said."""\n\n    def m(self):\n        return 1\n\n    def _n(self):\n'
                      '        return 2\n\n\nclass D:\n    x = 1\n\n\nclass _E:\n    def m(self):\n'
                      '        return 3\n', encoding="utf-8")
    assert list(undocumented(source)) == ["5 g", "16 C.m", "23 D"]
