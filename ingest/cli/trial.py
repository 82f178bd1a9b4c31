"""离线试用: subject, inspect — no mailbox, no database; without a configuration they use the shipped example."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import click

from ingest.cli.shell import app_config, config_option, echo_json, fail, plain_table

SUBJECT_FIELDS = (("submitter_kind", "报送方式"), ("province", "省份"), ("city", "市/县"), ("organization", "单位"),
                  ("case_name", "案例名称"), ("category_no", "类别编号"), ("category", "类别"), ("part", "分封"),
                  ("confidence", "可信度"), ("needs_review", "需人工审核"), ("reasons", "原因"))


def _subject_value(key: str, value: object) -> str:
    from checks.domain import SubmitterKind

    if value is None or value == []:
        return "—"
    if key == "submitter_kind":
        return SubmitterKind.label_of(str(value))
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, list):
        return "；".join(str(v) for v in value)
    return str(value)


@click.command()
@click.argument("text")
@click.option("--json", "as_json", is_flag=True, help="输出一个 JSON 对象（供脚本使用）。")
@config_option
def subject(text: str, as_json: bool) -> None:
    """试一试某个邮件主题会被怎样理解（不发邮件，不用数据库）。

    \b
    示例：
      intake subject "浙江省/杭州市文三街小学AI+劳动课程群建设+人工智能教育"
      intake subject --json "浙江省/杭州市文三街小学AI+劳动课程群建设+人工智能教育"
    """
    from checks.subject import SubjectSpec, parse_subject

    cfg = app_config(example_ok=True)
    try:
        spec = SubjectSpec.from_campaign(cfg.campaign.raw)
    except ValueError as exc:
        fail(f"征集配置（主题格式与类别）：{exc}")
    data = parse_subject(text, spec).to_json()
    if as_json:
        echo_json(data)
        return
    rows = [(label, _subject_value(key, data.get(key))) for key, label in SUBJECT_FIELDS]
    for line in plain_table(("项目", "解析结果"), rows)[1:]:
        click.echo(line)


def _received(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        fail(f"--received：不是 ISO 时间：{value!r}（例如 2025-12-10T18:00+08:00）")
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


@click.command()
@click.argument("mail_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="输出一个 JSON 对象（供脚本使用）。")
@click.option("--received", help="截止时间和名额规则用的收件时间（ISO 8601）；默认取邮件的 Date 头。")
@config_option
def inspect(mail_file: Path, as_json: bool, received: str | None) -> None:
    """离线检查一封存下来的邮件（.eml）：主题、附件、缺陷、检查结果和结论。

    \b
    示例：
      intake inspect 收件箱导出/某校申报.eml --json
    """
    from ingest.cli.shell import open_runtime
    from ingest.staff.inspect import inspect_file, render_report

    cfg = app_config(example_ok=True)
    rt = open_runtime(cfg, open_store=False)
    report = inspect_file(rt, mail_file, _received(received))
    if as_json:
        echo_json(report)
    else:
        render_report(report)


COMMANDS: list[click.Command] = [subject, inspect]
