"""``intake inspect``: the daemon's full analysis of one saved mail, without mailbox or database."""

from __future__ import annotations

import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from checks.domain import AttachmentKind, FileRole, Severity, SubmissionStatus, SubmitterKind, format_size
from checks.errors import UnreadableFile
from ingest.mail.mime import NotAMimeMessage
from ingest.pipeline.analyse import analyse
from ingest.pipeline.stages import parse
from ingest.pipeline.values import MailContext
from ingest.runtime import Runtime


def inspect_file(rt: Runtime, path: Path, received: datetime | None = None) -> dict[str, Any]:
    """Raises ``UnreadableFile`` (one line) for a file that is not a mail at all. Times are in the campaign's
    zone."""
    with tempfile.TemporaryDirectory(prefix="intake-inspect-") as tmp:
        try:
            parsed = parse(path, Path(tmp) / "parts", rt.campaign.subject_spec)
        except NotAMimeMessage as exc:
            raise UnreadableFile(f"{path.name}：{exc}") from exc
        mail = parsed.mail
        received_at = received or mail.date or datetime.now(timezone.utc)
        analysis = analyse(parsed, work_dir=Path(tmp), settings=rt.analysis_settings,
                           context=MailContext(received_at=received_at))
        return {
            "file": str(path),
            "from": mail.from_addr,
            "raw_subject": mail.subject,
            "received_at": received_at.astimezone(rt.config.campaign.tz).isoformat(),
            "subject": analysis.subject.to_json(),
            "attachments": [
                {"name": f.name, "role": f.role, "size": f.size, "sha256": f.sha256, "archive": f.archive,
                 "kind": f.kind, "url": f.url,
                 "expires_at": f.expires_at.astimezone(rt.config.campaign.tz).isoformat() if f.expires_at else None}
                for f in analysis.files
            ],
            "defects": list(analysis.defects),
            "findings": [
                {"rule": f.rule, "clause": f.clause, "severity": f.severity, "passed": f.passed,
                 "message": f.message, "fix": f.fix, "file": f.file}
                for f in analysis.findings
            ],
            "status": analysis.status,
            "review_reasons": list(analysis.review_reasons),
        }


def render_report(report: dict[str, Any]) -> None:
    """Print an inspection report (``intake inspect``) as rich tables."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    s = report["subject"]
    received = datetime.fromisoformat(report["received_at"]).strftime("%Y-%m-%d %H:%M")
    console.print(f"[bold]{report['raw_subject']}[/bold]  （发件人 {report['from']}，收件 {received}）",
                  highlight=False)
    console.print(f"{SubmitterKind.label_of(s.get('submitter_kind'))} | 省份 {s.get('province') or '—'} | "
                  f"单位 {s.get('organization') or '—'} | 案例 {s.get('case_name') or '—'} | "
                  f"类别 {s.get('category') or '—'}", highlight=False)
    files = Table("文件", "类型", "大小", "来自压缩包")
    for a in report["attachments"]:
        size = format_size(a["size"]) if a["kind"] != AttachmentKind.LINK else "—"
        files.add_row(a["name"], FileRole.label_of(a["role"]), size,
                      a["archive"] or "")
    console.print(files)
    checks = Table("结果", "条款", "规则", "说明")
    for f in report["findings"]:
        mark = "通过" if f["passed"] else Severity.label_of(f["severity"])
        checks.add_row(mark, f["clause"], f["rule"], f["message"] + ("" if f["passed"] else f"\n→ {f['fix']}"))
    console.print(checks)
    for d in report["defects"]:
        console.print(f"[yellow]缺陷[/yellow] {d}")
    console.print(f"[bold]结论：{SubmissionStatus.label_of(report['status'])}[/bold]")
