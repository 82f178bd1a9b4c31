"""Shared helpers for the rule tests: real sample files made once per test session (``made``), their facts read by
the real reader (``file_facts``), submissions built around them, and rules configured from config.example.toml
with per-test overrides (``run``). The tests at the bottom check the helpers themselves."""

from __future__ import annotations

import atexit
import hashlib
import shutil
import tempfile
import tomllib
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping

from checks.domain import CaseIdentity
from checks.facts import FileFacts, PriorSubmission, SubmissionFacts
from checks.registry import Finding, configure, run_rules
from checks.rules.common import MB
from ingest.samples import files as samples
from ingest.files.facts import extract_facts

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"
ROOT = Path(tempfile.mkdtemp(prefix="intake-rule-samples-"))
atexit.register(shutil.rmtree, ROOT, True)

ON_TIME = datetime(2025, 11, 20, 2, 0, tzinfo=timezone.utc)
UNIT = CaseIdentity(submitter_kind="unit", province="浙江省", city="杭州市", organization="杭州市文三街小学",
                     case_name="“AI+劳动”课程群建设", category_no=6, category="人工智能教育")


@lru_cache(maxsize=None)
def example_campaign() -> Mapping[str, Any]:
    with EXAMPLE.open("rb") as fh:
        return tomllib.load(fh)["campaign"]


@lru_cache(maxsize=None)
def made(kind: str) -> Path:
    """A real sample file, generated once per session. Kinds name what the tests need."""
    p = ROOT / kind
    match kind:
        case "form.docx":
            samples.make_form_docx(p, {"申报单位": "杭州市文三街小学", "案例名称": "“AI+劳动”课程群建设",
                                       "类别": "人工智能教育"})
        case "scan_sealed.pdf":
            samples.make_scanned_pdf(p, with_seal=True, pages=2)
        case "scan_unsealed.pdf":
            samples.make_scanned_pdf(p, with_seal=False)
        case "scan_red_header.pdf":
            samples.make_scanned_pdf(p, with_seal=False, red_header=True)
        case "scan_gray.pdf":
            samples.make_scanned_pdf(p, with_seal=True, grayscale=True)
        case "ocr_sealed.pdf":
            samples.make_ocr_pdf(p)
        case "born_digital.pdf":
            samples.make_text_pdf(p, "实践创新案例申报表\n申报单位：杭州市文三街小学", pages=2)
        case "text_2999.docx" | "text_3000.docx" | "text_3001.docx" | "text_2400.docx":
            samples.make_text_docx(p, int(kind[5:9]))
        case "text_3000_latin.docx":
            samples.make_text_docx(p, 3000, latin_words=["AI", "STEM", "2025", "ChatGPT", "K12"])
        case "text_two_parts.docx":
            samples.make_text_docx(p, 1500, parts=("基本情况", "取得的成效"))
        case "text_other_headings.docx":
            samples.make_text_docx(p, 1800, parts=("案例背景", "主要做法", "遇到的问题与对策", "实践成效",
                                                   "经验启示", "未来展望"))
        case "photo_2.1mb.jpg":
            samples.make_jpeg(p, int(2.1 * MB))
        case "photo_1.9mb.jpg":
            samples.make_jpeg(p, int(1.9 * MB))
        case "photo_small.jpg":
            samples.make_jpeg(p, 60_000, size=(640, 480))
        case "png_renamed.jpg":
            samples.make_png(p, size=(1400, 1000))
        case "truncated.jpg":
            samples.make_truncated_jpeg(p, int(2.1 * MB))
        case "video_16x9_720p_5min.mp4":
            samples.make_mp4(p, 300, 1280, 720)
        case "video_16x9_720p_7min.mp4":
            samples.make_mp4(p, 420, 1280, 720)
        case "video_4x3.mp4":
            samples.make_mp4(p, 5, 960, 720)
        case "video_16x9_480p.mp4":
            samples.make_mp4(p, 5, 854, 480)
        case "video_16x9_1080p.mp4":
            samples.make_mp4(p, 5, 1920, 1080)
        case "video_phone_rotated.mp4":
            samples.make_mp4(p, 5, 1920, 1080, rotate=90)
        case "video_720p.mov":
            samples.make_mp4(p, 5, 1280, 720, container="mov")
        case "audio.mp3":
            samples.make_audio(p, 4)
        case _:
            raise KeyError(kind)
    return p


def file_facts(kind_or_path: str | Path, role: str, name: str | None = None) -> FileFacts:
    path = made(kind_or_path) if isinstance(kind_or_path, str) else kind_or_path
    data = path.read_bytes()
    return extract_facts(path, name or path.name, role, len(data), hashlib.sha256(data).hexdigest(), None)


def submission(*files: FileFacts, subject: Any = UNIT, received_at: datetime = ON_TIME,
               prior: Iterable[PriorSubmission] = (), problems: Iterable[tuple[str, str, str | None]] = (),
               body_text: str = "", case_no: str = "", sender: str = "wsj@163.com") -> SubmissionFacts:
    return SubmissionFacts(case_no=case_no, sender=sender, subject=subject, received_at=received_at,
                           files=tuple(files), body_text=body_text, prior=tuple(prior), problems=tuple(problems))


def complete_files() -> list[FileFacts]:
    """A submission that meets every requirement of the 2025 call."""
    return [file_facts("form.docx", "form_word", "申报表.docx"),
            file_facts("scan_sealed.pdf", "form_pdf", "申报表（盖章）.pdf"),
            file_facts("text_2400.docx", "text", "文字材料.docx"),
            file_facts("photo_2.1mb.jpg", "photo", "图1：学生在劳动基地种植蔬菜.jpg"),
            file_facts("video_16x9_720p_5min.mp4", "video", "案例视频.mp4")]


def run(rule_id: str, facts: SubmissionFacts, **overrides: Any) -> list[Finding]:
    """Only ``rule_id``, configured as in config.example.toml with ``overrides`` applied."""
    table = dict(example_campaign()["rules"][rule_id])
    table.update(overrides)
    table["enabled"] = True
    configured = configure({rule_id: table}, campaign=example_campaign())
    findings = run_rules(configured, facts)
    assert findings and all(f.rule == rule_id for f in findings), findings
    return findings


def failures(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if not f.passed]


def only_passes(findings: list[Finding]) -> bool:
    return all(f.passed for f in findings)


# --- the helpers' own checks ------------------------------------------------------------------------------------


def test_photo_samples_hit_their_sizes() -> None:
    for kind, target in (("photo_1.9mb.jpg", 1.9 * MB), ("photo_2.1mb.jpg", 2.1 * MB)):
        size = made(kind).stat().st_size
        assert abs(size - target) <= 0.03 * target, (kind, size)


def test_complete_submission_is_accepted_by_the_example_config() -> None:
    from checks.registry import decide_status

    configured = configure(example_campaign()["rules"], campaign=example_campaign())
    findings = run_rules(configured, submission(*complete_files()))
    assert [f for f in findings if not f.passed] == []
    assert decide_status(findings, subject_needs_review=False) == "accepted"
