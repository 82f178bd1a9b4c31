"""Distributed mode (issue 20 §2) under load and under kills: a backlog in a real Dovecot split over two campaigns'
mailboxes (one deployment, `[[campaigns]]`), `intake run --workers W` plus `intake worker` processes on one PostgreSQL, random worker processes killed with SIGKILL while they work
(the supervisor restarts its own, this script restarts the others). Then every mail must be filed once, every
file intact, every case answered once (a duplicate only for a kill while a reply was in its SMTP send), and a
second run must change nothing; every mail is filed under the campaign whose mailbox it came to.

    python bench/distributed.py                                   # 300 mails, 20 kills, --workers 3 + 1 worker
    python bench/distributed.py --mails 40 --kills 1 --workers 2 --extra 1   # the size tests/ run

Writes bench/results/distributed-<UTC time>.json and prints the summary; exits 1 when an invariant fails.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO))

from sqlalchemy import func, select, text  # noqa: E402

from crash_suite import CrashResult, KillRecord, Watcher, make_backlog, report, verify, write_config  # noqa: E402
from ingest.samples.submissions import RECEIVED  # noqa: E402
from store.models import Event  # noqa: E402

# Fast failure detection for a test run: a killed worker's jobs are taken over after a few seconds.
WORKER_FLAGS = ("--heartbeat-seconds", "1", "--stalled-after-seconds", "4")


@dataclass
class DistributedResult(CrashResult):
    workers: int = 0
    extra_workers: int = 0
    campaigns: dict[str, int] = field(default_factory=dict)  # cases filed per campaign
    second_run_changes: list[str] = field(default_factory=list)
    # `intake health --json` while the workers ran (once mail was waiting): lag, queue, workers' heartbeats.
    health_during: dict[str, Any] = field(default_factory=dict)
    # `intake poll` (single-process) run while the workers ran: exit code and its last words.
    single_beside_workers: tuple[int, str] = (0, "")


class Proc:
    """One `intake …` child process (its own process group, so a kill reaches only what we aim at)."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.args, self.env, self.log_path = args, env, log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "ingest.cli", *self.args], env=self.env, cwd=REPO,
                                         stdout=log, stderr=log, start_new_session=True)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def children(self) -> list[int]:
        """The supervisor's worker processes."""
        if self.proc is None:
            return []
        try:
            text = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
        except OSError:
            return []
        return [int(p) for p in text.split()]

    def stop(self, timeout: float = 180) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def _worker_pids(supervisor: Proc, extras: list[Proc]) -> list[tuple[int, Proc | None]]:
    pids: list[tuple[int, Proc | None]] = [(pid, None) for pid in supervisor.children()]
    pids += [(p.proc.pid, p) for p in extras if p.alive() and p.proc is not None]
    return pids


def _snapshot(watcher: Watcher) -> dict[str, int]:
    return {"messages": watcher.messages(), "filed": watcher.filed(), "sent": watcher.sent(),
            "outbox": watcher.replies_expected(),
            "events_filed": watcher.scalar(select(func.count()).select_from(Event)
                                           .where(Event.action == "case.version_filed"))}


def _done(watcher: Watcher, mails: int) -> bool:
    expected = watcher.replies_expected()
    return watcher.filed() >= mails and expected >= mails and watcher.sent() >= expected


CAMPAIGNS = (("jcjy2025", "JCJY2025"), ("jcjy2025b", "JCB"))


def write_two_campaigns(workdir: Path, *, imap_port: int, users: tuple[str, str], smtp_port: int,
                        db_url: str) -> Path:
    """One deployment serving two campaigns (the 2025 call twice, own ids and case-number prefixes), each its own
    mailbox on the same server; the kill suites' settings (16 KB fetch chunks, so kills land inside downloads too)."""
    entries = [{"campaign_file": "campaigns/jcjy2025.toml", "id": cid, "case_number_prefix": prefix,
                "imap": {"username": user}} for (cid, prefix), user in zip(CAMPAIGNS, users)]
    return write_config(workdir, imap_port=imap_port, user=None, smtp_port=smtp_port, db_url=db_url,
                        campaigns=entries)


def run_distributed(*, dovecot: Any, smtp_sink: Any, db_url: str, workdir: Path, mails: int, kills: int,
                    workers: int = 3, extra: int = 1, seed: int = 20, log: Any = print,
                    second_run_seconds: float = 6.0) -> DistributedResult:
    rng = random.Random(seed)
    result = DistributedResult(mails=mails, kills_requested=kills, database="postgresql", workers=workers,
                               extra_workers=extra)
    started = time.monotonic()
    backlog = make_backlog(mails, workdir / "files", seed)
    users = (dovecot.new_user(), dovecot.new_user())
    for i, m in enumerate(backlog):  # even mails to the first campaign's mailbox, odd ones to the second's
        dovecot.append(users[i % 2], "INBOX", m.raw, internaldate=RECEIVED)
    cfg = write_two_campaigns(workdir, imap_port=dovecot.port, users=users, smtp_port=smtp_sink.port, db_url=db_url)
    env = {**os.environ, "TEST_IMAP_PASSWORD": dovecot.password, "INTAKE_CONFIG": str(cfg),
           "PYTHONPATH": os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])}
    watcher = Watcher(db_url, workdir / "spool")
    supervisor = Proc(["run", "--workers", str(workers), *WORKER_FLAGS], env, workdir / "run.log")
    extras = [Proc(["worker", *WORKER_FLAGS], env, workdir / f"worker{i}.log") for i in range(extra)]
    try:
        supervisor.start()
        for p in extras:
            p.start()
        deadline = time.monotonic() + 120 + mails * 4
        # Kills spread over the run: each waits until some work has moved since the last one.
        while time.monotonic() < deadline and not _done(watcher, mails):
            for p in extras:
                if not p.alive():
                    p.start()
                    result.restarts += 1
            if not result.health_during and watcher.messages() > 0 and watcher.scalar(
                    text("SELECT count(*) FROM procrastinate_workers")) >= workers + extra:
                result.health_during = _health(env)  # once every worker has registered and mail is waiting
                # The single-process daemon beside live workers would work the same mail: it refuses.
                single = subprocess.run([sys.executable, "-m", "ingest.cli", "poll"], env=env, cwd=REPO,
                                        capture_output=True, text=True, timeout=120)
                result.single_beside_workers = (single.returncode, single.stderr.strip()[-300:])
            if len(result.kills) < kills and watcher.messages() > 0:
                progress = watcher.filed() + watcher.sent()
                if progress >= (len(result.kills) + 1) * (2 * mails) // (kills + 2):
                    victims = _worker_pids(supervisor, extras)
                    if victims:
                        pid, _owner = rng.choice(victims)
                        time.sleep(rng.uniform(0.0, 0.5))
                        landed = watcher.landed_in()
                        try:
                            os.kill(pid, signal.SIGKILL)
                        except ProcessLookupError:
                            continue
                        result.kills.append(KillRecord("worker", landed, round(time.monotonic() - started, 1)))
                        log(f"kill {len(result.kills)}: pid {pid}, {landed}")
                        if landed == "send:inside-smtp":
                            result.kills_inside_smtp_send += 1
            time.sleep(0.2)
        time.sleep(2)
        supervisor.stop()
        for p in extras:
            p.stop()
        before = _snapshot(watcher)
        sent_before = len(smtp_sink.messages)
        # The second run: the same command again, for a few ticks. Nothing may be filed or sent again.
        supervisor.start()
        time.sleep(second_run_seconds)
        supervisor.stop()
        after = _snapshot(watcher)
        result.second_run_changes = [f"{k}: {before[k]} -> {after[k]}" for k in before if before[k] != after[k]]
        if len(smtp_sink.messages) != sent_before:
            result.second_run_changes.append(f"SMTP: {sent_before} -> {len(smtp_sink.messages)} mails")
    finally:
        for p in [supervisor, *extras]:
            if p.alive() and p.proc is not None:
                os.killpg(p.proc.pid, signal.SIGKILL)
        watcher.dispose()
    verify(result, backlog, db_url, smtp_sink, workdir / "spool")
    _verify_campaigns(result, backlog, db_url)
    if result.second_run_changes:
        result.problems.append(f"the second run changed {result.second_run_changes}")
    result.seconds = round(time.monotonic() - started, 1)
    return result


def _verify_campaigns(result: DistributedResult, backlog: list[Any], db_url: str) -> None:
    """Each case under the campaign whose mailbox its mail came to, with that campaign's case-number prefix."""
    from sqlalchemy import create_engine

    from store.models import Case

    expected = {m.sender: CAMPAIGNS[i % 2] for i, m in enumerate(backlog)}
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            cases = conn.execute(select(Case.sender, Case.campaign_id, Case.case_no)).all()
    finally:
        engine.dispose()
    result.campaigns = dict(Counter(c.campaign_id for c in cases))
    wrong = [f"{c.sender}: {c.campaign_id} {c.case_no}" for c in cases
             if (c.campaign_id, (c.case_no or "").split("-")[0]) != expected.get(c.sender)]
    if wrong:
        result.problems.append(f"{len(wrong)} cases under the wrong campaign: {wrong[:3]}")


def _health(env: dict[str, str]) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-m", "ingest.cli", "health", "--json"], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    try:
        return dict(json.loads(proc.stdout))
    except ValueError:
        return {"error": proc.stdout + proc.stderr}


def main() -> int:
    from servers import DovecotServer, SmtpSink, create_database, drop_database, postgres_server_url

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mails", type=int, default=300)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--workers", type=int, default=3, help="intake run --workers N")
    parser.add_argument("--extra", type=int, default=1, help="separate `intake worker` processes")
    parser.add_argument("--seed", type=int, default=int(time.time()) % 100000)
    args = parser.parse_args()
    dovecot, sink = DovecotServer(), SmtpSink()
    dovecot.start()
    sink.start()
    pg_url = create_database(postgres_server_url())
    try:
        with tempfile.TemporaryDirectory(prefix="intake-distributed-") as tmp:
            result = run_distributed(dovecot=dovecot, smtp_sink=sink, db_url=pg_url, workdir=Path(tmp),
                                     mails=args.mails, kills=args.kills, workers=args.workers, extra=args.extra,
                                     seed=args.seed)
    finally:
        sink.stop()
        dovecot.cleanup()
        drop_database(pg_url)
    return report("distributed", result, args.seed)


if __name__ == "__main__":
    sys.exit(main())
