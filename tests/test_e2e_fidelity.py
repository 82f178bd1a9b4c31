"""Issue 16, end to end through Dovecot, the real CLI and a real SMTP server, on SQLite and PostgreSQL: the shapes
real submissions take get the right answer (one mail per shape).

Section 4: legacy Word files are read, not skipped. The text material arrives as a .doc and an .rtf that
LibreOffice itself saved from a DOCX, as a .wps (that .doc renamed: WPS Office's .wps is a Word-compatible OLE file;
no tool here writes one, and many WPS users send exactly this), and as a DOCX whose 65-字 text box Word 2010+ (and
LibreOffice) write twice. Their 字数 is counted on the converted document as Word's 字数统计 counts it.
"""

from __future__ import annotations

import email
import email.policy
import re
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from ingest.sample_submissions import RECEIVED, SCHOOLS, submission_mail
from store.models import Case
from servers import run_intake, write_intake_config

pytestmark = pytest.mark.e2e


def plain(raw: bytes) -> tuple[str, str]:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    body = msg.get_body(preferencelist=("plain",))
    return str(msg["Subject"]), body.get_content() if body is not None else ""


def case_statuses(db_url: str) -> dict[str, list[str]]:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            out: dict[str, list[str]] = {}
            for sender, status in conn.execute(select(Case.sender, Case.status).order_by(Case.case_no)):
                out.setdefault(sender, []).append(status)
            return out
    finally:
        engine.dispose()


@pytest.fixture
def poll(tmp_path: Path, dovecot, imap_user, smtp_sink, db_url):  # type: ignore[no-untyped-def]
    def run(*mails: bytes, campaign_file: str | None = None, received_at: datetime = RECEIVED) -> None:
        kwargs = {"campaign_file": campaign_file} if campaign_file else {}
        cfg = write_intake_config(tmp_path, imap_port=dovecot.port, user=imap_user, smtp_port=smtp_sink.port,
                                  db_url=db_url, **kwargs)
        for raw in mails:
            dovecot.append(imap_user, "INBOX", raw, internaldate=received_at)
        run_intake(cfg, "poll", "--once", password=dovecot.password)

    return run


LEGACY_SHAPES = [(SCHOOLS[0], "doc", 2900), (SCHOOLS[1], "rtf", 3100), (SCHOOLS[2], "wps", 2900),
                 (SCHOOLS[4], "textbox", 2965)]


@pytest.fixture(scope="module")
def legacy_mails() -> list[bytes]:
    """Built once for both databases (each conversion starts LibreOffice)."""
    return [submission_mail(school, photos=2, video_seconds=2.0, text_kind=kind, text_chars=chars)
            for school, kind, chars in LEGACY_SHAPES]


def test_legacy_word_texts_are_read_and_counted(poll, smtp_sink, db_url, legacy_mails) -> None:  # type: ignore[no-untyped-def]
    shapes = LEGACY_SHAPES
    poll(*legacy_mails)
    replies = {m.rcpt_tos[0]: plain(m.raw) for m in smtp_sink.wait_for(len(shapes), timeout=120)}
    assert case_statuses(db_url) == {SCHOOLS[0].sender: ["accepted"], SCHOOLS[1].sender: ["rejected"],
                                     SCHOOLS[2].sender: ["accepted"], SCHOOLS[4].sender: ["accepted"]}
    for school, kind, chars in shapes:
        subject, text = replies[school.sender]
        ext = "docx" if kind == "textbox" else kind
        assert re.search(f"文字材料\\.{ext}[”》]字数为{chars}字", text), (kind, text)
        assert "LibreOffice" not in text and "无法读取" not in text
    assert "超过3000字的上限" in replies[SCHOOLS[1].sender][1]
