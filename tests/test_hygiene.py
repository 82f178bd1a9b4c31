"""No automatic reply to robots, lists, bounces or ourselves (RFC 3834)."""

from __future__ import annotations

import pytest

from ingest.mail.hygiene import assess
from ingest.samples.mails import build_mail
from ingest.mail.mime import parse_message

OWN = frozenset({"jcjyzj2025@163.com"})


def mail(subject: str = "浙江省/某小学案例+人工智能教育", sender: str = "a@school.cn",
         headers: tuple[tuple[str, str], ...] = ()) -> bytes:
    return build_mail(style="utf8", sender=sender, to="jcjyzj2025@163.com", subject=subject, body="正文",
                      extra_headers=headers)


@pytest.mark.parametrize(("raw", "kind"), [
    (mail(headers=(("Auto-Submitted", "auto-replied"),)), "auto_reply"),
    (mail(headers=(("X-Autoreply", "yes"),)), "auto_reply"),
    (mail(subject="自动回复：您的邮件已收到"), "auto_reply"),
    (mail(subject="Out of Office: back Monday"), "auto_reply"),
    (mail(sender="MAILER-DAEMON@163.com", subject="系统退信"), "bounce"),
    (mail(headers=(("X-Failed-Recipients", "x@y.cn"),)), "bounce"),
    (mail(headers=(("List-Id", "<teachers.list.example.cn>"),)), "list"),
    (mail(headers=(("Precedence", "bulk"),)), "list"),
    (mail(sender="jcjyzj2025@163.com"), "own"),
])
def test_robots_get_no_reply(raw: bytes, kind: str) -> None:
    h = assess(parse_message(raw), OWN)
    assert h.kind == kind
    assert not h.reply
    assert h.skip_processing


def test_auth_failure_is_processed_but_not_answered() -> None:
    raw = mail(headers=(("Authentication-Results", "mx.163.com; spf=fail smtp.mailfrom=x.cn; dkim=none"),))
    h = assess(parse_message(raw), OWN)
    assert h.kind == "auth_fail" and not h.reply and not h.skip_processing


def test_ordinary_submission_is_answered() -> None:
    h = assess(parse_message(mail(headers=(("Auto-Submitted", "no"),))), OWN)
    assert h.kind is None and h.reply
