"""Loading the configuration file: one TOML file (and the campaign profiles it names) read once at start.

Two forms. The single-campaign form (the embedded default, what ``intake init`` and ``intake demo`` write): top-level
``[imap]``, ``[smtp]`` and ``[campaign]`` (or ``campaign_file``). The multi-campaign form: one ``[[campaigns]]`` table
per campaign, each naming its call (``campaign_file`` or an inline ``[campaigns.campaign]``) and its own
``[campaigns.imap]`` / ``[campaigns.smtp]``; top-level ``[imap]`` / ``[smtp]`` then hold what the campaigns share
(server, port, security), each campaign's keys replacing them key by key.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping

from ingest import resources
from ingest.config.model import AppConfig, CampaignSetup, IntakeSettings
from ingest.config.sections import (parse_campaign, parse_console, parse_imap, parse_intake, parse_limits,
                                    parse_links, parse_smtp)
from ingest.config.values import (DATABASE_SECRET, ConfigError, Secrets, _check_keys, _loopback, _readable_by_all,
                                  _resolve, _secrets_env, _with_password)

CONFIG_ENV = "INTAKE_CONFIG"
DEFAULT_CONFIG = "config.toml"
REPO_ROOT = resources.PACKAGES_ROOT

_TOP_KEYS = {"intake", "imap", "smtp", "campaign", "campaign_file", "campaigns", "console", "limits", "links"}
# What one [[campaigns]] entry may hold: its call, its mailbox and replies, and the few campaign keys a deployment
# sets for itself when it runs a shipped profile (its own id, case-number prefix, addresses).
_ENTRY_KEYS = {"campaign", "campaign_file", "imap", "smtp", "templates_dir"}
_ENTRY_OVERRIDES = {"id", "name", "mailbox", "case_number_prefix", "organizer_email"}
# Keys naming one secret: a campaign that names it in one way drops the shared table's other way.
_SECRET_KEY_GROUPS = (("password_env", "password_file"), ("message_id_key_env", "message_id_key_file"))


def _warnings(cfg_path: Path, intake: IntakeSettings, secrets: Secrets,
              setups: tuple[CampaignSetup, ...], multi: bool) -> tuple[str, ...]:
    found = _readable_by_all(cfg_path, "配置文件") + secrets.warnings
    if "://" in intake.database_url and not intake.database_url.startswith("sqlite"):
        from store.pg_url import read_url  # SQLAlchemy only for a URL of an unusual form

        if read_url(intake.database_url).password and not secrets.database_password:
            found.append("intake.database_url 中写有数据库密码：请改用 database_password_env 或 database_password_file")
    for i, setup in enumerate(setups):
        for kind, section in (("imap", setup.imap), ("smtp", setup.smtp)):
            if section is not None and section.security == "plain" and not _loopback(section.host):
                where = f"campaigns[{i}].{kind}" if multi else kind
                found.append(f"{where}.security = \"plain\"：连接 {section.host} 不加密，密码和邮件以明文传输；"
                             "请改用 ssl 或 starttls")
    return tuple(dict.fromkeys(found))


def example_campaign_toml() -> str:
    """The [campaign] part of the shipped example (the 2025 call), for generated configurations."""
    text = resources.example_config().read_text(encoding="utf-8")
    start = text.find("\n[campaign]\n")
    if start < 0:
        raise ConfigError("config.example.toml 中没有 [campaign] 表")
    return text[start + 1:]


def load_toml(path: Path) -> dict[str, Any]:
    """The TOML file as a table; ConfigError in Chinese when it is missing or not valid TOML."""
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"找不到配置文件 {path}（用 --config 或环境变量 {CONFIG_ENV} 指定）") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}：不是有效的 TOML：{exc}") from exc


def _campaign_table(table: Mapping[str, Any], base: Path, where: str) -> dict[str, Any]:
    """The [campaign] table given inline or through ``campaign_file`` (a shipped profile is found by name)."""
    if "campaign" in table and "campaign_file" in table:
        raise ConfigError(f"{where}：[campaign] 和 campaign_file 只能给出一个")
    if "campaign_file" in table:
        if not isinstance(table["campaign_file"], str):
            raise ConfigError(f"{where}.campaign_file：应为文件路径（文本）")
        camp_path = _resolve(base, table["campaign_file"])
        named = Path(table["campaign_file"])
        shipped = resources.campaigns_dir() / named.name
        if not camp_path.exists() and named.parent == Path("campaigns") and shipped.exists():
            camp_path = shipped
        camp_data = load_toml(camp_path)
        if set(camp_data) != {"campaign"}:
            raise ConfigError(f"{camp_path}：征集配置文件只能有一个 [campaign] 表")
        return dict(camp_data["campaign"])
    if "campaign" in table:
        if not isinstance(table["campaign"], dict):
            raise ConfigError(f"{where}.campaign：应为一个表")
        return dict(table["campaign"])
    raise ConfigError(f"{where}：缺少 [campaign]（或 campaign_file）")


def _merged(shared: Mapping[str, Any] | None, own: Any, where: str) -> dict[str, Any] | None:
    """A campaign's [imap] or [smtp]: the shared table's keys, replaced by the campaign's own."""
    if own is not None and not isinstance(own, dict):
        raise ConfigError(f"{where}：应为一个表")
    if shared is None and own is None:
        return None
    merged = dict(shared or {})
    for group in _SECRET_KEY_GROUPS:
        if own and any(k in own for k in group):
            for k in group:
                merged.pop(k, None)
    merged.update(own or {})
    return merged


def _entry_setup(i: int, entry: Any, data: Mapping[str, Any], base: Path, secrets: Secrets,
                 required: bool, templates_dir: Path) -> CampaignSetup:
    where = f"campaigns[{i}]"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}：应为一个表（[[campaigns]]）")
    _check_keys(entry, _ENTRY_KEYS | _ENTRY_OVERRIDES, where)
    table = _campaign_table(entry, base, where)
    table.update({k: entry[k] for k in _ENTRY_OVERRIDES if k in entry})
    campaign = parse_campaign(table, f"{where}.campaign")
    imap_t = _merged(data.get("imap"), entry.get("imap"), f"{where}.imap")
    smtp_t = _merged(data.get("smtp"), entry.get("smtp"), f"{where}.smtp")
    imap = parse_imap(imap_t, secrets, required, f"{where}.imap") if imap_t is not None else None
    smtp = parse_smtp(smtp_t, base, secrets, required, f"{where}.smtp") if smtp_t is not None else None
    templates = entry.get("templates_dir")
    if templates is not None and not isinstance(templates, str):
        raise ConfigError(f"{where}.templates_dir：应为文件夹路径（文本）")
    return CampaignSetup(campaign=campaign, imap=imap, smtp=smtp,
                         templates_dir=_resolve(base, templates) if templates else templates_dir)


def _check_distinct(setups: tuple[CampaignSetup, ...]) -> None:
    """Each campaign has its own id, case-number prefix and mailbox folder: rows, receipts and polls of two
    campaigns can never be mistaken for each other."""
    seen: dict[tuple[str, str], int] = {}
    for i, s in enumerate(setups):
        keys = [("id", s.campaign.id), ("case_number_prefix", s.campaign.case_number_prefix)]
        if s.mailbox_key:
            keys.append(("imap", s.mailbox_key))
        for what, value in keys:
            if (what, value.lower()) in seen:
                first = seen[(what, value.lower())]
                label = {"id": "征集 id", "case_number_prefix": "受理编号前缀", "imap": "收信邮箱和文件夹"}[what]
                raise ConfigError(f"campaigns[{i}]：{label} {value!r} 与 campaigns[{first}] 相同；"
                                  "每个征集须各用自己的")
            seen[(what, value.lower())] = i


def _campaign_setups(data: Mapping[str, Any], base: Path, secrets: Secrets, required: bool,
                     templates_dir: Path) -> tuple[CampaignSetup, ...]:
    if "campaigns" not in data:
        campaign = parse_campaign(_campaign_table(data, base, "config"))
        imap = parse_imap(data["imap"], secrets, required) if "imap" in data else None
        smtp = parse_smtp(data["smtp"], base, secrets, required) if "smtp" in data else None
        return (CampaignSetup(campaign, imap, smtp, templates_dir),)
    if "campaign" in data or "campaign_file" in data:
        raise ConfigError("config：[[campaigns]] 与 [campaign]（或 campaign_file）只能用一种："
                          "多个征集时请把每个征集写进自己的 [[campaigns]]")
    entries = data["campaigns"]
    if not isinstance(entries, list) or not entries:
        raise ConfigError("config.campaigns：应为一个或多个 [[campaigns]] 表")
    setups = tuple(_entry_setup(i, e, data, base, secrets, required, templates_dir) for i, e in enumerate(entries))
    _check_distinct(setups)
    return setups


def load_config(path: Path | str | None = None, env: Mapping[str, str] | None = None, *,
                offline: bool = False) -> AppConfig:
    """Read and validate the whole configuration; raises ``ConfigError`` with one line.

    ``offline`` is for commands that neither fetch nor send (subject, inspect): secrets are not
    required, and without any config file the shipped example (the 2025 call) is used."""
    env = os.environ if env is None else env
    chosen = path or env.get(CONFIG_ENV)
    if offline:
        if not chosen and not Path(DEFAULT_CONFIG).exists():
            chosen = resources.example_config()
    cfg_path = Path(chosen or DEFAULT_CONFIG).expanduser().resolve()
    data = load_toml(cfg_path)
    base = cfg_path.parent
    _check_keys(data, _TOP_KEYS, "config")
    intake = parse_intake(data.get("intake", {}), base)
    secrets = Secrets(env if offline else _secrets_env(intake.secrets_file, env), base)
    setups = _campaign_setups(data, base, secrets, not offline, intake.templates_dir)
    console = parse_console(data["console"], secrets, not offline) if "console" in data else None
    db_password = secrets.get(data.get("intake", {}), DATABASE_SECRET, False)
    secrets.database_password = bool(db_password)
    if db_password:
        intake = replace(intake, database_url=_with_password(intake.database_url, db_password))
    secrets.raise_if_missing(intake.secrets_file)
    first = setups[0]
    config = AppConfig(path=cfg_path, intake=intake, imap=first.imap, smtp=first.smtp, campaign=first.campaign,
                       console=console, limits=parse_limits(data.get("limits", {})),
                       links=parse_links(data.get("links", {})),
                       warnings=_warnings(cfg_path, intake, secrets, setups, "campaigns" in data),
                       campaigns=setups)
    return config.for_campaign(first.campaign.id)
