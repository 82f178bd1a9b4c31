"""The configuration as frozen dataclasses: what every other module reads (validated in ingest.config.load)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, Mapping
from zoneinfo import ZoneInfo

from checks.errors import ConfigError
from ingest import resources

@dataclass(frozen=True)
class IntakeSettings:
    """The [intake] table: spool, database, polling, logging and size limits."""

    spool_dir: Path
    database_url: str = field(repr=False)  # may hold the database password (issue 15 §6)
    poll_interval_seconds: int = 60
    log_format: str = "text"
    max_message_bytes: int = 200 * 1024 * 1024
    alert_after_failures: int = 5
    alert_no_poll_minutes: int = 30
    # Alert when the oldest mail not yet processed has waited this long (0 = never): a backlog the daemon or the
    # workers do not keep up with, or no worker running at all (distributed mode).
    alert_lag_minutes: int = 30
    templates_dir: Path = field(default_factory=resources.templates_dir)
    secrets_file: Path | None = None


@dataclass(frozen=True)
class MailServer:
    """Where a mail server answers and whom we log in as: what [imap] and [smtp] both begin with."""

    host: str
    port: int
    security: str  # ssl | starttls | plain
    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class ImapSettings(MailServer):
    """The [imap] table: the mailbox to poll."""

    folder: str = "INBOX"
    processed_folder: str = ""
    # Bytes per partial FETCH. The spool writes one chunk while the next arrives (ingest/mail/spool.py), so two
    # are held per connection. 2 MB fetched as fast as 4 MB on loopback (0.66 and 0.64 x mbsync) and took the
    # 200-mail backlog's peak from 195 to 188 MB (bench/fetch_vs_mbsync, bench/memory, session 26).
    fetch_chunk_bytes: int = 2 * 1024 * 1024
    # Messages downloaded side by side, each over its own connection (ingest/mail/downloads.py): one connection
    # waits on the server while it writes, the server on it while it reads.
    fetch_connections: int = 2
    timeout_seconds: int = 60
    use_idle: bool = True


@dataclass(frozen=True)
class SmtpSettings(MailServer):
    """The [smtp] table: how replies are sent (or written to files in dry-run mode)."""

    sender: str = ""
    sender_name: str = ""
    mode: str = "send"  # send | dry-run
    outbox_dir: Path = Path("var/outbox")
    timeout_seconds: int = 30
    max_replies_per_sender_per_hour: int = 10
    retry_base_seconds: int = 60
    # All automatic replies together, per hour (0 = no cap); past it replies are held and an alert is raised.
    max_automatic_replies_per_hour: int = 300
    # Key of the reply Message-IDs (HMAC); "" = the one generated once and kept in the database.
    message_id_key: str = field(default="", repr=False)


@dataclass(frozen=True)
class CampaignConfig:
    """The call for submissions. ``raw`` keeps the validated TOML table for the pure layers
    (``checks`` builds its own dataclasses from it, so it never imports this module)."""

    id: str
    name: str
    mailbox: str
    case_number_prefix: str
    opens: date
    deadline: date
    timezone: str
    organizer_email: str
    raw: Mapping[str, Any] = field(repr=False, compare=False)
    materials: str = "完整材料"

    @property
    def tz(self) -> ZoneInfo:
        """The campaign's timezone."""
        return ZoneInfo(self.timezone)

    @property
    def deadline_end(self) -> datetime:
        """The last instant submissions are on time: end of the deadline day, local time."""
        return datetime.combine(self.deadline, time(23, 59, 59, 999999), tzinfo=self.tz)


@dataclass(frozen=True)
class ConsoleUser:
    """One staff account of the console: its role and argon2 password hash."""

    name: str
    role: str  # viewer | reviewer
    password_hash: str = field(repr=False)


@dataclass(frozen=True)
class ConsoleConfig:
    """The [console] table: where it listens, its session key, and its staff accounts."""

    host: str
    port: int
    secret_key: str = field(repr=False)
    https_only: bool = True
    users: tuple[ConsoleUser, ...] = ()


@dataclass(frozen=True)
class LimitSettings:
    """Bounds on reading strangers' files (see ingest/files/isolation.py)."""

    isolate: bool = True
    file_seconds: float = 120.0
    attachment_seconds: float = 600.0
    rule_seconds: float = 10.0
    worker_memory_mb: int = 2048
    # Worker processes reading files (the files of one mail side by side); 0 = one per core.
    workers: int = 0
    # One whole mail: time reading all its files, bytes unpacked from all its attachments (issue 15 §5).
    mail_seconds: float = 1800.0
    mail_unpacked_mb: int = 2048


# The hosts of the webmails whose large-attachment links case-intake recognises (ingest/files/links.py): a host is
# allowed when it is one of these or a subdomain of one.
LINK_PROVIDER_HOSTS = ("163.com", "126.com", "yeah.net", "qq.com")


@dataclass(frozen=True)
class LinkSettings:
    """163 超大附件 / QQ 文件中转站 links: optional automatic download, and when staff are warned of expiry."""

    fetch: bool = False
    allowed_hosts: tuple[str, ...] = LINK_PROVIDER_HOSTS
    max_bytes: int = 1 << 30
    timeout_seconds: float = 300.0
    alert_days: int = 3

    def host_allowed(self, host: str | None) -> bool:
        """Whether links to ``host`` (or a subdomain of an allowed host) may be downloaded."""
        host = (host or "").lower().rstrip(".")
        return bool(host) and any(host == h or host.endswith("." + h) for h in self.allowed_hosts)


@dataclass(frozen=True)
class CampaignSetup:
    """One campaign a deployment serves: its call (the profile), the mailbox it reads and how it replies."""

    campaign: CampaignConfig
    imap: ImapSettings | None
    smtp: SmtpSettings | None
    templates_dir: Path = field(default_factory=resources.templates_dir)

    @property
    def mailbox_key(self) -> str | None:
        """The IMAP account and folder this campaign reads ("user@host/INBOX"), None without [imap]."""
        imap = self.imap
        return f"{imap.username}@{imap.host}/{imap.folder}" if imap else None


@dataclass(frozen=True)
class AppConfig:
    """The whole configuration. ``campaigns`` lists every campaign served (one for the single-campaign form, which
    is the embedded default); ``campaign``, ``imap`` and ``smtp`` are those of the campaign this view serves: the
    first until ``for_campaign`` picks another. Code that works for one campaign reads these three; code that
    serves them all (the daemon, staff commands without --campaign) goes through ``views()``."""

    path: Path
    intake: IntakeSettings
    imap: ImapSettings | None
    smtp: SmtpSettings | None
    campaign: CampaignConfig
    console: ConsoleConfig | None = None
    limits: LimitSettings = LimitSettings()
    links: LinkSettings = LinkSettings()
    # Plain-Chinese warnings found while loading (a secret file everyone can read, a password sent in clear…):
    # not reasons to stop; check-config prints them and the daemon logs them (issue 15 §6).
    warnings: tuple[str, ...] = ()
    campaigns: tuple[CampaignSetup, ...] = ()

    @property
    def campaign_ids(self) -> tuple[str, ...]:
        """The id of every campaign served, in the configuration's order."""
        """The ids of every campaign served."""
        return tuple(c.campaign.id for c in self.campaigns) or (self.campaign.id,)

    @property
    def multi(self) -> bool:
        """Whether this deployment serves several campaigns."""
        """Whether several campaigns are served from one database."""
        return len(self.campaigns) > 1

    def for_campaign(self, campaign_id: str) -> AppConfig:
        """The view of one campaign: its call, mailbox, SMTP settings and templates."""
        for setup in self.campaigns:
            if setup.campaign.id == campaign_id:
                return replace(self, campaign=setup.campaign, imap=setup.imap, smtp=setup.smtp,
                               intake=replace(self.intake, templates_dir=setup.templates_dir))
        if not self.campaigns and campaign_id == self.campaign.id:
            return self
        known = "、".join(self.campaign_ids)
        raise ConfigError(f"没有 id 为 {campaign_id!r} 的征集（已配置：{known}）")

    def views(self, campaign_id: str | None = None) -> tuple[AppConfig, ...]:
        """One view per campaign served, or only the one named (``--campaign``; ConfigError if unknown)."""
        if campaign_id:
            return (self.for_campaign(campaign_id),)
        return tuple(self.for_campaign(i) for i in self.campaign_ids)
