"""The staff commands through the real ``intake`` CLI, on SQLite."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import click
import openpyxl
import pytest
from click.testing import CliRunner, Result
from PIL import Image

from ingest.cli import main
from ingest.sample_submissions import SCHOOLS, submission_mail
from staff_factory import CAMPAIGN_ID, FileMaker, GeneratedData, fill_cases
from store import Store
from checks.domain import SubmissionStatus
from store.queries import QuotaRules, campaign_stats

STAFF_COMMANDS = ("stats", "list", "show", "review", "export", "chart")
TZ = ZoneInfo("Asia/Shanghai")
EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"


def write_config(tmp_path: Path) -> Path:
    example = EXAMPLE.read_text(encoding="utf-8")
    campaign = example[example.index("\n[campaign]\n"):]
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[intake]\nspool_dir = "spool"\ndatabase_url = "sqlite:///{tmp_path / "intake.db"}"\n{campaign}',
                   encoding="utf-8")
    return cfg


def _filled(tmp_path: Path, *, with_files: bool) -> tuple[Path, GeneratedData]:
    cfg = write_config(tmp_path)
    store = Store.open(f"sqlite:///{tmp_path / 'intake.db'}")
    data = fill_cases(store.engine, 60, seed=21, files=FileMaker(tmp_path / "files") if with_files else None)
    store.close()
    return cfg, data


@pytest.fixture
def env(tmp_path: Path) -> tuple[Path, GeneratedData]:
    return _filled(tmp_path, with_files=False)


@pytest.fixture
def env_files(tmp_path: Path) -> tuple[Path, GeneratedData]:
    """With real files behind every attachment (for the file export)."""
    return _filled(tmp_path, with_files=True)


def run(cfg: Path, *args: str) -> Result:
    return CliRunner().invoke(main, [*args], env={"INTAKE_CONFIG": str(cfg), "USER": "测试员", "COLUMNS": "160"})


def test_every_staff_command_has_help_with_an_example() -> None:
    def walk(cmd: click.Command, path: list[str]) -> list[list[str]]:
        found = [path]
        if isinstance(cmd, click.Group):
            for name, sub in cmd.commands.items():
                found += walk(sub, [*path, name])
        return found

    for name in STAFF_COMMANDS:
        for path in walk(main.commands[name], [name]):
            result = CliRunner().invoke(main, [*path, "--help"])
            assert result.exit_code == 0 and "示例：" in result.output and "intake " + path[0] in result.output, path


def test_stats_table_csv_json(env: tuple[Path, GeneratedData]) -> None:
    cfg, data = env
    store = Store.open(f"sqlite:///{cfg.parent / 'intake.db'}")
    expected = campaign_stats(store, CAMPAIGN_ID, tz=TZ, quota=QuotaRules(), top_reasons=20).to_json()
    store.close()
    as_json = run(cfg, "stats", "--format", "json")
    assert as_json.exit_code == 0, as_json.output
    shown = json.loads(as_json.output)
    assert shown.pop("timezone") == "Asia/Shanghai"
    assert shown == json.loads(json.dumps(expected, ensure_ascii=False, default=str))
    as_csv = run(cfg, "stats", "--format", "csv")
    assert as_csv.output.startswith("\ufeffsection,key,label,count,detail")
    rows = list(csv.DictReader(io.StringIO(as_csv.output.lstrip("\ufeff"))))
    assert {r["key"]: int(r["count"]) for r in rows if r["section"] == "status"} == \
        {s: sum(1 for c in data.cases if c.effective_status == s) for s in {c.effective_status for c in data.cases}}
    table = run(cfg, "stats")
    assert table.exit_code == 0 and "案例总数：60" in table.output and "按类别" in table.output
    assert "最常见的问题" in table.output


def test_list_show_and_formula_guard(env: tuple[Path, GeneratedData]) -> None:
    cfg, data = env
    waiting = run(cfg, "list", "--status", "待人工审核", "--format", "csv", "--limit", "0")
    rows = list(csv.reader(io.StringIO(waiting.output.lstrip("\ufeff"))))
    assert {r[0] for r in rows[1:]} == {c.case_no for c in data.cases if c.effective_status == "needs_review"}
    assert {r[1] for r in rows[1:]} <= {SubmissionStatus.NEEDS_REVIEW.label}
    ai = json.loads(run(cfg, "list", "--category", "人工智能", "--format", "json", "--limit", "0").output)
    assert ai["total"] == sum(1 for c in data.cases if c.category_no == 6)
    assert {c["case_no"] for c in ai["cases"]} == {c.case_no for c in data.cases if c.category_no == 6}
    bad = run(cfg, "list", "--status", "通过")
    assert bad.exit_code == 2 and "错误：未知状态" in bad.output
    assert "无法确定类别" in run(cfg, "list", "--category", "教育").output  # matches several names

    case = data.cases[0]
    shown = json.loads(run(cfg, "show", case.case_no, "--format", "json").output)
    assert shown["case"]["case_no"] == case.case_no and len(shown["versions"]) == case.current_version
    assert "第 1 版" in run(cfg, "show", str(case.id)).output
    missing = run(cfg, "show", "JCJY2025-999999")
    assert missing.exit_code == 2 and "没有受理编号为 JCJY2025-999999 的案例" in missing.output

    fixed = run(cfg, "review", "correct", case.case_no, "--case-name", "=cmd|' /C calc'!A0")
    assert fixed.exit_code == 0, fixed.output
    listed = run(cfg, "list", "--search", "cmd", "--format", "csv")
    [row] = list(csv.reader(io.StringIO(listed.output.lstrip("\ufeff"))))[1:]
    assert row[5] == "'=cmd|' /C calc'!A0"  # Excel shows it as text, never runs it


def test_review_override_correct_resend(env: tuple[Path, GeneratedData]) -> None:
    cfg, data = env
    queue = run(cfg, "review", "--format", "json")
    waiting = json.loads(queue.output)["cases"]
    assert [c["case_no"] for c in waiting] == [c.case_no for c in sorted(
        (c for c in data.cases if c.effective_status == "needs_review"), key=lambda c: (c.first_received_at, c.id))]
    target = waiting[0]["case_no"]
    assert "待人工审核" in run(cfg, "review").output

    done = run(cfg, "review", "override", target, "--status", "已受理", "--reason", "公章已电话核实")
    assert done.exit_code == 0 and "待人工审核 → 已受理" in done.output and "测试员" in done.output
    assert run(cfg, "review", "override", target, "--reason", "x").exit_code == 2  # neither --status nor --clear
    corrected = run(cfg, "review", "correct", target, "--province", "浙江省", "--category", "6", "--actor", "李老师")
    assert corrected.exit_code == 0 and "人工智能教育" in corrected.output
    events = json.loads(run(cfg, "show", target, "--format", "json").output)["events"]
    assert [(e["actor"], e["action"]) for e in events][-2:] == [("测试员", "case.override"),
                                                                 ("李老师", "case.fields_corrected")]
    assert events[-2]["detail"] == {"from": "needs_review", "to": "accepted", "reason": "公章已电话核实"}
    assert target not in {c["case_no"] for c in json.loads(run(cfg, "review", "--format", "json").output)["cases"]}
    no_mail = run(cfg, "review", "resend", target)
    assert no_mail.exit_code == 2 and "没有可重发的回执" in no_mail.output


def test_export_and_chart(env_files: tuple[Path, GeneratedData], tmp_path: Path) -> None:
    cfg, data = env_files
    assert run(cfg, "export").exit_code == 2
    result = run(cfg, "export", "--xlsx", str(tmp_path / "汇总表.xlsx"), "--files", str(tmp_path / "评审"))
    assert result.exit_code == 0, result.output
    assert "汇总表" in result.output and "评审材料" in result.output
    wb = openpyxl.load_workbook(tmp_path / "汇总表.xlsx")
    assert wb["全部案例"].max_row == 61
    accepted = {c.case_no for c in data.cases if c.effective_status in ("accepted", "accepted_with_warnings")}
    manifest = list(csv.reader((tmp_path / "评审" / "清单.csv").open(encoding="utf-8-sig")))[1:]
    assert {r[0] for r in manifest} == accepted
    chart = run(cfg, "chart", "--out", str(tmp_path / "图" / "收件统计.png"))
    assert chart.exit_code == 0, chart.output
    with Image.open(tmp_path / "图" / "收件统计.png") as im:
        assert im.format == "PNG"


def test_recheck_a_real_mail_through_the_pipeline(tmp_path: Path) -> None:
    """`review recheck` re-reads the spooled mail: imported with the real pipeline first."""
    cfg = write_config(tmp_path)
    mail = tmp_path / "申报.eml"
    mail.write_bytes(submission_mail(SCHOOLS[0], photos=1, video_seconds=1.0))
    imported = run(cfg, "import", str(mail))
    assert imported.exit_code == 0 and "入库 1" in imported.output, imported.output
    case_no = json.loads(run(cfg, "list", "--format", "json").output)["cases"][0]["case_no"]
    result = run(cfg, "review", "recheck", case_no)
    assert result.exit_code == 0 and f"{case_no}：重新检查完成" in result.output, result.output
    events = json.loads(run(cfg, "show", case_no, "--format", "json").output)["events"]
    assert ("测试员", "case.recheck_requested") in [(e["actor"], e["action"]) for e in events]
