"""How far behind the intake is: the oldest mail not yet processed (the lag) and, in distributed mode, the task
queue and its workers, read from procrastinate's tables with plain SQL (no procrastinate import: ``intake
health``, the console and the alerts read this in every mode; the tables exist only once distributed mode ran).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from store.repo import Store

# A worker is counted alive when its last heartbeat is this recent (the workers' default "stalled after").
ALIVE_WITHIN_SECONDS = 60.0


@dataclass(frozen=True)
class WorkerBeat:
    """A queue worker and its last heartbeat."""

    worker_id: int
    last_heartbeat: datetime
    alive: bool


@dataclass(frozen=True)
class QueueState:
    """Jobs by task and state ("todo" waiting, "doing" running) and the workers procrastinate knows of."""

    jobs: dict[str, dict[str, int]]
    workers: tuple[WorkerBeat, ...]

    def waiting(self, task: str | None = None) -> int:
        """Jobs waiting to run (of one task, or of all)."""
        return sum(n for name, states in self.jobs.items() if task in (None, name)
                   for state, n in states.items() if state == "todo")

    def running(self) -> int:
        """Jobs running now."""
        return sum(states.get("doing", 0) for states in self.jobs.values())

    @property
    def alive_workers(self) -> int:
        """Workers whose heartbeat is recent."""
        return sum(1 for w in self.workers if w.alive)


@dataclass(frozen=True)
class Workload:
    """How far behind the intake is: the oldest unprocessed mail and, in distributed mode, the queue."""

    oldest_unprocessed: datetime | None
    queue: QueueState | None  # None: no task queue in this database (single-process mode)

    def lag(self, now: datetime | None = None) -> timedelta:
        """How long the oldest unprocessed mail has waited (0 when none waits)."""
        if self.oldest_unprocessed is None:
            return timedelta(0)
        return max(timedelta(0), (now or datetime.now(timezone.utc)) - self.oldest_unprocessed)


def queue_state(store: Store, *, now: datetime | None = None) -> QueueState | None:
    """The task queue's jobs and workers from procrastinate's tables; None without PostgreSQL or those tables."""
    if store.engine.dialect.name != "postgresql":
        return None
    now = now or datetime.now(timezone.utc)
    try:
        with store.engine.connect() as conn:
            if not conn.execute(text("SELECT to_regclass('procrastinate_jobs') IS NOT NULL")).scalar():
                return None
            jobs: dict[str, dict[str, int]] = {}
            for task, state, count in conn.execute(text(
                    "SELECT task_name, status::text, count(*) FROM procrastinate_jobs "
                    "WHERE status IN ('todo', 'doing') GROUP BY task_name, status")):
                jobs.setdefault(task, {})[state] = int(count)
            beats = conn.execute(text("SELECT id, last_heartbeat FROM procrastinate_workers ORDER BY id")).all()
    except SQLAlchemyError:
        return None  # an older procrastinate schema (no workers table): nothing to show rather than a crash
    workers = tuple(WorkerBeat(int(i), hb, (now - hb).total_seconds() <= ALIVE_WITHIN_SECONDS) for i, hb in beats)
    return QueueState(jobs=jobs, workers=workers)


def workload(store: Store, *, now: datetime | None = None, queue: bool = True) -> Workload:
    """The lag of the store's campaign (all campaigns for the unscoped store) and, with ``queue``, the task queue
    (shared by every campaign)."""
    return Workload(oldest_unprocessed=store.oldest_unprocessed(),
                    queue=queue_state(store, now=now) if queue else None)


__all__ = ["ALIVE_WITHIN_SECONDS", "QueueState", "WorkerBeat", "Workload", "queue_state", "workload"]
