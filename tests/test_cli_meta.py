"""Meta-tests of the command line: every command has help with an example, and every command the
README shows exists and is exercised by some test."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from ingest.cli import main

ROOT = Path(__file__).resolve().parent.parent


def all_commands(group: click.Group, prefix: str = "") -> dict[str, click.Command]:
    out: dict[str, click.Command] = {}
    for name, cmd in group.commands.items():
        out[f"{prefix}{name}"] = cmd
        if isinstance(cmd, click.Group):
            out.update(all_commands(cmd, f"{prefix}{name} "))
    return out


def test_every_command_has_help_with_an_example() -> None:
    runner = CliRunner()
    for path in all_commands(main):
        result = runner.invoke(main, [*path.split(), "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Example" in result.output or "示例" in result.output, f"`intake {path} --help` has no example"


def test_readme_commands_exist_and_are_tested() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    shown = set(re.findall(r"^\s*(?:[A-Z_]+=\S+\s+)*intake ([a-z][a-z-]*)", readme, re.M))
    commands = all_commands(main)
    tests_text = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "tests").glob("test_*.py")
                           if p.name != Path(__file__).name)
    for name in sorted(shown):
        assert name in commands, f"README shows `intake {name}`, which does not exist"
        assert re.search(rf"[\"' ]{re.escape(name)}[\"' ]", tests_text), f"`intake {name}` is shown in the README " \
                                                                         "but no test runs it"


@pytest.mark.parametrize("args", [["--help"], ["subject", "浙江省/杭州市文三街小学AI课程建设+人工智能教育"],
                                  ["stats", "--help"]])
def test_light_commands_do_not_import_the_stack(args: list[str], tmp_path: Path) -> None:
    """`intake --help` and `intake subject` are run one by one from scripts: they must not load the database
    layer, the pipeline, the console or the chart library (each command imports what it uses when it runs)."""
    heavy = ("sqlalchemy", "alembic", "ingest.pipeline.process", "ingest.pipeline.daemon", "console", "starlette", "matplotlib",
             "openpyxl", "jinja2")
    code = ("import sys\nfrom ingest.cli import main\n"
            f"main({args!r}, standalone_mode=False)\n"
            f"print('LOADED', sorted(m for m in sys.modules if m.startswith({heavy!r})))\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "LOADED []"
