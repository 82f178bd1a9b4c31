"""The procrastinate app of distributed mode: its connection, its schema, job names and locks, deferring.

Imported only when distributed mode runs (``intake worker``, ``intake run --workers N``, ``check-config`` on
PostgreSQL with procrastinate installed).

Schema: procrastinate ships its full schema (``schema.sql``) and one migration file per change
(``sql/migrations/*.sql``). ``ensure_schema`` applies the full schema to a database that has none and records
every migration shipped as applied; on a later start with a newer procrastinate it applies the shipped
migrations not yet recorded, in their order. All of it in one transaction under an advisory lock, so workers
starting together on several hosts do it once. (Upgrade procrastinate with the workers stopped: its "pre"
and "post" migrations are then applied together.)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from procrastinate import App, PsycopgConnector, exceptions
from procrastinate.schema import SchemaManager
from sqlalchemy.engine import make_url

from ingest.config import AppConfig
from ingest.distributed import POLL, PROCESS, SEND, TICK
from store.addresses import address_key

log = logging.getLogger(__name__)

# Higher runs first when several jobs wait: a receipt should leave within seconds, a poll should not wait
# behind a backlog of processing.
PRIORITY = {SEND: 30, TICK: 20, POLL: 10, PROCESS: 0}
SCHEMA_TABLE = "intake_queue_migrations"
# pg_advisory_xact_lock key of the schema step ("intake" in ASCII).
SCHEMA_LOCK_KEY = 0x696E74616B65


def libpq_url(database_url: str) -> str:
    """The libpq form (postgresql://…) of our SQLAlchemy URL (postgresql+psycopg://…), password kept."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


def make_app(database_url: str) -> App:
    """An app with no tasks yet (``ingest.distributed.tasks.register`` adds them)."""
    return App(connector=PsycopgConnector(conninfo=libpq_url(database_url), kwargs={"application_name": "intake"}))


def cron_for(seconds: int) -> str:
    """procrastinate's cron for "every ``seconds``": a 6th (seconds) column under a minute, minutes above."""
    if seconds < 60:
        return f"* * * * * */{max(1, seconds)}"
    return f"*/{max(1, seconds // 60)} * * * *"


def mailbox_key(config: AppConfig) -> str | None:
    """The mailbox a poll job reads, as its lock key; None when the config has no mailbox (local import only)."""
    imap = config.imap
    if imap is None:
        return None
    return f"{config.campaign.id}:{imap.username}@{imap.host}:{imap.port}/{imap.folder}"


def sender_lock(campaign_id: str, address: str) -> str:
    """One sender's mail is processed in order: the lock of its process jobs (normalised: A+x@QQ.com is a@qq.com)."""
    return f"sender:{campaign_id}:{address_key(address) or '?'}"


def defer(app: App, task_name: str, *, lock: str | None = None, queueing_lock: str | None = None,
          **kwargs: Any) -> int | None:
    """Queue one job; None when a job with that queueing lock is queued already (nothing to add)."""
    try:
        return app.configure_task(task_name, lock=lock, queueing_lock=queueing_lock,
                                  priority=PRIORITY[task_name]).defer(**kwargs)
    except exceptions.AlreadyEnqueued:
        return None


@dataclass(frozen=True)
class SchemaStep:
    """What preparing the task queue's tables did: created them, applied migrations, or nothing."""

    created: bool
    migrated: tuple[str, ...]

    def summary(self) -> str:
        """The step in one Chinese line."""
        if self.created:
            return "任务队列表已建立"
        if self.migrated:
            return f"任务队列表已升级（{len(self.migrated)} 个迁移）"
        return "任务队列表已是最新"


def ensure_schema(database_url: str) -> SchemaStep:
    """procrastinate's tables in our database, at the installed procrastinate's version (see module doc)."""
    shipped = sorted(Path(SchemaManager.get_migrations_path()).glob("*.sql"))
    with psycopg.connect(libpq_url(database_url)) as conn:  # one transaction, committed on exit
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,))
        conn.execute(f"CREATE TABLE IF NOT EXISTS {SCHEMA_TABLE} "
                     "(name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
        row = conn.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL").fetchone()
        has_schema = bool(row and row[0])
        applied = {r[0] for r in conn.execute(f"SELECT name FROM {SCHEMA_TABLE}")}
        if not has_schema:
            conn.execute(SchemaManager.get_schema())  # no parameters: the whole file as one simple query
            to_apply: list[Path] = []
            record = shipped
        elif not applied:
            # Applied before us (`procrastinate schema --apply`): taken to be the installed version's.
            to_apply, record = [], shipped
        else:
            to_apply = [p for p in shipped if p.name not in applied]
            record = to_apply
        for path in to_apply:
            log.info("任务队列表升级：应用 procrastinate 迁移 %s", path.name)
            conn.execute(path.read_text(encoding="utf-8"))
        for path in record:
            conn.execute(f"INSERT INTO {SCHEMA_TABLE} (name) VALUES (%s) ON CONFLICT DO NOTHING", (path.name,))
    return SchemaStep(created=not has_schema, migrated=tuple(p.name for p in to_apply))


__all__ = ["POLL", "PROCESS", "SEND", "TICK", "SchemaStep", "cron_for", "defer", "ensure_schema", "libpq_url",
           "mailbox_key", "make_app", "sender_lock"]
