"""The architecture, read from the source: which package imports which, and no status, role or severity code
spelled as a bare string outside the vocabulary (``checks/domain.py``)."""

from __future__ import annotations

import ast
import graphlib
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Iterator

import pytest

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


# ---- sample generators stay out of the runtime ----------------------------------------------------------------

SAMPLES = "ingest.samples"
DEMO = "ingest.setup.demo"
# Outside tests/ and bench/, only the demo builds its mails from the generators, and only the `intake demo` command
# (inside its function, so `intake poll` never loads them) imports the demo.
SAMPLE_IMPORTERS = {"ingest/setup/demo.py"}
DEMO_IMPORTERS = {"ingest/cli/setup.py"}


def _imports_with_level(path: Path) -> Iterator[tuple[int, str, bool]]:
    """(line, name, inside a function) of each import of ours in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    nested: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            nested.update(id(inner) for inner in ast.walk(node) if inner is not node)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] in PACKAGES:
                yield node.lineno, name, id(node) in nested


def _sample_imports_out_of_place(paths: list[Path], root: Path = ROOT) -> list[str]:
    wrong = []
    for path in paths:
        rel = path.relative_to(root).as_posix()
        if rel.startswith("ingest/samples/"):
            continue
        for line, name, in_function in _imports_with_level(path):
            if _allowed(name, {SAMPLES}) and rel not in SAMPLE_IMPORTERS:
                wrong.append(f"{rel}:{line} imports {name}")
            if _allowed(name, {DEMO}) and (rel not in DEMO_IMPORTERS or not in_function):
                wrong.append(f"{rel}:{line} imports {name}")
    return wrong


def test_sample_generators_are_imported_only_by_the_demo() -> None:
    assert _sample_imports_out_of_place([p for package in PACKAGES for p in _sources(package)]) == []


def test_the_sample_check_sees_a_wrong_import(tmp_path: Path) -> None:
    sources = {
        "ingest/setup/demo.py": "from ingest.samples.mails import build_mail\n",  # the demo: allowed
        "ingest/cli/setup.py": "from ingest.setup.demo import run_demo\n",  # at module level: loaded by every command
        "ingest/staff/output.py": "def f():\n    from ingest.samples.files import make_jpeg\n",  # runtime code
        "ingest/cli/cases.py": "def f():\n    import ingest.setup.demo\n",  # not the demo command's module
    }
    for rel, text in sources.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text, encoding="utf-8")
    assert _sample_imports_out_of_place([tmp_path / rel for rel in sources], root=tmp_path) == [
        "ingest/cli/setup.py:1 imports ingest.setup.demo.run_demo",
        "ingest/staff/output.py:2 imports ingest.samples.files.make_jpeg",
        "ingest/cli/cases.py:2 imports ingest.setup.demo",
    ]


def test_the_runtime_loads_no_sample_generator() -> None:
    """Every module of ingest/ but the generators and the demo, imported in a fresh interpreter: none of them
    pulls in ingest.samples or the demo, however indirectly."""
    runtime = sorted(".".join(p.relative_to(ROOT).with_suffix("").parts) for p in _sources("ingest")
                     if not p.relative_to(ROOT).as_posix().startswith("ingest/samples/")
                     and p.name not in ("__main__.py",) and p.relative_to(ROOT).as_posix() != "ingest/setup/demo.py")
    runtime = [m.removesuffix(".__init__") for m in runtime]
    code = ("import importlib, sys\n"
            f"for m in {runtime!r}:\n    importlib.import_module(m)\n"
            f"print(sorted(m for m in sys.modules if m.startswith({SAMPLES!r}) or m == {DEMO!r}))")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert len(runtime) > 50
    assert done.stdout.strip() == "[]"


# ---- no import cycle --------------------------------------------------------------------------------------------

def _module_of(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(package: str, skip: frozenset[tuple[str, str]] = frozenset()) -> dict[str, set[str]]:
    """Module → the modules of ``package`` it imports: every import counts, at the top, inside a function (a lazy
    import hides a cycle, it does not remove it) or for type checking only; but the (importer, imported) pairs in
    ``skip``."""
    modules = {_module_of(path): path for path in _sources(package)}
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets = {name if name in modules else name.rsplit(".", 1)[0] for _, name in _imports_of_ours(path)}
        graph[module] = {t for t in targets if t in modules and t != module and (module, t) not in skip}
    return graph


def _typing_only_imports(path: Path) -> set[str]:
    """The modules ``path`` imports only under ``if TYPE_CHECKING:`` (never at run time)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    typing_nodes: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            typing_nodes.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    found: dict[str, set[bool]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.setdefault(node.module, set()).add(id(node) in typing_nodes)
    return {module for module, where in found.items() if where == {True}}


# Reader modules that type the callback they are handed against the class that calls them (ingest/files/unpack.py
# splits its readers out): a cycle for the type checker only. Each must stay typing-only (asserted below).
TYPING_BACK_EDGES = frozenset({
    ("ingest.files.unpack_zip", "ingest.files.unpack"),
    ("ingest.files.unpack_libarchive", "ingest.files.unpack"),
})


def test_no_import_cycle_among_the_ingest_modules() -> None:
    for importer, imported in TYPING_BACK_EDGES:
        assert imported in _typing_only_imports(ROOT / (importer.replace(".", "/") + ".py")), importer
    graphlib.TopologicalSorter(import_graph("ingest", TYPING_BACK_EDGES)).prepare()  # CycleError names the cycle


def test_the_cycle_check_sees_a_cycle() -> None:
    graph = import_graph("ingest")
    assert "ingest.pipeline.values" in graph["ingest.pipeline.analyse"]
    assert "ingest.files.facts" in graph["ingest.files.worker_tasks"]  # imported inside a function: still an edge
    assert "ingest.runtime" in graph["ingest.pipeline.replies"]  # imported for type checking only: still an edge
    graph["ingest.pipeline.values"].add("ingest.pipeline.analyse")  # values importing analyse would close a cycle
    with pytest.raises(graphlib.CycleError):
        graphlib.TopologicalSorter(import_graph("ingest", TYPING_BACK_EDGES) | {
            "ingest.pipeline.values": graph["ingest.pipeline.values"]}).prepare()


# ---- no bare codes ----------------------------------------------------------------------------------------------

CODES = {code for vocabulary in (SubmissionStatus, MessageStatus, OutboxStatus, FileRole, Severity)
         for code in vocabulary.codes()}

# The same words with another meaning (a log format, a log level, an unknown file kind or host, a facts field):
# (file, word) → how many times. A new use of a code as a code goes through checks.domain instead.
OTHER_MEANINGS = Counter({
    ("ingest/cli/trial.py", "text"): 1,  # the `intake subject TEXT` argument
    ("ingest/cli/trial.py", "needs_review"): 1,  # a field name of the parsed subject, shown with its label
    ("ingest/cli/setup.py", "info"): 1,  # uvicorn's log level
    ("ingest/config/model.py", "text"): 1,  # log_format = "text" | "json"
    ("ingest/config/sections.py", "text"): 2,  # the same log format, validated
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
