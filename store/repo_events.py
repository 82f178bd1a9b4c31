"""The repository's audit events, leases between daemons and kept secrets."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Mapping

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from store.models import (
    Event,
    Lease,
)
from store.repo_base import StoreBase


class EventRecords(StoreBase):
    """Audit events, leases (one daemon per mailbox) and app secrets."""

    # ---- events and leases --------------------------------------------------------------------
    def log_event(self, action: str, *, actor: str = "daemon", case_id: int | None = None,
                  message_row_id: int | None = None, detail: Mapping[str, Any] | None = None) -> None:
        """Append one event (who did what to which case or message) to the event log."""
        with self.session() as s, s.begin():
            s.add(self._event(action=action, actor=actor, case_id=case_id, message_row_id=message_row_id,
                        detail=dict(detail or {})))

    def events_since(self, action: str, since: datetime | None) -> list[tuple[datetime, dict[str, Any]]]:
        """(time, detail) of this campaign's events of one kind after ``since`` (all of them for None), oldest first."""
        query = select(Event.at, Event.detail).where(Event.action == action, self._scope(Event.campaign_id))
        if since is not None:
            query = query.where(Event.at > since)
        with self.session() as s:
            return [(at, dict(detail or {})) for at, detail in s.execute(query.order_by(Event.id))]

    def acquire_lease(self, name: str, holder: str, ttl_seconds: int) -> bool:
        """Take or renew a named lease. Only one holder at a time across processes and hosts."""
        now = datetime.now(timezone.utc)
        expires = now + timedelta(seconds=ttl_seconds)
        with self.session() as s:
            try:
                with s.begin():
                    res = s.execute(update(Lease).where(Lease.name == name,
                                                        or_(Lease.holder == holder, Lease.expires_at < now))
                                    .values(holder=holder, expires_at=expires))
                    if res.rowcount:  # type: ignore[attr-defined]
                        return True
                    if s.get(Lease, name) is not None:
                        return False
                    s.add(Lease(name=name, holder=holder, expires_at=expires))
                return True
            except IntegrityError:
                return False

    def lease_holder(self, name: str) -> str | None:
        """Who holds the named lease now (expired or not), None if nobody."""
        with self.session() as s:
            lease = s.get(Lease, name)
            return lease.holder if lease is not None else None

    def take_over_lease(self, name: str, dead_holder: str, holder: str, ttl_seconds: int) -> bool:
        """Take a lease from a holder known to be dead (only if it still holds it)."""
        expires = datetime.now(timezone.utc) + timedelta(seconds=ttl_seconds)
        with self.session() as s, s.begin():
            res = s.execute(update(Lease).where(Lease.name == name, Lease.holder == dead_holder)
                            .values(holder=holder, expires_at=expires))
            return bool(res.rowcount)  # type: ignore[attr-defined]

    def release_lease(self, name: str, holder: str) -> None:
        """Give up the named lease, if ``holder`` still holds it."""
        with self.session() as s, s.begin():
            lease = s.get(Lease, name)
            if lease is not None and lease.holder == holder:
                s.delete(lease)
