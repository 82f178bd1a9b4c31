"""The repository: every read and write the daemon and staff tools make, one short transaction each.

One class, ``Store``, put together from one part per area: ``repo_messages`` (mailboxes, messages),
``repo_cases`` (cases, versions, files, addresses), ``repo_outbox`` (replies), ``repo_events`` (events,
leases, secrets), over ``repo_base`` (engine, campaign scope, sessions)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from store.db import check_schema, make_engine, migrate
from store.repo_cases import CaseRecords
from store.repo_events import EventRecords
from store.repo_messages import MAX_ATTEMPTS, MessageRecords
from store.repo_outbox import OutboxRecords

__all__ = ["MAX_ATTEMPTS", "Store", "record_to_json"]


class Store(MessageRecords, CaseRecords, OutboxRecords, EventRecords):
    """The database. Unscoped (``campaign_id`` None) it reads every campaign's rows; ``for_campaign`` gives the view
    of one campaign, which reads only that campaign's messages, replies and mailbox states and writes its id into
    every row it adds. Views share the engine; only the store that opened it closes it."""

    def for_campaign(self, campaign_id: str | None) -> Store:
        """The view of one campaign (None: of every campaign) on this store's engine."""
        view = Store.__new__(Store)
        view.engine, view.campaign_id, view._sessions, view._owns_engine = (self.engine, campaign_id,
                                                                            self._sessions, False)
        return view

    @classmethod
    def open(cls, url: str, *, upgrade: bool = True, campaign_id: str | None = None,
             default_campaign: str | None = None) -> Store:
        """Open the database and migrate it; with ``upgrade=False`` (read-only commands) only check that its
        schema is the one this code reads (``SchemaMismatch`` otherwise). ``campaign_id``: the campaign this store
        serves (None: every campaign, reading only); ``default_campaign`` (else ``campaign_id``): where migrating
        places rows of an older database no case places (``migrate``): the configuration's first campaign."""
        store = cls(make_engine(url), campaign_id)
        try:
            if upgrade:
                migrate(store.engine, default_campaign or campaign_id)
            else:
                check_schema(store.engine)
        except BaseException:
            store.close()
            raise
        return store


def record_to_json(obj: Any) -> dict[str, Any]:
    """A dataclass record as a JSON-ready mapping (datetimes as ISO strings)."""
    out = asdict(obj)
    for k, v in out.items():
        if isinstance(v, datetime):
            out[k] = v.isoformat()
    return out
