"""What the pipeline hands to the file-reading workers (ingest/files/isolation.py) for a file's facts.

A task's function and arguments travel pickled by reference: the worker imports the module each one is defined
in, with everything that module imports. When the facts task lived in ``ingest.pipeline.stages`` and took the
pipeline's ``AnalysedFile``, every worker imported the pipeline, the store and SQLAlchemy on its first mail:
about 14 MB of live objects and 172 modules more per worker, over 40 MB of the tree's peak with two workers (issue
21 §4). So this module imports only ``checks`` vocabulary, and the readers themselves only inside the task (the
daemon imports this module to name the task, and must not carry the readers' libraries either).
``tests/test_isolation.py`` asserts what a worker has loaded after reading a real mail.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from checks.facts import FileFacts


class FileToRead(NamedTuple):
    """One received file as a worker needs it: where it is and what the pipeline knows of it, as plain values."""

    path: Path
    name: str
    role: str
    size: int
    sha256: str
    archive: str | None


def read_file_facts(file: FileToRead) -> FileFacts:
    """In a worker: the facts of one file (``ingest.files.facts.extract_facts``)."""
    from ingest.files.facts import extract_facts

    return extract_facts(*file)
