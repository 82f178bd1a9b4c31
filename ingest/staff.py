"""Staff commands: stats, list, show, review, export, chart. Registered on ``intake`` by the CLI:

    from ingest.staff import STAFF_COMMANDS
    for command in STAFF_COMMANDS:
        main.add_command(command)

They read the database only through ``store.queries`` and print Chinese tables (rich), or CSV
(UTF-8 with BOM, so Excel/WPS open it) and JSON for scripts. None of them needs mail passwords.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from datetime import date, datetime, tzinfo
from pathlib import Path
from typing import Any, Iterable, NoReturn, Sequence

import click
from rich import box
from rich.console import Console
from rich.table import Table

from ingest.config import AppConfig, ConfigError, load_config
from store import Store
from store.queries import (
    CORRECTABLE_FIELDS,
    SEVERITY_LABELS,
    STATUS_LABELS,
    STATUSES,
    SUBMITTER_KIND_LABELS,
    CaseDetail,
    CaseFilter,
    CaseRow,
    QuotaRules,
    Stats,
    campaign_stats,
    case_detail,
    correct_fields,
    count_cases,
    current_message_row,
    list_cases,
    override_status,
    resend_reply,
    review_queue,
)

CONFIG_HELP = "Configuration file (default: $INTAKE_CONFIG, else ./config.toml)."
FORMATS = click.Choice(["table", "csv", "json"])
ACTOR_HELP = "Who does this (recorded in the event log)."


def fail(message: str) -> NoReturn:
    click.echo(f"错误：{message}", err=True)
    sys.exit(2)


def _config(config_path: str | None) -> AppConfig:
    try:
        return load_config(config_path, offline=True)
    except ConfigError as exc:
        fail(str(exc))


def _store(cfg: AppConfig) -> Store:
    return Store.open(cfg.intake.database_url)


def campaign_categories(cfg: AppConfig) -> list[tuple[int, str]]:
    """(number, name) of the campaign's categories, in the call's order."""
    return [(int(c["no"]), str(c["name"])) for c in cfg.campaign.raw.get("categories", [])]


def _local(dt: datetime | None, tz: tzinfo) -> str:
    return dt.astimezone(tz).strftime("%Y-%m-%d %H:%M") if dt else ""


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    whole = round(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


def _csv_safe(value: Any) -> Any:
    """Text that Excel would run as a formula (=, +, -, @) gets a leading apostrophe."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value


def _echo_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    buf = io.StringIO()
    buf.write("\ufeff")  # BOM: Excel/WPS then read UTF-8 Chinese correctly
    writer = csv.writer(buf)
    writer.writerow(header)
    for row in rows:
        writer.writerow([_csv_safe(v) for v in row])
    click.echo(buf.getvalue(), nl=False)


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def _console() -> Console:
    return Console(soft_wrap=False)


def _status_code(value: str | None) -> str | None:
    """A status given as its code or its Chinese label (已受理, 待人工审核 …)."""
    if not value:
        return None
    by_label = {label: code for code, label in STATUS_LABELS.items()}
    code = by_label.get(value.strip(), value.strip())
    if code not in STATUSES:
        fail(f"未知状态 {value!r}，可选：" + "、".join(f"{c}（{STATUS_LABELS[c]}）" for c in STATUSES))
    return code


def _category(cfg: AppConfig, value: str) -> tuple[int, str]:
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


# ---- stats --------------------------------------------------------------------------------------

def _stats_csv_rows(stats: Stats) -> list[list[Any]]:
    rows: list[list[Any]] = [["total", "", "全部案例", stats.total, ""]]
    for section, counts in (("category", stats.by_category), ("province", stats.by_province),
                            ("status", stats.by_status), ("submitter_kind", stats.by_submitter_kind),
                            ("day", stats.by_day)):
        rows += [[section, c.key, c.label, c.count, ""] for c in counts]
    rows += [["failure_reason", f"{r.rule}", f"{r.clause} {SEVERITY_LABELS.get(r.severity, r.severity)}", r.cases,
              r.example] for r in stats.failure_reasons]
    for o in stats.quota_overruns:
        for c in o.cases:
            rows.append(["quota", o.province, c.case_no, 1, _quota_note(c.exceeds, stats.quota)])
    return rows


def _quota_note(exceeds: str | None, quota: QuotaRules) -> str:
    if exceeds == "category":
        return f"超出每类 {quota.per_category_max} 个上限"
    if exceeds == "total":
        return f"超出总数 {quota.total_max} 个上限"
    return "计入名额"


def _count_table(title: str, rows: Sequence[Any], total: int, key_header: str) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column(key_header)
    table.add_column("案例数", justify="right")
    table.add_column("占比", justify="right")
    for c in rows:
        table.add_row(c.label, str(c.count), f"{c.count / total:.1%}" if total else "—")
    return table


def print_stats(stats: Stats, tz: tzinfo, console: Console) -> None:
    console.print(f"[bold]案例总数：{stats.total}[/bold]")
    for title, rows, header in (("按类别", stats.by_category, "类别"), ("按状态", stats.by_status, "状态"),
                                ("按报送方式", stats.by_submitter_kind, "报送方式"),
                                ("按省份", stats.by_province, "省份"), ("按收件日期", stats.by_day, "日期")):
        console.print(_count_table(title, rows, stats.total, header))
    reasons = Table(title="最常见的问题（当前版本）", title_justify="left")
    for col in ("规则", "条款", "性质", "案例数", "示例"):
        reasons.add_column(col, justify="right" if col == "案例数" else "left")
    for r in stats.failure_reasons:
        reasons.add_row(r.rule, r.clause, SEVERITY_LABELS.get(r.severity, r.severity), str(r.cases), r.example)
    console.print(reasons)
    q = stats.quota
    if not stats.quota_overruns:
        console.print(f"省级推荐名额：没有超额（每类不超过 {q.per_category_max} 个，总数不超过 {q.total_max} 个）")
        return
    quota = Table(title=f"省级推荐超额（每类不超过 {q.per_category_max} 个，总数不超过 {q.total_max} 个；"
                        f"按收件先后计入）", title_justify="left")
    for col in ("省份", "推荐数", "超出的案例", "类别", "收件时间", "超出"):
        quota.add_column(col)
    for o in stats.quota_overruns:
        for i, c in enumerate(o.exceeding):
            quota.add_row(o.province if i == 0 else "", str(o.total) if i == 0 else "", c.case_no,
                          c.category or "—", _local(c.first_received_at, tz), _quota_note(c.exceeds, q))
    console.print(quota)


@click.command("stats")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True, help="Output format.")
@click.option("--top", default=20, show_default=True, help="How many failure reasons to list (0 = all).")
@click.option("--config", "config_path", envvar="INTAKE_CONFIG", help=CONFIG_HELP)
def stats_command(fmt: str, top: int, config_path: str | None) -> None:
    """Statistics: cases by category, province, status, submitter kind and day; the most common
    problems; provinces over the recommendation quota (四.2(1)).

    \b
    Example:
      intake stats
      intake stats --format csv > 统计.csv
    """
    cfg = _config(config_path)
    store = _store(cfg)
    try:
        stats = campaign_stats(store, cfg.campaign.id, tz=cfg.campaign.tz,
                               quota=QuotaRules.from_campaign(cfg.campaign.raw), top_reasons=top or None)
    finally:
        store.close()
    if fmt == "json":
        _echo_json(stats.to_json())
    elif fmt == "csv":
        _echo_csv(["section", "key", "label", "count", "detail"], _stats_csv_rows(stats))
    else:
        print_stats(stats, cfg.campaign.tz, _console())


# ---- list / show --------------------------------------------------------------------------------

LIST_HEADER = ("受理编号", "状态", "省份", "市/县", "单位", "案例名称", "类别", "报送方式", "收件时间", "照片数",
               "视频时长", "问题数")


def _list_values(r: CaseRow, tz: tzinfo) -> list[Any]:
    return [r.case_no, r.status_label, r.province or "", r.city or "", r.organization or "", r.case_name or "",
            r.category or "", SUBMITTER_KIND_LABELS.get(r.submitter_kind or "", r.submitter_kind or ""),
            _local(r.first_received_at, tz), r.photos, _duration(r.video_seconds), r.failed_findings]


def _row_json(r: CaseRow) -> dict[str, Any]:
    return {"case_no": r.case_no, "status": r.status, "checked_status": r.checked_status,
            "override_reason": r.override_reason, "submitter_kind": r.submitter_kind, "province": r.province,
            "city": r.city, "organization": r.organization, "case_name": r.case_name,
            "category_no": r.category_no, "category": r.category, "sender": r.sender,
            "first_received_at": r.first_received_at.isoformat(), "last_received_at": r.last_received_at.isoformat(),
            "version": r.current_version, "photos": r.photos, "video_seconds": r.video_seconds,
            "failed_findings": r.failed_findings, "subject_reasons": list(r.subject_reasons)}


def _print_rows(rows: Sequence[CaseRow], tz: tzinfo, fmt: str, *, title: str, total: int) -> None:
    if fmt == "json":
        _echo_json({"total": total, "cases": [_row_json(r) for r in rows]})
        return
    if fmt == "csv":
        _echo_csv(LIST_HEADER, (_list_values(r, tz) for r in rows))
        return
    console = _console()
    # The terminal gets the columns that fit; CSV/JSON carry every field. Names wrap rather than
    # vanish: narrow terminals drop the figures first.
    hidden = {"市/县", "报送方式"} | ({"照片数", "视频时长"} if console.width < 120 else set())
    shown = [i for i, c in enumerate(LIST_HEADER) if c not in hidden]
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for i in shown:
        col = LIST_HEADER[i]
        # Case numbers and times stay whole (staff copy them).
        table.add_column(col, justify="right" if col in ("照片数", "问题数") else "left",
                         no_wrap=col in ("受理编号", "收件时间", "照片数", "视频时长", "问题数"),
                         min_width=4 if col in ("省份", "单位", "案例名称", "类别", "状态") else None,
                         overflow="fold")  # Chinese has no spaces to wrap at: fold by character
    for r in rows:
        values = _list_values(r, tz)
        table.add_row(*[str(values[i]) for i in shown])
    console = _console()
    console.print(table)
    console.print(f"共 {total} 件" + (f"，显示 {len(rows)} 件（--limit 0 显示全部）" if len(rows) < total else ""))


@click.command("list")
@click.option("--status", help="已受理 / 已受理（有提醒）/ 退回修改 / 待人工审核, or accepted, rejected …")
@click.option("--category", help="Category number (1–10) or part of its name.")
@click.option("--region", help="Part of the province or city name, e.g. 浙江 or 杭州.")
@click.option("--kind", type=click.Choice(["province", "unit"]), help="province = 省级推荐, unit = 自主申报.")
@click.option("--from", "date_from", help="Received on or after this date (YYYY-MM-DD, local time).")
@click.option("--to", "date_to", help="Received on or before this date (YYYY-MM-DD, local time).")
@click.option("--search", help="Text in the case name or the unit.")
@click.option("--limit", default=100, show_default=True, help="At most this many rows (0 = all).")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True, help="Output format.")
@click.option("--config", "config_path", envvar="INTAKE_CONFIG", help=CONFIG_HELP)
def list_command(status: str | None, category: str | None, region: str | None, kind: str | None,
                 date_from: str | None, date_to: str | None, search: str | None, limit: int, fmt: str,
                 config_path: str | None) -> None:
    """Find cases: filter by status, category, region, date and text; earliest received first.

    \b
    Example:
      intake list --status 待人工审核 --region 浙江
      intake list --category 6 --from 2025-11-01 --search 劳动 --format csv > 人工智能.csv
    """
    cfg = _config(config_path)
    filt = CaseFilter(status=_status_code(status), category_no=_category(cfg, category)[0] if category else None,
                      region=region, submitter_kind=kind, received_from=_date(date_from, "--from"),
                      received_to=_date(date_to, "--to"), text=search)
    tz = cfg.campaign.tz
    store = _store(cfg)
    try:
        rows = list_cases(store, cfg.campaign.id, filt, tz=tz, limit=limit or None)
        total = len(rows) if not limit or len(rows) < limit else count_cases(store, cfg.campaign.id, filt, tz=tz)
    finally:
        store.close()
    _print_rows(rows, tz, fmt, title="案例列表", total=total)


def _detail_json(d: CaseDetail) -> dict[str, Any]:
    return {
        "case": _row_json(d.case),
        "versions": [{"version": v.version, "received_at": v.received_at.isoformat(), "subject": v.raw_subject,
                      "status": v.status,
                      "attachments": [{"id": a.id, "name": a.name, "role": a.role, "kind": a.kind, "size": a.size,
                                       "sha256": a.sha256, "stored_path": a.stored_path, "archive": a.archive,
                                       "url": a.url, "expires_at": a.expires_at.isoformat() if a.expires_at else None}
                                      for a in v.attachments],
                      "findings": [{"rule": f.rule, "clause": f.clause, "severity": f.severity, "passed": f.passed,
                                    "message": f.message, "fix": f.fix, "file": f.file} for f in v.findings]}
                     for v in d.versions],
        "mails": [{"id": m.id, "kind": m.kind, "to": m.recipient, "subject": m.subject, "status": m.status,
                   "attempts": m.attempts, "created_at": m.created_at.isoformat(),
                   "sent_at": m.sent_at.isoformat() if m.sent_at else None, "error": m.last_error}
                  for m in d.mails],
        "events": [{"at": e.at.isoformat(), "actor": e.actor, "action": e.action, "detail": dict(e.detail)}
                   for e in d.events],
    }


def print_detail(d: CaseDetail, tz: tzinfo, console: Console) -> None:
    c = d.case
    fields = Table(title=f"案例 {c.case_no}", show_header=False, title_justify="left")
    status = c.status_label + (f"（人工改判，原为 {STATUS_LABELS.get(c.checked_status, c.checked_status)}；"
                               f"理由：{c.override_reason or '—'}）" if c.status != c.checked_status else "")
    for label, value in (("状态", status), ("报送方式", SUBMITTER_KIND_LABELS.get(c.submitter_kind or "", "—")),
                         ("省份", c.province), ("市/县", c.city), ("单位", c.organization), ("案例名称", c.case_name),
                         ("类别", f"{c.category_no} {c.category}" if c.category else None), ("发件人", c.sender),
                         ("首次收件", _local(c.first_received_at, tz)), ("最近收件", _local(c.last_received_at, tz)),
                         ("当前版本", str(c.current_version)), ("主题可信度", f"{c.subject_confidence:.2f}"),
                         ("需核对", "；".join(c.subject_reasons))):
        fields.add_row(label, value or "—")
    console.print(fields)
    for v in d.versions:
        console.print(f"[bold]第 {v.version} 版[/bold]（{_local(v.received_at, tz)}，"
                      f"{STATUS_LABELS.get(v.status, v.status)}）主题：{v.raw_subject or '—'}", highlight=False)
        files = Table()
        for col in ("文件", "类型", "大小", "来自压缩包"):
            files.add_column(col)
        for a in v.attachments:
            files.add_row(a.name if a.kind == "file" else f"{a.name}（链接 {a.url or ''}）", a.role,
                          f"{a.size / 1048576:.1f} MB", a.archive or "")
        console.print(files)
        findings = Table(show_header=True, title_justify="left")
        for col in ("结果", "条款", "规则", "说明"):
            findings.add_column(col)
        for f in v.findings:
            findings.add_row("通过" if f.passed else SEVERITY_LABELS.get(f.severity, f.severity), f.clause, f.rule,
                             f.message + (f"（{f.fix}）" if f.fix and not f.passed else ""))
        console.print(findings)
    if not d.mails:
        console.print("发出的邮件：无")
    mails = Table(title="发出的邮件", title_justify="left")
    for col in ("编号", "类型", "收件人", "状态", "时间", "主题"):
        mails.add_column(col)
    for m in d.mails:
        mails.add_row(str(m.id), m.kind, m.recipient, m.status + (f"：{m.last_error}" if m.last_error else ""),
                      _local(m.sent_at or m.created_at, tz), m.subject)
    if d.mails:
        console.print(mails)
    if not d.events:
        console.print("操作记录：无")
        return
    events = Table(title="操作记录", title_justify="left")
    for col in ("时间", "操作人", "操作", "详情"):
        events.add_column(col)
    for e in d.events:
        events.add_row(_local(e.at, tz), e.actor, e.action, json.dumps(dict(e.detail), ensure_ascii=False))
    console.print(events)


@click.command("show")
@click.argument("case")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True,
              help="Output format.")
@click.option("--config", "config_path", envvar="INTAKE_CONFIG", help=CONFIG_HELP)
def show_command(case: str, fmt: str, config_path: str | None) -> None:
    """Everything about one case: fields, versions, files, findings, mails sent, event log.

    \b
    Example:
      intake show JCJY2025-000012
      intake show 12 --format json
    """
    cfg = _config(config_path)
    store = _store(cfg)
    try:
        detail = case_detail(store, cfg.campaign.id, case)
    except LookupError as exc:
        fail(str(exc))
    finally:
        store.close()
    if fmt == "json":
        _echo_json(_detail_json(detail))
    else:
        print_detail(detail, cfg.campaign.tz, _console())


# ---- review -------------------------------------------------------------------------------------

@click.group("review", invoke_without_command=True)
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True, help="Output format.")
@click.option("--config", "config_path", envvar="INTAKE_CONFIG", help=CONFIG_HELP)
@click.pass_context
def review_group(ctx: click.Context, fmt: str, config_path: str | None) -> None:
    """The review queue: cases waiting for a person (待人工审核), and what staff do about them.

    \b
    Example:
      intake review                                    # the queue, earliest first
      intake review override JCJY2025-000012 --status accepted --reason "公章已电话核实"
      intake review correct JCJY2025-000012 --province 浙江省 --category 6
      intake review resend JCJY2025-000012
    """
    if ctx.invoked_subcommand is not None:
        return
    cfg = _config(config_path)
    tz = cfg.campaign.tz
    store = _store(cfg)
    try:
        rows = review_queue(store, cfg.campaign.id, tz=tz)
    finally:
        store.close()
    if fmt != "table":
        _print_rows(rows, tz, fmt, title="待人工审核", total=len(rows))
        return
    table = Table(title=f"待人工审核（{len(rows)} 件）", title_justify="left", box=box.SIMPLE_HEAD,
                  pad_edge=False, collapse_padding=True)
    for col in ("受理编号", "收件时间", "省份", "单位", "案例名称", "类别", "需核对"):
        table.add_column(col, no_wrap=col in ("受理编号", "收件时间"), overflow="fold",
                         min_width=None if col in ("受理编号", "收件时间") else 4)
    for r in rows:
        table.add_row(r.case_no, _local(r.first_received_at, tz), r.province or "—", r.organization or "—",
                      r.case_name or "—", r.category or "—",
                      "；".join(r.subject_reasons) or (f"{r.failed_findings} 项检查未通过" if r.failed_findings else ""))
    _console().print(table)


@review_group.command("override")
@click.argument("case")
@click.option("--status", "new_status", help="New status: code or Chinese label (已受理, 退回修改 …).")
@click.option("--clear", is_flag=True, help="Remove the staff verdict; the checks' verdict applies again.")
@click.option("--reason", required=True, help="Why (recorded in the event log).")
@click.option("--actor", envvar="USER", default="staff", show_default=True, help=ACTOR_HELP)
@click.option("--config", "config_path", envvar="INTAKE_CONFIG", help=CONFIG_HELP)
def review_override(case: str, new_status: str | None, clear: bool, reason: str, actor: str,
                    config_path: str | None) -> None:
    """Override the verdict of a case, with a reason.

    \b
    Example:
      intake review override JCJY2025-000012 --status 已受理 --reason "PDF 公章经电话核实"
      intake review override JCJY2025-000012 --clear --reason "撤销改判"
    """
    if clear == bool(new_status):
        fail("请给出 --status 或 --clear（二选一）")
    cfg = _config(config_path)
    store = _store(cfg)
    try:
        result = override_status(store, cfg.campaign.id, case, None if clear else _status_code(new_status), reason,
                                 actor=actor)
    except (LookupError, ValueError) as exc:
        fail(str(exc))
    finally:
        store.close()
    click.echo(f"{result.case_no}：{STATUS_LABELS.get(result.previous, result.previous)} → "
               f"{STATUS_LABELS.get(result.current, result.current)}（已记录，操作人 {actor}）")


@review_group.command("correct")
@click.argument("case")
@click.option("--province", help="省份, e.g. 浙江省.")
@click.option("--city", help="市/县.")
@click.option("--unit", "organization", help="单位.")
@click.option("--case-name", help="案例名称.")
@click.option("--category", help="Category number (1–10) or part of its name.")
@click.option("--kind", type=click.Choice(["province", "unit"]), help="province = 省级推荐, unit = 自主申报.")
@click.option("--actor", envvar="USER", default="staff", show_default=True, help=ACTOR_HELP)
@click.option("--config", "config_path", envvar="INTAKE_CONFIG", help=CONFIG_HELP)
def review_correct(case: str, province: str | None, city: str | None, organization: str | None,
                   case_name: str | None, category: str | None, kind: str | None, actor: str,
                   config_path: str | None) -> None:
    """Correct fields the subject parser got wrong (province, unit, case name, category…).

    \b
    Example:
      intake review correct JCJY2025-000012 --province 浙江省 --unit 杭州市文三街小学 --category 人工智能
    """
    cfg = _config(config_path)
    changes: dict[str, Any] = {k: v for k, v in (("province", province), ("city", city),
                                                  ("organization", organization), ("case_name", case_name),
                                                  ("submitter_kind", kind)) if v is not None}
    if category is not None:
        changes["category_no"], changes["category"] = _category(cfg, category)
    if not changes:
        fail("没有要修改的字段（可用：" + "、".join(CORRECTABLE_FIELDS) + "）")
    store = _store(cfg)
    try:
        changed = correct_fields(store, cfg.campaign.id, case, changes, actor=actor)
    except (LookupError, ValueError) as exc:
        fail(str(exc))
    finally:
        store.close()
    if not changed:
        click.echo("没有变化：字段已是这些值")
    for key, (old, new) in changed.items():
        click.echo(f"{key}：{old if old is not None else '—'} → {new}")


@review_group.command("recheck")
@click.argument("case")
@click.option("--actor", envvar="USER", default="staff", show_default=True, help=ACTOR_HELP)
@click.option("--config", "config_path", envvar="INTAKE_CONFIG", help=CONFIG_HELP)
def review_recheck(case: str, actor: str, config_path: str | None) -> None:
    """Re-run every check on the case's current version from the saved mail. Sends nothing.

    \b
    Example:
      intake review recheck JCJY2025-000012
    """
    from ingest.pipeline import recheck_message
    from ingest.runtime import Runtime, StartupError

    cfg = _config(config_path)
    try:
        rt = Runtime(cfg)
    except StartupError as exc:
        fail(str(exc))
    try:
        case_no, message_row_id = current_message_row(rt.store, cfg.campaign.id, case)
        status = recheck_message(rt, message_row_id, actor=actor)
    except LookupError as exc:
        fail(str(exc))
    finally:
        rt.close()
    click.echo(f"{case_no}：重新检查完成，结果 {STATUS_LABELS.get(status, status)}")


@review_group.command("reply")
@click.argument("case")
@click.option("--kind", type=click.Choice(["receipt", "rejection", "needs_review"]), required=True,
              help="受理回执 (receipt), 退回修改通知 (rejection) or 待审核通知 (needs_review).")
@click.option("--actor", envvar="USER", default="staff", show_default=True, help=ACTOR_HELP)
@click.option("--config", "config_path", envvar="INTAKE_CONFIG", help=CONFIG_HELP)
def review_reply(case: str, kind: str, actor: str, config_path: str | None) -> None:
    """Send the reply staff choose (e.g. a receipt after overriding a rejection), rendered from the
    case's current version. The daemon sends it on its next cycle.

    \b
    Example:
      intake review reply JCJY2025-000012 --kind receipt
    """
    from ingest.pipeline import send_chosen_reply
    from ingest.runtime import Runtime, StartupError

    cfg = _config(config_path)
    try:
        rt = Runtime(cfg)
    except StartupError as exc:
        fail(str(exc))
    try:
        _case_no, message_row_id = current_message_row(rt.store, cfg.campaign.id, case)
        click.echo(send_chosen_reply(rt, message_row_id, kind, actor=actor))
    except (LookupError, ValueError) as exc:
        fail(str(exc))
    finally:
        rt.close()


@review_group.command("resend")
@click.argument("case")
@click.option("--mail", "outbox_id", type=int, help="Which reply (its number in `intake show`); default: the newest.")
@click.option("--actor", envvar="USER", default="staff", show_default=True, help=ACTOR_HELP)
@click.option("--config", "config_path", envvar="INTAKE_CONFIG", help=CONFIG_HELP)
def review_resend(case: str, outbox_id: int | None, actor: str, config_path: str | None) -> None:
    """Queue a reply of the case again (after a bounce, or to release one that was held back).
    The daemon sends it on its next cycle.

    \b
    Example:
      intake review resend JCJY2025-000012
      intake review resend JCJY2025-000012 --mail 31
    """
    cfg = _config(config_path)
    store = _store(cfg)
    try:
        queued = resend_reply(store, cfg.campaign.id, case, outbox_id=outbox_id, actor=actor)
    except LookupError as exc:
        fail(str(exc))
    finally:
        store.close()
    click.echo(f"{queued.case_no}：已重新排队发送给 {queued.recipient}（原邮件 {queued.original_outbox_id}，"
               f"新编号 {queued.new_outbox_id}）")


# ---- export / chart -----------------------------------------------------------------------------

@click.command("export")
@click.option("--xlsx", "xlsx_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the 汇总表 workbook here (.xlsx).")
@click.option("--files", "files_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Copy the accepted cases' files into this folder as 类别/省份/单位-案例名称/….")
@click.option("--link", is_flag=True, help="Hard-link files instead of copying (same disk only; falls back to copy).")
@click.option("--config", "config_path", envvar="INTAKE_CONFIG", help=CONFIG_HELP)
def export_command(xlsx_path: Path | None, files_dir: Path | None, link: bool, config_path: str | None) -> None:
    """Export the 汇总表 workbook and/or the accepted cases' files for the expert panel.

    \b
    Example:
      intake export --xlsx 汇总表.xlsx
      intake export --files /mnt/u盘/专家评审材料
    """
    from ingest.export import export_accepted_files, export_workbook

    if xlsx_path is None and files_dir is None:
        fail("请给出 --xlsx 文件 或 --files 目录")
    cfg = _config(config_path)
    store = _store(cfg)
    try:
        if xlsx_path is not None:
            wb = export_workbook(store, cfg.campaign.id, xlsx_path, tz=cfg.campaign.tz,
                                 categories=campaign_categories(cfg))
            click.echo(f"汇总表：{wb.path}（{wb.cases} 件，{len(wb.sheets)} 个工作表）")
        if files_dir is not None:
            rep = export_accepted_files(store, cfg.campaign.id, files_dir, link=link)
            click.echo(f"评审材料：{rep.out_dir}（{rep.cases} 件案例，{rep.files} 个文件，"
                       f"{rep.bytes / 1048576:.1f} MB；清单见 清单.csv）")
            for problem in rep.problems:
                click.echo(f"  未导出：{problem}", err=True)
    finally:
        store.close()


@click.command("chart")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path), default=Path("收件统计.png"),
              show_default=True, help="PNG file to write.")
@click.option("--config", "config_path", envvar="INTAKE_CONFIG", help=CONFIG_HELP)
def chart_command(out_path: Path, config_path: str | None) -> None:
    """Draw new cases per day and cases per category as a PNG picture.

    \b
    Example:
      intake chart --out 收件统计.png
    """
    from ingest.chart import render_chart

    cfg = _config(config_path)
    store = _store(cfg)
    try:
        stats = campaign_stats(store, cfg.campaign.id, tz=cfg.campaign.tz, top_reasons=1)
    finally:
        store.close()
    report = render_chart(stats.by_day, stats.by_category, out_path, title=cfg.campaign.name)
    click.echo(f"图表：{report.path}（{report.days} 天，{report.categories} 个类别）")
    if report.font is None:
        click.echo("提示：本机没有中文字体，图中文字为英文；安装 fonts-noto-cjk 后可显示中文", err=True)


STAFF_COMMANDS: list[click.Command] = [stats_command, list_command, show_command, review_group, export_command,
                                       chart_command]
