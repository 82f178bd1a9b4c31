"""Different cases stay different (issue 16 §2): two mails from one sender whose case names differ — only by an
ordinal suffix (之一/之二, （一）/（二）, (2)/(3)) or altogether — are never versions of one case, unless the later
one is a reply to our receipt or names our case number. Property-tested against the real matching code
(ingest.pipeline.process) and a real store (SQLite); the subjects go through the real parser."""

from __future__ import annotations

import itertools
from datetime import datetime, timezone
from typing import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checks.subject import ParsedSubject, parse_subject
from ingest.config import load_config
from ingest.samples.mails import build_mail
from ingest.mail.mime import parse_message
from ingest.pipeline.continuation import continued_case, same_case
from ingest.runtime import Runtime
from servers import write_intake_config
from store import CaseFields
from store.records import VersionRecord

RECEIVED = datetime(2025, 11, 20, 2, 0, tzinfo=timezone.utc)
MAILBOX = "jcjyzj2025@163.com"

SENDERS = ("浙江省/杭州市文三街小学", "江苏省南京市琅琊路小学", "广东省教育厅推荐/深圳市南山区教育局", "人大附中深圳学校",
           "北京师范大学贵阳附属中学", "云南省昆明市五华区长春小学", "湖南省教育厅（推荐）-长沙市雅礼中学")
NAMES = ("劳动教育实践", "“AI+劳动”课程群建设", "边疆民族团结教育", "《县中振兴的鼓楼实践》", "心理健康教育“三级预警”体系",
         "乡村小规模学校发展路径", "大思政课背景下的红色研学实践", "“双减”背景下作业设计改革")
CATEGORIES = ("五育并举", "“五育并举”育人", "人工智能教育", "（六）人工智能教育", "党建德育工作", "教育教学改革", "双减",
              "劳动教育", "思政", "基础教育扩优提质")
NUMERALS = "一二三四五六七八九"
# How schools number their cases: each takes the case's index (1–9).
ORDINALS = (lambda n: f"之{NUMERALS[n - 1]}", lambda n: f"（{NUMERALS[n - 1]}）", lambda n: f"({n})",
            lambda n: f"（之{NUMERALS[n - 1]}）", lambda n: f"系列案例之{NUMERALS[n - 1]}", lambda n: f"（{n}）")
SEPARATORS = ("/", "+", "-", " ", "——", "／")
# What a later mail may add without being another case or a continuation.
DECORATIONS = ("", "（更正版）", "（修改稿）", "（第二次提交）", "（附件较大，分2封发送，此为第1封）", "(1/2)", " 第2封")
PREFIXES = ("", "回复：", "Re: ", "转发：")  # typed by hand: not a reply to our receipt unless its headers say so


@pytest.fixture(scope="module")
def rt(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    d = tmp_path_factory.mktemp("identity")
    cfg = write_intake_config(d, imap_port=1, user="nobody", smtp_port=1, db_url=f"sqlite:///{d / 'intake.db'}",
                              spool_dir=str(d / "spool"))
    runtime = Runtime(load_config(str(cfg), env={"TEST_IMAP_PASSWORD": "x"}))
    yield runtime
    runtime.close()


_serial = itertools.count(1)


def _file_first(rt: Runtime, sender: str, subject: str) -> tuple[int, str, ParsedSubject]:
    """File a first mail as a new case, as the pipeline does (its fields from the parsed subject)."""
    parsed = parse_subject(subject, rt.campaign.subject_spec)
    n = next(_serial)
    msg = rt.store.record_spooled(account="identity", folder="INBOX", uidvalidity=1, uid=n, message_id=None,
                                  sha256=f"{n:064x}", size=1, spool_path="/nonexistent", internaldate=RECEIVED,
                                  from_addr=sender, subject=subject)
    assert msg is not None
    fields = CaseFields(parsed.identity, parsed.part, parsed.confidence, parsed.reasons)
    filed = rt.store.file_version(VersionRecord(
        message_row_id=msg.id, campaign_id=rt.config.campaign.id, sender=sender, received_at=RECEIVED,
        raw_subject=subject, fields=fields, status="accepted", attachments=(), findings=(),
        case_id=same_case(rt, parse_message(_mail(sender, subject)), parsed)), rt.config.campaign.case_number_prefix)
    return filed.case_id, filed.case_no, parsed


def _mail(sender: str, subject: str) -> bytes:
    return build_mail(style="163", sender=sender, to=MAILBOX, subject=subject, body="见附件", received_at=RECEIVED)


def _matched(rt: Runtime, sender: str, subject: str) -> int | None:
    """The case the pipeline files a later mail under (None: a new case), in the pipeline's own order."""
    mail = parse_message(_mail(sender, subject))
    found, _refused = continued_case(rt, mail)
    return found if found is not None else same_case(rt, mail, parse_subject(subject, rt.campaign.subject_spec))


@st.composite
def two_cases(draw: st.DrawFn) -> tuple[str, str, str]:
    """Two subjects of one school naming two different cases, and the way they differ."""
    school = draw(st.sampled_from(SENDERS))
    sep = draw(st.sampled_from(SEPARATORS))
    category = draw(st.sampled_from(CATEGORIES))
    other_category = draw(st.sampled_from((category, *CATEGORIES)))
    if draw(st.booleans()):
        base = draw(st.sampled_from(NAMES))
        ordinal = draw(st.sampled_from(ORDINALS))
        i, j = draw(st.lists(st.integers(1, 9), min_size=2, max_size=2, unique=True))
        first, second, how = base + ordinal(i), base + ordinal(j), "ordinal"
    else:
        first, second = draw(st.lists(st.sampled_from(NAMES), min_size=2, max_size=2, unique=True))
        how = "name"
    decoration = draw(st.sampled_from(DECORATIONS))
    prefix = draw(st.sampled_from(PREFIXES))
    return (f"{school}{sep}{first}{sep}{category}",
            f"{prefix}{school}{sep}{second}{sep}{other_category}{decoration}", how)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(two_cases(), st.booleans())
def test_different_case_names_are_different_cases(rt: Runtime, pair: tuple[str, str, str], names_case_no: bool) -> None:
    first_subject, second_subject, how = pair
    sender = f"school{next(_serial)}@163.com"
    case_id, case_no, first = _file_first(rt, sender, first_subject)
    if names_case_no:  # a later mail that names our case number continues that case, whatever its case name
        assert _matched(rt, sender, f"{case_no} {second_subject}") == case_id
        return
    second = parse_subject(second_subject, rt.campaign.subject_spec)
    assert _matched(rt, sender, second_subject) is None, (how, first.case_name, second.case_name)


@pytest.mark.parametrize("later", [
    "浙江省/杭州市文三街小学/劳动教育实践之一（更正版）/五育并举",
    "浙江省/杭州市文三街小学/劳动教育实践之一/五育并举（附件较大，分2封发送，此为第2封）",
    "浙江省/杭州市文三街小学/劳动教育实践之一/“五育并举”育人（修改稿）",
])
def test_the_same_case_corrected_or_in_parts_continues_it(rt: Runtime, later: str) -> None:
    """The control: the matching is not simply "never" — a corrected version or the next part of the same
    case (same name, ordinal included) is filed under it."""
    sender = f"school{next(_serial)}@163.com"
    case_id, _no, _ = _file_first(rt, sender, "浙江省/杭州市文三街小学/劳动教育实践之一/五育并举")
    assert _matched(rt, sender, later) == case_id
    other = f"school{next(_serial)}@163.com"  # and only for its own sender
    assert _matched(rt, other, later) is None


def test_a_reply_to_our_receipt_continues_the_case(rt: Runtime) -> None:
    """In-Reply-To one of our replies joins the case, even under another case name."""
    sender = f"school{next(_serial)}@163.com"
    case_id, case_no, _ = _file_first(rt, sender, "江苏省南京市琅琊路小学/劳动教育实践之一/五育并举")
    receipt_id = f"<receipt.{case_no}.v1@163.com>"
    rt.store.enqueue_mail(message_id=receipt_id, kind="receipt", recipient=sender, subject="【受理回执】",
                          raw=b"", case_id=case_id)
    reply = build_mail(style="qq", sender=sender, to=MAILBOX, subject="回复：【受理回执】劳动教育实践之二",
                       body="补充材料", received_at=RECEIVED, extra_headers=(("In-Reply-To", receipt_id),))
    mail = parse_message(reply)
    assert continued_case(rt, mail) == (case_id, None)
    # Another sender's mail replying to the same receipt does not continue the case (issue 15.1).
    stranger = parse_message(build_mail(style="qq", sender="stranger@qq.com", to=MAILBOX, subject="回复：【受理回执】",
                                        body="x", received_at=RECEIVED, extra_headers=(("In-Reply-To", receipt_id),)))
    found, refused = continued_case(rt, stranger)
    assert found is None and refused is not None and refused.case_no == case_no
