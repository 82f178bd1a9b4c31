"""The architecture, read from the source: which package imports which, and no status, role or severity code
spelled as a bare string outside the vocabulary (``checks/domain.py``)."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path
from typing import Iterator

from checks.domain import FileRole, MessageStatus, OutboxStatus, Severity, SubmissionStatus

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


# ---- no bare codes ----------------------------------------------------------------------------------------------

CODES = {code for vocabulary in (SubmissionStatus, MessageStatus, OutboxStatus, FileRole, Severity)
         for code in vocabulary.codes()}

# The same words with another meaning (a log format, a log level, an unknown file kind or host, a facts field):
# (file, word) → how many times. A new use of a code as a code goes through checks.domain instead.
OTHER_MEANINGS = Counter({
    ("ingest/cli/trial.py", "text"): 1,  # the `intake subject TEXT` argument
    ("ingest/cli/trial.py", "needs_review"): 1,  # a field name of the parsed subject, shown with its label
    ("ingest/cli/setup.py", "info"): 1,  # uvicorn's log level
    ("ingest/config.py", "text"): 3,  # log_format = "text" | "json"
    ("ingest/logs.py", "text"): 1,  # the same log format
    ("ingest/pipeline/replies.py", "text"): 1,  # the FileFacts field holding a document's full text
    ("ingest/files/sniff.py", "unknown"): 1,  # UNKNOWN_KIND: a file kind the magic bytes do not tell
    ("checks/rules/photos.py", "unknown"): 1,  # a measured image format that could not be read
    ("checks/rules/video.py", "unknown"): 1,  # a measured container that could not be read
    ("console/app.py", "unknown"): 1,  # a client without an address, in the login limiter
    ("ingest/cli/review.py", "link"): 1,  # the `intake link` command's name
    ("ingest/cli/__init__.py", "link"): 1,  # the same command, listed in the help's groups
})


def bare_codes(path: Path) -> list[tuple[int, str]]:
    """String constants equal to a status, role or severity code; dict keys and subscripts (field names of JSON
    and facts, like ``facts["video"]``) are names, not codes, and are left out."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            names.update(id(k) for k in node.keys if k is not None)
        elif isinstance(node, ast.Subscript):
            names.update(id(n) for n in ast.walk(node.slice))
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in CODES
            and id(node) not in names]


def test_no_status_role_or_severity_literal_outside_the_vocabulary() -> None:
    found: Counter[tuple[str, str]] = Counter()
    where: dict[tuple[str, str], list[int]] = {}
    for package in PACKAGES:
        for path in _sources(package):
            rel = path.relative_to(ROOT).as_posix()
            if rel == "checks/domain.py" or "/migrations/" in rel:
                continue
            for line, code in bare_codes(path):
                found[(rel, code)] += 1
                where.setdefault((rel, code), []).append(line)
    unexpected = {f"{rel}:{where[(rel, code)]} {code!r}": n for (rel, code), n in found.items()
                  if n > OTHER_MEANINGS[(rel, code)]}
    assert unexpected == {}


def test_the_literal_check_sees_a_bare_status(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text('if case.status == "rejected":\n    role = facts["video"]\nd = {"photo": 1}\nx = f(role="photo")\n')
    assert bare_codes(source) == [(1, "rejected"), (4, "photo")]
