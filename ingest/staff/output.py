"""What the staff commands print: tables for a terminal, aligned plain text for pipes and files, CSV for
Excel/WPS (UTF-8 with BOM) and JSON for scripts. The commands themselves are in ingest/cli/cases.py and
ingest/cli/review.py; they read the database only through ``store.queries``.

Statuses, roles and kinds are shown by their Chinese labels (``checks.domain``); JSON keeps the codes and gives
every time in the campaign's zone with its offset.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import click

from checks.domain import (
    FileRole,
    OutboxStatus,
    ReplyKind,
    Severity,
    SubmissionStatus,
    SubmitterKind,
    format_size,
)
from checks.rules.quota import CATEGORY, TOTAL, Quota, QuotaGroup, QuotaOverrun
from ingest.cli.shell import json_time, local_time, plain_table

if TYPE_CHECKING:  # rich is imported where a table is drawn: CSV and JSON output start without it; the store's
    # ORM where a command reads through it (intake stats reads without it)
    from rich.console import Console

    from store.queries import CaseDetail, CaseRow, Stats, VersionRow
    from store.reader import Reader


def console() -> Console:
    """Rich fits tables to the terminal's width (COLUMNS when set); no soft wrapping of long lines."""
    from rich.console import Console

    return Console(soft_wrap=False)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    whole = round(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


def echo_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Write a CSV with a BOM (so Excel and WPS read the Chinese), cells made formula-safe."""
    from ingest.staff.export import formula_safe  # the workbook writer loads only when a command needs it

    buf = io.StringIO()
    buf.write("\ufeff")  # BOM: Excel/WPS then read UTF-8 Chinese correctly
    writer = csv.writer(buf)
    writer.writerow(header)
    for row in rows:
        writer.writerow([formula_safe(v) for v in row])
    click.echo(buf.getvalue(), nl=False)


def echo_plain(header: Sequence[str], rows: Iterable[Sequence[Any]], *, right: Iterable[int] = ()) -> None:
    """Write a plain aligned table (for pipes and scripts)."""
    for line in plain_table(header, rows, right=right):
        click.echo(line)


# ---- stats --------------------------------------------------------------------------------------

def stats_csv_rows(stats: Stats) -> list[list[Any]]:
    """The statistics as CSV rows (section, key, label, count, note)."""
    rows: list[list[Any]] = [["total", "", "全部案例", stats.total, ""]]
    for section, counts in (("category", stats.by_category), ("province", stats.by_province),
                            ("status", stats.by_status), ("submitter_kind", stats.by_submitter_kind),
                            ("day", stats.by_day)):
        rows += [[section, c.key, c.label, c.count, ""] for c in counts]
    rows += [["failure_reason", f"{r.rule}", f"{r.clause} {Severity.label_of(r.severity)}", r.cases,
              r.example] for r in stats.failure_reasons]
    return rows


def quota_overruns(db: Reader, campaign_id: str, quota: Quota) -> tuple[QuotaOverrun, ...]:
    """The group keys over their quota among the stored cases (``db``: a ``Store`` or a read-only ``Database``), by
    the quota rule's own computation."""
    from ingest.pipeline.prior import prior_from_summaries
    from store.summaries import case_summaries

    return quota.overruns(prior_from_summaries(case_summaries(db, campaign_id, files=False), exclude_case_id=None))


def quota_csv_rows(overruns: Sequence[QuotaOverrun]) -> list[list[Any]]:
    """One CSV row per case that a quota group counts over its limit."""
    return [["quota", o.key, c.case_no, 1, quota_note(c.exceeds, o.group)] for o in overruns for c in o.cases]


def quota_json(quota: Quota, overruns: Sequence[QuotaOverrun], tz: tzinfo) -> dict[str, Any]:
    """The quota and its overruns as JSON values, times in ``tz``."""
    return {"quota": quota.to_json(), "quota_overruns": [
        {"group": o.group.label, "group_by": o.group.group_by, "key": o.key, "total": o.total,
         "over_total": o.over_total, "categories_over": list(o.categories_over),
         "cases": [{"case_no": c.case_no, "category_no": c.category_no, "category": c.category,
                    "organization": c.organization, "case_name": c.case_name,
                    "first_received_at": json_time(c.first_received_at, tz), "status": c.status,
                    "exceeds": c.exceeds} for c in o.cases]}
        for o in overruns]}


def quota_note(exceeds: str | None, group: QuotaGroup) -> str:
    """What a case is in its quota group, in Chinese: over the per-category limit, over the total, or counted."""
    if exceeds == CATEGORY:
        return f"超出每类 {group.per_category_max} 个上限"
    if exceeds == TOTAL:
        return f"超出总数 {group.total_max} 个上限"
    return "计入名额"


@dataclass(frozen=True)
class TextTable:
    """A titled table of text cells, drawn by rich for a terminal and as aligned plain lines for a pipe."""

    title: str
    header: tuple[str, ...]
    rows: list[list[str]]
    right: tuple[int, ...] = ()  # indexes of right-aligned (number) columns


def _count_table(title: str, rows: Sequence[Any], total: int, key_header: str) -> TextTable:
    return TextTable(title, (key_header, "案例数", "占比"),
                     [[c.label, str(c.count), f"{c.count / total:.1%}" if total else "—"] for c in rows], right=(1, 2))


def stats_report(stats: Stats, quota: Quota, overruns: Sequence[QuotaOverrun], tz: tzinfo) -> list[str | TextTable]:
    """What ``intake stats`` shows, in order: lines and tables."""
    parts: list[str | TextTable] = [f"案例总数：{stats.total}"]
    for title, rows, header in (("按类别", stats.by_category, "类别"), ("按状态", stats.by_status, "状态"),
                                ("按报送方式", stats.by_submitter_kind, "报送方式"),
                                ("按省份", stats.by_province, "省份"), ("按收件日期", stats.by_day, "日期")):
        parts.append(_count_table(title, rows, stats.total, header))
    parts.append(TextTable("最常见的问题（当前版本）", ("规则", "条款", "性质", "案例数", "示例"),
                           [[r.rule, r.clause, Severity.label_of(r.severity), str(r.cases), r.example]
                            for r in stats.failure_reasons], right=(3,)))
    if not quota.groups:
        parts.append("推荐名额：本征集未设名额")
    for group in quota.groups:
        over = [o for o in overruns if o.group == group]
        if not over:
            parts.append(f"{group.label}名额：没有超额（{group.limits or '不限'}）")
            continue
        parts.append(TextTable(
            f"{group.label}超额（{group.limits}；按收件先后计入）",
            (group.grouped_by, "推荐数", "超出的案例", "类别", "收件时间", "超出"),
            [[o.key if i == 0 else "", str(o.total) if i == 0 else "", c.case_no, c.category or "—",
              local_time(c.first_received_at, tz), quota_note(c.exceeds, group)]
             for o in over for i, c in enumerate(o.exceeding)]))
    return parts


def print_stats(stats: Stats, quota: Quota, overruns: Sequence[QuotaOverrun], tz: tzinfo) -> None:
    """Rich tables on a terminal; piped or redirected, aligned plain lines (as ``intake list``), without
    loading rich: cron jobs and scripts run this command."""
    parts = stats_report(stats, quota, overruns, tz)
    if not sys.stdout.isatty():
        for part in parts:
            if isinstance(part, str):
                click.echo(part)
                continue
            click.echo(f"\n{part.title}")
            echo_plain(part.header, part.rows, right=part.right)
        return
    from rich.table import Table

    out = console()
    for part in parts:
        if isinstance(part, str):
            out.print(part, markup=False, style="bold" if part is parts[0] else None)
            continue
        table = Table(title=part.title, title_justify="left")
        for i, col in enumerate(part.header):
            table.add_column(col, justify="right" if i in part.right else "left", overflow="fold")
        for row in part.rows:
            table.add_row(*row)
        out.print(table)


# ---- list / show --------------------------------------------------------------------------------

LIST_HEADER = ("受理编号", "状态", "省份", "市/县", "单位", "案例名称", "类别", "报送方式", "收件时间", "照片数",
               "视频时长", "问题数")
_RIGHT = ("照片数", "问题数")


def list_values(r: CaseRow, tz: tzinfo) -> list[Any]:
    """One case as the list's columns (LIST_HEADER), in the campaign's time zone."""
    who = r.identity
    return [r.case_no, SubmissionStatus.label_of(r.status), who.province or "", who.city or "", who.organization or "",
            who.case_name or "", who.category or "", SubmitterKind.label_of(who.submitter_kind, ""),
            local_time(r.first_received_at, tz), r.photos, _duration(r.video_seconds), r.failed_findings]


def row_json(r: CaseRow, tz: tzinfo) -> dict[str, Any]:
    """One listed case as JSON values, times in ``tz``."""
    return {"case_no": r.case_no, "status": r.status, "checked_status": r.checked_status,
            "override_reason": r.override_reason, **r.identity.as_dict(), "sender": r.sender,
            "first_received_at": json_time(r.first_received_at, tz),
            "last_received_at": json_time(r.last_received_at, tz),
            "version": r.current_version, "photos": r.photos, "video_seconds": r.video_seconds,
            "failed_findings": r.failed_findings, "subject_reasons": list(r.subject_reasons)}


def print_rows(rows: Sequence[CaseRow], tz: tzinfo, fmt: str, *, title: str, total: int) -> None:
    """Cases as a table (terminal), aligned plain text (pipe or file), CSV or JSON."""
    if fmt == "json":
        from ingest.cli.shell import echo_json

        echo_json({"timezone": str(tz), "total": total, "cases": [row_json(r, tz) for r in rows]})
        return
    if fmt == "csv":
        echo_csv(LIST_HEADER, (list_values(r, tz) for r in rows))
        return
    out = console()
    more = f"，显示 {len(rows)} 件（--limit 0 显示全部）" if len(rows) < total else ""
    if not out.is_terminal:
        # Piped or redirected: every column, one case per line, aligned; nothing wraps or is cut.
        echo_plain(LIST_HEADER, (list_values(r, tz) for r in rows),
                   right=[LIST_HEADER.index(c) for c in _RIGHT])
        click.echo(f"共 {total} 件{more}")
        return
    from rich import box
    from rich.table import Table

    # The terminal gets the columns that fit; CSV/JSON and pipes carry every field. Names wrap rather than
    # vanish: narrow terminals drop the figures first.
    hidden = {"市/县", "报送方式"} | ({"照片数", "视频时长"} if out.width < 120 else set()) \
        | ({"收件时间"} if out.width < 90 else set())
    shown = [i for i, c in enumerate(LIST_HEADER) if c not in hidden]
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for i in shown:
        col = LIST_HEADER[i]
        # Case numbers and times stay whole (staff copy them).
        table.add_column(col, justify="right" if col in _RIGHT else "left",
                         no_wrap=col in ("受理编号", "收件时间", "照片数", "视频时长", "问题数"),
                         min_width=4 if col in ("省份", "单位", "案例名称", "类别", "状态") else None,
                         overflow="fold")  # Chinese has no spaces to wrap at: fold by character
    for r in rows:
        values = list_values(r, tz)
        table.add_row(*[str(values[i]) for i in shown])
    out.print(table)
    out.print(f"共 {total} 件{more}")


def detail_json(d: CaseDetail, tz: tzinfo) -> dict[str, Any]:
    """A case's full detail as JSON values (``intake show --json``), times in ``tz``."""
    return {
        "timezone": str(tz),
        "case": row_json(d.case, tz),
        "versions": [{"version": v.version, "received_at": json_time(v.received_at, tz), "subject": v.raw_subject,
                      "status": v.status,
                      "attachments": [{"id": a.id, "name": a.name, "role": a.role, "kind": a.kind, "size": a.size,
                                       "sha256": a.sha256, "stored_path": a.stored_path, "archive": a.archive,
                                       "url": a.url, "expires_at": json_time(a.expires_at, tz)}
                                      for a in v.attachments],
                      "findings": [{"rule": f.rule, "clause": f.clause, "severity": f.severity, "passed": f.passed,
                                    "message": f.message, "fix": f.fix, "file": f.file} for f in v.findings]}
                     for v in d.versions],
        "mails": [{"id": m.id, "kind": m.kind, "to": m.recipient, "subject": m.subject, "status": m.status,
                   "attempts": m.attempts, "created_at": json_time(m.created_at, tz),
                   "sent_at": json_time(m.sent_at, tz), "error": m.last_error}
                  for m in d.mails],
        "events": [{"at": json_time(e.at, tz), "actor": e.actor, "action": e.action, "detail": dict(e.detail)}
                   for e in d.events],
    }


class _Sections:
    """``show``'s output: Rich tables in a terminal, titled aligned plain text otherwise."""

    def __init__(self, out: Console) -> None:
        self.out = out
        self.plain = not out.is_terminal

    def line(self, text: str) -> None:
        if self.plain:
            click.echo(text)
        else:
            self.out.print(text, highlight=False, markup=False, soft_wrap=True)  # the terminal folds it

    def table(self, title: str | None, header: Sequence[str], rows: Sequence[Sequence[str]], *,
              show_header: bool = True) -> None:
        if self.plain:
            if title:
                click.echo(title)
            lines = plain_table(header, rows)
            for line in lines if show_header else lines[1:]:
                click.echo("  " + line)
            return
        from rich.table import Table

        table = Table(title=title, title_justify="left", show_header=show_header)
        for col in header:
            table.add_column(col, overflow="fold")
        for row in rows:
            table.add_row(*row)
        self.out.print(table)


def _since(dt: datetime | None, tz: tzinfo) -> str:
    return local_time(dt, tz) or "—"


def _case_fields(c: CaseRow, tz: tzinfo) -> list[tuple[str, str | None]]:
    """The case's head table: status (with any override), identity, sender, dates, version, subject doubts."""
    status = SubmissionStatus.label_of(c.status) + (
        f"（人工改判，原为 {SubmissionStatus.label_of(c.checked_status)}；理由：{c.override_reason or '—'}）"
        if c.status != c.checked_status else "")
    who = c.identity
    return [("状态", status), ("报送方式", SubmitterKind.label_of(who.submitter_kind)),
            ("省份", who.province), ("市/县", who.city), ("单位", who.organization), ("案例名称", who.case_name),
            ("类别", f"{who.category_no} {who.category}" if who.category else None), ("发件人", c.sender),
            ("首次收件", _since(c.first_received_at, tz)), ("最近收件", _since(c.last_received_at, tz)),
            ("当前版本", str(c.current_version)), ("主题可信度", f"{c.subject_confidence:.2f}"),
            ("需核对", "；".join(c.subject_reasons))]


def _print_version(s: _Sections, v: VersionRow, tz: tzinfo) -> None:
    """One version: when and how it was judged, its subject, its files and its findings."""
    s.line(f"第 {v.version} 版（{_since(v.received_at, tz)}，{SubmissionStatus.label_of(v.status)}）")
    s.line(f"主题：{v.raw_subject or '—'}")
    s.table(None, ("文件", "类型", "大小", "来自压缩包"),
            [(a.name if a.kind == "file" else f"{a.name}（链接 {a.url or ''}）", FileRole.label_of(a.role),
              format_size(a.size) if a.kind == "file" else "—", a.archive or "") for a in v.attachments])
    s.table(None, ("结果", "条款", "规则", "说明"),
            [("通过" if f.passed else Severity.label_of(f.severity), f.clause, f.rule,
              f.message + (f"（{f.fix}）" if f.fix and not f.passed else "")) for f in v.findings])


def print_detail(d: CaseDetail, tz: tzinfo, out: Console) -> None:
    """Print a case's full detail (``intake show``): identity, status, versions, files, findings, mails, history."""
    c = d.case
    s = _Sections(out)
    s.table(f"案例 {c.case_no}", ("项目", "内容"), [(k, v or "—") for k, v in _case_fields(c, tz)], show_header=False)
    for v in d.versions:
        _print_version(s, v, tz)
    if d.mails:
        s.table("发出的邮件", ("编号", "类型", "收件人", "状态", "时间", "主题"),
                [(str(m.id), ReplyKind.label_of(m.kind), m.recipient,
                  OutboxStatus.label_of(m.status) + (f"：{m.last_error}" if m.last_error else ""),
                  _since(m.sent_at or m.created_at, tz), m.subject) for m in d.mails])
    else:
        s.line("发出的邮件：无")
    if d.events:
        s.table("操作记录", ("时间", "操作人", "操作", "详情"),
                [(_since(e.at, tz), e.actor, e.action, json.dumps(dict(e.detail), ensure_ascii=False))
                 for e in d.events])
    else:
        s.line("操作记录：无")
