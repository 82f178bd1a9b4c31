"""Each analysis stage alone (ingest/pipeline/stages.py), on real files made by ingest/samples: parse → unpack →
classify → read facts → identify → check → decide. The stages take and give frozen values (no Runtime, no
database), so each one can be called here by itself, and its result survives pickling (a worker elsewhere)."""

from __future__ import annotations

import pickle
import time
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

from checks.domain import FileRole, Severity, SubmissionStatus, SubmitterKind
from checks.registry import Finding
from ingest.config import load_config
from ingest.files.isolation import run_bounded
from ingest.mail.mime import NotAMimeMessage
from ingest.pipeline.analyse import analyse, analyse_file
from ingest.pipeline.batch import case_subject
from ingest.pipeline.stages import (as_sent, check, classify_files, decide, identify, parse, read_facts, read_forms,
                                    submission_facts, unpack)
from ingest.pipeline.values import AnalysisSettings, Checked, Identified, MailContext, ParsedMessage
from ingest.runtime import build_campaign
from ingest.samples import files as samples
from ingest.samples.mails import Attachment, build_mail
from ingest.samples.submissions import MAILBOX, RECEIVED, SCHOOLS, submission_mail

CASE = SCHOOLS[0]  # 浙江省 杭州市 文三街小学, “AI+劳动”课程群建设, 人工智能教育


@pytest.fixture(scope="module")
def settings() -> AnalysisSettings:
    config = load_config(None, env={}, offline=True)  # the shipped example: the 2025 call
    campaign = build_campaign(config)
    return AnalysisSettings(subject_spec=campaign.subject_spec, rules=campaign.rules, limits=config.limits,
                            link_hosts=config.links.allowed_hosts)


@pytest.fixture(scope="module")
def spooled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete submission packed in a GBK-named ZIP (form, PDF scan, text, photos; no video)."""
    path = tmp_path_factory.mktemp("spool") / "complete.eml"
    path.write_bytes(submission_mail(CASE, photos=2, video_seconds=None))
    return path


def _deadline(settings: AnalysisSettings) -> float:
    return time.monotonic() + settings.limits.mail_seconds


def test_parse_reads_the_mail_and_its_subject_once(spooled: Path, tmp_path: Path,
                                                   settings: AnalysisSettings) -> None:
    parsed = parse(spooled, tmp_path / "parts", settings.subject_spec)
    assert parsed.mail.from_addr == CASE.sender
    assert [a.name for a in parsed.mail.attachments] == [f"{CASE.school}-{CASE.case_name}.zip"]
    assert (parsed.subject.province, parsed.subject.case_name, parsed.subject.category_no) == (
        CASE.province, CASE.case_name, CASE.category_no)
    bad = tmp_path / "x.msg"
    bad.write_bytes(bytes.fromhex("d0cf11e0a1b11ae1") + b"\0" * 512)  # an Outlook .msg is not a mail
    with pytest.raises(NotAMimeMessage):
        parse(bad, tmp_path / "parts2", settings.subject_spec)


def test_unpack_opens_the_archive_and_counts_a_repeated_attachment_once(spooled: Path, tmp_path: Path,
                                                                        settings: AnalysisSettings) -> None:
    mail = parse(spooled, tmp_path / "parts", settings.subject_spec).mail
    twice = (*mail.attachments, replace(mail.attachments[0], name="又一份.zip"))
    unpacked = unpack(twice, tmp_path, settings.limits, _deadline(settings))
    names = sorted(f.name for f in unpacked.files)
    assert f"{CASE.school}/{CASE.school}申报表.docx" in names and sum(n.endswith(".jpg") for n in names) == 2
    assert all(f.path.is_file() and f.path.is_relative_to(tmp_path) for f in unpacked.files)
    assert unpacked.repeated == (("又一份.zip", mail.attachments[0].name),)
    assert unpacked.overruns == () and pickle.loads(pickle.dumps(unpacked)) == unpacked


def test_unpack_past_the_mail_deadline_reads_nothing_and_says_so(spooled: Path, tmp_path: Path,
                                                                 settings: AnalysisSettings) -> None:
    mail = parse(spooled, tmp_path / "parts", settings.subject_spec).mail
    unpacked = unpack(mail.attachments, tmp_path, settings.limits, deadline=time.monotonic() - 1)
    assert unpacked.files == ()
    assert [f.code for f in unpacked.findings] == ["mail.time_budget"]
    assert "整封邮件的处理时间超过上限" in unpacked.overruns[0]


def test_classify_then_read_facts_give_each_file_its_role_and_facts(spooled: Path, tmp_path: Path,
                                                                    settings: AnalysisSettings) -> None:
    mail = parse(spooled, tmp_path / "parts", settings.subject_spec).mail
    deadline = _deadline(settings)
    classified = classify_files(unpack(mail.attachments, tmp_path, settings.limits, deadline).files,
                                settings.limits, deadline)
    roles = {f.name: f.role for f in classified.files}
    assert roles[f"{CASE.school}/{CASE.school}申报表.docx"] == FileRole.FORM_WORD
    assert sorted(r for r in roles.values() if r == FileRole.PHOTO) == [FileRole.PHOTO] * 2
    assert FileRole.FORM_PDF in roles.values() and FileRole.TEXT in roles.values()
    assert all(f.facts is None for f in classified.files)  # read by the next stage, not this one
    assert [name for name, _ in classified.timings] == ["classify"] * len(classified.files)

    read = read_facts(classified.files, settings.limits, deadline)
    assert [f.name for f in read.files] == [f.name for f in classified.files]
    assert all(f.facts is not None and f.facts.error is None for f in read.files)
    photo = next(f for f in read.files if f.role == FileRole.PHOTO)
    assert photo.facts is not None and photo.facts.image is not None and photo.path is not None
    with Image.open(photo.path) as image:
        assert (photo.facts.image.format, photo.facts.image.width, photo.facts.image.height) == ("JPEG", *image.size)
    assert pickle.loads(pickle.dumps(read)) == read


def test_identify_completes_a_vague_subject_from_the_form(tmp_path: Path, settings: AnalysisSettings) -> None:
    raw = tmp_path / "vague.eml"
    raw.write_bytes(submission_mail(CASE, photos=1, video_seconds=None, subject="申报材料"))
    parsed = parse(raw, tmp_path / "parts", settings.subject_spec)
    assert parsed.subject.case_name != CASE.case_name
    deadline = _deadline(settings)
    files = classify_files(unpack(parsed.mail.attachments, tmp_path, settings.limits, deadline).files,
                           settings.limits, deadline).files
    forms = read_forms(files, settings.limits)
    assert [fields.get("案例名称") for fields in forms.values()] == [CASE.case_name]
    identified = identify(as_sent(parsed.subject, None, {}), files, next(iter(forms.values())),
                          parsed.mail.from_name, settings.subject_spec)
    assert identified.as_sent == parsed.subject
    assert (identified.subject.case_name, identified.subject.category_no) == (CASE.case_name, CASE.category_no)


def test_staff_corrections_are_the_truth_the_checks_work_with(spooled: Path, tmp_path: Path,
                                                              settings: AnalysisSettings) -> None:
    subject = parse(spooled, tmp_path / "parts", settings.subject_spec).subject
    corrected = as_sent(subject, None, {"case_name": "更正后的名称", "not_a_field": "x"})
    assert corrected.case_name == "更正后的名称" and not corrected.needs_review
    assert corrected.reasons[-1] == "工作人员已更正字段"


def test_check_and_decide_on_the_read_facts(spooled: Path, tmp_path: Path, settings: AnalysisSettings) -> None:
    parsed = parse(spooled, tmp_path / "parts", settings.subject_spec)
    deadline = _deadline(settings)
    unpacked = unpack(parsed.mail.attachments, tmp_path, settings.limits, deadline)
    files = read_facts(classify_files(unpacked.files, settings.limits, deadline).files, settings.limits,
                       deadline).files
    identified = identify(parsed.subject, files, {}, parsed.mail.from_name, settings.subject_spec)
    context = MailContext(received_at=RECEIVED)
    checked = check(submission_facts(parsed, identified, files, context, (), ()), settings.rules, settings.limits)
    assert {name for name, _ in checked.timings} == {f"check:{rule_id}" for rule_id in settings.rules.ids}
    assert not [f for f in checked.findings if f.rule == "rule-error"]
    analysis = decide(identified, checked, spec=settings.subject_spec, files=files, context=context, defects=(),
                      overruns=())
    # The whole story (analyse) is these stages in order: the same verdict, findings and files.
    story = analyse(parsed, work_dir=tmp_path / "story", settings=settings, context=context)
    assert analysis.status == story.status
    assert [(f.rule, f.passed) for f in analysis.findings] == [(f.rule, f.passed) for f in story.findings]
    assert [(f.name, f.role) for f in analysis.files] == [(f.name, f.role) for f in story.files]
    # The same from the spooled file by path (what a worker elsewhere would be handed).
    by_path = analyse_file(spooled, work_dir=tmp_path / "by-path", settings=settings, context=context)
    assert (by_path.status, len(by_path.findings)) == (story.status, len(story.findings))


def test_decide_reads_findings_and_review_reasons(spooled: Path, tmp_path: Path,
                                                 settings: AnalysisSettings) -> None:
    subject = parse(spooled, tmp_path / "parts", settings.subject_spec).subject
    identified = Identified(subject=subject, as_sent=subject)
    passed = Finding(rule="photo-count", clause="四.4(4)", severity=Severity.REJECT, passed=True, message="ok")
    failed = replace(passed, passed=False, message="照片不足")
    context = MailContext(received_at=RECEIVED)

    def verdict(*findings: Finding, overruns: tuple[str, ...] = (), held: str = "") -> str:
        return decide(identified, Checked(findings), spec=settings.subject_spec, files=(), context=context,
                      defects=(), overruns=overruns, held=held).status

    assert verdict(passed) == SubmissionStatus.ACCEPTED
    assert verdict(passed, failed) == SubmissionStatus.REJECTED
    assert verdict(passed, overruns=("文件“a.jpg”读取超时",)) == SubmissionStatus.NEEDS_REVIEW
    assert verdict(passed, held="两份申报表") == SubmissionStatus.NEEDS_REVIEW
    forced = replace(context, forced_review=("邮件过大",))
    analysis = decide(identified, Checked((passed,)), spec=settings.subject_spec, files=(), context=forced,
                      defects=(), overruns=())
    assert analysis.status == SubmissionStatus.NEEDS_REVIEW and "邮件过大" in analysis.review_reasons


def test_a_case_of_a_batch_takes_its_fields_from_its_own_form(tmp_path: Path, settings: AnalysisSettings) -> None:
    form = samples.make_form_docx(tmp_path / "申报表.docx", {
        "申报单位": "湖北省宜昌市夷陵中学", "案例名称": "青年教师成长共同体", "类别": "教师队伍建设"})
    raw = tmp_path / "dept.eml"
    raw.write_bytes(build_mail(style="163", sender="hbjyt@163.com", to=MAILBOX, subject="湖北省教育厅推荐案例",
                               body="推荐案例", attachments=[Attachment.from_file(form)], received_at=RECEIVED))
    parsed = parse(raw, tmp_path / "parts", settings.subject_spec)
    files = classify_files(unpack(parsed.mail.attachments, tmp_path, settings.limits, _deadline(settings)).files,
                           settings.limits, _deadline(settings)).files
    fields = read_forms(files, settings.limits)[0]
    case = case_subject(parsed.subject, fields, [f.name for f in files], settings.subject_spec)
    assert case.subject.submitter_kind == SubmitterKind.PROVINCE  # a provincial department's recommendation
    assert (case.subject.case_name, case.subject.category_no) == ("青年教师成长共同体", 10)
    assert case.as_sent == parsed.subject and not case.subject.needs_review


def test_the_stage_values_hold_no_live_object(settings: AnalysisSettings, spooled: Path, tmp_path: Path) -> None:
    """Settings and context cross a process boundary as they are (a task queue, a worker on another host)."""
    assert pickle.loads(pickle.dumps(settings)) == settings
    parsed = parse(spooled, tmp_path / "parts", settings.subject_spec)
    assert isinstance(pickle.loads(pickle.dumps(parsed)), ParsedMessage)


def test_the_file_reading_workers_never_load_the_pipeline_or_the_store(spooled: Path, tmp_path: Path,
                                                                        settings: AnalysisSettings) -> None:
    """A task travels by reference: the worker imports the module of each function and argument it gets. Every
    task of a real mail (unpack, classify, forms, facts, rules) must leave the worker without the pipeline, the
    store or SQLAlchemy: a facts task once defined in the pipeline cost every worker ~14 MB of live objects
    (issue 21 §4)."""
    # A pool of its own (pools are keyed by memory limit and size): no other test's task has run in it.
    limits = replace(settings.limits, worker_memory_mb=settings.limits.worker_memory_mb + 7, workers=1)
    analysis = analyse(parse(spooled, tmp_path / "parts", settings.subject_spec), work_dir=tmp_path,
                       settings=replace(settings, limits=limits), context=MailContext(received_at=RECEIVED))
    assert analysis.files and all(f.facts is not None for f in analysis.files)  # the workers did read them
    loaded = run_bounded(limits, 30, eval, "sorted(__import__('sys').modules)")
    assert "ingest.files.facts" in loaded and "checks.rules" in loaded
    heavy = [m for m in loaded if m.split(".")[0] in ("sqlalchemy", "store", "mailparser")
             or m.startswith(("ingest.pipeline", "ingest.mail"))]
    assert heavy == []
