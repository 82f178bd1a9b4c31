"""End to end through Dovecot and a real SMTP server (issue 16 §2): one school sends two cases whose names
differ only by their ordinal (…之一, …之二) and gets two cases with two case numbers; the second sent in two
mails (附件较大，分2封发送，此为第M封) stays one case, and a corrected version of the first (（更正版）) becomes its
second version, not a third case."""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from ingest.samples.submissions import RECEIVED, SCHOOLS, submission_mail
from servers import run_intake, write_intake_config
from store.models import Case

pytestmark = pytest.mark.e2e


def test_one_school_two_ordinal_cases_get_two_case_numbers(tmp_path: Path, dovecot, imap_user, smtp_sink,  # type: ignore[no-untyped-def]
                                                            db_url) -> None:
    cfg = write_intake_config(tmp_path, imap_port=dovecot.port, user=imap_user, smtp_port=smtp_sink.port,
                              db_url=db_url)
    school = SCHOOLS[4]  # 山东省潍坊市诸城市实验小学, 劳动教育, “五育并举”育人; its own address
    first = replace(school, case_name="劳动教育“五育融合”课程之一")
    second = replace(school, case_name="劳动教育“五育融合”课程之二")
    # the first case again, corrected: the same case name once the annotation is set aside (mail is taken in
    # order of arrival, so it follows the first)
    corrected = submission_mail(first, photos=1, video_seconds=None, subject=first.subject + "（更正版）")
    split = [submission_mail(second, photos=1, video_seconds=None,
                             subject=f"{second.subject}（附件较大，分2封发送，此为第{i}封）") for i in (1, 2)]
    for raw in (submission_mail(first, photos=1, video_seconds=None), *split, corrected):
        dovecot.append(imap_user, "INBOX", raw, internaldate=RECEIVED)
    run_intake(cfg, "poll", "--once", password=dovecot.password)

    engine = create_engine(db_url)
    with engine.connect() as conn:
        rows = conn.execute(select(Case.case_no, Case.case_name, Case.current_version, Case.category_no)
                            .where(Case.sender == school.sender).order_by(Case.id)).all()
    engine.dispose()
    assert [(r.case_name, r.current_version, r.category_no) for r in rows] == [
        ("劳动教育“五育融合”课程之一", 2, 3), ("劳动教育“五育融合”课程之二", 2, 3)]
    numbers = [r.case_no for r in rows]

    replies = smtp_sink.wait_for(4, timeout=60)
    quoted = []
    for m in replies:
        msg = email.message_from_bytes(m.raw, policy=email.policy.default)
        body = msg.get_body(preferencelist=("plain",))
        text = f"{msg['Subject']}\n{body.get_content() if body is not None else ''}"
        quoted.append(set(re.findall(r"JCJY2025-\d{6}", text)) & set(numbers))
    # each reply names one case: two for each (the first: v1 and its correction; the second: its two parts)
    assert sorted(n for q in quoted for n in q) == sorted([numbers[0], numbers[0], numbers[1], numbers[1]])
