"""Meta-tests of the command line: every command has help with an example, and every command the
README shows exists and is exercised by some test."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from cli_probe import loaded_after
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


# Commands the README shows that no pytest test can run, each with where it is exercised instead.
NOT_IN_PYTEST = {
    "bash scripts/test.sh": "the test command itself: .ci/run execs it; bench/fresh_debian.sh --tests runs it in a "
                            "fresh Debian 12 root",
    "systemctl": "needs a running systemd; tests/test_deploy_init.py checks the unit `intake init` writes",
    "cp case-intake.service": "part of the systemd line above",
    "git clone": "the clean clone of tests/test_install.py and bench/fresh_debian.sh",
    "cd ": "a shell built-in",
}


def readme_commands() -> list[str]:
    """Every command the README shows, in English and in 快速开始: the lines of its shell blocks and the inline
    code that starts with a command, split at `&&`, comments and placeholders like [--db …] dropped."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    found: list[str] = []
    for block in re.findall(r"```bash\n(.*?)```", readme, re.S):
        found += [line.split("  #")[0].strip() for line in block.splitlines()]
    found += re.findall(r"(?<!`)`((?:[A-Z_]+=\S+ )*(?:intake|bash |pipx |source |\.venv/bin/|cp |git |cd )[^`\n]*)`(?!`)",
                        readme)
    commands = [re.sub(r"\s*\[[^]]*\]", "", part).strip() for line in found for part in line.split("&&")]
    return [c for c in commands if c]


def test_readme_commands_exist_and_are_tested() -> None:
    """Each `intake …` shown names a real command with real options and is run by some test; each script,
    bench or install command shown is run by some test (or is listed above with where it is exercised)."""
    commands = all_commands(main)
    tests_text = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "tests").glob("test_*.py")
                           if p.name != Path(__file__).name)
    shown = readme_commands()
    assert len(shown) > 30, shown
    for line in shown:
        command = re.sub(r"^(?:[A-Z_]+=\S+\s+)*", "", line)
        words = command.split()
        if any(command.startswith(prefix) for prefix in NOT_IN_PYTEST):
            continue
        if words[0] == "intake":
            name = next((" ".join(words[1:n]) for n in (3, 2) if " ".join(words[1:n]) in commands), None)
            if len(words) == 1 or words[1] == "--help":
                continue
            assert name is not None, f"README shows `{line}`: no such command"
            options = {opt for param in commands[name].params for opt in (*param.opts, *param.secondary_opts)}
            for word in words:
                if word.startswith("--"):
                    assert word.split("=")[0] in options | {"--help"}, f"README shows `{line}`: no option {word}"
            assert re.search(rf"[\"' ]{re.escape(name.split()[0])}[\"' ]", tests_text), \
                f"`intake {name}` is shown in the README but no test runs it"
        elif words[0] == "bash":
            assert (ROOT / words[1]).exists() and f'"bash", "{words[1]}"' in tests_text, f"no test runs `{line}`"
        elif words[0] == "source":
            assert "source .venv/bin/activate" in tests_text, f"no test runs `{line}`"
        elif words[0] == "pipx":
            assert '[pipx, "install", str(clone)]' in tests_text and line == "pipx install .", f"no test runs `{line}`"
        elif "bench/" in line:
            script = Path(re.search(r"bench/(\S+)\.py", line).group(1))  # type: ignore[union-attr]
            assert f'bench_module("{script}")' in tests_text or f'run_bench("{script}.py"' in tests_text, \
                f"no test runs `{line}`"
        elif words[0].endswith("/pip") or words[0] == "python3" or words[0].endswith("/bin/pip"):
            assert '"wheel", "--no-deps"' in tests_text and '"-m", "venv"' in tests_text, f"no test runs `{line}`"
        else:
            raise AssertionError(f"README shows `{line}`: say which test runs it (or add it to NOT_IN_PYTEST)")


@pytest.mark.parametrize("args", [["--help"], ["subject", "浙江省/杭州市文三街小学AI课程建设+人工智能教育"],
                                  ["stats", "--help"]])
def test_light_commands_do_not_import_the_stack(args: list[str], tmp_path: Path) -> None:
    """`intake --help` and `intake subject` are run one by one from scripts: they must not load the database
    layer, the pipeline, the console or the chart library (each command imports what it uses when it runs)."""
    heavy = ("sqlalchemy", "alembic", "ingest.pipeline.process", "ingest.pipeline.daemon", "console", "starlette", "matplotlib",
             "openpyxl", "jinja2")
    assert loaded_after(args, tmp_path, heavy)[1] == []


@pytest.mark.parametrize("url", ["postgresql://intake:Pw-in-url@db.example:5432/intake?sslmode=require",
                                 "postgresql+psycopg://intake@/intake?host=/var/run/postgresql"])
def test_a_postgresql_configuration_loads_no_sqlalchemy(url: str, tmp_path: Path) -> None:
    """`intake subject` reads ./config.toml when there is one: its PostgreSQL URL (and the warning about a password
    written in it) is read by store.pg_url, not SQLAlchemy's make_url."""
    example = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    (tmp_path / "config.toml").write_text(example.replace('database_url = "sqlite:///var/intake.db"',
                                                          f'database_url = "{url}"', 1), encoding="utf-8")
    printed, loaded = loaded_after(["subject", "浙江省/杭州市文三街小学AI课程建设+人工智能教育"], tmp_path,
                                   ("sqlalchemy", "psycopg"))
    assert loaded == [] and "浙江省" in printed
