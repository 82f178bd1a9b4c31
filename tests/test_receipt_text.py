"""Receipts read well (issue 18 item 7), on replies the pipeline really writes (`intake import`, dry-run outbox):
checks that did not apply are one line, no internal figures reach a school, each problem cites its clause once."""

from __future__ import annotations

import email
import email.policy
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from checks.registry import Finding
from ingest.cli import main
from ingest.config import example_campaign_toml
from ingest.pipeline.reply_context import fold_not_applicable
from ingest.samples.submissions import SCHOOLS, submission_mail

CONFIG = """[intake]
spool_dir = "spool"
database_url = "sqlite:///intake.db"

[smtp]
host = "localhost"
mode = "dry-run"
outbox_dir = "outbox"
sender = "jcjyzj2025@163.com"

"""


@pytest.fixture(scope="module")
def replies(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The plain-text replies to a compliant mail without video and a faulty one, by subject."""
    d = tmp_path_factory.mktemp("receipts")
    (d / "config.toml").write_text(CONFIG + example_campaign_toml(), encoding="utf-8")
    mails = d / "mails"
    mails.mkdir()
    (mails / "ok.eml").write_bytes(submission_mail(SCHOOLS[0], photos=2, video_seconds=None))
    (mails / "faulty.eml").write_bytes(submission_mail(SCHOOLS[1], photos=2, video_seconds=None, text_chars=3600,
                                                       photo_bytes=900_000))
    r = CliRunner().invoke(main, ["import", str(mails), "--config", str(d / "config.toml")])
    assert r.exit_code == 0 and "回执：发送 2" in r.output, r.output
    out: dict[str, str] = {}
    for path in (d / "outbox").glob("*.eml"):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        body = msg.get_body(preferencelist=("plain",))
        assert body is not None
        out[str(msg["Subject"])] = body.get_content()
    return out


def _one(replies: dict[str, str], marker: str) -> str:
    found = [text for subject, text in replies.items() if marker in subject]
    assert len(found) == 1, list(replies)
    return found[0]


def test_checks_that_did_not_apply_are_one_line(replies: dict[str, str]) -> None:
    for text in replies.values():
        lines = [line for line in text.splitlines() if "未附视频" in line]
        assert len(lines) == 1, lines
        assert "无需检查格式、时长、画面比例、分辨率、文件大小" in lines[0]


def test_no_internal_figures_in_mail_to_schools(replies: dict[str, str]) -> None:
    receipt = _one(replies, "受理回执")
    assert "检测到红色公章" in receipt
    for text in replies.values():
        assert "可信度" not in text and "confidence" not in text


def test_each_problem_cites_its_clause_once(replies: dict[str, str]) -> None:
    rejection = _one(replies, "退回修改")
    section = re.split(r"另有以下提醒事项|已通过的检查项目", rejection.split("需要修改的问题：", 1)[1])[0]
    problems = re.split(r"\n  \d+\. ", "\n" + section.strip("\n"))[1:]
    assert len(problems) >= 3  # text too long, two photos too small
    for block in problems:
        citations = re.findall(r"四\.\d(?:\(\d\))?", block)
        assert len(set(citations)) == 1 and ("依据" in block) != bool(re.search(r"（四\.", block.splitlines()[0])), block


def test_fold_keeps_other_findings_in_order() -> None:
    def f(message: str, **evidence: str) -> Finding:
        return Finding(rule="r", clause="四.4(5)", severity="reject", passed=True, message=message, evidence=evidence)

    folded = fold_not_applicable([f("甲。"), f("未附视频（可选）。", absent="视频"), f("乙。"),
                                  f("未附视频，无需检查格式。", absent="视频", unchecked="格式"),
                                  f("未附照片，无需检查大小。", absent="照片", unchecked="大小")])
    assert [x.message for x in folded] == ["甲。", "未附视频（可选），无需检查格式。", "乙。", "未附照片，无需检查大小。"]
