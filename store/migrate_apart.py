"""The migrations in a process of their own, for the commands that go on working after them (issue 21 §4).

Running Alembic loads it, Mako and the migration scripts into the process for good: 13.8 MB of resident memory
(measured: Store.open on a new database vs on one already at head), which a daemon started on a new database
would carry for its whole life. ``migrate_apart`` checks the schema version (one query) and only when the
database is not at head runs ``store.db.migrate`` in a child (``python -m store.migrate_apart``): the same
advisory lock, the same checks, the same Chinese errors, which come back as ``SchemaMismatch``. The database URL
travels in the environment, so a password never shows in the process list.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from store.reader import SCHEMA_HEAD, SchemaMismatch

_URL_ENV = "INTAKE_MIGRATE_DATABASE_URL"


def migrate_apart(url: str, campaign_id: str | None) -> None:
    """Bring the schema to head, in a child process when there is anything to do."""
    from store.db import make_engine, schema_revision

    engine = make_engine(url)
    try:
        if schema_revision(engine) == SCHEMA_HEAD:
            return
    finally:
        engine.dispose()
    # The child imports this very package, wherever it was imported from (a checkout, a venv, a wheel).
    root = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, _URL_ENV: url,
           "PYTHONPATH": os.pathsep.join([root, *filter(None, [os.environ.get("PYTHONPATH")])])}
    proc = subprocess.run([sys.executable, "-m", "store.migrate_apart", campaign_id or ""], env=env,
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        detail = lines[-1] if lines else f"exit code {proc.returncode}"
        raise SchemaMismatch(detail if proc.returncode == 2 else f"数据库迁移失败：{detail}")


def _main() -> int:
    from store.db import make_engine, migrate

    engine = make_engine(os.environ[_URL_ENV])
    try:
        migrate(engine, sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] else None)
    except SchemaMismatch as exc:
        print(exc, file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(_main())
