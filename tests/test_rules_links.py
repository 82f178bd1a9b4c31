"""Issue 16 §1 and §5 at the rule level: a video sent as a 163 超大附件 / QQ 文件中转站 link is a video (it counts; what
needs the file is a warning naming the expiry day, not "未附视频"); what was sent twice counts once; a certificate
or clipping among the pictures is 辅助资料, and the count says so."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from checks.facts import LinkFacts
from checks.registry import configure, decide_status, run_rules
from ingest.files.links import CHINA_TIME
from test_rules_support import complete_files, failures, file_facts, only_passes, run, submission

EXPIRES = datetime(2025, 12, 20, 10, 0, tzinfo=CHINA_TIME)
LINK = LinkFacts(name="实践创新案例视频.mp4", url="https://mail.163.com/large-attachment-download/index.html?"
                 "p=X-NETEASE-HUGE-ATTACHMENT&file=abc", size_bytes=3785359, expires_at=EXPIRES)
WANTED = "视频“实践创新案例视频.mp4”以超大附件链接发送，系统无法直接检查；请工作人员在 2025-12-20 到期前下载"


def with_links(*links: LinkFacts, files: list | None = None):  # type: ignore[no-untyped-def]
    facts = submission(*(files if files is not None else [f for f in complete_files() if f.role != "video"]))
    return dataclasses.replace(facts, links=links)


def test_video_link_counts_as_the_video_and_each_file_rule_warns_with_the_expiry_day() -> None:
    facts = with_links(LINK)
    (count,) = run("video-count", facts)
    assert count.passed and "共收到1个视频" in count.message and "2025-12-20 到期" in count.message
    findings = []
    for rule in ("video-format", "video-duration", "video-aspect", "video-resolution"):
        (warning,) = run(rule, facts)
        assert not warning.passed and warning.severity == "warn" and WANTED in warning.message, warning
        assert "未附视频" not in warning.message
        findings.append(warning)
    assert decide_status(findings, False) == "accepted_with_warnings"


def test_two_videos_one_attached_one_linked_break_the_one_video_rule() -> None:
    (bad,) = failures(run("video-count", with_links(LINK, files=complete_files())))
    assert bad.evidence["measured"] == 2 and "超大附件链接" in bad.message


def test_links_that_are_not_videos_or_whose_file_was_added_stand_for_nothing() -> None:
    photos_zip = LinkFacts(name="照片 & 说明.zip", url="https://mail.163.com/x?p=X-NETEASE-HUGE-ATTACHMENT")
    assert only_passes(run("video-duration", with_links(photos_zip)))
    assert "未附视频" in run("video-duration", with_links(photos_zip))[0].message
    supplied = dataclasses.replace(LINK, supplied=True)
    assert "未附视频" in run("video-aspect", with_links(supplied))[0].message
    assert LinkFacts(name="学校宣传片", url="u").is_video and not LinkFacts(name="宣传片说明.docx", url="u").is_video


def test_link_size_is_checked_from_what_the_webmail_states() -> None:
    (ok,) = run("video-size", with_links(LINK), max_bytes=1 << 30)
    assert ok.passed and "3.6 MB" in ok.message
    (big,) = failures(run("video-size", with_links(LINK), max_bytes=1 << 20))
    assert big.severity == "warn"  # the webmail's rounded figure: a person looks before anything is rejected


def test_xinhua_text_or_video_counts_a_linked_video() -> None:
    (ok,) = run("material-present", with_links(LINK, files=[file_facts("form.docx", "form_word", "申报表.docx")]),
                any_of=["text", "video", "audio"])
    assert ok.passed and "视频1个" in ok.message


def test_copies_count_once_and_certificates_are_auxiliary_in_the_count_message() -> None:
    photos = [file_facts("photo_2.1mb.jpg", "photo", f"图{i}：学生在劳动基地种植蔬菜.jpg") for i in (1, 2)]
    certificate = file_facts("photo_small.jpg", "auxiliary", "荣誉证书.jpg")
    facts = dataclasses.replace(submission(*photos, certificate),
                                repeated=(("图1：学生在劳动基地种植蔬菜(1).jpg", photos[0].name),))
    (count,) = run("photo-count", facts)
    assert count.passed and count.evidence["measured"] == 2
    assert "荣誉证书.jpg" in count.message and "辅助资料" in count.message and "重复附上，只计一次" in count.message
    assert only_passes(run("photo-size", facts))  # the small certificate is not held to the 2 MB rule
    notes = [f for f in failures(run("duplicate-file", facts)) if f.file == "图1：学生在劳动基地种植蔬菜(1).jpg"]
    assert len(notes) == 1 and notes[0].severity == "info" and "只计一次" in notes[0].message


def test_a_video_case_sent_as_a_link_needs_its_cover_picture() -> None:
    """Xinhua 2024 五(二)5: a video case comes with its cover; the video may be a link."""
    rules = configure({"cover-image": {"with_roles": ["video", "audio"]}})
    facts = with_links(LINK, files=[file_facts("form.docx", "form_word", "申报表.docx")])
    (missing,) = failures(run_rules(rules, facts))
    assert "视频案例未附封面图片" in missing.message
