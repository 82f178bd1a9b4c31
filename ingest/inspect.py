"""``intake inspect``: the daemon's full analysis of one saved mail, without mailbox or database."""

from __future__ import annotations

import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ingest.analyse import analyse
from ingest.mime import NotAMimeMessage
from ingest.mime_stream import parse_file
from ingest.runtime import Runtime
from notify.render import ROLE_LABELS, STATUS_LABELS


def inspect_file(rt: Runtime, path: Path, received: datetime | None = None) -> dict[str, Any]:
    """Raises ``ValueError`` (one line) for a file that is not a mail at all."""
    with tempfile.TemporaryDirectory(prefix="intake-inspect-") as tmp:
        try:
            mail = parse_file(path, Path(tmp) / "parts")
        except NotAMimeMessage as exc:
            raise ValueError(f"{path.name}: {exc}") from exc
        received_at = received or mail.date or datetime.now(timezone.utc)
        analysis = analyse(mail, work_dir=Path(tmp), runtime=rt, received_at=received_at)
        return {
            "file": str(path),
            "from": mail.from_addr,
            "raw_subject": mail.subject,
            "received_at": received_at.isoformat(),
            "subject": analysis.subject.to_json(),
            "attachments": [
                {"name": f.name, "role": f.role, "size": f.size, "sha256": f.sha256, "archive": f.archive,
                 "kind": f.kind, "url": f.url, "expires_at": f.expires_at.isoformat() if f.expires_at else None}
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
    from rich.console import Console
    from rich.table import Table

    console = Console()
    s = report["subject"]
    console.print(f"[bold]{report['raw_subject']}[/bold]  （发件人 {report['from']}，收件 {report['received_at']}）")
    console.print(f"省份 {s.get('province') or '—'} | 单位 {s.get('organization') or '—'} | "
                  f"案例 {s.get('case_name') or '—'} | 类别 {s.get('category') or '—'} | 可信度 {s.get('confidence')}")
    files = Table("文件", "类型", "大小", "来自压缩包")
    for a in report["attachments"]:
        files.add_row(a["name"], ROLE_LABELS.get(a["role"], a["role"]), str(a["size"]), a["archive"] or "")
    console.print(files)
    checks = Table("结果", "条款", "规则", "说明")
    for f in report["findings"]:
        mark = "✓" if f["passed"] else ("✗" if f["severity"] == "reject" else "!")
        checks.add_row(mark, f["clause"], f["rule"], f["message"] + ("" if f["passed"] else f"\n→ {f['fix']}"))
    console.print(checks)
    for d in report["defects"]:
        console.print(f"[yellow]缺陷[/yellow] {d}")
    console.print(f"[bold]结论：{STATUS_LABELS.get(report['status'], report['status'])}[/bold]")
