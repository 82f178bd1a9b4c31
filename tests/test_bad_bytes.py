"""Issue 15 §6, end to end through a real Dovecot, `intake poll --once` and a real aiosmtpd, on SQLite and
PostgreSQL: raw 8-bit GBK headers are decoded by evidence (never U+FFFD), NUL and control characters never reach
the database (PostgreSQL refused the NUL and the mail failed on every attempt), the CLI prints no terminal escapes,
every CSV is formula-safe and `export --files` survives colliding, reserved and bidi names. Configuration: no
secret in an error, the database password from the environment, warnings for readable secrets and plain text."""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from hostile_factory import hostile_names_mail, nul_subject_mail, raw_8bit_header_mail
from ingest.config import ConfigError, load_config
from servers import run_intake, write_intake_config
from store.models import Attachment, Case, Message

pytestmark = pytest.mark.e2e
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffd]")


def test_bad_bytes_become_clear_text_everywhere(tmp_path: Path, dovecot, imap_user, smtp_sink,
                                                db_url) -> None:  # type: ignore[no-untyped-def]
    cfg = write_intake_config(tmp_path, imap_port=dovecot.port, user=imap_user, smtp_port=smtp_sink.port,
                              db_url=db_url)
    dovecot.append(imap_user, "INBOX", raw_8bit_header_mail())
    dovecot.append(imap_user, "INBOX", hostile_names_mail())
    dovecot.append(imap_user, "INBOX", nul_subject_mail())
    poll = run_intake(cfg, "poll", "--once", password=dovecot.password)
    assert len(smtp_sink.wait_for(3, timeout=30)) == 3  # every sender answered
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            messages = conn.execute(select(Message.status, Message.subject, Message.error)).all()
            cases = conn.execute(select(Case.case_no, Case.case_name, Case.organization)).all()
            names = [r.name for r in conn.execute(select(Attachment.name))]
    finally:
        engine.dispose()
    assert [m.status for m in messages] == ["notified"] * 3, messages
    subjects = [m.subject or "" for m in messages]
    assert any("杭州市文三街小学" in s and "课程建设" in s for s in subjects), subjects  # GBK bytes decoded
    for text in [*subjects, *names, *(c.case_name or "" for c in cases), *(c.organization or "" for c in cases)]:
        assert not CONTROL.search(text), repr(text)
    # The CLI shows strangers' text without terminal escapes.
    for args in (("list",), *(("show", c.case_no) for c in cases)):
        out = run_intake(cfg, *args, password=dovecot.password)
        assert "\x1b" not in out.stdout.replace("\x1b[0m", "") and "\x07" not in out.stdout, args
    assert "\x1b]" not in poll.stdout and "\x1b[2J" not in poll.stdout
    # The files of the names case, as the expert panel gets them.
    names_case = next(c.case_no for c in cases if "HYPERLINK" in (c.case_name or "") + (c.organization or ""))
    run_intake(cfg, "review", "override", names_case, "--status", "accepted", "--reason", "测试导出",
               password=dovecot.password)
    out_dir = tmp_path / "导出"
    run_intake(cfg, "export", "--files", str(out_dir), password=dovecot.password)
    exported = [p for p in out_dir.rglob("*") if p.is_file() and p.name != "清单.csv"]
    assert len(exported) == 6  # "申报表?.docx" and "申报表*.docx" both survive sanitising
    assert len({p.name.casefold() for p in exported}) == 6
    for p in exported:
        assert not re.match(r"(?i)^(con|prn|aux|nul|com\d|lpt\d)(\.|$)", p.name), p.name
        assert not re.search("[\u202a-\u202e\u2066-\u2069]", str(p.relative_to(out_dir))), p
    with (out_dir / "清单.csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    for row in rows[1:]:
        for cell in row:
            assert cell[:1] not in ("=", "+", "-", "@"), row
    listed = run_intake(cfg, "list", "--format", "csv", password=dovecot.password).stdout
    assert not re.search(r'(^|,)"?[=+\-@]', listed.lstrip("\ufeff"), re.M)


def test_configuration_never_prints_a_secret_and_warns(tmp_path: Path) -> None:
    from ingest.config import example_campaign_toml

    def write(intake: str, extra: str = "") -> Path:
        cfg = tmp_path / "config.toml"
        cfg.write_text(f"[intake]\n{intake}\n{extra}\n{example_campaign_toml()}", encoding="utf-8")
        cfg.chmod(0o644)
        return cfg

    bad = write('database_url = "postgresql+nosuchdriver//intake:S3cret-pw@db.example/intake"')
    with pytest.raises(ConfigError) as err:
        load_config(bad, env={})
    assert "S3cret-pw" not in str(err.value)
    # The password from the environment; the URL in messages masked; warnings for world-readable files and
    # a password in clear over the network.
    secret = tmp_path / "db.secret"
    secret.write_text("From-File-pw\n", encoding="utf-8")
    secret.chmod(0o644)
    cfg = write('database_url = "postgresql://intake@db.example/intake"\n'
                f'database_password_file = "{secret}"',
                '[smtp]\nhost = "smtp.example.com"\nsecurity = "plain"\nusername = ""\nmode = "dry-run"\n')
    loaded = load_config(cfg, env={})
    assert "From-File-pw" in loaded.intake.database_url and "From-File-pw" not in repr(loaded)
    warnings = " ".join(loaded.warnings)
    assert "所有用户都可读取" in warnings and str(secret) in warnings and "明文" in warnings
    cfg = write('database_url = "postgresql://intake@127.0.0.1:1/intake"\ndatabase_password_env = "DBPW"')
    env = {**os.environ, "DBPW": "Env-pw-123", "INTAKE_CONFIG": str(cfg)}
    assert "Env-pw-123" in load_config(cfg, env=env).intake.database_url
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "ingest.cli", "list"], env=env, capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parent.parent, timeout=120)
    assert proc.returncode != 0 and "Env-pw-123" not in proc.stdout + proc.stderr
    assert "***" in proc.stderr and "Traceback" not in proc.stderr
