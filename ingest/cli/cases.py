"""查询与导出: stats, list, show, export, chart. Read-only: the database is checked, never migrated."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ingest.cli.shell import app_config, config_option, echo_json, fail, open_store

if TYPE_CHECKING:
    from ingest.config import AppConfig

FORMATS = click.Choice(["table", "csv", "json"])
FORMAT_HELP = "输出格式：table（表格）、csv（Excel/WPS 可直接打开）或 json（供脚本使用）。"
CATEGORY_HELP = "类别编号（1–10）或类别名称的一部分。"
KIND_HELP = "province = 省级推荐，unit = 自主申报。"


def campaign_categories(cfg: AppConfig) -> list[tuple[int, str]]:
    """(number, name) of the campaign's categories, in the call's order."""
    return [(int(c["no"]), str(c["name"])) for c in cfg.campaign.raw.get("categories", [])]


def status_code(value: str | None) -> str | None:
    """A status given as its code or its Chinese label (已受理, 待人工审核 …)."""
    from checks.domain import SubmissionStatus, parse_status

    if not value:
        return None
    status = parse_status(value)
    if status is None:
        fail(f"未知状态 {value!r}，可选：" + "、".join(f"{s.label}（{s.value}）" for s in SubmissionStatus))
    return str(status)


def category_of(cfg: AppConfig, value: str) -> tuple[int, str]:
    """A category given as its number or (part of) its name."""
    categories = campaign_categories(cfg)
    value = value.strip()
    if value.isdigit():
        for no, name in categories:
            if no == int(value):
                return no, name
    matches = [(no, name) for no, name in categories if value and value in name]
    if len(matches) == 1:
        return matches[0]
    fail(f"无法确定类别 {value!r}，可选：" + "、".join(f"{no} {name}" for no, name in categories))


def _date(value: str | None, option: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"{option}：不是日期：{value!r}（例如 2025-11-01）")


@click.command("stats")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True, help=FORMAT_HELP)
@click.option("--top", default=20, show_default=True, help="列出多少条最常见的问题（0 = 全部）。")
@config_option
def stats_command(fmt: str, top: int) -> None:
    """统计：按类别、省份、状态、报送方式和日期的案例数；最常见的问题；超出本征集推荐名额的省份、县市区或学校
    （按配置中 [campaign.rules."quota"] 的名额分组，与受理时的核对一致）。

    \b
    示例：
      intake stats
      intake stats --format csv > 统计.csv
    """
    from checks.registry import configure
    from checks.rules.quota import Quota
    from ingest.staff import output as staff
    from store.queries import campaign_stats

    cfg = app_config()
    store = open_store(cfg)
    stats = campaign_stats(store, cfg.campaign.id, tz=cfg.campaign.tz, top_reasons=top or None)
    try:  # the groups the quota rule counts, as the campaign configures it
        quota = Quota.of_rules(configure(cfg.campaign.raw.get("rules", {}), campaign=cfg.campaign.raw))
    except ValueError as exc:
        fail(f"配置错误 campaign.rules：{exc}")
    overruns = staff.quota_overruns(store, cfg.campaign.id, quota)
    if fmt == "json":
        echo_json({"timezone": str(cfg.campaign.tz), **stats.to_json(),
                   **staff.quota_json(quota, overruns, cfg.campaign.tz)})
    elif fmt == "csv":
        staff.echo_csv(["section", "key", "label", "count", "detail"],
                       staff.stats_csv_rows(stats) + staff.quota_csv_rows(overruns))
    else:
        staff.print_stats(stats, quota, overruns, cfg.campaign.tz)


@click.command("list")
@click.option("--status", help="已受理 / 已受理（有提醒事项）/ 退回修改 / 待人工审核，或 accepted、rejected …")
@click.option("--category", help=CATEGORY_HELP)
@click.option("--region", help="省份或城市名称的一部分，例如 浙江 或 杭州。")
@click.option("--kind", type=click.Choice(["province", "unit"]), help=KIND_HELP)
@click.option("--from", "date_from", help="在这一天或之后收到（YYYY-MM-DD，北京时间）。")
@click.option("--to", "date_to", help="在这一天或之前收到（YYYY-MM-DD，北京时间）。")
@click.option("--search", help="案例名称或单位中的文字。")
@click.option("--limit", default=100, show_default=True, help="最多显示多少件（0 = 全部）。")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True, help=FORMAT_HELP)
@config_option
def list_command(status: str | None, category: str | None, region: str | None, kind: str | None,
                 date_from: str | None, date_to: str | None, search: str | None, limit: int, fmt: str) -> None:
    """查找案例：按状态、类别、地区、日期和文字筛选，先收到的在前。

    \b
    示例：
      intake list --status 待人工审核 --region 浙江
      intake list --category 6 --from 2025-11-01 --search 劳动 --format csv > 人工智能.csv
    """
    from ingest.staff import output as staff
    from store.queries import CaseFilter, count_cases, list_cases

    cfg = app_config()
    filt = CaseFilter(status=status_code(status), category_no=category_of(cfg, category)[0] if category else None,
                      region=region, submitter_kind=kind, received_from=_date(date_from, "--from"),
                      received_to=_date(date_to, "--to"), text=search)
    tz = cfg.campaign.tz
    store = open_store(cfg)
    rows = list_cases(store, cfg.campaign.id, filt, tz=tz, limit=limit or None)
    total = len(rows) if not limit or len(rows) < limit else count_cases(store, cfg.campaign.id, filt, tz=tz)
    staff.print_rows(rows, tz, fmt, title="案例列表", total=total)


@click.command("show")
@click.argument("case")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True,
              help="输出格式：table（表格）或 json（供脚本使用）。")
@config_option
def show_command(case: str, fmt: str) -> None:
    """一个案例的全部情况：字段、各版本、文件、检查结果、发出的邮件和操作记录。

    \b
    示例：
      intake show JCJY2025-000012
      intake show 12 --format json
    """
    from ingest.staff import output as staff
    from store.queries import case_detail

    cfg = app_config()
    try:
        detail = case_detail(open_store(cfg), cfg.campaign.id, case)
    except LookupError as exc:
        fail(str(exc))
    if fmt == "json":
        echo_json(staff.detail_json(detail, cfg.campaign.tz))
    else:
        staff.print_detail(detail, cfg.campaign.tz, staff.console())


@click.command("export")
@click.option("--xlsx", "xlsx_path", type=click.Path(dir_okay=False, path_type=Path),
              help="把汇总表写到这个 .xlsx 文件。")
@click.option("--files", "files_dir", type=click.Path(file_okay=False, path_type=Path),
              help="把已受理案例的文件复制到这个目录，按 类别/省份/单位-案例名称/… 存放。")
@click.option("--link", is_flag=True, help="用硬链接代替复制（仅限同一磁盘；不行时自动改为复制）。")
@config_option
def export_command(xlsx_path: Path | None, files_dir: Path | None, link: bool) -> None:
    """导出汇总表（Excel）和/或已受理案例的文件，供专家评审。

    \b
    示例：
      intake export --xlsx 汇总表.xlsx
      intake export --files /mnt/u盘/专家评审材料
    """
    from checks.domain import format_size
    from ingest.staff.export import export_accepted_files, export_workbook

    if xlsx_path is None and files_dir is None:
        fail("请给出 --xlsx 文件 或 --files 目录")
    cfg = app_config()
    store = open_store(cfg)
    if xlsx_path is not None:
        wb = export_workbook(store, cfg.campaign.id, xlsx_path, tz=cfg.campaign.tz,
                             categories=campaign_categories(cfg))
        click.echo(f"汇总表：{wb.path}（{wb.cases} 件，{len(wb.sheets)} 个工作表）")
    if files_dir is not None:
        rep = export_accepted_files(store, cfg.campaign.id, files_dir, link=link)
        click.echo(f"评审材料：{rep.out_dir}（{rep.cases} 件案例，{rep.files} 个文件，{format_size(rep.bytes)}；"
                   "清单见 清单.csv）")
        for problem in rep.problems:
            click.echo(f"  未导出：{problem}", err=True)


@click.command("chart")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path), default=Path("收件统计.png"),
              show_default=True, help="要写入的 PNG 文件。")
@config_option
def chart_command(out_path: Path) -> None:
    """把每天新增的案例数和各类别的案例数画成一张 PNG 图。

    \b
    示例：
      intake chart --out 收件统计.png
    """
    from ingest.staff.chart import render_chart
    from store.queries import campaign_stats

    cfg = app_config()
    stats = campaign_stats(open_store(cfg), cfg.campaign.id, tz=cfg.campaign.tz, top_reasons=1)
    report = render_chart(stats.by_day, stats.by_category, out_path, title=cfg.campaign.name)
    click.echo(f"图表：{report.path}（{report.days} 天，{report.categories} 个类别）")
    if report.font is None:
        click.echo("提示：本机没有中文字体，图中文字为英文；安装 fonts-noto-cjk 后可显示中文", err=True)


COMMANDS: list[click.Command] = [stats_command, list_command, show_command, export_command, chart_command]
