"""The next mail parsed while this one is analysed (issue 21 §3): both cores busy in single-process mode.

A mail is a chain: parse (in this process), unpack and read its files (in the worker pool), file it (the
database). While the workers read one mail's files this process waits, and while it parses the workers wait.
So ``process_pending`` gives its queue to a ``ParseAhead``: when one message's parse is done, the next message
of the queue is parsed in a thread, into its own fresh work directory, beside the analysis of this one; on its
turn the next message takes that result instead of parsing again.

Only the parse runs ahead, nothing the database sees: each message's attempt is begun and its status recorded on
its own turn, in queue order, as before, so a restart after kill -9 finds what it always found (a work directory
parsed ahead is made afresh on the message's next turn). One message ahead at most: the parser's memory is
bounded by a constant (ingest/mail/mime_stream.py), and one more work directory is on disk.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

from checks.subject import SubjectSpec
from ingest.mail.spool import FileStore
from ingest.pipeline.stages import parse
from ingest.pipeline.values import ParsedMessage
from store import SpooledMessage

# (the message's work directory, the parsed message, the seconds the parse took)
Parsed = tuple[Path, ParsedMessage, float]


def parse_fresh(spool: FileStore, msg: SpooledMessage, spec: SubjectSpec) -> Parsed:
    """``msg`` parsed into a fresh work directory (what an earlier attempt left there is removed first).
    Raises ``NotAMimeMessage`` for bytes that are not a mail, and what the disk raises."""
    start = time.perf_counter()
    work_dir = spool.fresh_work_dir(msg.id)
    parsed = parse(Path(msg.spool_path), work_dir / "parts", spec)
    return work_dir, parsed, time.perf_counter() - start


class ParseAhead:
    """Parses the messages of ``queue`` one ahead of their turn, in one thread. ``parse(msg)`` gives a message's
    parse, from the thread if it ran ahead, and starts the next one; ``close()`` ends it (in a ``finally``)."""

    def __init__(self, spool: FileStore, spec: SubjectSpec, queue: Sequence[SpooledMessage]) -> None:
        self._spool = spool
        self._spec = spec
        self._after = {a.id: b for a, b in zip(queue, queue[1:])}
        self._thread: ThreadPoolExecutor | None = None
        self._ahead: tuple[int, Future[Parsed]] | None = None

    def parse(self, msg: SpooledMessage) -> tuple[Parsed, bool]:
        """``msg`` parsed, and whether that happened ahead, in the thread (raising what the parse raised). The
        message after it in the queue then starts, whether or not this one parsed."""
        try:
            ahead, self._ahead = self._ahead, None
            if ahead is not None and ahead[0] == msg.id:
                return ahead[1].result(), True
            if ahead is not None:  # out of turn (not met in process_pending): the parse ahead is not used
                self._drop(*ahead)
            return parse_fresh(self._spool, msg, self._spec), False
        finally:
            self._start(self._after.get(msg.id))

    def _start(self, msg: SpooledMessage | None) -> None:
        if msg is None:
            return
        if self._thread is None:
            self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parse-ahead")
        self._ahead = (msg.id, self._thread.submit(parse_fresh, self._spool, msg, self._spec))

    def _drop(self, message_row_id: int, future: Future[Parsed]) -> None:
        """A parse ahead whose message's turn will not come now: wait for it (its files are being written),
        whatever it raised, and remove its work directory (the message's next turn parses it again)."""
        try:
            future.result()
        except Exception:  # noqa: BLE001 - its own turn parses again and meets the same error there
            pass
        self._spool.drop_work_dir(message_row_id)

    def close(self) -> None:
        """Stop: a parse still ahead is waited for and its work directory removed; the thread ends."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            self._drop(*ahead)
        if self._thread is not None:
            self._thread.shutdown()
            self._thread = None
