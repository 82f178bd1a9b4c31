"""Hostile-input suite (issue 9.4): 200+ broken and malicious mails (tests/hostile_factory.py) through a real
Dovecot and the real `intake poll --once`. Result wanted: no crash, no hang (the poll has a time limit),
nothing written outside the spool, each mail recorded with a clear finding, no injected header or extra
recipient in any reply.

    python bench/hostile_suite.py                 # all cases (~215)
    python bench/hostile_suite.py --limit 50      # the spread sample the default test run uses

Writes bench/results/hostile_suite-<UTC time>.json; exits 1 when an invariant fails.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from email import message_from_bytes
from email.policy import compat32
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))
sys.path.append(str(REPO / "bench"))  # common, also when tests load this file (servers.bench_module)

from sqlalchemy import create_engine, select  # noqa: E402

from common import note_problem  # noqa: E402
from hostile_factory import (SUITE_MAIL_UNPACKED_MB, SUITE_MAX_MESSAGE, HostileCase, hostile_cases,  # noqa: E402
                             seccon_cases)
from servers import reported_peak_memory_mb, write_intake_config  # noqa: E402
from store.models import Case, Finding, Message, Submission  # noqa: E402

MAILBOX = "jcjyzj2025@163.com"


@dataclass
class HostileResult:
    cases: int
    appended: int = 0
    not_appendable: list[str] = field(default_factory=list)
    seconds: float = 0.0
    exit_code: int | None = None
    timed_out: bool = False
    peak_memory_mb: float = 0.0
    daemon_peak_mb: float = 0.0  # seccon (issue 15 §5): the two parts of peak_memory_mb
    worker_peak_mb: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)
    verdicts: dict[str, int] = field(default_factory=dict)
    unclear: list[str] = field(default_factory=list)
    # seccon (issue 15 §4, §6): what a stranger's bytes left in the database
    bad_text_in_db: list[str] = field(default_factory=list)  # NUL/control characters or U+FFFD in names
    unsafe_links: list[str] = field(default_factory=list)  # link attachments that are not http(s)
    written_outside: list[str] = field(default_factory=list)
    escaped: list[str] = field(default_factory=list)
    injected_replies: list[str] = field(default_factory=list)
    replies: int = 0
    second_poll: str = ""
    # seccon (issue 15 §5): disk the spool keeps per mail after the polls (raw copies and work directories)
    spool_raw_mb: float = 0.0
    spool_work_mb: float = 0.0
    work_mb_per_mail: float = 0.0
    work_mb_max_mail: float = 0.0
    spool_work_mb_on_disk: float = 0.0  # hard links counted once (spool_work_mb counts every name)
    problems: list[str] = field(default_factory=list)
    # issue 15.1–15.3 (secmail block below): replies that failed or were held, each with its reason
    alerts: int = 0
    failed_replies: int = 0
    held_replies: int = 0
    cross_sender_cases: list[str] = field(default_factory=list)
    unbounded_replies: list[str] = field(default_factory=list)
    unfinished_replies: list[str] = field(default_factory=list)


def _snapshot(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


def run_hostile_suite(*, dovecot: Any, smtp_sink: Any, workdir: Path, cases: list[HostileCase],
                      time_limit: float = 900.0, file_seconds: int = 15) -> HostileResult:
    """``file_seconds``: [limits] file_seconds of the run; the PDF operator bomb (minutes of pypdf) is stopped
    there, and the poll waits that long for it."""
    result = HostileResult(cases=len(cases))
    user = dovecot.new_user()
    for case in cases:
        try:
            dovecot.append(user, "INBOX", case.raw)
            result.appended += 1
        except Exception as exc:  # noqa: BLE001 - Dovecot refuses e.g. an empty message: nothing to fetch
            result.not_appendable.append(f"{case.name}: {type(exc).__name__}")
    db_url = f"sqlite:///{workdir / 'intake.db'}"
    cfg = write_intake_config(workdir, imap_port=dovecot.port, user=user, smtp_port=smtp_sink.port, db_url=db_url,
                              poll_interval_seconds=60, replies_per_sender_per_hour=1000,
                              intake_extra=f"max_message_bytes = {SUITE_MAX_MESSAGE}",
                              smtp_extra="max_automatic_replies_per_hour = 0",  # every mail's reply is judged
                              # the PDF operator bomb stops at file_seconds; issue 15 §5's per-mail budget case
                              limits=f"file_seconds = {file_seconds}\nmail_unpacked_mb = {SUITE_MAIL_UNPACKED_MB}")
    before = _snapshot(workdir)
    tmp_before = set(os.listdir(tempfile.gettempdir()))
    # The checkout this file belongs to, not whichever one the venv's editable install points at (the poll runs
    # with the temporary directory as its working directory).
    env = {**os.environ, "TEST_IMAP_PASSWORD": dovecot.password, "INTAKE_CONFIG": str(cfg),
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    started = time.monotonic()
    try:
        proc = subprocess.run([sys.executable, "-m", "ingest.cli", "poll", "--once"], env=env, cwd=workdir,
                              capture_output=True, text=True, timeout=time_limit)
        result.exit_code = proc.returncode
        (workdir / "poll.log").write_text(proc.stdout + proc.stderr, encoding="utf-8")
        result.daemon_peak_mb, result.worker_peak_mb = reported_peak_memory_mb(proc.stdout)
        result.peak_memory_mb = result.daemon_peak_mb + result.worker_peak_mb  # daemon + file-reading worker
        # A cycle sends at most 100 replies; the next one sends the rest and must find nothing new to do.
        again = subprocess.run([sys.executable, "-m", "ingest.cli", "poll", "--once"], env=env, cwd=workdir,
                               capture_output=True, text=True, timeout=time_limit)
        result.second_poll = again.stdout.strip()
        if again.returncode != 0 or "新邮件 0" not in again.stdout or "已入库 0" not in again.stdout:
            result.problems.append(f"the second poll was not idle: {again.stdout.strip()}")
    except subprocess.TimeoutExpired:
        result.timed_out = True
    result.seconds = round(time.monotonic() - started, 1)
    allowed = (workdir / "spool", workdir / "intake.db", workdir / "poll.log")
    for p in _snapshot(workdir) - before:
        if not any(p == a or a in p.parents or p.name.startswith("intake.db") for a in allowed):
            result.written_outside.append(str(p))
    markers = [m for c in cases for m in c.escape_markers]
    new_tmp = set(os.listdir(tempfile.gettempdir())) - tmp_before
    for root in (workdir.parent, Path(tempfile.gettempdir()), Path("/etc")):
        for name in os.listdir(root):
            if any(m in name for m in markers):
                result.escaped.append(str(root / name))
    result.escaped += [n for n in new_tmp if any(m in n for m in markers)]
    _measure_disk(result, workdir / "spool")
    _judge(result, db_url)
    _judge_text(result, db_url)
    time.sleep(1)
    _check_replies(result, smtp_sink)
    _check_strangers(result, db_url, smtp_sink)
    _problems(result)
    return result


def _tree_bytes(root: Path, *, distinct: bool = False) -> int:
    """Bytes of the files under root; ``distinct``: each inode once (hard links are one file on disk)."""
    if not root.exists():
        return 0
    seen: dict[tuple[int, int], int] = {}
    total = 0
    for p in root.rglob("*"):
        if p.is_file() and not p.is_symlink():
            st = p.lstat()
            total += st.st_size
            seen[(st.st_dev, st.st_ino)] = st.st_size
    return sum(seen.values()) if distinct else total


def _measure_disk(result: HostileResult, spool: Path) -> None:
    """seccon (issue 15 §5): what the spool keeps per mail once the polls are done."""
    mb = 1024 * 1024
    result.spool_raw_mb = round(_tree_bytes(spool / "raw") / mb, 1)
    work = spool / "work"
    per_mail = [_tree_bytes(d) for d in work.iterdir()] if work.exists() else []
    result.spool_work_mb = round(sum(per_mail) / mb, 1)
    result.work_mb_per_mail = round(sum(per_mail) / mb / max(1, result.appended), 2)
    result.work_mb_max_mail = round(max(per_mail, default=0) / mb, 1)
    result.spool_work_mb_on_disk = round(_tree_bytes(work, distinct=True) / mb, 1)


def _judge(result: HostileResult, db_url: str) -> None:
    """Each mail: finished (no 'failed', nothing left half-done) and recorded with a clear finding."""
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            messages = conn.execute(select(Message.id, Message.status, Message.error, Message.defects,
                                           Message.subject, Message.message_id)).all()
            verdicts = dict(conn.execute(select(Submission.message_row_id, Submission.status)).all())
            failed_findings: dict[int, int] = Counter(
                mid for mid, in conn.execute(select(Submission.message_row_id)
                                             .join(Finding, Finding.submission_id == Submission.id)
                                             .where(Finding.passed.is_(False))))
            _ = conn.execute(select(Case.id)).all()
    finally:
        engine.dispose()
    result.statuses = dict(Counter(m.status for m in messages))
    result.verdicts = dict(Counter(verdicts.values()))
    for m in messages:
        clear = bool(m.defects) or bool(failed_findings.get(m.id)) or (m.status == "skipped" and bool(m.error))
        if m.status not in ("notified", "stored", "skipped") or not clear or verdicts.get(m.id) == "accepted":
            result.unclear.append(f"{m.message_id or m.id}: status {m.status}, verdict {verdicts.get(m.id)}, "
                                  f"error {m.error!r}")


def _judge_text(result: HostileResult, db_url: str) -> None:
    """seccon (issue 15 §4, §6): no control characters or U+FFFD in stored names, no non-http(s) links."""
    import re

    from store.models import Attachment

    bad = re.compile("[\x00-\x08\x0b-\x1f\x7f\ufffd]")
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            texts = [(f"message {r.id} subject", r.subject) for r in conn.execute(select(Message.id, Message.subject))]
            texts += [(f"case {r.id} name", r.case_name) for r in conn.execute(select(Case.id, Case.case_name))]
            atts = conn.execute(select(Attachment.id, Attachment.name, Attachment.kind, Attachment.url)).all()
    finally:
        engine.dispose()
    texts += [(f"attachment {a.id} name", a.name) for a in atts]
    result.bad_text_in_db = [f"{where}: {value[:60]!r}" for where, value in texts if value and bad.search(value)]
    result.unsafe_links = [f"attachment {a.id}: {a.url[:60]!r}" for a in atts
                           if a.kind == "link" and not str(a.url or "").lower().startswith(("http://", "https://"))]


def _check_replies(result: HostileResult, smtp_sink: Any) -> None:
    for mail in smtp_sink.messages:
        headers = message_from_bytes(mail.raw, policy=compat32)
        if mail.rcpt_tos == (MAILBOX,) and "alert." in str(headers.get("Message-ID")):
            result.alerts += 1  # to the organisers (e.g. a reply that failed): not a reply to a mail
        else:
            result.replies += 1
        injected = [k for k in headers.keys() if k.lower() in ("bcc", "x-evil")]
        if injected or any("victim@example.com" in r for r in mail.rcpt_tos) or len(mail.rcpt_tos) != 1:
            result.injected_replies.append(f"{headers.get('Message-ID')}: rcpt {mail.rcpt_tos}, headers {injected}")


def _problems(result: HostileResult) -> None:
    if result.timed_out:
        result.problems.append("the poll did not finish within the time limit (a hang)")
    elif result.exit_code != 0:
        result.problems.append(f"poll exited with {result.exit_code}")
    total = sum(result.statuses.values())
    if total != result.appended:
        result.problems.append(f"{total} messages recorded of {result.appended} appended")
    note_problem(result.problems, result.unclear, "{n} mails without a clear outcome: {some}")
    note_problem(result.problems, result.written_outside, "written outside the spool: {some}", show=5)
    note_problem(result.problems, result.escaped, "archive or name traversal escaped: {some}", show=5)
    note_problem(result.problems, result.injected_replies, "header injection reached a reply: {some}")
    note_problem(result.problems, result.bad_text_in_db, "control characters or U+FFFD stored: {some}")
    note_problem(result.problems, result.unsafe_links, "non-http(s) links stored: {some}")


# ==== Strangers acting for others, bad replies, unbounded echoes (issue 15.1–15.3, secmail) =====================

def _check_strangers(result: HostileResult, db_url: str, smtp_sink: Any) -> None:
    """No case holds versions from two senders (compared normalised; the suite links no address); every reply
    ended sent, failed or held, the last two with a reason (none left 'sending' or due); every reply's headers
    are bounded (References ≤ 10 ids, lines ≤ 998 octets)."""
    from store import address_key
    from store.models import OutboxMail

    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            senders = conn.execute(select(Submission.case_id, Message.from_addr)
                                   .join(Message, Message.id == Submission.message_row_id)).all()
            outbox = conn.execute(select(OutboxMail.message_id, OutboxMail.status, OutboxMail.last_error)).all()
    finally:
        engine.dispose()
    by_case: dict[int, set[str]] = {}
    for case_id, sender in senders:
        by_case.setdefault(case_id, set()).add(address_key(sender))
    result.cross_sender_cases = [f"case {c}: {sorted(s)}" for c, s in by_case.items() if len(s) > 1]
    for message_id, status, error in outbox:
        if status == "failed":
            result.failed_replies += 1
        elif status == "suppressed":
            result.held_replies += 1
        if status not in ("sent", "failed", "suppressed") or (status != "sent" and not error):
            result.unfinished_replies.append(f"{message_id}: {status} {error!r}")
    for mail in smtp_sink.messages:
        headers = message_from_bytes(mail.raw, policy=compat32)
        refs = str(headers.get("References") or "").split()
        longest = max(len(line) for line in mail.raw.split(b"\r\n"))
        if len(refs) > 10 or longest > 998:
            result.unbounded_replies.append(f"{headers.get('Message-ID')}: {len(refs)} references, line {longest}")
    note_problem(result.problems, result.cross_sender_cases, "a case holds versions of several senders: {some}")
    note_problem(result.problems, result.unfinished_replies,
                 "replies neither sent nor failed/held with a reason: {some}")
    note_problem(result.problems, result.unbounded_replies, "replies echo unbounded headers: {some}")


# ==== end of the secmail block ==================================================================================


def main() -> int:
    from servers import DovecotServer, SmtpSink

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=None, help="a spread sample of this many cases")
    args = parser.parse_args()
    cases = hostile_cases(args.limit)
    if args.limit is None:  # seccon (issue 15 §4–6): big cases (a 180 MB mail of 1,500 text parts) only in full runs
        cases += [HostileCase(f"seccon/{name}", raw) for name, raw in seccon_cases()]
    dovecot, sink = DovecotServer(), SmtpSink()
    dovecot.start()
    sink.start()
    try:
        with tempfile.TemporaryDirectory(prefix="intake-hostile-") as tmp:
            result = run_hostile_suite(dovecot=dovecot, smtp_sink=sink, workdir=Path(tmp), cases=cases)
            log = (Path(tmp) / "poll.log")
            if log.exists():
                (REPO / "bench" / "results" / "hostile_suite-last-poll.log").write_text(log.read_text(encoding="utf-8"))
    finally:
        sink.stop()
        dovecot.cleanup()
    summary = asdict(result) | {"ok": not result.problems}
    out = REPO / "bench" / "results" / f"hostile_suite-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
    print(json.dumps({k: v for k, v in summary.items() if k != "unclear"} | {"unclear": result.unclear[:10]},
                     ensure_ascii=False, indent=2))
    print(f"written: {out}")
    return 0 if not result.problems else 1


if __name__ == "__main__":
    sys.exit(main())
