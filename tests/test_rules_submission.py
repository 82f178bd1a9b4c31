"""Submission-level rules: "submission-window" (四.1), "quota" (四.2(1)), "duplicate-file" and "duplicate-case",
"files-readable" (四.3)."""

from __future__ import annotations

import zipfile
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

from checks.domain import CaseIdentity
from checks.facts import PriorSubmission
from test_rules_support import UNIT, failures, file_facts, made, only_passes, run, submission

BEIJING = timezone(timedelta(hours=8))


# --- 四.1 deadline ----------------------------------------------------------------------------------------------

def test_received_on_the_last_evening_beijing_time_is_on_time() -> None:
    (ok,) = run("submission-window", submission(received_at=datetime(2025, 12, 10, 23, 59, 30, tzinfo=BEIJING)))
    assert ok.passed and "北京时间" in ok.message


def test_received_after_midnight_beijing_is_late_even_if_still_the_10th_in_utc() -> None:
    late = datetime(2025, 12, 10, 16, 30, tzinfo=timezone.utc)  # 2025-12-11 00:30 in Beijing
    (bad,) = failures(run("submission-window", submission(received_at=late)))
    assert bad.severity == "reject" and bad.clause == "四.1"
    assert "2025年12月11日 00:30" in bad.message and "逾期30分钟" in bad.message
    assert bad.evidence["late_seconds"] == 1800


def test_deadline_and_opening_from_rule_parameters() -> None:
    facts = submission(received_at=datetime(2024, 5, 1, 10, tzinfo=BEIJING))
    (bad,) = failures(run("submission-window", facts, opens="2024-06-01", deadline="2024-09-30"))
    assert "早于征集开始时间2024年6月1日" in bad.message
    assert only_passes(run("submission-window", facts, opens="2024-04-01", deadline="2024-09-30"))


# --- 四.2(1) quotas ---------------------------------------------------------------------------------------------

PROVINCE = CaseIdentity(submitter_kind="province", province="浙江省", organization="浙江省教育厅",
                         case_name="新案例", category_no=6, category="人工智能教育")


def prior(no: int, category: int, kind: str = "province", province: str = "浙江省",
          organization: str = "浙江省教育厅", case_name: str | None = None) -> PriorSubmission:
    return PriorSubmission(case_no=f"JCJY2025-{no:06d}", sender="jyt@zj.gov.cn",
                           identity=CaseIdentity(submitter_kind=kind, province=province, organization=organization,
                                                 case_name=case_name or f"案例{no}", category_no=category),
                           received_at=datetime(2025, 10, 1, tzinfo=BEIJING) + timedelta(hours=no))


def test_second_case_in_a_category_counts() -> None:
    (ok,) = run("quota", submission(subject=PROVINCE, prior=[prior(1, 6)]))
    assert ok.passed and "第6类第2个" in ok.message


def test_third_case_in_a_category_is_flagged_and_staff_told_which_count() -> None:
    (bad,) = failures(run("quota", submission(subject=PROVINCE, prior=[prior(1, 6), prior(2, 6), prior(3, 5)])))
    assert bad.severity == "warn" and bad.clause == "四.2(1)"
    assert "本案例是第3个" in bad.message
    assert "JCJY2025-000001“案例1”、JCJY2025-000002“案例2”" in bad.message


def test_eleventh_case_is_flagged() -> None:
    earlier = [prior(n, n) for n in range(1, 11)]  # one in each of the ten categories
    facts = submission(subject=replace(PROVINCE, category_no=1), prior=earlier)
    (bad,) = failures(run("quota", facts))
    assert "总数不超过10个" in bad.message and bad.evidence["counted"] == 10


def test_a_third_in_category_does_not_use_up_a_total_place() -> None:
    earlier = [prior(1, 1), prior(2, 1), prior(3, 1)] + [prior(n, n - 2) for n in range(4, 11)]
    (ok,) = run("quota", submission(subject=replace(PROVINCE, category_no=10), prior=earlier))
    # The 11th case received, but case 3 exceeded its category and does not count: this one is the 10th counted.
    assert ok.passed and "计入名额的第10个" in ok.message


def test_schools_and_other_provinces_are_not_counted() -> None:
    others = [prior(1, 6, province="江苏省"), prior(2, 6, province="江苏省"), prior(3, 6, kind="unit"),
              prior(4, 6, kind="unit")]
    assert only_passes(run("quota", submission(subject=PROVINCE, prior=others)))
    # A school's own entry is not under the provincial quota at all.
    assert only_passes(run("quota", submission(subject=UNIT, prior=[prior(1, 6), prior(2, 6)])))


def test_quota_per_school_from_config() -> None:
    groups = [{"label": "学校报送", "submitter_kind": "", "group_by": "organization", "per_category_max": 0,
               "total_max": 1}]
    earlier = prior(1, 3, kind="unit", organization=UNIT.organization or "")
    (bad,) = failures(run("quota", submission(prior=[earlier]), groups=groups))
    assert "学校报送" in bad.message and "总数不超过1个" in bad.message


# --- duplicates -------------------------------------------------------------------------------------------------

def test_duplicate_file_in_another_case() -> None:
    photo = file_facts("photo_2.1mb.jpg", "photo", "活动照片.jpg")
    earlier = replace(prior(7, 6, kind="unit"), file_sha256s=(photo.sha256,))
    (bad,) = failures(run("duplicate-file", submission(photo, prior=[earlier])))
    assert bad.severity == "warn" and "JCJY2025-000007" in bad.message and bad.file == "活动照片.jpg"
    other = replace(earlier, file_sha256s=(file_facts("photo_1.9mb.jpg", "photo").sha256,))
    assert only_passes(run("duplicate-file", submission(photo, prior=[other])))


def test_same_file_twice_in_one_submission_is_noted() -> None:
    a = file_facts("photo_small.jpg", "photo", "图1：升旗仪式.jpg")
    b = file_facts("photo_small.jpg", "photo", "图2：运动会开幕式.jpg")
    (note,) = failures(run("duplicate-file", submission(a, b)))
    assert note.severity == "info" and note.file == "图2：运动会开幕式.jpg"


def test_duplicate_case_same_name_same_school() -> None:
    earlier = replace(prior(9, 6, kind="unit", organization="杭州市文三街小学", case_name="“AI+劳动”课程群建设"),
                      sender="other@163.com")
    (bad,) = failures(run("duplicate-case", submission(prior=[earlier])))
    assert "JCJY2025-000009" in bad.message
    elsewhere = replace(earlier, identity=replace(earlier.identity, organization="宁波市实验小学"))
    assert only_passes(run("duplicate-case", submission(prior=[elsewhere])))


# --- 四.3 readable files ----------------------------------------------------------------------------------------

def test_files_readable_all_good() -> None:
    (ok,) = run("files-readable", submission(file_facts("form.docx", "form_word")))
    assert ok.passed


def test_encrypted_archive_problem_is_grave_symlink_note_is_not() -> None:
    problems = [("archive.encrypted", "压缩包“材料.zip”的文件目录设有密码，无法打开审核。", "材料.zip"),
                ("archive.symlink", "压缩包“材料.zip”中的“link”是链接，已跳过。", "材料.zip")]
    findings = run("files-readable", submission(problems=problems))
    assert [(f.passed, f.severity) for f in findings] == [(False, "reject"), (False, "warn")]


def test_corrupt_docx_is_reported(tmp_path: Path) -> None:
    broken = tmp_path / "文字材料.docx"
    broken.write_bytes(made("text_2400.docx").read_bytes()[:3000])  # a real DOCX cut short in transfer
    facts = submission(file_facts(broken, "text"))
    assert facts.files[0].error
    (bad,) = failures(run("files-readable", facts))
    assert "文字材料.docx" in bad.message and bad.severity == "reject"


def test_zip_that_is_not_a_document(tmp_path: Path) -> None:
    odd = tmp_path / "材料.docx"
    with zipfile.ZipFile(odd, "w") as zf:
        zf.writestr("readme.txt", "not a word file")
    f = file_facts(odd, "text")
    assert f.error and f.doc is None
