"""Staff actions on SQLite and PostgreSQL: override, field correction, resend, one case's detail, the queue."""

from __future__ import annotations

from email import message_from_bytes
from email.policy import default as default_policy
from typing import Iterator
from zoneinfo import ZoneInfo

import pytest

from notify.mailer import build_message
from staff_factory import CAMPAIGN_ID, GeneratedData, fill_cases
from store import Store
from store.queries import (
    CaseFilter,
    campaign_stats,
    case_detail,
    correct_fields,
    current_message_row,
    list_cases,
    override_status,
    resend_reply,
    review_queue,
)

TZ = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def filled(db_url: str) -> Iterator[tuple[Store, GeneratedData]]:
    store = Store.open(db_url, campaign_id="jcjy2025")
    data = fill_cases(store.engine, 40, seed=11)
    try:
        yield store, data
    finally:
        store.close()


def test_override_changes_effective_status_and_is_logged(filled: tuple[Store, GeneratedData]) -> None:
    store, data = filled
    case = next(c for c in data.cases if c.effective_status == "rejected")
    before = {c.key: c.count for c in campaign_stats(store, CAMPAIGN_ID, tz=TZ).by_status}

    result = override_status(store, CAMPAIGN_ID, case.case_no, "accepted", "  PDF 公章经电话核实 ", actor="张老师")
    assert (result.previous, result.current) == ("rejected", "accepted")
    after = {c.key: c.count for c in campaign_stats(store, CAMPAIGN_ID, tz=TZ).by_status}
    assert after["rejected"] == before["rejected"] - 1
    assert after["accepted"] == before.get("accepted", 0) + 1
    [row] = list_cases(store, CAMPAIGN_ID, CaseFilter(case_nos=(case.case_no,)))
    assert (row.status, row.checked_status, row.override_reason) == ("accepted", case.status, "PDF 公章经电话核实")
    event = case_detail(store, CAMPAIGN_ID, case.case_no).events[-1]
    assert (event.actor, event.action) == ("张老师", "case.override")
    assert dict(event.detail) == {"from": "rejected", "to": "accepted", "reason": "PDF 公章经电话核实"}

    cleared = override_status(store, CAMPAIGN_ID, str(case.id), None, "撤销改判", actor="李老师")
    assert (cleared.previous, cleared.current) == ("accepted", case.status)
    last = case_detail(store, CAMPAIGN_ID, case.case_no).events[-1]
    assert (last.actor, last.action, last.detail["to"]) == ("李老师", "case.override_cleared", case.status)


def test_override_refuses_bad_input(filled: tuple[Store, GeneratedData]) -> None:
    store, data = filled
    with pytest.raises(ValueError, match="状态只能是"):
        override_status(store, CAMPAIGN_ID, data.cases[0].case_no, "approved", "理由", actor="x")
    with pytest.raises(ValueError, match="理由"):
        override_status(store, CAMPAIGN_ID, data.cases[0].case_no, "accepted", "  ", actor="x")
    with pytest.raises(LookupError, match="JCJY2025-999999"):
        override_status(store, CAMPAIGN_ID, "JCJY2025-999999", "accepted", "理由", actor="x")
    with pytest.raises(LookupError):  # another campaign's cases are not reachable
        override_status(store, "other2026", data.cases[0].case_no, "accepted", "理由", actor="x")
    assert case_detail(store, CAMPAIGN_ID, data.cases[0].case_no).events == ()


def test_correct_fields_records_old_and_new(filled: tuple[Store, GeneratedData]) -> None:
    store, data = filled
    case = next(c for c in data.cases if c.province is None)
    changed = correct_fields(store, CAMPAIGN_ID, case.case_no,
                             {"province": "浙江省", "city": "杭州市", "category_no": 6, "category": "人工智能教育",
                              "organization": case.organization}, actor="王老师")
    assert changed == {"province": (None, "浙江省"), "city": (None, "杭州市"),
                       "category_no": (case.category_no, 6), "category": (case.category, "人工智能教育")}
    [row] = list_cases(store, CAMPAIGN_ID, CaseFilter(case_nos=(case.case_no,)))
    assert (row.identity.province, row.identity.city, row.identity.category_no, row.identity.category) == \
        ("浙江省", "杭州市", 6, "人工智能教育")
    event = case_detail(store, CAMPAIGN_ID, case.case_no).events[-1]
    assert (event.actor, event.action) == ("王老师", "case.fields_corrected")
    assert dict(event.detail) == {"province": [None, "浙江省"], "city": [None, "杭州市"],
                                  "category_no": [None, 6], "category": [None, "人工智能教育"]}
    # The same values again change nothing and log nothing.
    assert correct_fields(store, CAMPAIGN_ID, case.case_no, {"province": "浙江省"}, actor="王老师") == {}
    assert len(case_detail(store, CAMPAIGN_ID, case.case_no).events) == 1
    with pytest.raises(ValueError, match="status"):
        correct_fields(store, CAMPAIGN_ID, case.case_no, {"status": "accepted"}, actor="王老师")


def _queue_reply(store: Store, case_id: int, kind: str, status: str = "sent") -> str:
    message_id = f"<{kind}.JCJY2025-{case_id:06d}.v1@163.com>"
    raw = build_message(sender="jcjyzj2025@163.com", sender_name="征集工作组", recipient="school@example.cn",
                        subject=f"【受理回执】JCJY2025-{case_id:06d}", text="您好，材料已收到。\n" * 3,
                        html="<p>您好，材料已收到。</p>", message_id=message_id, in_reply_to="<orig@school.cn>")
    assert store.enqueue_mail(message_id=message_id, kind=kind, recipient="school@example.cn",
                              subject=f"【受理回执】JCJY2025-{case_id:06d}", raw=raw, case_id=case_id, status=status)
    return message_id


def test_resend_queues_a_fresh_copy(filled: tuple[Store, GeneratedData]) -> None:
    store, data = filled
    case = data.cases[3]
    with pytest.raises(LookupError, match="没有可重发"):
        resend_reply(store, CAMPAIGN_ID, case.case_no, actor="张老师")
    first = _queue_reply(store, case.id, "needs_review")
    newest = _queue_reply(store, case.id, "receipt", status="suppressed")
    assert store.due_mail() == []

    queued = resend_reply(store, CAMPAIGN_ID, case.case_no, actor="张老师")
    assert (queued.kind, queued.recipient) == ("receipt", "school@example.cn")
    assert queued.message_id == "<resend1." + newest.strip("<>") + ">"
    [due] = store.due_mail()
    assert (due.id, due.message_id, due.case_id) == (queued.new_outbox_id, queued.message_id, case.id)
    original = next(m for m in case_detail(store, CAMPAIGN_ID, case.case_no).mails if m.message_id == newest)
    sent, copy = (message_from_bytes(raw, policy=default_policy) for raw in (
        _raw_of(store, original.id), due.raw))
    assert copy["Message-ID"] == queued.message_id and sent["Message-ID"] == newest
    assert copy["Date"] != "" and copy["In-Reply-To"] == sent["In-Reply-To"] == "<orig@school.cn>"
    assert copy.get_body(("plain",)).get_content() == sent.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert original.status == "suppressed"  # history is not rewritten

    again = resend_reply(store, CAMPAIGN_ID, case.case_no, outbox_id=original.id - 1, actor="李老师")
    assert again.message_id == "<resend1." + first.strip("<>") + ">"
    twice = resend_reply(store, CAMPAIGN_ID, case.case_no, outbox_id=original.id, actor="李老师")
    assert twice.message_id == "<resend2." + newest.strip("<>") + ">"
    events = [e for e in case_detail(store, CAMPAIGN_ID, case.case_no).events if e.action == "mail.resend_requested"]
    assert [(e.actor, e.detail["outbox_id"]) for e in events] == [
        ("张老师", original.id), ("李老师", original.id - 1), ("李老师", original.id)]
    with pytest.raises(LookupError):
        resend_reply(store, CAMPAIGN_ID, data.cases[4].case_no, outbox_id=original.id, actor="x")


def _raw_of(store: Store, outbox_id: int) -> bytes:
    from store.models import OutboxMail

    with store.session() as s:
        return s.get_one(OutboxMail, outbox_id).raw


def test_case_detail_has_versions_files_findings(filled: tuple[Store, GeneratedData]) -> None:
    store, data = filled
    case = next(c for c in data.cases if c.current_version == 2)
    detail = case_detail(store, CAMPAIGN_ID, case.case_no)
    assert detail.case.case_no == case.case_no
    assert [v.version for v in detail.versions] == [1, 2]
    current = detail.versions[-1]
    assert sum(1 for a in current.attachments if a.role == "photo") == case.photos
    assert sorted((f.rule, f.message) for f in current.findings if not f.passed) == \
        sorted((r, m) for r, _, _, m in case.failed)
    assert sorted((f.rule, f.message) for f in detail.versions[0].findings if not f.passed) == \
        sorted((r, m) for r, _, _, m in case.older_failed)
    assert case_detail(store, CAMPAIGN_ID, str(case.id)).case.case_no == case.case_no  # bare number works
    assert current_message_row(store, CAMPAIGN_ID, case.case_no) == (case.case_no, current.message_row_id)


def test_review_queue_is_the_needs_review_cases(filled: tuple[Store, GeneratedData]) -> None:
    store, data = filled
    expected = sorted((c.first_received_at, c.id) for c in data.cases if c.effective_status == "needs_review")
    assert [(r.first_received_at, r.case_id) for r in review_queue(store, CAMPAIGN_ID, tz=TZ)] == expected
    waiting = review_queue(store, CAMPAIGN_ID, tz=TZ)[0]
    override_status(store, CAMPAIGN_ID, waiting.case_no, "accepted", "已核对", actor="张老师")
    assert waiting.case_no not in {r.case_no for r in review_queue(store, CAMPAIGN_ID, tz=TZ)}
