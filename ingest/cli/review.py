"""人工处理: the review queue and what staff do about a case (override, correct, recheck, reply, resend), and
``recheck`` of many cases after a rule change. These commands write: the database is migrated first."""

from __future__ import annotations

from datetime import tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from checks.domain import ReplyKind
from ingest.cli.cases import FORMAT_HELP, FORMATS, KIND_HELP, CATEGORY_HELP, case_view, category_of, status_code
from ingest.cli.shell import (app_config, campaign_heading, campaign_option, campaign_views, config_option, fail,
                              local_time, open_runtime, open_store)

if TYPE_CHECKING:
    from store.queries import CaseRow

ACTOR = click.option("--actor", envvar="USER", default="staff", show_default=True,
                     help="操作人（写入操作记录；默认取环境变量 USER）。")


@click.group("review", invoke_without_command=True)
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True, help=FORMAT_HELP)
@config_option
@campaign_option
@click.pass_context
def review_group(ctx: click.Context, fmt: str, campaign: str | None) -> None:
    """审核队列：等人处理的案例（待人工审核），以及工作人员的处理操作。

    \b
    示例：
      intake review                                    # 队列，先收到的在前
      intake review override JCJY2025-000012 --status accepted --reason "公章已电话核实"
      intake review correct JCJY2025-000012 --province 浙江省 --category 6
      intake review resend JCJY2025-000012
    """
    if ctx.invoked_subcommand is not None:
        return
    from store.queries import review_queue

    cfg = app_config()
    views = campaign_views(cfg, campaign)
    for view in views:
        if heading := campaign_heading(view, views):
            click.echo(heading)
        _print_queue(review_queue(open_store(cfg), view.campaign.id, tz=view.campaign.tz), view.campaign.tz, fmt)


def _print_queue(rows: list[CaseRow], tz: tzinfo, fmt: str) -> None:
    from rich import box
    from rich.table import Table

    from ingest.staff import output as staff

    if fmt != "table":
        staff.print_rows(rows, tz, fmt, title="待人工审核", total=len(rows))
        return
    header = ("受理编号", "收件时间", "省份", "单位", "案例名称", "类别", "需核对")
    values = [(r.case_no, local_time(r.first_received_at, tz), r.identity.province or "—",
               r.identity.organization or "—", r.identity.case_name or "—", r.identity.category or "—",
               "；".join(r.subject_reasons) or (f"{r.failed_findings} 项检查未通过" if r.failed_findings else ""))
              for r in rows]
    out = staff.console()
    if not out.is_terminal:
        click.echo(f"待人工审核（{len(rows)} 件）")
        staff.echo_plain(header, values)
        return
    table = Table(title=f"待人工审核（{len(rows)} 件）", title_justify="left", box=box.SIMPLE_HEAD,
                  pad_edge=False, collapse_padding=True)
    for col in header:
        table.add_column(col, no_wrap=col in ("受理编号", "收件时间"), overflow="fold",
                         min_width=None if col in ("受理编号", "收件时间") else 4)
    for row in values:
        table.add_row(*row)
    out.print(table)


@review_group.command("override")
@click.argument("case")
@click.option("--status", "new_status", help="新状态：代码或中文（已受理、退回修改 …）。")
@click.option("--clear", is_flag=True, help="撤销人工改判，恢复检查得出的结论。")
@click.option("--reason", required=True, help="理由（写入操作记录）。")
@ACTOR
@config_option
def review_override(case: str, new_status: str | None, clear: bool, reason: str, actor: str) -> None:
    """改判一个案例的结论，并写明理由。

    \b
    示例：
      intake review override JCJY2025-000012 --status 已受理 --reason "PDF 公章经电话核实"
      intake review override JCJY2025-000012 --clear --reason "撤销改判"
    """
    from checks.domain import SubmissionStatus
    from store.queries import override_status

    if clear == bool(new_status):
        fail("请给出 --status 或 --clear（二选一）")
    cfg = case_view(app_config(), case, None)  # the campaign that holds the case
    try:
        result = override_status(open_store(cfg, writes=True), cfg.campaign.id, case,
                                 None if clear else status_code(new_status), reason, actor=actor)
    except (LookupError, ValueError) as exc:
        fail(str(exc))
    click.echo(f"{result.case_no}：{SubmissionStatus.label_of(result.previous)} → "
               f"{SubmissionStatus.label_of(result.current)}（已记录，操作人 {actor}）")


@review_group.command("correct")
@click.argument("case")
@click.option("--province", help="省份，例如 浙江省。")
@click.option("--city", help="市/县。")
@click.option("--unit", "organization", help="单位。")
@click.option("--case-name", help="案例名称。")
@click.option("--category", help=CATEGORY_HELP)
@click.option("--kind", type=click.Choice(["province", "unit"]), help=KIND_HELP)
@ACTOR
@config_option
def review_correct(case: str, province: str | None, city: str | None, organization: str | None,
                   case_name: str | None, category: str | None, kind: str | None, actor: str) -> None:
    """更正主题解析错了的字段（省份、单位、案例名称、类别 …）。

    \b
    示例：
      intake review correct JCJY2025-000012 --province 浙江省 --unit 杭州市文三街小学 --category 人工智能
    """
    from store.queries import CORRECTABLE_FIELDS, correct_fields

    cfg = case_view(app_config(), case, None)  # the campaign that holds the case
    changes: dict[str, Any] = {k: v for k, v in (("province", province), ("city", city),
                                                  ("organization", organization), ("case_name", case_name),
                                                  ("submitter_kind", kind)) if v is not None}
    if category is not None:
        changes["category_no"], changes["category"] = category_of(cfg, category)
    if not changes:
        fail("没有要修改的字段（可用：" + "、".join(CORRECTABLE_FIELDS) + "）")
    try:
        changed = correct_fields(open_store(cfg, writes=True), cfg.campaign.id, case, changes, actor=actor)
    except (LookupError, ValueError) as exc:
        fail(str(exc))
    if not changed:
        click.echo("没有变化：字段已是这些值")
    for key, (old, new) in changed.items():
        click.echo(f"{key}：{old if old is not None else '—'} → {new}")


@review_group.command("recheck")
@click.argument("case")
@ACTOR
@config_option
def review_recheck(case: str, actor: str) -> None:
    """用存档的原邮件对这个案例的当前版本重新做全部检查。不发邮件。

    \b
    示例：
      intake review recheck JCJY2025-000012
    """
    from checks.domain import SubmissionStatus
    from ingest.pipeline.recheck import recheck_message
    from store.queries import current_message_row

    cfg = case_view(app_config(), case, None)  # the campaign that holds the case
    rt = open_runtime(cfg)
    try:
        case_no, message_row_id = current_message_row(rt.store, cfg.campaign.id, case)
        status = recheck_message(rt, message_row_id, actor=actor)
    except LookupError as exc:
        fail(str(exc))
    click.echo(f"{case_no}：重新检查完成，结果 {SubmissionStatus.label_of(status)}")


@review_group.command("reply")
@click.argument("case")
@click.option("--kind", type=click.Choice([k.value for k in (ReplyKind.RECEIPT, ReplyKind.REJECTION,
                                                               ReplyKind.NEEDS_REVIEW)]),
              required=True,
              help="receipt = 受理回执，rejection = 退回修改通知，needs_review = 待审核通知。")
@ACTOR
@config_option
def review_reply(case: str, kind: str, actor: str) -> None:
    """发送工作人员选定的回复（例如改判后补发受理回执），按案例当前版本生成，守护进程下一轮发出。

    \b
    示例：
      intake review reply JCJY2025-000012 --kind receipt
    """
    from ingest.pipeline.recheck import send_chosen_reply
    from store.queries import current_message_row

    cfg = case_view(app_config(), case, None)  # the campaign that holds the case
    rt = open_runtime(cfg)
    try:
        _case_no, message_row_id = current_message_row(rt.store, cfg.campaign.id, case)
        click.echo(send_chosen_reply(rt, message_row_id, kind, actor=actor))
    except (LookupError, ValueError) as exc:
        fail(str(exc))


@review_group.command("resend")
@click.argument("case")
@click.option("--mail", "outbox_id", type=int, help="哪一封回复（intake show 中的编号）；默认最新的一封。")
@ACTOR
@config_option
def review_resend(case: str, outbox_id: int | None, actor: str) -> None:
    """把案例的一封回复重新排队（退信之后，或放行被暂扣的回复），守护进程下一轮发出。

    \b
    示例：
      intake review resend JCJY2025-000012
      intake review resend JCJY2025-000012 --mail 31
    """
    from store.queries import resend_reply

    cfg = case_view(app_config(), case, None)  # the campaign that holds the case
    try:
        queued = resend_reply(open_store(cfg, writes=True), cfg.campaign.id, case, outbox_id=outbox_id, actor=actor)
    except LookupError as exc:
        fail(str(exc))
    click.echo(f"{queued.case_no}：已重新排队发送给 {queued.recipient}（原邮件 {queued.original_outbox_id}，"
               f"新编号 {queued.new_outbox_id}）")


@click.command()
@click.argument("case_nos", nargs=-1)
@ACTOR
@config_option
@campaign_option
def recheck(case_nos: tuple[str, ...], actor: str, campaign: str | None) -> None:
    """规则改动后，对已登记的案例（全部，或给出的受理编号）重新做检查。不发邮件。

    配置了多个征集时检查全部征集的案例（各按自己征集的规则），--campaign 只检查其中一个。

    \b
    示例：
      intake recheck JCJY2025-000012 JCJY2025-000031
    """
    from checks.domain import SubmissionStatus
    from ingest.cli.shell import open_runtimes
    from ingest.pipeline.recheck import recheck_message

    cfg = app_config()
    runtimes = open_runtimes(cfg, campaign)
    targets = [(rt, no, row) for rt in runtimes for no, row in rt.store.current_versions(rt.config.campaign.id,
                                                                                          case_nos)]
    missing = set(case_nos) - {no for _, no, _ in targets}
    if missing:
        fail(f"没有这些受理编号：{'、'.join(sorted(missing))}")
    for rt, case_no, message_row_id in targets:
        status = recheck_message(rt, message_row_id, actor=actor)
        click.echo(f"{case_no}：{SubmissionStatus.label_of(status)}")


@click.command()
@click.argument("case_no")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", help="记录的文件名（默认用文件本身的名字）。")
@ACTOR
@config_option
def attach(case_no: str, file: Path, name: str | None, actor: str) -> None:
    """给案例的当前版本添加一个文件（如工作人员下载的超大附件视频），并用它重新检查该版本。不发邮件。

    文件名与某个超大附件链接相同，或该版本只有一个待下载的视频链接时，文件即作为该链接的文件，相应的
    “无法直接检查”提醒随之消除。

    \b
    示例：
      intake attach JCJY2025-000012 ~/下载/实践创新案例视频.mp4
    """
    from checks.domain import SubmissionStatus
    from ingest.pipeline.recheck import attach_file

    cfg = case_view(app_config(), case_no, None)
    rt = open_runtime(cfg)
    targets = rt.store.current_versions(cfg.campaign.id, (case_no,))
    if not targets:
        fail(f"没有这个受理编号：{case_no}")
    with file.open("rb") as source:
        status, link = attach_file(rt, targets[0][1], source, name or file.name, actor=actor)
    stands_for = f"（作为超大附件链接“{link}”的文件）" if link else ""
    click.echo(f"{case_no}：已添加“{name or file.name}”{stands_for}并重新检查：{SubmissionStatus.label_of(status)}")


# ---- addresses allowed to change a case (issue 15.1) ----------------------------------------------------------

@click.command("link")
@click.argument("case")
@click.argument("address", required=False)
@click.option("--remove", is_flag=True, help="取消该地址的登记。")
@click.option("--reason", default="", help="说明（写入操作记录），例如 学校办公室邮箱。")
@ACTOR
@config_option
def link(case: str, address: str | None, remove: bool, reason: str, actor: str) -> None:
    """登记同一单位的其他邮箱：此后该地址的邮件也可更新这个案例（默认只有案例的发件人可以）。不给地址则列出已登记的地址。
    地址比较时不分大小写，忽略“+标记”。

    \b
    示例：
      intake link JCJY2025-000012
      intake link JCJY2025-000012 office@school.edu.cn --reason 学校办公室邮箱
      intake link JCJY2025-000012 office@school.edu.cn --remove
    """
    cfg = app_config()
    store = open_store(cfg, writes=address is not None)
    case_id = store.case_id_by_no(case)
    if case_id is None:
        fail(f"没有受理编号为 {case} 的案例")
    if address is None:
        linked = store.linked_addresses(case_id)
        click.echo(f"{case}：" + ("、".join(linked) if linked else "除发件人外没有登记其他地址"))
        return
    if "@" not in address or any(ch.isspace() for ch in address) or len(address) > 254:
        fail(f"不是邮件地址：{address}")
    if remove:
        done = store.unlink_address(case, address, actor=actor)
        click.echo(f"{case}：" + (f"已取消 {address}" if done else f"{address} 本来就没有登记"))
    else:
        done = store.link_address(case, address, actor=actor, reason=reason)
        click.echo(f"{case}：" + (f"已登记 {address}，此后该地址的邮件可更新本案例（操作人 {actor}）" if done
                                  else f"{address} 已经可以更新本案例"))


COMMANDS: list[click.Command] = [review_group, recheck, attach, link]
