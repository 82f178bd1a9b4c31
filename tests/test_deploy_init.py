"""`intake init DIR`: config.toml from the example with the mailbox filled in, secrets.env (0600) with every
secret named, a systemd unit on this environment's intake; check-config names every missing secret in one run."""

from __future__ import annotations

import shutil
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from console.auth import verify
from console.auth import StaffUser
from ingest.cli import main
from ingest.config import ConfigError, load_config

MAILBOX = "anli2026@126.com"


@pytest.fixture
def deployed(tmp_path: Path) -> tuple[Path, str]:
    r = CliRunner().invoke(main, ["init", str(tmp_path / "dep"), "--mailbox", MAILBOX])
    assert r.exit_code == 0, r.output
    return tmp_path / "dep", r.output


def test_init_writes_config_secrets_and_unit(deployed: tuple[Path, str]) -> None:
    directory, output = deployed
    data = tomllib.loads((directory / "config.toml").read_text(encoding="utf-8"))
    assert data["campaign"]["mailbox"] == MAILBOX and data["campaign"]["organizer_email"] == MAILBOX
    assert data["imap"]["username"] == MAILBOX and data["imap"]["host"] == "imap.126.com"
    assert data["smtp"]["sender"] == MAILBOX and data["smtp"]["host"] == "smtp.126.com"
    assert data["intake"]["secrets_file"] == "secrets.env"
    assert "password" not in data["imap"] and "password" not in data["smtp"]  # secrets stay out of the TOML
    example = (Path(__file__).parent.parent / "config.example.toml").read_text(encoding="utf-8")
    assert "# Where raw messages and unpacked files are kept." in example
    assert "# Where raw messages and unpacked files are kept." in (directory / "config.toml").read_text("utf-8")

    secrets_env = directory / "secrets.env"
    assert stat.S_IMODE(secrets_env.stat().st_mode) == 0o600
    lines = dict(line.split("=", 1) for line in secrets_env.read_text(encoding="utf-8").splitlines()
                 if line and not line.startswith("#"))
    assert lines["INTAKE_IMAP_PASSWORD"] == "" and lines["INTAKE_SMTP_PASSWORD"] == ""
    assert len(lines["INTAKE_CONSOLE_SECRET"]) >= 32
    assert secrets_env.read_text(encoding="utf-8").count("【待填写】") == 2

    # The printed password signs in as the account written to config.toml (only its hash is stored).
    user = data["console"]["users"][0]
    password = output.split("密码：", 1)[1].split("（", 1)[0]
    staff = {user["name"]: StaffUser(user["name"], user["role"], user["password_hash"])}
    assert verify(staff, user["name"], password) is not None
    assert password not in (directory / "config.toml").read_text(encoding="utf-8")

    unit = (directory / "case-intake.service").read_text(encoding="utf-8")
    intake = Path(sys.executable).parent / "intake"
    assert f"ExecStart={intake} run --config {directory / 'config.toml'}" in unit
    assert "/usr/local/bin" not in unit and f"ReadWritePaths={directory}" in unit
    if shutil.which("systemd-analyze"):
        checked = subprocess.run(["systemd-analyze", "verify", str(directory / "case-intake.service")],
                                 capture_output=True, text=True, timeout=60)
        assert "case-intake.service:" not in checked.stderr, checked.stderr  # no complaint about our unit


def test_init_never_overwrites(deployed: tuple[Path, str]) -> None:
    directory, _ = deployed
    before = (directory / "secrets.env").read_bytes()
    r = CliRunner().invoke(main, ["init", str(directory), "--mailbox", MAILBOX])
    assert r.exit_code == 2 and "已存在" in r.output
    assert (directory / "secrets.env").read_bytes() == before


def test_check_config_names_every_missing_secret_at_once(deployed: tuple[Path, str]) -> None:
    directory, _ = deployed
    secrets_env = directory / "secrets.env"
    text = secrets_env.read_text(encoding="utf-8")
    keyless = "".join(line for line in text.splitlines(keepends=True) if not line.startswith("INTAKE_CONSOLE_SECRET="))
    secrets_env.write_text(keyless, encoding="utf-8")
    r = CliRunner().invoke(main, ["check-config", "--config", str(directory / "config.toml")], env={
        "INTAKE_IMAP_PASSWORD": "", "INTAKE_SMTP_PASSWORD": "", "INTAKE_CONSOLE_SECRET": ""})
    assert r.exit_code == 2
    assert "缺少 3 项密钥" in r.output and str(secrets_env) in r.output
    lines = [line for line in r.output.splitlines() if line.startswith("  - ")]
    assert len(lines) == 3
    imap, smtp, console = lines
    assert "IMAP 收信授权码" in imap and "INTAKE_IMAP_PASSWORD" in imap
    assert "SMTP 发信授权码" in smtp and "INTAKE_SMTP_PASSWORD" in smtp
    assert "会话签名密钥" in console and "INTAKE_CONSOLE_SECRET" in console and "授权码" not in console.split("，")[0]


def test_secrets_come_from_the_file_and_the_environment_wins(deployed: tuple[Path, str]) -> None:
    directory, _ = deployed
    secrets_env = directory / "secrets.env"
    secrets_env.write_text(secrets_env.read_text(encoding="utf-8")
                           .replace("INTAKE_IMAP_PASSWORD=\n", "INTAKE_IMAP_PASSWORD=from-file\n")
                           .replace("INTAKE_SMTP_PASSWORD=\n", "INTAKE_SMTP_PASSWORD=from-file\n"), encoding="utf-8")
    cfg = load_config(directory / "config.toml", env={})
    assert cfg.imap is not None and cfg.imap.password == "from-file"
    cfg = load_config(directory / "config.toml", env={"INTAKE_SMTP_PASSWORD": "from-env"})
    assert cfg.smtp is not None and cfg.smtp.password == "from-env"
    secrets_env.chmod(0o644)  # readable by every local user: refused, with the fix
    with pytest.raises(ConfigError, match="chmod 600"):
        load_config(directory / "config.toml", env={})


def test_init_refuses_a_bad_mailbox(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["init", str(tmp_path / "x"), "--mailbox", "not-an-address"])
    assert r.exit_code == 2 and "不是邮箱地址" in r.output
    assert not (tmp_path / "x").exists()
