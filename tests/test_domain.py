"""The domain vocabulary: codes equal their stored strings, one label per code, a case's identity."""

from __future__ import annotations

import json

from checks.domain import (
    LABELS,
    CaseIdentity,
    FileRole,
    MessageStatus,
    OutboxStatus,
    Severity,
    SubmissionStatus,
    parse_status,
)


def test_codes_are_their_stored_strings() -> None:
    assert SubmissionStatus.ACCEPTED_WITH_WARNINGS == "accepted_with_warnings"
    assert json.dumps([FileRole.FORM_PDF, Severity.WARN]) == '["form_pdf", "warn"]'
    assert f"{MessageStatus.NOTIFIED}" == "notified"
    # "failed" is both a message and an outbox status: each vocabulary keeps its own label
    assert MessageStatus.FAILED == OutboxStatus.FAILED
    assert MessageStatus.FAILED.label != OutboxStatus.FAILED.label


def test_every_code_has_exactly_one_chinese_label() -> None:
    for vocabulary, labels in LABELS.items():
        assert set(labels) == set(vocabulary.codes()), vocabulary
        assert len(set(labels.values())) == len(labels), vocabulary
    assert SubmissionStatus.ACCEPTED_WITH_WARNINGS.label == "已受理（有提醒事项）"
    assert SubmissionStatus.label_of("rejected") == "退回修改"
    assert SubmissionStatus.label_of("something_new") == "something_new"
    assert SubmissionStatus.label_of(None) == "—"


def test_status_parses_from_code_label_or_earlier_label() -> None:
    assert parse_status("needs_review") is SubmissionStatus.NEEDS_REVIEW
    assert parse_status(" 退回修改 ") is SubmissionStatus.REJECTED
    assert parse_status("已受理（有提醒）") is SubmissionStatus.ACCEPTED_WITH_WARNINGS
    assert parse_status("已受理（有提醒事项）") is SubmissionStatus.ACCEPTED_WITH_WARNINGS
    assert parse_status("通过") is None


def test_case_identity_region_and_fields() -> None:
    who = CaseIdentity("unit", "北京市", "北京市", "示例小学", "案例", 3, "课程教材")
    assert who.region == "北京市"
    assert CaseIdentity(province="浙江省", city="杭州市").region == "浙江省杭州市"
    assert who.as_dict()["organization"] == "示例小学"


def test_sizes_have_one_format() -> None:
    from checks.domain import format_size

    assert [format_size(n) for n in (None, 0, 1023, 1024, 850 * 1024, 2 * 1024 * 1024, 3_567_000, 5 * 1024 ** 3)] == \
        ["—", "0 B", "1023 B", "1 KB", "850 KB", "2.0 MB", "3.4 MB", "5.00 GB"]
