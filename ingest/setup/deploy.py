"""``intake init DIR``: the files a real deployment starts from, in one folder.

* ``config.toml``: the shipped example with the call's mailbox filled in (IMAP/SMTP user, sender, campaign
  mailbox, organiser address, server names guessed from the mail domain) and ``secrets_file`` pointing at
* ``secrets.env`` (mode 0600): every secret the configuration names. The console's cookie key and the first
  staff account's password are generated here; the IMAP/SMTP 授权码 are left empty and marked, so
  ``intake check-config`` names each one still missing, all in one run;
* ``case-intake.service``: a systemd unit running the ``intake`` of the Python environment this command runs
  in (a project venv or pipx), not whatever ``intake`` a PATH would find.

Existing files are never overwritten: a second ``init`` into the same folder stops with one line.
"""

from __future__ import annotations

import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import tomlkit

from console.auth import hash_password
from ingest import resources
from ingest.config import CONSOLE_SECRET, IMAP_SECRET, SMTP_SECRET, ConfigError

CONFIG_NAME = "config.toml"
SECRETS_NAME = "secrets.env"
UNIT_NAME = "case-intake.service"
FIRST_USER = "reviewer"


@dataclass(frozen=True)
class InitResult:
    """What ``intake init`` wrote: the config, the secrets file, the systemd unit and the first console account."""

    directory: Path
    config: Path
    secrets: Path
    unit: Path
    console_user: str
    console_password: str  # shown once; only its argon2 hash is kept (in config.toml)
    to_fill: tuple[str, ...]  # variables of secrets.env the organiser still has to fill in


def new_console_password() -> str:
    """A password a person can type: 16 URL-safe characters (96 bits)."""
    return secrets.token_urlsafe(12)


def new_console_key() -> str:
    """A fresh secret key for the console's session cookies."""
    return secrets.token_urlsafe(48)


def write_private(path: Path, text: str) -> None:
    """Create ``path`` readable by its owner only (0600 from the first byte, whatever the umask)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    path.chmod(0o600)


def intake_executable() -> Path:
    """The ``intake`` script beside the running interpreter (a venv's or pipx's bin/), as systemd needs a path."""
    return Path(sys.executable).parent / "intake"


def _config_text(mailbox: str, password_hash: str) -> str:
    doc = tomlkit.parse(resources.example_config().read_text(encoding="utf-8"))
    domain = mailbox.rsplit("@", 1)[1].lower()
    intake = doc["intake"]
    intake["secrets_file"] = SECRETS_NAME
    intake["secrets_file"].comment(
        "KEY=value lines (mode 600) with the secrets named below; written by `intake init`")
    for section in ("imap", "smtp"):
        table = doc[section]
        table["host"] = f"{section}.{domain}"
        table["username"] = mailbox
    doc["smtp"]["sender"] = mailbox
    campaign = doc["campaign"]
    campaign["mailbox"] = mailbox
    campaign["organizer_email"] = mailbox
    users = doc["console"]["users"]
    users[0]["name"] = FIRST_USER
    users[0]["password_hash"] = password_hash
    return tomlkit.dumps(doc)


def _env_names(config_text: str) -> tuple[str, str, str]:
    data = tomlkit.parse(config_text).unwrap()
    return (data["imap"]["password_env"], data["smtp"]["password_env"], data["console"]["secret_key_env"])


def _secrets_text(imap_var: str, smtp_var: str, console_var: str, console_key: str) -> str:
    return (
        "# case-intake 的密钥，只有运行 intake 的用户可读（权限 600）。不要放进 config.toml，不要提交到代码仓库。\n"
        "# 等号后面为空的，是还要填写的：填好后运行 intake check-config，它会一次列出所有仍缺的项。\n"
        "\n"
        f"# 【待填写】{IMAP_SECRET.label}。\n"
        "# 163/126 邮箱：网页版“设置 → POP3/SMTP/IMAP”开启 IMAP/SMTP 服务，按提示获取。\n"
        f"{imap_var}=\n"
        "\n"
        f"# 【待填写】{SMTP_SECRET.label}。\n"
        f"{smtp_var}=\n"
        "\n"
        f"# {CONSOLE_SECRET.label}：已由 intake init 随机生成，无需修改。\n"
        f"{console_var}={console_key}\n"
    )


def _unit_text(directory: Path, intake: Path, user: str) -> str:
    config = directory / CONFIG_NAME
    return f"""# systemd unit written by `intake init` for {directory}.
# Install:  cp {directory / UNIT_NAME} /etc/systemd/system/ && systemctl daemon-reload
#           systemctl enable --now case-intake
# Secrets are read from {directory / SECRETS_NAME} (config.toml's secrets_file), never from this unit.
[Unit]
Description=case-intake mail intake daemon (案例征集收件)
After=network-online.target postgresql.service
Wants=network-online.target

[Service]
Type=simple
User={user}
WorkingDirectory={directory}
Environment=INTAKE_CONFIG={config}
ExecStartPre={intake} check-config --config {config}
ExecStart={intake} run --config {config}
# SIGTERM lets the daemon finish the message in hand; give it time before SIGKILL.
KillSignal=SIGTERM
TimeoutStopSec=120
Restart=on-failure
RestartSec=30
NoNewPrivileges=yes
PrivateTmp=yes
ProtectSystem=strict
# read-only, not yes: the venv holding intake may live in a home directory.
ProtectHome=read-only
ReadWritePaths={directory}

[Install]
WantedBy=multi-user.target
"""


def init_deployment(directory: Path, mailbox: str, *, user: str | None = None) -> InitResult:
    """Write config.toml, secrets.env and case-intake.service into ``directory`` (created if needed)."""
    if mailbox.count("@") != 1 or not all(mailbox.split("@")):
        raise ConfigError(f"--mailbox：不是邮箱地址：{mailbox!r}")
    directory = directory.expanduser().resolve()
    paths = [directory / CONFIG_NAME, directory / SECRETS_NAME, directory / UNIT_NAME]
    existing = [p for p in paths if p.exists()]
    if existing:
        raise ConfigError(f"{existing[0]} 已存在，不会覆盖（换一个目录，或先移走这些文件）")
    directory.mkdir(parents=True, exist_ok=True)
    password = new_console_password()
    config_text = _config_text(mailbox, hash_password(password))
    imap_var, smtp_var, console_var = _env_names(config_text)
    paths[0].write_text(config_text, encoding="utf-8")
    write_private(paths[1], _secrets_text(imap_var, smtp_var, console_var, new_console_key()))
    owner = user or _current_user()
    paths[2].write_text(_unit_text(directory, intake_executable(), owner), encoding="utf-8")
    return InitResult(directory=directory, config=paths[0], secrets=paths[1], unit=paths[2],
                      console_user=FIRST_USER, console_password=password, to_fill=(imap_var, smtp_var))


def _current_user() -> str:
    import pwd

    return pwd.getpwuid(os.geteuid()).pw_name


def print_next_steps(result: InitResult, echo: Callable[[str], None]) -> None:
    """Tell the operator what was written and what to do next (fill the secrets, check the config, start the
    service)."""
    echo(f"已写入：{result.config}")
    echo(f"        {result.secrets}（权限 600）")
    echo(f"        {result.unit}")
    echo(f"管理页面账号：{result.console_user}，密码：{result.console_password}（只显示这一次，请记下）")
    echo(f"下一步：把授权码填入 {result.secrets} 中的 {'、'.join(result.to_fill)}，然后运行")
    echo(f"  {intake_executable()} check-config --config {result.config}")
    echo(f"核对 {result.config} 中的 imap.host / smtp.host（按邮箱域名填写）和 [campaign] 各项。")
