"""Read one received file into the plain facts the rules check (``checks.facts``). The only place DOCX, PDF,
images and media are parsed for checks: this module picks the reader by the file's first bytes, its name and
its role; each format's reader is in ``ingest.files.readers``.

``extract_facts`` never raises on a corrupt or hostile file: what could not be read is explained in plain Chinese
in ``FileFacts.error`` (or ``ImageFacts.error`` for a photo that does not decode). Memory stays bounded: Pillow's
decompression-bomb limit stays on, JPEGs are decoded at reduced scale (libjpeg still reads every byte, so a
truncated file is still caught), and page images are downscaled before the red-seal analysis.
"""

from __future__ import annotations

import logging
import zipfile
from dataclasses import replace
from pathlib import Path

from checks.domain import FileRole
from checks.facts import DocFacts, FileFacts
from ingest.files.readers import Unreadable
from ingest.files.readers.image import IMAGE_FORMATS, read_image
from ingest.files.readers.media import MEDIA_FORMATS, read_media
from ingest.files.readers.pdf import read_pdf
from ingest.files.readers.sheet import read_xlsx
from ingest.files.readers.text import decode_text, text_doc
from ingest.files.readers.word import read_docx
from ingest.files.sniff import format_of

log = logging.getLogger(__name__)


def extract_facts(path: Path, name: str, role: str, size: int, sha256: str, archive: str | None) -> FileFacts:
    """Facts of one file. Never raises on bad content (``OSError`` reading our own spool file does raise)."""
    with path.open("rb") as fh:
        head = fh.read(2048)
    kind = format_of(head)
    base = FileFacts(name=name, role=role, size=size, sha256=sha256, archive=archive)
    suffix = Path(name).suffix.lower()
    try:
        if role == FileRole.PHOTO or (kind in IMAGE_FORMATS and role in (FileRole.AUXILIARY, FileRole.UNKNOWN)):
            return replace(base, image=read_image(path, kind))
        if kind == "PDF":
            return replace(base, pdf=read_pdf(path))
        if kind == "ZIP" and suffix in (".docx", ".docm", ".dotx") or (kind == "ZIP" and _is_docx(path)):
            return replace(base, doc=read_docx(path))
        if kind == "ZIP" and _zip_has(path, "xl/workbook.xml"):
            return replace(base, sheet=read_xlsx(path))
        if kind == "OLE" and suffix in (".docx", ".xlsx", ".pptx"):
            # An OOXML file with an open password is an OLE container (EncryptionInfo + EncryptedPackage).
            return replace(base, doc=DocFacts(text="", word_count=0, cjk_chars=0, latin_words=0, paragraphs=(),
                                              tables=(), page_width_mm=None, page_height_mm=None, encrypted=True))
        if role in (FileRole.VIDEO, FileRole.AUDIO) or kind in MEDIA_FORMATS:
            return read_media(base, path, kind, role)
        if suffix == ".txt" and size <= 4 << 20:
            return replace(base, doc=text_doc(decode_text(path.read_bytes())))
    except Unreadable as exc:
        return replace(base, error=str(exc))
    except MemoryError:
        raise  # our limit, not the sender's fault: the caller records it for staff (ingest/files/isolation.py)
    # Isolation boundary: python-docx, pypdf, Pillow and libmediainfo parse files from strangers, and on hostile
    # input they raise exception types of their own (struct.error, zlib.error, RecursionError, AssertionError…).
    # One unreadable file must not lose the submission: it becomes a recorded error on that file.
    except Exception as exc:  # noqa: BLE001
        log.warning("reading %s (%s) failed: %s: %s", name, role, type(exc).__name__, exc)
        return replace(base, error="文件内容无法解析，可能已损坏")
    return base


def _is_docx(path: Path) -> bool:
    """A ZIP that holds a Word body, whatever its name says."""
    return _zip_has(path, "word/document.xml")


def _zip_has(path: Path, member: str) -> bool:
    """Whether the ZIP at ``path`` lists ``member`` (False for a broken ZIP)."""
    try:
        with zipfile.ZipFile(path) as zf:
            return member in zf.namelist()
    except (zipfile.BadZipFile, OSError):
        return False
