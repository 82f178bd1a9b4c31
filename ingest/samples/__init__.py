"""Generators of real sample files and mails: for the demo, the tests and the benchmarks only (never imported by
the runtime path: tests/test_layering.py asserts it).

Files: ``documents`` (Word), ``pdfs`` (scans and text PDFs), ``images`` (photos), ``media`` (video, audio), all
reachable by name through ``files``; mails: ``mails``; whole submissions: ``submissions``.
"""

from __future__ import annotations

import zlib
from pathlib import Path

A4_MM = (210.0, 297.0)


def file_seed(path: Path, seed: int | None) -> int:
    """Files of different names differ (two schools' sample photos must not look like one file sent twice);
    the same name gives the same file."""
    return seed if seed is not None else zlib.crc32(path.name.encode("utf-8"))
