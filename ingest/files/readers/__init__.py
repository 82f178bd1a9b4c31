"""One reader per file format, each turning a file into the plain facts of ``checks.facts``; the dispatch by
format is ``ingest.files.facts.extract_facts``.

A reader raises ``Unreadable`` (a plain Chinese line for the sender) when the content cannot be read; any other
exception a parser library raises on hostile bytes is caught once, in ``extract_facts``.
"""

from __future__ import annotations

MAX_TEXT_CHARS = 400_000  # text kept per document: ten times the longest text material a call allows


class Unreadable(Exception):
    """The file's content cannot be read; the message is plain Chinese for the sender."""
