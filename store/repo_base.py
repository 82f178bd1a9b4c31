"""What every part of the repository shares: the engine, the campaign a view is scoped to, sessions."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import Engine, true
from sqlalchemy.orm import Session, sessionmaker

from store.db import session_factory
from store.reader import Query, engine_reading
from store.models import (
    Event,
)


class StoreBase:
    """The engine and the campaign scope every part of ``Store`` works with. Unscoped (``campaign_id`` None) it reads every campaign's rows; ``for_campaign`` gives the view
    of one campaign, which reads only that campaign's messages, replies and mailbox states and writes its id into
    every row it adds. Views share the engine; only the store that opened it closes it."""

    def __init__(self, engine: Engine, campaign_id: str | None = None) -> None:
        self.engine = engine
        self.campaign_id = campaign_id
        self._sessions: sessionmaker[Session] = session_factory(engine)
        self._owns_engine = True

    @property
    def _campaign(self) -> str:
        """The campaign a new row belongs to: writing messages and replies needs a campaign's view."""
        if self.campaign_id is None:
            raise RuntimeError("this write needs the store of one campaign (Store.for_campaign)")
        return self.campaign_id

    def _scope(self, column: Any) -> Any:
        """A condition keeping a campaign view to its own rows (true for the unscoped store)."""
        return column == self.campaign_id if self.campaign_id is not None else true()

    def _owns(self, campaign_id: str | None) -> bool:
        return self.campaign_id is None or campaign_id == self.campaign_id

    def _event(self, **values: Any) -> Event:
        return Event(campaign_id=self.campaign_id, **values)

    def session(self) -> Session:
        """A new ORM session (``expire_on_commit=False``: rows stay readable after the transaction)."""
        return self._sessions()

    @property
    def dialect(self) -> str:
        """The database's dialect name ("sqlite", "postgresql"): a ``store.reader.Reader``."""
        return self.engine.dialect.name

    def reading(self) -> AbstractContextManager[Query]:
        """Plain SQL reads in one transaction (``store.reader.Reader``): the statistics run here as they run on a
        read-only command's ``Database``."""
        return engine_reading(self.engine)

    def close(self) -> None:
        """Dispose of the engine if this store made it (an engine passed in belongs to the caller)."""
        if self._owns_engine:
            self.engine.dispose()
