"""The commands the README shows, run for real: demo, check-config, health, subject, inspect, import,
recheck, passwd, run (SIGTERM) and web."""

from __future__ import annotations

import email
import email.policy
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from ingest.cli import main
from ingest.config import example_campaign_toml
from ingest.samples.submissions import SCHOOLS, submission_mail

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("demo")
    result = CliRunner().invoke(main, ["demo", "--dir", str(d), "--count", "3"])
    assert result.exit_code == 0, result.output
    assert "回执写入 3 封" in result.output and "【受理回执】" in result.output
    return d


def test_demo_is_idempotent(demo_dir: Path) -> None:
    again = CliRunner().invoke(main, ["demo", "--dir", str(demo_dir), "--count", "3"])
    assert again.exit_code == 0, again.output
    assert "收件 0 封（已处理过 3 封）" in again.output


def test_check_config_and_health(demo_dir: Path) -> None:
    cfg = str(demo_dir / "config.toml")
    r = CliRunner().invoke(main, ["check-config", "--config", cfg])
    assert r.exit_code == 0 and "配置有效" in r.output and "22 条规则" in r.output, r.output
    r = CliRunner().invoke(main, ["health", "--json", "--config", cfg])
    data = json.loads(r.output)
    assert data["messages"].get("notified", 0) + data["messages"].get("stored", 0) == 3
    assert data["outbox"] == {"sent": 3}


def test_check_config_reports_one_line(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text("[intake]\nspool = 1\n" + example_campaign_toml(), encoding="utf-8")
    r = CliRunner().invoke(main, ["check-config", "--config", str(cfg)])
    assert r.exit_code == 2
    assert r.output.strip().count("\n") == 0 and "未知的配置项 'spool'" in r.output


def test_subject_json_has_the_documented_keys() -> None:
    r = CliRunner().invoke(main, ["subject", "--json", "浙江省/杭州市文三街小学AI课程建设+人工智能教育"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    for key in ("submitter_kind", "province", "city", "organization", "case_name", "category_no", "category",
                "part", "confidence", "needs_review", "reasons"):
        assert key in data
    assert data["province"] == "浙江省" and data["category_no"] == 6
    table = CliRunner().invoke(main, ["subject", "浙江省/杭州市文三街小学AI课程建设+人工智能教育"])
    assert "人工智能教育" in table.output


def test_inspect_json_of_a_compliant_mail(tmp_path: Path) -> None:
    mail = tmp_path / "m.eml"
    mail.write_bytes(submission_mail(SCHOOLS[1], photos=2, video_seconds=2.0))
    r = CliRunner().invoke(main, ["inspect", str(mail), "--json", "--received", "2025-11-20T10:00+08:00"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["status"] == "accepted", [f for f in data["findings"] if not f["passed"]]
    roles = sorted(a["role"] for a in data["attachments"])
    assert roles == ["form_pdf", "form_word", "photo", "photo", "text", "video"]
    assert all(set(f) >= {"rule", "clause", "severity", "passed", "message", "file"} for f in data["findings"])
    late = CliRunner().invoke(main, ["inspect", str(mail), "--json", "--received", "2025-12-11T00:30+08:00"])
    assert json.loads(late.output)["status"] == "rejected"


CORPUS = Path(__file__).resolve().parent / "data" / "corpus" / "mail-parser"


def test_every_corpus_mail_gives_a_json_report() -> None:
    runner = CliRunner()
    for f in sorted(CORPUS.glob("*.eml")):
        r = runner.invoke(main, ["inspect", str(f), "--json"])
        assert r.exit_code == 0, (f.name, r.output)
        data = json.loads(r.output)
        assert {"subject", "attachments", "defects", "findings", "status"} <= set(data)
    msg = runner.invoke(main, ["inspect", str(CORPUS / "mail_outlook_1.msg"), "--json"])
    assert msg.exit_code == 2 and "Outlook" in msg.output and "Traceback" not in msg.output


def test_import_is_idempotent_and_recheck_reports(demo_dir: Path, tmp_path: Path) -> None:
    cfg = str(demo_dir / "config.toml")
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "a.eml").write_bytes(submission_mail(SCHOOLS[6], photos=1, video_seconds=None))
    runner = CliRunner()
    first = runner.invoke(main, ["import", str(folder), "--config", cfg])
    assert first.exit_code == 0 and "新邮件 1 封" in first.output, first.output
    second = runner.invoke(main, ["import", str(folder), "--config", cfg])
    assert "新邮件 0 封，已存在 1 封" in second.output
    r = runner.invoke(main, ["recheck", "JCJY2025-000001", "--config", cfg])
    assert r.exit_code == 0 and r.output.startswith("JCJY2025-000001："), r.output
    missing = runner.invoke(main, ["recheck", "JCJY2025-999999", "--config", cfg])
    assert missing.exit_code == 2 and "没有这些受理编号" in missing.output


def test_import_leaves_processing_to_a_running_daemon(tmp_path: Path) -> None:
    """`intake import` beside a running `intake run`/`intake poll` on the same mailbox: it imports, and the
    daemon (holding the mailbox's lease) processes; once the lease is free, import processes itself. Before,
    both worked the same queue at the same time."""
    from ingest.config import load_config
    from ingest.pipeline.daemon import Daemon
    from ingest.runtime import Runtime
    from checks.domain import MessageStatus

    demo = tmp_path / "demo"
    assert CliRunner().invoke(main, ["demo", "--dir", str(demo), "--count", "1"]).exit_code == 0
    cfg = str(demo / "config.toml")
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "a.eml").write_bytes(submission_mail(SCHOOLS[7], photos=1, video_seconds=None))
    rt = Runtime(load_config(cfg))
    daemon_process = subprocess.Popen(["sleep", "300"])  # a live process on this host holds the lease
    holder = f"{socket.gethostname()}:{daemon_process.pid}"
    lease = Daemon(rt).lease_name
    try:
        assert rt.store.acquire_lease(lease, holder, 300)
        beside = CliRunner().invoke(main, ["import", str(folder), "--config", cfg])
        assert beside.exit_code == 0, beside.output
        assert "新邮件 1 封" in beside.output and "intake run / intake poll 正在处理" in beside.output
        assert len(rt.store.messages_with_status((MessageStatus.SPOOLED,))) == 1  # left to the daemon
        rt.store.release_lease(lease, holder)
        alone = CliRunner().invoke(main, ["import", str(folder), "--config", cfg])
        assert alone.exit_code == 0 and "已存在 1 封" in alone.output and "入库 1" in alone.output, alone.output
        assert rt.store.lease_holder(lease) is None  # released after its work
    finally:
        daemon_process.kill()
        daemon_process.wait()
        rt.close()


def test_passwd_prints_an_argon2_hash() -> None:
    from console.auth import StaffUser, verify

    r = CliRunner().invoke(main, ["passwd", "--password", "a long enough one"])
    hashed = r.output.strip()
    assert hashed.startswith("$argon2")
    assert verify({"x": StaffUser("x", "viewer", hashed)}, "x", "a long enough one") is not None
    assert CliRunner().invoke(main, ["passwd", "--password", "short"]).exit_code == 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_run_polls_and_stops_cleanly_on_sigterm(demo_dir: Path) -> None:
    env = {**os.environ, "INTAKE_CONFIG": str(demo_dir / "config.toml")}
    proc = subprocess.Popen([sys.executable, "-m", "ingest.cli", "run"], env=env, stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, text=True)
    log = ""
    deadline = time.monotonic() + 60
    assert proc.stderr is not None
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        log += line
        if "本轮收信：" in line:
            break
    proc.send_signal(signal.SIGTERM)
    _, rest = proc.communicate(timeout=60)
    log += rest
    assert "本轮收信：" in log and proc.returncode == 0, log
    assert "服务已停止" in log


def test_web_serves_the_sign_in_page(demo_dir: Path) -> None:
    cfg = demo_dir / "config.toml"
    text = cfg.read_text(encoding="utf-8")
    if "[console]" not in text:
        cfg.write_text(text.replace("[campaign]\n", "[console]\nsecret_key_env = \"TEST_CONSOLE_KEY\"\n"
                                    "https_only = false\n\n[campaign]\n", 1), encoding="utf-8")
    port = _free_port()
    env = {**os.environ, "INTAKE_CONFIG": str(cfg), "TEST_CONSOLE_KEY": "k" * 40}
    proc = subprocess.Popen([sys.executable, "-m", "ingest.cli", "web", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        body = ""
        for _ in range(600):  # start-up takes 15 s on a loaded 2-core machine
            assert proc.poll() is None, "intake web exited"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=2) as resp:
                    body = resp.read().decode("utf-8")
                break
            except OSError:
                time.sleep(0.1)
        assert "工作人员登录" in body
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_staff_correction_survives_recheck_and_chosen_reply_is_queued(demo_dir: Path) -> None:
    from sqlalchemy import create_engine, select

    from store.models import Case, OutboxMail

    cfg = str(demo_dir / "config.toml")
    runner = CliRunner()
    r = runner.invoke(main, ["review", "correct", "JCJY2025-000002", "--case-name", "更正后的案例名称",
                             "--actor", "wang", "--config", cfg])
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, ["review", "recheck", "JCJY2025-000002", "--config", cfg])
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, ["review", "reply", "JCJY2025-000002", "--kind", "receipt", "--actor", "wang",
                             "--config", cfg])
    assert r.exit_code == 0 and "已排队发送" in r.output, r.output
    engine = create_engine(f"sqlite:///{demo_dir / 'intake.db'}")
    with engine.connect() as conn:
        name = conn.execute(select(Case.case_name).where(Case.case_no == "JCJY2025-000002")).scalar_one()
        pending = conn.execute(select(OutboxMail.kind, OutboxMail.raw).where(OutboxMail.status == "pending")).all()
    engine.dispose()
    assert name == "更正后的案例名称"
    assert [k for k, _ in pending] == ["receipt"]
    reply = email.message_from_bytes(pending[0][1], policy=email.policy.default)
    body = reply.get_body(preferencelist=("plain",))
    assert body is not None and "更正后的案例名称" in body.get_content()
