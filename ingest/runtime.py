"""Everything a command needs, built once from the validated configuration.

Start-up validation happens here: the campaign's subject spec and rule table, the templates
(rendered once with a sample), the database schema. Any problem is one line (``StartupError``).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from functools import cached_property

from checks.errors import IntakeError
from checks.registry import ConfiguredRules, configure
from checks.subject import SubjectSpec
from ingest.config import AppConfig, ConfigError
from ingest.mail.spool import FileStore, Spool
from ingest.pipeline.reply_context import sample_context
from ingest.pipeline.values import AnalysisSettings
from notify.mailer import DryRunSender, Sender, SmtpSender, SmtpTarget
from notify.render import Renderer, TemplateProblem
from store import Store


class StartupError(IntakeError):
    """Why the daemon cannot start, in one line."""


@dataclass(frozen=True)
class Campaign:
    """The campaign's validated, ready-to-run pieces (pure data for checks/)."""

    subject_spec: SubjectSpec
    rules: ConfiguredRules


def build_campaign(config: AppConfig) -> Campaign:
    """The campaign's rules, subject format and reply texts built from the configuration; StartupError if unusable."""
    raw = config.campaign.raw
    try:
        spec = SubjectSpec.from_campaign(raw)
    except ValueError as exc:
        raise StartupError(f"征集配置（主题格式与类别）：{exc}") from exc
    try:
        rules = configure(raw.get("rules", {}), campaign=raw)
    except ValueError as exc:
        raise StartupError(f"campaign.rules 规则配置：{exc}") from exc
    return Campaign(subject_spec=spec, rules=rules)


class Runtime:
    """What one campaign's work needs: its config view, rules, templates, and the database seen through that
    campaign (``Store.for_campaign``). A deployment of several campaigns has one Runtime per campaign, all on one
    database (``shared``: the store the first opened; only the Runtime that opened it closes it)."""

    def __init__(self, config: AppConfig, *, open_store: bool = True, migrate: bool = True,
                 shared: Store | None = None) -> None:
        """``migrate=False``: the database is only checked to be at the code's schema (``SchemaMismatch``),
        for commands that read."""
        self.config = config
        self.campaign = build_campaign(config)
        self.renderer = Renderer(config.intake.templates_dir)
        try:
            self.renderer.validate(sample_context(config))
        except TemplateProblem as exc:
            raise StartupError(str(exc)) from exc
        self._owns_store = shared is None and open_store
        if self._owns_store:
            shared = Store.open(config.intake.database_url, upgrade=migrate, campaign_id=config.campaign_ids[0])
        self._shared = shared
        self._store: Store | None = shared.for_campaign(config.campaign.id) if shared is not None else None

    @classmethod
    def for_each_campaign(cls, config: AppConfig, campaign_id: str | None = None, *,
                          migrate: bool = True) -> list[Runtime]:
        """One Runtime per campaign served (or only ``campaign_id``'s), on one database opened once."""
        views = config.views(campaign_id)
        first = cls(views[0], migrate=migrate)
        try:
            return [first] + [cls(v, shared=first.shared_store) for v in views[1:]]
        except BaseException:
            first.close()
            raise

    @property
    def shared_store(self) -> Store:
        """The database unscoped (every campaign's rows)."""
        if self._shared is None:
            raise StartupError("this command has no database")
        return self._shared.for_campaign(None)

    @property
    def store(self) -> Store:
        """The database; StartupError for a command that opened none."""
        if self._store is None:
            raise StartupError("this command has no database")
        return self._store

    @cached_property
    def analysis_settings(self) -> AnalysisSettings:
        """What the analysis stages need of the configuration (frozen: no live object)."""
        return AnalysisSettings(subject_spec=self.campaign.subject_spec, rules=self.campaign.rules,
                                limits=self.config.limits, link_hosts=self.config.links.allowed_hosts)

    @cached_property
    def spool(self) -> FileStore:
        """The spool directory."""
        return Spool(self.config.intake.spool_dir)

    @cached_property
    def sender(self) -> Sender:
        """How replies leave: SMTP, or files in a directory in dry-run mode; StartupError without [smtp]."""
        smtp = self.config.smtp
        if smtp is None:
            raise StartupError("配置中没有 [smtp] 表，无法发送回执")
        if smtp.mode == "dry-run":
            return DryRunSender(smtp.outbox_dir)
        return SmtpSender(SmtpTarget(host=smtp.host, port=smtp.port, security=smtp.security,
                                     username=smtp.username, password=smtp.password,
                                     timeout_seconds=smtp.timeout_seconds))

    @property
    def reply_from(self) -> str:
        """The address replies are sent from (the SMTP sender, else the campaign mailbox)."""
        smtp = self.config.smtp
        return (smtp.sender if smtp and smtp.sender else self.config.campaign.mailbox)

    @cached_property
    def message_id_key(self) -> str:
        """Key of the reply Message-IDs: configured (smtp.message_id_key_env/_file) or generated once and kept in
        the database, so every process and host computes the same id for the same reply (at most once)."""
        smtp = self.config.smtp
        if smtp is not None and smtp.message_id_key:
            return smtp.message_id_key
        return self.store.app_secret("reply_message_id_key", lambda: secrets.token_hex(32))

    @property
    def own_addresses(self) -> frozenset[str]:
        """Our own addresses, lowercased: a mail from one of them is never answered."""
        addrs = {self.config.campaign.mailbox.lower(), self.reply_from.lower()}
        if self.config.imap is not None and "@" in self.config.imap.username:
            addrs.add(self.config.imap.username.lower())
        return frozenset(addrs)

    def close(self) -> None:
        """Close the database if this runtime opened it."""
        if self._owns_store and self._shared is not None:
            self._shared.close()


__all__ = ["Campaign", "ConfigError", "Runtime", "StartupError", "build_campaign"]
