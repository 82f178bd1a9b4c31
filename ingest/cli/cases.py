"""查询与导出: stats, list, show, export, chart. Read-only: the database is checked, never migrated. stats, list,
chart and the 汇总表 read with plain SQL through ``store.reader`` (no ORM; on SQLite no SQLAlchemy at all); show and
the panel's files through the ``Store``."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ingest.cli.shell import (app_config, campaign_heading, campaign_option, campaign_views, config_option, echo_json,
                              fail, open_reader, open_store)

if TYPE_CHECKING:
    from checks.rules.quota import Quota, QuotaOverrun
    from ingest.config import AppConfig
    from store.queries import CaseDetail, Stats
    from store.reader import Reader

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
@campaign_option
def stats_command(fmt: str, top: int, campaign: str | None) -> None:
    """统计：按类别、省份、状态、报送方式和日期的案例数；最常见的问题；超出本征集推荐名额的省份、县市区或学校
    （按配置中 [campaign.rules."quota"] 的名额分组，与受理时的核对一致）。配置了多个征集时逐个征集统计
    （CSV 多一列 campaign，JSON 为 {"campaigns": [...]}），--campaign 只统计其中一个。

    \b
    示例：
      intake stats
      intake stats --campaign jcjy2025 --format csv > 统计.csv
    """
    from ingest.staff import output as staff

    cfg = app_config()
    views = campaign_views(cfg, campaign)
    db = open_reader(cfg)  # plain SQL on sqlite3 or psycopg: no SQLAlchemy to load
    found = [(view, *_campaign_stats(db, view, top)) for view in views]
    several = len(views) > 1
    if fmt == "json":
        objects = [{**({"campaign": v.campaign.id} if several else {}), "timezone": str(v.campaign.tz),
                    **stats.to_json(), **staff.quota_json(quota, overruns, v.campaign.tz)}
                   for v, stats, quota, overruns in found]
        echo_json({"campaigns": objects} if several else objects[0])
    elif fmt == "csv":
        header = ["section", "key", "label", "count", "detail"]
        staff.echo_csv(["campaign", *header] if several else header,
                       ([v.campaign.id, *row] if several else row for v, stats, _, overruns in found
                        for row in staff.stats_csv_rows(stats) + staff.quota_csv_rows(overruns)))
    else:
        for v, stats, quota, overruns in found:
            if heading := campaign_heading(v, views):
                click.echo(heading)
            staff.print_stats(stats, quota, overruns, v.campaign.tz)


def _campaign_stats(db: Reader, view: AppConfig, top: int) -> tuple[Stats, Quota, tuple[QuotaOverrun, ...]]:
    """One campaign's figures, its quota groups as its rules configure them, and the groups over their quota."""
    from checks.registry import configure
    from checks.rules.quota import Quota
    from ingest.staff import output as staff
    from store.queries.stats import campaign_stats

    stats = campaign_stats(db, view.campaign.id, tz=view.campaign.tz, top_reasons=top or None)
    try:  # the groups the quota rule counts, as the campaign configures it
        quota = Quota.of_rules(configure(view.campaign.raw.get("rules", {}), campaign=view.campaign.raw))
    except ValueError as exc:
        fail(f"配置错误 campaign.rules：{exc}")
    return stats, quota, staff.quota_overruns(db, view.campaign.id, quota)


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
@campaign_option
def list_command(status: str | None, category: str | None, region: str | None, kind: str | None,
                 date_from: str | None, date_to: str | None, search: str | None, limit: int, fmt: str,
                 campaign: str | None) -> None:
    """查找案例：按状态、类别、地区、日期和文字筛选，先收到的在前。配置了多个征集时逐个征集列出
    （CSV 第一列为征集，JSON 为 {"campaigns": [...]}），--campaign 只列其中一个。

    \b
    示例：
      intake list --status 待人工审核 --region 浙江
      intake list --category 6 --from 2025-11-01 --search 劳动 --format csv > 人工智能.csv
    """
    from ingest.staff import output as staff
    from store.queries.lists import CaseFilter, count_cases, list_cases

    cfg = app_config()
    views = campaign_views(cfg, campaign)
    store = open_reader(cfg)  # plain SQL: no ORM to load
    found = []
    for view in views:
        filt = CaseFilter(status=status_code(status),
                          category_no=category_of(view, category)[0] if category else None,
                          region=region, submitter_kind=kind, received_from=_date(date_from, "--from"),
                          received_to=_date(date_to, "--to"), text=search)
        tz = view.campaign.tz
        rows = list_cases(store, view.campaign.id, filt, tz=tz, limit=limit or None)
        total = len(rows) if not limit or len(rows) < limit else count_cases(store, view.campaign.id, filt, tz=tz)
        found.append((view, rows, total))
    if len(views) == 1:
        staff.print_rows(found[0][1], views[0].campaign.tz, fmt, title="案例列表", total=found[0][2])
    elif fmt == "json":
        echo_json({"campaigns": [{"campaign": v.campaign.id, "timezone": str(v.campaign.tz), "total": total,
                                  "cases": [staff.row_json(r, v.campaign.tz) for r in rows]}
                                 for v, rows, total in found]})
    elif fmt == "csv":
        staff.echo_csv(["征集", *staff.LIST_HEADER], ([v.campaign.id, *staff.list_values(r, v.campaign.tz)]
                                                     for v, rows, _ in found for r in rows))
    else:
        for v, rows, total in found:
            click.echo(campaign_heading(v, views))
            staff.print_rows(rows, v.campaign.tz, fmt, title="案例列表", total=total)


@click.command("show")
@click.argument("case")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True,
              help="输出格式：table（表格）或 json（供脚本使用）。")
@config_option
@campaign_option
def show_command(case: str, fmt: str, campaign: str | None) -> None:
    """一个案例的全部情况：字段、各版本、文件、检查结果、发出的邮件和操作记录。

    受理编号在所有征集中唯一；配置了多个征集时按编号找到它所属的征集。

    \b
    示例：
      intake show JCJY2025-000012
      intake show 12 --format json
    """
    from ingest.staff import output as staff

    cfg = app_config()
    view, detail = find_case(cfg, campaign, case)
    if fmt == "json":
        echo_json(staff.detail_json(detail, view.campaign.tz))
    else:
        staff.print_detail(detail, view.campaign.tz, staff.console())


def find_case(cfg: AppConfig, campaign: str | None, case: str) -> tuple[AppConfig, CaseDetail]:
    """The campaign a case belongs to (among those chosen with --campaign) and the case; one line if none."""
    from store.queries import case_detail

    view = case_view(cfg, case, campaign)
    try:
        return view, case_detail(open_store(cfg), view.campaign.id, case)
    except LookupError as exc:
        fail(str(exc))


def case_view(cfg: AppConfig, case: str, campaign: str | None) -> AppConfig:
    """The configuration of the campaign that holds the case, among those chosen (``--campaign``, else all)."""
    from store.queries import campaign_of_case

    views = campaign_views(cfg, campaign)
    if len(views) == 1:
        return views[0]
    found = campaign_of_case(open_store(cfg), case, [v.campaign.id for v in views])
    if found is None:
        fail(f"没有受理编号为 {case.strip()} 的案例")
    return cfg.for_campaign(found)


@click.command("export")
@click.option("--xlsx", "xlsx_path", type=click.Path(dir_okay=False, path_type=Path),
              help="把汇总表写到这个 .xlsx 文件。")
@click.option("--files", "files_dir", type=click.Path(file_okay=False, path_type=Path),
              help="把已受理案例的文件复制到这个目录，按 类别/省份/单位-案例名称/… 存放。")
@click.option("--link", is_flag=True, help="用硬链接代替复制（仅限同一磁盘；不行时自动改为复制）。")
@config_option
@campaign_option
def export_command(xlsx_path: Path | None, files_dir: Path | None, link: bool, campaign: str | None) -> None:
    """导出汇总表（Excel）和/或已受理案例的文件，供专家评审。

    配置了多个征集时每个征集各导出一份：汇总表文件名后加征集 id（汇总表-jcjy2025.xlsx），文件放在以征集 id
    命名的子目录中；--campaign 只导出其中一个。

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
    views = campaign_views(cfg, campaign)
    # The 汇总表 is read with plain SQL (no ORM to load); the panel's files through the Store.
    store = open_store(cfg) if files_dir is not None else None
    db: Reader = store if store is not None else open_reader(cfg)
    for view in views:
        cid, several = view.campaign.id, len(views) > 1
        if heading := campaign_heading(view, views):
            click.echo(heading)
        if xlsx_path is not None:
            target = xlsx_path.with_name(f"{xlsx_path.stem}-{cid}{xlsx_path.suffix}") if several else xlsx_path
            wb = export_workbook(db, cid, target, tz=view.campaign.tz, categories=campaign_categories(view))
            click.echo(f"汇总表：{wb.path}（{wb.cases} 件，{len(wb.sheets)} 个工作表）")
        if files_dir is not None and store is not None:
            rep = export_accepted_files(store, cid, files_dir / cid if several else files_dir, link=link)
            click.echo(f"评审材料：{rep.out_dir}（{rep.cases} 件案例，{rep.files} 个文件，{format_size(rep.bytes)}；"
                       "清单见 清单.csv）")
            for problem in rep.problems:
                click.echo(f"  未导出：{problem}", err=True)


@click.command("chart")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path), default=Path("收件统计.png"),
              show_default=True, help="要写入的 PNG 文件。")
@config_option
@campaign_option
def chart_command(out_path: Path, campaign: str | None) -> None:
    """把每天新增的案例数和各类别的案例数画成一张 PNG 图。

    配置了多个征集时每个征集一张图，文件名后加征集 id（收件统计-jcjy2025.png）；--campaign 只画其中一个。

    \b
    示例：
      intake chart --out 收件统计.png
    """
    from ingest.staff.chart import render_chart
    from store.queries.stats import campaign_stats

    cfg = app_config()
    views = campaign_views(cfg, campaign)
    store = open_reader(cfg)  # plain SQL: no ORM to load
    for view in views:
        target = out_path.with_name(f"{out_path.stem}-{view.campaign.id}{out_path.suffix}") if len(views) > 1 \
            else out_path
        stats = campaign_stats(store, view.campaign.id, tz=view.campaign.tz, top_reasons=1)
        report = render_chart(stats.by_day, stats.by_category, target, title=view.campaign.name)
        click.echo(f"图表：{report.path}（{report.days} 天，{report.categories} 个类别）")
        if report.font is None:
            click.echo("提示：本机没有中文字体，图中文字为英文；安装 fonts-noto-cjk 后可显示中文", err=True)


COMMANDS: list[click.Command] = [stats_command, list_command, show_command, export_command, chart_command]
