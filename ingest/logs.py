"""Logging set-up: readable text for a terminal, one JSON object per line for a log collector."""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone

_STD = set(vars(logging.LogRecord("x", 0, "x", 0, "x", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Log records as one JSON object a line (time, level, logger, message, and any extra fields)."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        out = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        out.update({k: v for k, v in vars(record).items() if k not in _STD})
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


_current: tuple[str, int] | None = None


def current_setup() -> tuple[str, int] | None:
    """(format, level) of the last ``setup_logging`` in this process, so worker processes log the same way."""
    return _current


def setup_logging(fmt: str = "text", level: int = logging.INFO) -> None:
    """Log to stderr as text or JSON at ``level`` (remembered for worker processes, see current_setup); chatty
    libraries quieter."""
    global _current
    _current = (fmt, level)
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # imapclient logs every command at DEBUG; keep it quiet unless asked for.
    logging.getLogger("imapclient").setLevel(max(level, logging.INFO))
    logging.getLogger("apscheduler").setLevel(max(level, logging.WARNING))
    # Alembic announces each plugin and the migration context at INFO on every start: noise for operators.
    logging.getLogger("alembic").setLevel(max(level, logging.WARNING))
