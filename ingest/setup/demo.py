"""``intake demo``: the whole job on a fresh machine, with no mail account.

Generates sample submissions (real DOCX/PDF/JPEG/MP4 in GBK-named ZIPs, mails encoded as 163, QQ
Mail, Foxmail … encode them) into a local Maildir, runs the same pipeline the daemon runs into a
SQLite database, and writes every reply as .eml into an outbox folder (dry-run), printing them.
It also sets up the staff console on that data (a generated cookie key in a 0600 secrets.env and a
``demo`` account whose generated password is printed), so ``intake web --config demo/config.toml``
shows the staff side without editing anything.
"""

from __future__ import annotations

import email
import email.policy
import mailbox
from pathlib import Path
from typing import Callable

from console.auth import hash_password

from ingest.config import example_campaign_toml, load_config
from ingest.setup.deploy import new_console_key, new_console_password, write_private
from ingest.mail.local import import_local
from ingest.samples.mails import build_mail
from ingest.pipeline.outbox import dispatch
from ingest.pipeline.process import process_pending
from ingest.runtime import Runtime
from ingest.samples.submissions import MAILBOX, RECEIVED, SCHOOLS, submission_mail

DEMO_CONFIG = """# Demo configuration written by `intake demo`: SQLite, local mailbox, replies to files.
[intake]
spool_dir = "spool"
database_url = "sqlite:///intake.db"
secrets_file = "secrets.env"

[smtp]
host = "localhost"
mode = "dry-run"
outbox_dir = "outbox"
sender = "{mailbox}"
sender_name = "基础教育创新案例征集工作组"

[console]
host = "127.0.0.1"
port = 8080
secret_key_env = "INTAKE_CONSOLE_SECRET"
# Plain HTTP on this machine only (a real deployment sits behind HTTPS: https_only = true).
https_only = false

[[console.users]]
name = "{user}"
role = "reviewer"
password_hash = "{password_hash}"

"""
DEMO_USER = "demo"


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
    """Run the whole pipeline on ``count`` generated submissions in ``demo_dir`` (SQLite, replies as files); returns
    the config path."""
    demo_dir = demo_dir.resolve()
    demo_dir.mkdir(parents=True, exist_ok=True)
    cfg_path = demo_dir / "config.toml"
    password = new_console_password()
    cfg_path.write_text(DEMO_CONFIG.format(mailbox=MAILBOX, user=DEMO_USER, password_hash=hash_password(password))
                        + example_campaign_toml(), encoding="utf-8")
    write_private(demo_dir / "secrets.env", f"INTAKE_CONSOLE_SECRET={new_console_key()}\n")
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
    shown = _shown_path(cfg_path)
    echo(f"试试：intake health --config {shown}")
    echo(f"工作人员管理页面：intake web --config {shown}，再用浏览器打开 http://127.0.0.1:8080")
    echo(f"  账号 {DEMO_USER}，密码 {password}（只显示这一次；每次运行 intake demo 重新生成）")
    rt.close()
    return demo_dir


def _shown_path(path: Path) -> str:
    """The path as the user would type it: relative when under the current directory."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
