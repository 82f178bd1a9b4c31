"""Idle cost: a poll that finds nothing new, on mailboxes of 1,000, 10,000 and 50,000 messages. Must be flat.

For each size the bench makes a Dovecot mailbox of that many real mails (delivered into the Maildir as an
MDA delivers: one file each in ``new/``, then Dovecot indexes them), and a database in the state it has
once that mailbox was worked through: one message row per mail ('notified'), one sent receipt each, the
mailbox's last UID recorded. That state is written by bulk insert (as tests/staff_factory.py fills cases):
putting 50,000 mails through the whole pipeline first would take hours and is measured elsewhere
(end_to_end.py). What is timed is real and complete: ``Daemon.cycle()`` (lease, IMAP connect, ID, read-only
SELECT, last UID, UIDNEXT check, pending messages, outbox, lease release) in-process, several times, and
one `intake poll --once` in a fresh process. The floor: `mbsync` re-syncing the same mailbox when nothing
changed (it lists every message's UID and flags, so it grows with the mailbox).

    python3 bench/idle_poll.py                       # 1,000 / 10,000 / 50,000
    python3 bench/idle_poll.py --sizes 1000,10000 --db postgresql
    python3 bench/idle_poll.py --small               # 50 and 500 (the smoke test)
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path

from common import (DovecotServer, PASSWORD_ENV, base_parser, intake_config, median, mbsync_pull, run_intake,
                    table, write_results)
from servers import create_database, drop_database, postgres_server_url
from sqlalchemy import insert

from ingest.config import load_config
from ingest.pipeline.daemon import Daemon
from ingest.samples.mails import STYLES, build_mail
from ingest.runtime import Runtime
from ingest.samples.submissions import MAILBOX, RECEIVED
from store import Store
from store.models import MailboxState, Message, OutboxMail

BATCH = 5000
CAMPAIGN = "jcjy2025"  # the example campaign the bench's configuration runs


@dataclass(frozen=True)
class IdleRun:
    messages: int
    deliver_seconds: float
    first_select_seconds: float
    fill_seconds: float
    cycle_median_s: float
    cycle_min_s: float
    cycle_max_s: float
    cli_seconds: float
    mbsync_noop_s: float | None


PLACEHOLDER = b"99999999"
# One real mail per client style (GBK/GB18030/UTF-8 subjects); each delivered copy gets its own number in the
# sender and the Message-ID, so 50,000 distinct mails are made in a second.
TEMPLATES = tuple(build_mail(style=style, sender=f"s{PLACEHOLDER.decode()}@163.com", to=MAILBOX,
                             subject="浙江省/杭州市文三街小学AI课程建设+人工智能教育", body="申报材料见附件。",
                             message_id=f"<idle-{PLACEHOLDER.decode()}@163.com>", received_at=RECEIVED)
                  for style in STYLES)


def small_mail(index: int) -> bytes:
    return TEMPLATES[index % len(TEMPLATES)].replace(PLACEHOLDER, b"%08d" % index)


def deliver(server: DovecotServer, user: str, count: int) -> tuple[float, float]:
    """Maildir delivery of ``count`` mails, then the first SELECT (Dovecot indexes them); both timed."""
    with server.connect(user) as client:
        client.select_folder("INBOX")  # makes the Maildir
    maildir = server.mail_root / user
    owner = maildir.stat()
    began = time.perf_counter()
    stamp = int(time.time())
    for i in range(count):
        tmp = maildir / "tmp" / f"{stamp}.M{i}P{os.getpid()}.bench"
        tmp.write_bytes(small_mail(i))
        os.chown(tmp, owner.st_uid, owner.st_gid)
        tmp.rename(maildir / "new" / tmp.name)
    delivered = time.perf_counter() - began
    began = time.perf_counter()
    with server.connect(user) as client:
        info = client.select_folder("INBOX", readonly=True)
    if int(info[b"EXISTS"]) != count:
        raise RuntimeError(f"Dovecot sees {info[b'EXISTS']} messages, {count} were delivered")
    return delivered, time.perf_counter() - began


def fill_worked_state(db_url: str, account: str, uidvalidity: int, count: int) -> float:
    """The database after the mailbox was worked through: rows written in bulk (see the module docstring)."""
    began = time.perf_counter()
    store = Store.open(db_url, campaign_id=CAMPAIGN)
    receipt = small_mail(0)  # stands in for the stored raw receipt: a few KB, as real receipts are
    try:
        with store.engine.begin() as conn:
            conn.execute(insert(MailboxState), [{"campaign_id": CAMPAIGN, "account": account, "folder": "INBOX",
                                                 "uidvalidity": uidvalidity,
                                                 "last_uid": count, "last_success_at": RECEIVED}])
            for start in range(0, count, BATCH):
                uids = range(start + 1, min(count, start + BATCH) + 1)
                conn.execute(insert(Message), [{
                    "id": uid, "campaign_id": CAMPAIGN, "account": account, "folder": "INBOX",
                    "uidvalidity": uidvalidity, "uid": uid,
                    "message_id": f"<idle-{uid - 1:08d}@163.com>", "sha256": f"{uid:064x}", "size": 2000,
                    "spool_path": f"spool/raw/x/{uidvalidity}/{uid}.eml", "internaldate": RECEIVED,
                    "from_addr": f"s{uid - 1:08d}@163.com", "subject": "案例", "status": "notified", "kind": "submission",
                    "attempts": 1, "defects": []} for uid in uids])
                conn.execute(insert(OutboxMail), [{
                    "id": uid, "campaign_id": CAMPAIGN, "message_id": f"<receipt.idle-{uid}@163.com>",
                    "message_row_id": uid, "kind": "receipt",
                    "recipient": f"s{uid - 1:08d}@163.com", "subject": "受理回执", "raw": receipt, "status": "sent",
                    "attempts": 1, "next_attempt_at": RECEIVED, "sent_at": RECEIVED + timedelta(minutes=1)}
                    for uid in uids])
        if store.engine.dialect.name == "postgresql":
            with store.engine.begin() as conn:  # explicit ids do not advance the sequences
                for table_name in ("messages", "outbox", "mailbox_state"):
                    conn.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{table_name}', 'id'), "
                                         f"(SELECT max(id) FROM {table_name}))")
                conn.exec_driver_sql("ANALYZE")
    finally:
        store.close()
    return time.perf_counter() - began


def measure_size(server: DovecotServer, count: int, db: str, rounds: int, with_mbsync: bool,
                 workdir: Path) -> IdleRun:
    user = server.new_user()
    deliver_s, select_s = deliver(server, user, count)
    print(f"{count}: delivered in {deliver_s:.1f} s, first SELECT {select_s:.1f} s", flush=True)
    run_dir = workdir / f"idle-{count}"
    run_dir.mkdir()
    db_url = f"sqlite:///{run_dir / 'intake.db'}" if db == "sqlite" else create_database(postgres_server_url())
    try:
        cfg = intake_config(run_dir, db_url=db_url, imap=(server.port, user))
        fill_s = fill_worked_state(db_url, f"{user}@{server.host}", server.uidvalidity(user), count)
        os.environ[PASSWORD_ENV] = server.password
        runtime = Runtime(load_config(str(cfg)))
        try:
            daemon = Daemon(runtime)
            cycles = []
            for _ in range(rounds):
                began = time.perf_counter()
                report = daemon.cycle()
                cycles.append(time.perf_counter() - began)
                if report.error or report.fetched.new or report.processed.stored or report.sent.sent:
                    raise RuntimeError(f"an idle poll did work or failed: {report.summary()}")
        finally:
            runtime.close()
        cli = run_intake(cfg, "poll", "--once", password=server.password)
        if cli.returncode != 0:
            raise RuntimeError(f"intake poll failed:\n{cli.stdout}\n{cli.stderr[-2000:]}")
        noop = None
        if with_mbsync:
            mbsync_pull(server, user, run_dir / "mbsync")  # the first sync downloads everything (not timed)
            began = time.perf_counter()
            mbsync_pull(server, user, run_dir / "mbsync")
            noop = time.perf_counter() - began
        print(f"{count}: idle cycle median {median(cycles) * 1000:.0f} ms, CLI {cli.seconds:.2f} s, "
              f"mbsync no-op {noop if noop is None else round(noop, 2)} s", flush=True)
        return IdleRun(count, deliver_s, select_s, fill_s, median(cycles), min(cycles), max(cycles), cli.seconds,
                       noop)
    finally:
        if db != "sqlite":
            drop_database(db_url)
        shutil.rmtree(run_dir, ignore_errors=True)


def main() -> int:
    parser = base_parser(__doc__)
    parser.add_argument("--sizes", default="1000,10000,50000")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--rounds", type=int, default=7, help="idle cycles timed per size")
    parser.add_argument("--no-mbsync", action="store_true", help="skip the mbsync no-op comparison")
    args = parser.parse_args()
    sizes = [50, 300] if args.small else [int(s) for s in args.sizes.split(",") if s]
    rounds = 3 if args.small else args.rounds
    workdir = Path(tempfile.mkdtemp(prefix="bench-idle-", dir=args.workdir))
    server = DovecotServer()
    server.start()
    runs = []
    try:
        for count in sizes:
            runs.append(measure_size(server, count, args.db, rounds, not args.no_mbsync, workdir))
    finally:
        server.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)
    first, last = runs[0], runs[-1]
    growth = last.cycle_median_s / first.cycle_median_s
    md = "\n".join([
        f"# Idle poll ({args.db}): nothing new, mailbox of growing size", "",
        *table(("messages", "idle cycle median ms", "min ms", "max ms", "`intake poll --once` s (fresh process)",
                "mbsync no-op s"),
               [(r.messages, r.cycle_median_s * 1000, r.cycle_min_s * 1000, r.cycle_max_s * 1000, r.cli_seconds,
                 "—" if r.mbsync_noop_s is None else r.mbsync_noop_s) for r in runs]),
        "", f"Idle cycle at {last.messages} messages / at {first.messages}: **{growth:.2f}×** "
            f"(mailbox {last.messages / first.messages:.0f}× larger; 1.0 = flat)."]) + "\n"
    write_results(args.results_dir, "idle_poll", {"db": args.db, "rounds": rounds, "growth": growth,
                                                  "runs": [asdict(r) for r in runs]}, md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
