"""Issue 17 through the command line: `intake subject --json` on the issue's rows is fully right or needs review
with a reason naming the doubt; `intake inspect` with the 申报表 attached gives the same fields, the form's
申报单位/案例名称/类别 winning over a doubtful subject with the disagreement recorded."""

from __future__ import annotations

import json
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from checks.subject import SubjectSpec, fill_from_other_sources, parse_subject
from ingest.samples import files as samples
from ingest.cli import main
from ingest.samples.mails import Attachment, build_mail
from ingest.samples.submissions import MAILBOX, RECEIVED
from subject_corpus import load, names_the_doubt, wrong_fields

ROOT = Path(__file__).resolve().parent.parent
with open(ROOT / "config.example.toml", "rb") as _f:
    SPEC = SubjectSpec.from_campaign(tomllib.load(_f)["campaign"])


def test_intake_subject_json_on_the_issue_rows() -> None:
    """A spread of the issue's rows (every sixth: each class is represented) through the real command."""
    rows = load(issue_17_only=True)
    assert len(rows) >= 140
    runner = CliRunner()
    for subject, expected in rows[::6]:
        r = runner.invoke(main, ["subject", "--json", subject])
        assert r.exit_code == 0, r.output
        got = json.loads(r.output)
        wrong = wrong_fields(got, expected)
        assert not wrong or got["needs_review"], (subject, wrong, got)
        assert all(names_the_doubt(f, got["reasons"]) for f in wrong), (subject, wrong, got["reasons"])


# ---- The form against the subject (pure) --------------------------------------------------------------------

def test_the_form_wins_over_a_doubtful_subject_and_the_disagreement_is_recorded() -> None:
    parsed = parse_subject("上海外国语大学秀洲外国语学校/双语课程建设/教育教学改革", SPEC)
    assert parsed.province == "上海市" and parsed.needs_review  # a guess from the university's name
    filled, notes = fill_from_other_sources(parsed, attachment_names=[], spec=SPEC, form_fields={
        "申报单位": "浙江省嘉兴市秀洲区上海外国语大学秀洲外国语学校", "案例名称": "双语课程建设的秀洲实践",
        "类别": "（五）教育教学改革"})
    assert (filled.province, filled.city, filled.case_name, filled.category_no) == (
        "浙江省", "嘉兴市秀洲区", "双语课程建设的秀洲实践", 5)
    assert filled.organization == "浙江省嘉兴市秀洲区上海外国语大学秀洲外国语学校"
    assert any("省份“上海市”" in n and "浙江省" in n and "已按申报表" in n for n in notes), notes
    assert not filled.needs_review, filled.reasons  # the form settled what the subject doubted


def test_a_confident_subject_keeps_its_fields_and_a_disagreement_goes_to_review() -> None:
    parsed = parse_subject("浙江省/杭州市文三街小学/AI赋能课堂/人工智能教育", SPEC)
    assert not parsed.needs_review
    filled, notes = fill_from_other_sources(parsed, attachment_names=[], spec=SPEC, form_fields={
        "申报单位": "杭州市文三街小学", "案例名称": "AI赋能课堂", "类别": "教育教学改革"})
    assert filled.category_no == 6 and filled.needs_review and any("类别" in n for n in notes)


def test_a_number_and_name_conflict_is_settled_by_the_form() -> None:
    parsed = parse_subject("陕西省西安市碑林区南关小学/“阳光心理”成长课程/（五）心理健康教育", SPEC)
    assert parsed.category_no is None and parsed.needs_review
    filled, _ = fill_from_other_sources(parsed, attachment_names=[], spec=SPEC,
                                        form_fields={"类别": "（三）“五育并举”育人"})
    assert filled.category_no == 3 and not filled.needs_review


# ---- intake inspect with the 申报表 attached ------------------------------------------------------------------

# (subject, form fields, fields expected from `intake inspect`, a word the review reasons must hold or "")
INSPECTED: list[tuple[str, dict[str, str], dict[str, Any], str]] = [
    ("南开中学/“公能”日新课程/党建德育工作",  # no province in the subject: the form's unit settles it
     {"申报单位": "天津市南开中学", "案例名称": "百年南开“公能”育人课程", "类别": "党建德育工作"},
     {"province": "天津市", "organization": "天津市南开中学", "case_name": "百年南开“公能”育人课程", "category_no": 2},
     "已按申报表"),
    ("湖北省教育厅推荐/华中师范大学第一附属中学/拔尖创新人才早期培养/教育教学改革",  # a provincial recommendation
     {"申报单位": "华中师范大学第一附属中学", "案例名称": "拔尖创新人才早期培养", "类别": "（五）教育教学改革"},
     {"submitter_kind": "province", "province": "湖北省", "organization": "华中师范大学第一附属中学",
      "case_name": "拔尖创新人才早期培养", "category_no": 5}, ""),
    ("云南省昆明市五华区长春小学/边疆民族团结教育之二/党建德育工作（更正版）",  # ordinal kept, annotation dropped
     {"申报单位": "昆明市五华区长春小学", "案例名称": "边疆民族团结教育之二", "类别": "党建德育工作"},
     {"province": "云南省", "case_name": "边疆民族团结教育之二", "category_no": 2, "part": None}, ""),
    ("江西省南昌市东湖区育新学校/“青蓝结对”师德传承/第七类 师德师风",  # number and name disagree: the form decides
     {"申报单位": "江西省南昌市东湖区育新学校", "案例名称": "“青蓝结对”师德传承", "类别": "教师队伍建设"},
     {"province": "江西省", "case_name": "“青蓝结对”师德传承", "category_no": 10, "category": "教师队伍建设"}, ""),
]


@pytest.mark.parametrize("subject, form, expected, recorded", INSPECTED)
def test_intake_inspect_takes_the_form_over_a_doubtful_subject(tmp_path: Path, subject: str, form: dict[str, str],
                                                                expected: dict[str, Any], recorded: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        docx = samples.make_form_docx(Path(tmp) / "申报表.docx", form)
        raw = build_mail(style="qq", sender="school@qq.com", to=MAILBOX, subject=subject, body="请查收",
                         received_at=RECEIVED, attachments=[Attachment.from_file(docx)])
    mail = tmp_path / "m.eml"
    mail.write_bytes(raw)
    r = CliRunner().invoke(main, ["inspect", str(mail), "--json"])
    assert r.exit_code == 0, r.output
    report = json.loads(r.output)
    got = report["subject"]
    assert {k: got[k] for k in expected} == expected, got
    if recorded:  # the disagreement is in the subject's reasons (stored with the case) and the review reasons
        assert any(recorded in reason for reason in got["reasons"]), got["reasons"]
        assert any(recorded in reason for reason in report["review_reasons"]), report["review_reasons"]
