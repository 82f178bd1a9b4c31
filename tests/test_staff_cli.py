"""The staff commands through the real ``intake`` CLI, on SQLite."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import click
import openpyxl
import pytest
from click.testing import CliRunner, Result
from PIL import Image

from checks.domain import SubmissionStatus
from checks.rules.quota import Quota, QuotaGroup
from ingest.cli import main
from ingest.samples.submissions import SCHOOLS, submission_mail
from ingest.staff.output import quota_overruns
from staff_factory import CAMPAIGN_ID, FileMaker, GeneratedData, fill_cases
from store import Store
from store.models import Case
from store.queries import campaign_stats

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
    expected = campaign_stats(store, CAMPAIGN_ID, tz=TZ, top_reasons=20).to_json()
    # the example config's quota: 四.2(1), per province 2 a category and 10 in all
    over = quota_overruns(store, CAMPAIGN_ID, Quota((QuotaGroup("省级教育行政部门推荐", "province", "province", 2, 10),)))
    store.close()
    as_json = run(cfg, "stats", "--format", "json")
    assert as_json.exit_code == 0, as_json.output
    shown = json.loads(as_json.output)
    assert shown.pop("timezone") == "Asia/Shanghai"
    assert {k: shown[k] for k in expected} == json.loads(json.dumps(expected, ensure_ascii=False, default=str))
    assert shown["quota"] == [{"label": "省级教育行政部门推荐", "submitter_kind": "province", "group_by": "province",
                               "per_category_max": 2, "total_max": 10}]
    assert [(o["key"], [(c["case_no"], c["exceeds"]) for c in o["cases"]]) for o in shown["quota_overruns"]] == \
        [(o.key, [(c.case_no, c.exceeds) for c in o.cases]) for o in over]
    assert set(shown) == set(expected) | {"quota", "quota_overruns"}
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


def test_stats_count_the_campaigns_own_quota_groups(tmp_path: Path) -> None:
    """Zhuzhou 2021 (campaigns/zhuzhou2021.toml): at most 30 cases per county and 3 per school directly under the city
    bureau. `intake stats` counts those groups, as the quota rule does, and not 四.2(1)'s 2 a category / 10 per
    province of another call."""
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'campaign_file = "campaigns/zhuzhou2021.toml"\n[intake]\nspool_dir = "spool"\n'
                   f'database_url = "sqlite:///{tmp_path / "intake.db"}"\n', encoding="utf-8")
    store = Store.open(f"sqlite:///{tmp_path / 'intake.db'}")
    start = datetime(2022, 3, 1, tzinfo=timezone.utc)
    # (city, unit, submitter kind, how many): a county recommending 12 cases in one category (within 30; over 2/10
    # were 四.2(1) applied), a county over 30, a direct school over 3.
    plan = [("株洲市荷塘区", "荷塘区教育局", "province", 12), ("株洲市芦淞区", "建设小学", "unit", 31),
            ("株洲市", "株洲市第二中学", "unit", 4)]
    with store.session() as s, s.begin():
        n = 0
        for city, org, kind, count in plan:
            for _ in range(count):
                n += 1
                at = start + timedelta(hours=n)
                s.add(Case(campaign_id="zhuzhou2021", case_no=f"ZZGX2022-{n:06d}", sender=f"s{n}@qq.com",
                           submitter_kind=kind, province="湖南省", city=city, organization=org, case_name=f"案例{n}",
                           category_no=3, category="落实“双减”和“五项管理”", status="accepted",
                           first_received_at=at, last_received_at=at))
    store.close()
    result = run(cfg, "stats", "--format", "json")
    assert result.exit_code == 0, result.output
    got = json.loads(result.output)
    assert [(g["label"], g["group_by"], g["per_category_max"], g["total_max"]) for g in got["quota"]] == [
        ("县市区推荐", "city", 0, 30), ("市直属学校", "organization", 0, 3)]
    over = {o["key"]: [c["case_no"] for c in o["cases"] if c["exceeds"]] for o in got["quota_overruns"]}
    assert over == {"株洲市芦淞区": ["ZZGX2022-000043"], "株洲市第二中学": ["ZZGX2022-000047"]}
    table = run(cfg, "stats")
    assert "县市区推荐超额（总数不超过30个" in table.output and "市直属学校超额（总数不超过3个" in table.output
