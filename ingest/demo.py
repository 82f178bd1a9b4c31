"""``intake demo``: the whole job on a fresh machine, with no mail account.

Generates sample submissions (real DOCX/PDF/JPEG/MP4 in GBK-named ZIPs, mails encoded as 163, QQ
Mail, Foxmail … encode them) into a local Maildir, runs the same pipeline the daemon runs into a
SQLite database, and writes every reply as .eml into an outbox folder (dry-run), printing them.
"""

from __future__ import annotations

import email
import email.policy
import mailbox
from pathlib import Path
from typing import Callable

from ingest.config import example_campaign_toml, load_config
from ingest.local import import_local
from ingest.mailfactory import build_mail
from ingest.outbox import dispatch
from ingest.pipeline import process_pending
from ingest.runtime import Runtime
from ingest.sample_submissions import MAILBOX, RECEIVED, SCHOOLS, submission_mail

DEMO_CONFIG = """# Demo configuration written by `intake demo`: SQLite, local mailbox, replies to files.
[intake]
spool_dir = "spool"
database_url = "sqlite:///intake.db"

[smtp]
host = "localhost"
mode = "dry-run"
outbox_dir = "outbox"
sender = "{mailbox}"
sender_name = "基础教育创新案例征集工作组"

"""


def _demo_mails(count: int) -> list[bytes]:
    """A realistic morning: compliant cases, cases with faults, an unclear subject, an auto-reply."""
    mails: list[bytes] = []
    for i in range(count):
        case = SCHOOLS[i % len(SCHOOLS)]
        variant = i % 6
        if variant == 0:
            mails.append(submission_mail(case))
        elif variant == 1:  # photos too small and no stamped PDF: rejected with the fixes
            mails.append(submission_mail(case, photo_bytes=900_000, with_pdf=False))
        elif variant == 2:  # subject without province or category: needs review
            mails.append(submission_mail(case, subject=f"{case.school}申报材料"))
        elif variant == 3:  # files attached one by one, not packed
            mails.append(submission_mail(case, packed=False, video_seconds=None))
        elif variant == 4:  # text material over 3000 字
            mails.append(submission_mail(case, text_chars=3600, video_seconds=None))
        else:  # an out-of-office reply: recorded, never answered
            mails.append(build_mail(style="163", sender=case.sender, to=MAILBOX, subject="自动回复：我已休假",
                                    body="您好，我休假至下周一。", extra_headers=(("Auto-Submitted", "auto-replied"),),
                                    received_at=RECEIVED))
    return mails


def run_demo(demo_dir: Path, count: int = 6, *, echo: Callable[[str], None] = print) -> Path:
    demo_dir = demo_dir.resolve()
    demo_dir.mkdir(parents=True, exist_ok=True)
    cfg_path = demo_dir / "config.toml"
    cfg_path.write_text(DEMO_CONFIG.format(mailbox=MAILBOX) + example_campaign_toml(), encoding="utf-8")
    box_path = demo_dir / "mailbox"
    box = mailbox.Maildir(box_path, create=True)
    if not box.keys():
        echo(f"生成 {count} 封示例申报邮件 → {box_path}")
        for raw in _demo_mails(count):
            box.add(raw)
    config = load_config(cfg_path)
    rt = Runtime(config)
    new, known = import_local(box_path, rt.store, rt.spool)
    processed = process_pending(rt)
    sent = dispatch(rt.store, rt.sender, rt.reply_from)
    echo(f"收件 {new} 封（已处理过 {known} 封）；入库 {processed.stored}，跳过 {processed.skipped}，"
         f"失败 {processed.failed}；回执写入 {sent.sent} 封")
    outbox = demo_dir / "outbox"
    for path in sorted(outbox.glob("*.eml")):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        body = msg.get_body(preferencelist=("plain",))
        echo("=" * 72)
        echo(f"收件人：{msg['To']}\n主题：{msg['Subject']}\n文件：{path}")
        echo("-" * 72)
        echo(body.get_content() if body is not None else "")
    echo(f"数据库：{demo_dir / 'intake.db'}；回执：{outbox}；配置：{cfg_path}")
    echo(f"试试：intake health --config {cfg_path}")
    rt.close()
    return demo_dir
