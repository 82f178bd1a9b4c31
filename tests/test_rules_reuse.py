"""Parameters that let one rule serve several calls: audio-duration ranges (Xinhua: 3–5 minutes), photo-count only
with a text case, quota groups picked by field values (Zhuzhou: per county apart from the city's own schools), and a
call's own clause numbers cited in messages."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from checks.domain import CaseIdentity
from checks.facts import PriorSubmission
from ingest.samples import files as samples
from test_rules_support import ROOT, failures, file_facts, only_passes, run, submission

NOW = datetime(2022, 4, 1, 2, 0, tzinfo=timezone.utc)


def test_audio_duration_range() -> None:
    path = samples.make_audio(ROOT / "four_seconds.m4a", 4)
    audio = file_facts(path, "audio", "案例音频.m4a")
    bad = failures(run("audio-duration", submission(audio), min_seconds=180.0, max_seconds=300.0))
    assert [f.message for f in bad] == ["音频“案例音频.m4a”时长为4秒，短于要求的3分钟。"]
    assert only_passes(run("audio-duration", submission(audio), min_seconds=0.0, max_seconds=5.0))
    bad = failures(run("audio-duration", submission(audio), min_seconds=0.0, max_seconds=2.0))
    assert "超过2秒的上限" in bad[0].message


def test_photo_count_only_with_a_text_case() -> None:
    photo = file_facts("photo_2.1mb.jpg", "photo", "封面.jpg")
    video = file_facts("video_16x9_1080p.mp4", "video", "案例视频.mp4")
    text = file_facts("text_2400.docx", "text", "案例.docx")
    gated = {"min_count": 5, "max_count": 0, "only_with_roles": ["text"]}
    assert only_passes(run("photo-count", submission(photo, video), **gated))
    bad = failures(run("photo-count", submission(photo, text), **gated))
    assert [f.message for f in bad] == ["共收到1张照片，少于要求的5张。"]


def _zhuzhou(city: str, org: str, kind: str = "unit") -> CaseIdentity:
    return CaseIdentity(submitter_kind=kind, province="湖南省", city=city, organization=org, case_name="案例",
                         category_no=3, category="落实“双减”和“五项管理”")


def _prior(n: int, city: str, org: str) -> list[PriorSubmission]:
    return [PriorSubmission(case_no=f"ZZ-{city}-{org}-{i}", sender=f"s{i}@qq.com",
                            identity=CaseIdentity("unit", "湖南省", city, org, f"案例{i}", 3),
                            received_at=NOW - timedelta(days=1, minutes=i)) for i in range(n)]


GROUPS = [
    {"label": "县市区推荐", "submitter_kind": "", "group_by": "city", "per_category_max": 0, "total_max": 30,
     "except_where": {"city": ["株洲市"]}},
    {"label": "市直属学校", "submitter_kind": "", "group_by": "organization", "per_category_max": 0, "total_max": 3,
     "only_where": {"city": ["株洲市"]}},
]


def test_quota_groups_picked_by_city() -> None:
    school = _zhuzhou("株洲市", "株洲市第二中学")
    prior = _prior(3, "株洲市", "株洲市第二中学") + _prior(29, "株洲市芦淞区", "建设小学")
    bad = failures(run("quota", submission(subject=school, prior=prior, received_at=NOW), groups=GROUPS))
    assert len(bad) == 1 and bad[0].message.startswith("市直属学校：株洲市第二中学已有3个案例计入名额")
    county = _zhuzhou("株洲市芦淞区", "建设小学")
    ok = run("quota", submission(subject=county, prior=prior, received_at=NOW), groups=GROUPS)
    assert only_passes(ok) and "计入名额的第30个" in ok[0].message
    prior += _prior(1, "株洲市芦淞区", "天元小学")
    bad = failures(run("quota", submission(subject=county, prior=prior, received_at=NOW), groups=GROUPS))
    assert bad and bad[0].message.startswith("县市区推荐：株洲市芦淞区已有30个案例计入名额")


def test_a_calls_own_clause_is_cited() -> None:
    text = file_facts("text_3001.docx", "text", "案例.docx")
    bad = failures(run("text-length", submission(text), clause="五(二)4"))
    assert bad[0].clause == "五(二)4" and "（五(二)4）" in bad[0].message and "四.4(3)" not in bad[0].message
