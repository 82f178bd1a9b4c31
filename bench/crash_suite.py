"""Crash suite (issue 9.1): a backlog of submissions in a real Dovecot, the real daemon (`intake run`) killed
with SIGKILL again and again, restarted each time; then every case must be recorded exactly once, every file
intact (sha256), every case answered, and duplicate receipts counted.

Kills are aimed at the three phases of a cycle in the order they happen — fetch (download + spool),
process (parse, unpack, checks, database commit) and send (SMTP) — by watching the database from outside
(read-only), then landing after a random delay. Where each kill landed is read back from what it left behind:
a `.part` file in the spool's tmp (inside a download), a message in status 'parsed' (inside unpack/checks/
commit), an outbox row in 'sending' (inside an SMTP send: the one window where a receipt may go out twice).

    python bench/crash_suite.py                          # 300 mails, 20 kills, SQLite
    python bench/crash_suite.py --db postgresql --mails 300 --kills 20
    python bench/crash_suite.py --mails 20 --kills 5     # the size the default test run uses

Writes bench/results/crash_suite-<UTC time>.json and prints the summary; exits 1 when an invariant fails.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))
sys.path.append(str(REPO / "bench"))  # common, also when tests load this file (servers.bench_module)

from sqlalchemy import create_engine, func, select  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402

from common import note_problem  # noqa: E402
from ingest.samples import files as samples  # noqa: E402
from ingest.samples.mails import STYLES, Attachment, build_mail  # noqa: E402
from ingest.samples.submissions import MAILBOX, RECEIVED, zip_gbk  # noqa: E402
from servers import write_intake_config  # noqa: E402
from store.models import Attachment as AttachmentRow  # noqa: E402
from store.models import Case, Message, OutboxMail, Submission  # noqa: E402

PROVINCES = ("浙江省", "江苏省", "四川省", "福建省", "山东省", "湖北省", "安徽省", "河北省", "广东省", "云南省")
CATEGORIES = ((6, "人工智能教育"), (7, "体制机制改革"), (10, "教师队伍建设"), (5, "教育教学改革"))
PHASES = ("fetch", "process", "send")


@dataclass(frozen=True)
class BacklogMail:
    sender: str
    raw: bytes
    file_sha256s: frozenset[str]


def make_backlog(count: int, workdir: Path, seed: int = 9) -> list[BacklogMail]:
    """`count` submissions from distinct schools (distinct sender, case name, Message-ID, application form).
    The scanned PDF, text and photo are made once and shared (the duplicate-file rule then warns, which
    changes nothing here); every third mail packs its files in a GBK-named ZIP as Chinese Windows does."""
    rng = random.Random(seed)
    shared_dir = workdir / "shared"
    shared_dir.mkdir(parents=True, exist_ok=True)
    pdf = samples.make_scanned_pdf(shared_dir / "申报表（盖章）.pdf", with_seal=True)
    text = shared_dir / "文字材料.docx"
    samples.make_text_docx(text, 1800)
    photo = shared_dir / "图1：学生活动现场.jpg"
    samples.make_jpeg(photo, 150_000)
    mails: list[BacklogMail] = []
    for i in range(count):
        province = PROVINCES[i % len(PROVINCES)]
        no, category = CATEGORIES[i % len(CATEGORIES)]
        school = f"第{i + 1}实验学校"
        case_name = f"课程建设实践{i + 1}号"
        sender = f"school{i:04d}@163.com"
        form = samples.make_form_docx(workdir / f"{i:04d}申报表.docx", {
            "申报单位": f"{province}{school}", "案例名称": case_name, "类别": category, "联系人": "王老师"})
        files = [form, pdf, text, photo]
        if i % 3 == 2:
            attachments = [Attachment(f"{school}申报材料.zip", zip_gbk(files, school), "application/zip")]
        else:
            attachments = [Attachment.from_file(f) for f in files]
        raw = build_mail(style=STYLES[i % len(STYLES)], sender=sender, sender_name=school, to=MAILBOX,
                         subject=f"{province}/{school}{case_name}+{category}", body=f"您好！附件为{school}申报材料。",
                         attachments=attachments, received_at=RECEIVED,
                         message_id=f"<backlog.{i}.{rng.getrandbits(48):x}@163.com>")
        mails.append(BacklogMail(sender, raw, frozenset(_sha(f.read_bytes()) for f in files)))
    return mails


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_config(workdir: Path, *, imap_port: int, user: str | None, smtp_port: int, db_url: str,
                 spool_dir: str = "spool", intake_extra: str = "",
                 campaigns: Sequence[Mapping[str, Any]] = ()) -> Path:
    """The kill suites' configuration (also bench/distributed.py's, with its ``campaigns``)."""
    # 16 KB fetch chunks: a message takes many round trips, so kills land inside a download too.
    return write_intake_config(workdir, imap_port=imap_port, user=user, smtp_port=smtp_port, db_url=db_url,
                               spool_dir=spool_dir, intake_extra=intake_extra, fetch_chunk_bytes=16384,
                               replies_per_sender_per_hour=10, campaigns=campaigns)


@dataclass
class KillRecord:
    aimed_at: str
    landed_in: str
    after_seconds: float


@dataclass
class CrashResult:
    mails: int
    kills_requested: int
    database: str
    kills: list[KillRecord] = field(default_factory=list)
    messages: int = 0
    cases: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    files_checked: int = 0
    files_bad: list[str] = field(default_factory=list)
    spool_bad: list[str] = field(default_factory=list)
    unanswered: list[str] = field(default_factory=list)
    receipts_received: int = 0
    duplicate_receipts: int = 0
    kills_inside_smtp_send: int = 0
    restarts: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


class Daemon:
    """`intake run` as a child process, killed with SIGKILL or stopped with SIGTERM."""

    def __init__(self, cfg: Path, password: str, log_path: Path) -> None:
        self.env = {**os.environ, "TEST_IMAP_PASSWORD": password, "INTAKE_CONFIG": str(cfg)}
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "ingest.cli", "run"], env=self.env, cwd=REPO,
                                     stdout=log, stderr=log)
        log.close()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self.kill()


class Watcher:
    """Read-only looks at the daemon's database and spool from outside."""

    def __init__(self, db_url: str, spool: Path) -> None:
        self.engine: Engine = create_engine(db_url)
        self.spool = spool

    def scalar(self, query: Any) -> int:
        try:
            with self.engine.connect() as conn:
                return int(conn.execute(query).scalar_one() or 0)
        except Exception:  # noqa: BLE001 - before the daemon's first migration the tables do not exist
            return 0

    def messages(self) -> int:
        return self.scalar(select(func.count()).select_from(Message))

    def filed(self) -> int:
        return self.scalar(select(func.count()).select_from(Submission))

    def sent(self) -> int:
        return self.scalar(select(func.count()).select_from(OutboxMail)
                           .where(OutboxMail.status == "sent", OutboxMail.kind != "alert"))

    def replies_expected(self) -> int:
        return self.scalar(select(func.count()).select_from(OutboxMail).where(OutboxMail.kind != "alert"))

    def landed_in(self) -> str:
        """Where the process was when it died, from what it left behind."""
        if self.scalar(select(func.count()).select_from(OutboxMail).where(OutboxMail.status == "sending")):
            return "send:inside-smtp"
        if list((self.spool / "tmp").glob("*.part")):
            return "fetch:inside-download"
        if self.scalar(select(func.count()).select_from(Message).where(Message.status == "parsed")):
            return "process:unpack-checks-commit"
        return "between-steps"

    def dispose(self) -> None:
        self.engine.dispose()


def _next_open_phase(watcher: Watcher, phase: str, total: int) -> str | None:
    """The phase to aim at: this one, or a later one when this one's work is all done."""
    done = {"fetch": watcher.messages() >= total, "process": watcher.filed() >= total,
            "send": watcher.filed() >= total and watcher.sent() >= max(1, watcher.replies_expected())}
    for candidate in PHASES[PHASES.index(phase):]:
        if not done[candidate]:
            return candidate
    return None


def _phase_active(watcher: Watcher, phase: str, total: int, baseline: tuple[int, int, int]) -> bool:
    messages, filed, sent = watcher.messages(), watcher.filed(), watcher.sent()
    if phase == "fetch":
        return messages > baseline[0] and messages < total
    if phase == "process":
        return filed > baseline[1] and filed < total
    return sent > baseline[2] and sent < total


def deliver_backlog(*, dovecot: Any, smtp_sink: Any, db_url: str, workdir: Path, mails: int,
                    seed: int) -> tuple[list[BacklogMail], Path]:
    """``mails`` generated submissions appended to a fresh mailbox, and an intake configuration for it and the
    SMTP sink: (the backlog, the config path)."""
    backlog = make_backlog(mails, workdir / "files", seed)
    user = dovecot.new_user()
    for m in backlog:
        dovecot.append(user, "INBOX", m.raw, internaldate=RECEIVED)
    cfg = write_config(workdir, imap_port=dovecot.port, user=user, smtp_port=smtp_sink.port, db_url=db_url)
    return backlog, cfg


def run_crash_suite(*, dovecot: Any, smtp_sink: Any, db_url: str, database: str, workdir: Path, mails: int,
                    kills: int, seed: int = 9, log: Any = print) -> CrashResult:
    rng = random.Random(seed)
    result = CrashResult(mails=mails, kills_requested=kills, database=database)
    started = time.monotonic()
    backlog, cfg = deliver_backlog(dovecot=dovecot, smtp_sink=smtp_sink, db_url=db_url, workdir=workdir, mails=mails,
                                   seed=seed)
    watcher = Watcher(db_url, workdir / "spool")
    daemon = Daemon(cfg, dovecot.password, workdir / "daemon.log")
    # Kills per phase in proportion to the work there: fetching is quick, processing is most of the time.
    n_fetch, n_send = max(1, kills // 5), max(1, kills // 4)
    plan = ["fetch"] * n_fetch + ["process"] * max(0, kills - n_fetch - n_send) + ["send"] * n_send
    try:
        for aimed in plan[:kills]:
            aimed = _next_open_phase(watcher, aimed, mails)
            if aimed is None:
                break
            baseline = (watcher.messages(), watcher.filed(), watcher.sent())
            daemon.start()
            result.restarts += 1
            t0 = time.monotonic()
            while daemon.alive() and not _phase_active(watcher, aimed, mails, baseline):
                if time.monotonic() - t0 > 300:
                    break
                later = _next_open_phase(watcher, aimed, mails)
                if later is None:
                    break
                aimed = later  # this phase's work ran out while we waited: aim at the next one
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, {"fetch": 0.1, "process": 1.0, "send": 0.1}[aimed]))
            daemon.kill()
            landed = watcher.landed_in()
            result.kills.append(KillRecord(aimed, landed, round(time.monotonic() - t0, 2)))
            log(f"kill {len(result.kills)}: aimed at {aimed}, landed {landed}")
            if landed == "send:inside-smtp":
                result.kills_inside_smtp_send += 1
        daemon.start()
        result.restarts += 1
        deadline = time.monotonic() + 60 + mails * 3
        while time.monotonic() < deadline:
            expected = watcher.replies_expected()
            if watcher.filed() >= mails and expected and watcher.sent() >= expected:
                break
            time.sleep(0.5)
        time.sleep(1.5)  # one more cycle: nothing further may be sent
        daemon.stop()
    finally:
        if daemon.alive():
            daemon.kill()
        watcher.dispose()
    verify(result, backlog, db_url, smtp_sink, workdir / "spool")
    result.seconds = round(time.monotonic() - started, 1)
    return result


def verify(result: CrashResult, backlog: list[BacklogMail], db_url: str, smtp_sink: Any, spool: Path) -> None:
    """Every mail recorded once as its own case, spool and files intact, every case answered, receipts
    counted; what is wrong goes to ``result.problems``."""
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(Message.id, Message.from_addr, Message.account, Message.uid, Message.sha256,
                                       Message.spool_path, Message.status)).all()
            cases = conn.execute(select(Case.id, Case.sender, Case.case_no)).all()
            files = conn.execute(select(Case.sender, AttachmentRow.sha256, AttachmentRow.stored_path)
                                 .join(Submission, Submission.case_id == Case.id)
                                 .join(AttachmentRow, AttachmentRow.submission_id == Submission.id)
                                 .where(AttachmentRow.kind == "file")).all()
            replied = conn.execute(select(OutboxMail.recipient, OutboxMail.status, OutboxMail.message_id)
                                   .where(OutboxMail.kind != "alert")).all()
    finally:
        engine.dispose()
    result.messages, result.cases = len(rows), len(cases)
    result.statuses = dict(Counter(r.status for r in rows))
    if len(rows) != len(backlog) or len({(r.account, r.uid) for r in rows}) != len(rows):
        result.problems.append(f"{len(rows)} message rows for {len(backlog)} mails")
    if len(cases) != len(backlog) or len({c.sender for c in cases}) != len(cases):
        result.problems.append(f"{len(cases)} cases for {len(backlog)} submissions")
    for r in rows:
        if _sha(Path(r.spool_path).read_bytes()) != r.sha256:
            result.spool_bad.append(r.spool_path)
    by_sender: dict[str, set[str]] = {}
    for sender, sha, path in files:
        by_sender.setdefault(sender, set()).add(sha)
        result.files_checked += 1
        if path is None or not Path(path).is_file() or _sha(Path(path).read_bytes()) != sha:
            result.files_bad.append(f"{sender}: {path}")
    for m in backlog:
        if by_sender.get(m.sender) != set(m.file_sha256s):
            result.files_bad.append(f"{m.sender}: files differ from what was sent")
    answered = {r.recipient for r in replied if r.status == "sent"}
    result.unanswered = sorted({m.sender for m in backlog} - answered)
    received = [m for m in smtp_sink.messages if not any(r.startswith(MAILBOX) for r in m.rcpt_tos)]
    result.receipts_received = len(received)
    result.duplicate_receipts = len(received) - len({m.message_id for m in received})
    note_problem(result.problems, result.spool_bad, "{n} spool files do not match their sha256")
    note_problem(result.problems, result.files_bad, "{n} files missing or changed: {some}")
    note_problem(result.problems, result.unanswered, "{n} cases never answered: {some}")
    if set(result.statuses) != {"notified"}:
        result.problems.append(f"message statuses {result.statuses} (all should be notified)")
    if result.duplicate_receipts > result.kills_inside_smtp_send:
        result.problems.append(f"{result.duplicate_receipts} duplicate receipts, more than the "
                               f"{result.kills_inside_smtp_send} kills inside an SMTP send")
    if {r.recipient for r in replied} != {m.sender for m in backlog}:
        result.problems.append("outbox recipients differ from the senders")


def main() -> int:
    from servers import DovecotServer, SmtpSink, create_database, drop_database, postgres_server_url

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mails", type=int, default=300)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--seed", type=int, default=int(time.time()) % 100000)
    args = parser.parse_args()
    dovecot, sink = DovecotServer(), SmtpSink()
    dovecot.start()
    sink.start()
    pg_url = None
    try:
        with tempfile.TemporaryDirectory(prefix="intake-crash-") as tmp:
            if args.db == "postgresql":
                pg_url = create_database(postgres_server_url())
                db_url = pg_url
            else:
                db_url = f"sqlite:///{Path(tmp) / 'intake.db'}"
            result = run_crash_suite(dovecot=dovecot, smtp_sink=sink, db_url=db_url, database=args.db,
                                     workdir=Path(tmp), mails=args.mails, kills=args.kills, seed=args.seed)
    finally:
        sink.stop()
        dovecot.cleanup()
        if pg_url:
            drop_database(pg_url)
    return report("crash_suite", result, args.seed)


def report(name: str, result: CrashResult, seed: int) -> int:
    """Write the run's summary to bench/results/<name>-<UTC time>.json, print it (without the kill list), and
    return the exit code: 0 when every invariant held. Shared with bench/distributed.py."""
    summary = asdict(result) | {"seed": seed, "ok": result.ok,
                                "landed": dict(Counter(k.landed_in for k in result.kills))}
    out = REPO / "bench" / "results" / f"{name}-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
    print(json.dumps({k: v for k, v in summary.items() if k not in ("kills",)}, ensure_ascii=False, indent=2))
    print(f"written: {out}")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
