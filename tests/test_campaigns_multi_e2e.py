"""Issue 20.1 end to end: one deployment, two campaigns ([[campaigns]]), each its own Dovecot mailbox, call profile,
case-number prefix and sender. One `intake poll --once` (the real CLI, a child process) files every mail under
its campaign and answers each once from that campaign's address; a second poll changes nothing; staff commands
filter by campaign; a mailbox that fails holds up no other campaign. SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import email
import email.policy
import io
import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select
from starlette.testclient import TestClient

from console.auth import hash_password
from ingest.config import load_config
from ingest.runtime import Runtime
from ingest.staff.webapp import build_console

from ingest.samples import files as samples
from ingest.samples.mails import Attachment, build_mail
from ingest.samples.submissions import RECEIVED, SCHOOLS, submission_mail
from servers import DovecotServer, SmtpSink, run_intake, write_intake_config
from store.models import Case, MailboxState, Message, OutboxMail

pytestmark = pytest.mark.e2e

BEIJING = timezone(timedelta(hours=8))
JC_SENDER, ZZ_SENDER = "jcjyzj2025@163.com", "736493757@qq.com"
PASSWORD = "correct horse battery"


def _config(directory: Path, *, imap_port: int, smtp_port: int, db_url: str, jc_user: str, zz_user: str,
            zz_folder: str = "INBOX") -> Path:
    """The two calls, each its own mailbox and sender (the Zhuzhou one with no sender name), and a reviewer."""
    (directory / "console.secret").write_text("s" * 48, encoding="utf-8")
    (directory / "console.secret").chmod(0o600)
    console = f"""[console]
secret_key_file = "console.secret"
https_only = false
[[console.users]]
name = "li"
role = "reviewer"
password_hash = "{hash_password(PASSWORD)}"
"""
    campaigns = ({"campaign_file": "campaigns/jcjy2025.toml", "imap": {"username": jc_user},
                  "smtp": {"sender": JC_SENDER, "sender_name": "基础教育创新案例征集工作组"}},
                 {"campaign_file": "campaigns/zhuzhou2021.toml", "imap": {"username": zz_user, "folder": zz_folder},
                  "smtp": {"sender": ZZ_SENDER}})
    cfg = write_intake_config(directory, imap_port=imap_port, user=None, smtp_port=smtp_port, db_url=db_url,
                              sender_name=None, campaigns=campaigns, tail=console)
    cfg.chmod(0o600)
    return cfg


def _zhuzhou_mail(work: Path) -> bytes:
    text = work / "建设小学“作业超市”分层作业管理实践案例.docx"
    samples.make_formatted_docx(text, 2000, ("案例描述", "案例分析", "案例反思"), title="“作业超市”让减负提质落地",
                                subtitle="——芦淞区建设小学分层作业管理实践",
                                lines_before=("主持人：李红", "团队成员：王芳、张伟、刘洋"))
    return build_mail(style="qq", sender="lsjyj@qq.com", to=ZZ_SENDER,
                      subject="株洲市芦淞区/建设小学“作业超市”分层作业管理实践+双减",
                      body="您好！附件为申报材料，请查收。", attachments=[Attachment.from_file(text)],
                      received_at=datetime(2022, 4, 12, 16, 0, tzinfo=BEIJING))


def _rows(db_url: str) -> tuple[set[tuple[str, str, str, str]], dict[str, int], dict[str, int], int]:
    """(campaign, case-number prefix, sender, status) of every case; messages and replies per campaign; polls."""
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            cases = {(c, (no or "").rsplit("-", 1)[0], sender, status) for c, no, sender, status in
                     conn.execute(select(Case.campaign_id, Case.case_no, Case.sender, Case.status))}
            messages = dict(conn.execute(select(Message.campaign_id, func.count()).group_by(Message.campaign_id)).all())
            replies = dict(conn.execute(select(OutboxMail.campaign_id, func.count())
                                        .group_by(OutboxMail.campaign_id)).all())
            polled = conn.execute(select(func.count(func.distinct(MailboxState.campaign_id)))).scalar() or 0
            return cases, messages, replies, polled
    finally:
        engine.dispose()


def _intake(cfg: Path, dovecot: DovecotServer, *args: str) -> str:
    return run_intake(cfg, *args, password=dovecot.password).stdout


def test_two_campaigns_one_poll(tmp_path: Path, dovecot: DovecotServer, smtp_sink: SmtpSink, db_url: str) -> None:
    jc_user, zz_user = dovecot.new_user(), dovecot.new_user()
    cfg = _config(tmp_path, imap_port=dovecot.port, smtp_port=smtp_sink.port, db_url=db_url, jc_user=jc_user,
                  zz_user=zz_user)
    zhuzhou = _zhuzhou_mail(tmp_path)
    dovecot.append(jc_user, "INBOX", submission_mail(SCHOOLS[0], photos=2, video_seconds=2.0), internaldate=RECEIVED)
    dovecot.append(zz_user, "INBOX", zhuzhou, internaldate=datetime(2022, 4, 12, 16, 0, tzinfo=BEIJING))
    # The same bytes in the other campaign's mailbox too (a school writing to both calls): each campaign files it.
    dovecot.append(jc_user, "INBOX", zhuzhou, internaldate=RECEIVED)

    out = _intake(cfg, dovecot, "poll", "--once")
    assert "【jcjy2025】" in out and "【zhuzhou2021】" in out, out
    smtp_sink.wait_for(3, timeout=60)
    cases, messages, replies, polled = _rows(db_url)
    assert cases == {("jcjy2025", "JCJY2025", "wsj@163.com", "accepted"),
                     ("jcjy2025", "JCJY2025", "lsjyj@qq.com", "rejected"),
                     ("zhuzhou2021", "ZZGX2022", "lsjyj@qq.com", "accepted")}
    assert messages == {"jcjy2025": 2, "zhuzhou2021": 1} and replies == {"jcjy2025": 2, "zhuzhou2021": 1}
    assert polled == 2
    sent = [(m.mail_from, m.rcpt_tos[0], email.message_from_bytes(m.raw, policy=email.policy.default))
            for m in smtp_sink.messages]
    assert sorted((f, to) for f, to, _ in sent) == sorted([(JC_SENDER, "lsjyj@qq.com"), (JC_SENDER, "wsj@163.com"),
                                                            (ZZ_SENDER, "lsjyj@qq.com")])
    for sender, _, msg in sent:
        body = msg.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
        assert ("JCJY2025-" in body) == (sender == JC_SENDER) and ("ZZGX2022-" in body) == (sender == ZZ_SENDER)

    # A second poll finds nothing new and sends nothing.
    _intake(cfg, dovecot, "poll", "--once")
    assert _rows(db_url) == (cases, messages, replies, polled)
    assert len(smtp_sink.messages) == 3

    # Staff commands: every campaign by default, one with --campaign.
    stats = json.loads(_intake(cfg, dovecot, "stats", "--format", "json"))
    assert [(c["campaign"], c["total"]) for c in stats["campaigns"]] == [("jcjy2025", 2), ("zhuzhou2021", 1)]
    one = json.loads(_intake(cfg, dovecot, "stats", "--campaign", "zhuzhou2021", "--format", "json"))
    assert one["total"] == 1 and "campaigns" not in one
    listed = list(csv.reader(io.StringIO(_intake(cfg, dovecot, "list", "--format", "csv").lstrip("\ufeff"))))
    assert listed[0][:2] == ["征集", "受理编号"]
    assert sorted((r[0], r[1].rsplit("-", 1)[0]) for r in listed[1:]) == [
        ("jcjy2025", "JCJY2025"), ("jcjy2025", "JCJY2025"), ("zhuzhou2021", "ZZGX2022")]
    only = json.loads(_intake(cfg, dovecot, "list", "--campaign", "jcjy2025", "--format", "json"))
    assert sorted(c["sender"] for c in only["cases"]) == ["lsjyj@qq.com", "wsj@163.com"]
    zz_case = next(r[1] for r in listed[1:] if r[0] == "zhuzhou2021")
    shown = json.loads(_intake(cfg, dovecot, "show", zz_case, "--format", "json"))
    assert shown["case"]["case_no"] == zz_case
    bad = run_intake(cfg, "list", "--campaign", "nosuch", password=dovecot.password, check=False)
    assert bad.returncode == 2 and "没有 id 为 'nosuch' 的征集" in bad.stderr

    # The console: every campaign at a glance, one looked at at a time, a case's page whichever is chosen.
    jc_case = next(r[1] for r in listed[1:] if r[0] == "jcjy2025")
    runtimes = Runtime.for_each_campaign(load_config(cfg, env={"TEST_IMAP_PASSWORD": dovecot.password}))
    try:
        client = TestClient(build_console(runtimes[0], others=runtimes[1:], https_only=False))
        _login(client)
        home = client.get("/").text
        assert 'data-testid="overview"' in home and "株洲" in home and "2025年中国基础教育创新案例征集" in home
        for listing in (client.get("/cases?campaign=zhuzhou2021").text, client.get("/cases").text):  # kept
            assert zz_case in listing and jc_case not in listing
        page = client.get(f"/cases/{jc_case}")
        assert page.status_code == 200 and "wsj@163.com" in page.text
        assert client.get("/cases/JCJY2025-999999").status_code == 404
    finally:
        runtimes[0].close()


def _login(client: TestClient) -> None:
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
    assert token
    r = client.post("/login", data={"username": "li", "password": PASSWORD, "csrf": token.group(1)},
                    follow_redirects=False)
    assert r.status_code == 303, r.text


def test_a_failing_mailbox_holds_up_no_other_campaign(tmp_path: Path, dovecot: DovecotServer,
                                                      smtp_sink: SmtpSink) -> None:
    jc_user, zz_user = dovecot.new_user(), dovecot.new_user()
    db_url = f"sqlite:///{tmp_path / 'intake.db'}"
    # The Zhuzhou campaign reads a folder that does not exist: its poll fails, every time.
    cfg = _config(tmp_path, imap_port=dovecot.port, smtp_port=smtp_sink.port, db_url=db_url, jc_user=jc_user,
                  zz_user=zz_user, zz_folder="不存在的文件夹")
    dovecot.append(jc_user, "INBOX", submission_mail(SCHOOLS[1], photos=2, video_seconds=2.0), internaldate=RECEIVED)
    result = run_intake(cfg, "poll", "--once", password=dovecot.password, check=False)
    assert result.returncode == 1
    smtp_sink.wait_for(1, timeout=60)
    cases, messages, _, _ = _rows(db_url)
    assert {(c, s) for c, _, s, _ in cases} == {("jcjy2025", "jqj@qq.com")} and messages == {"jcjy2025": 1}
    lines = {line[1:line.index("】")]: line for line in result.stdout.splitlines() if line.startswith("【")}
    assert "已入库 1" in lines["jcjy2025"] and "错误" not in lines["jcjy2025"], result.stdout
    assert "错误" in lines["zhuzhou2021"], result.stdout
    health = json.loads(run_intake(cfg, "health", "--json", password=dovecot.password, check=False).stdout)
    by_campaign = health["campaigns"]
    assert by_campaign["jcjy2025"]["failed_polls_since"] == 0 and by_campaign["jcjy2025"]["last_error"] is None
    assert by_campaign["zhuzhou2021"]["failed_polls_since"] == 1 and by_campaign["zhuzhou2021"]["last_error"]
