"""Scaling (issue 20 §2): throughput and APPEND→receipt latency of the single-process daemon and of distributed
mode with 1, 2 and 4 workers, on one corpus, in one run, all on PostgreSQL (so only the mode differs).

For each mode: a fresh database and mailbox, the processes started and idle, then every corpus mail APPENDed in
one burst (a deadline-day rush); latency of a mail = its receipt accepted by the SMTP sink − its APPEND done;
throughput = mails / (last receipt − first APPEND). CPU = user+system of every process of the mode (the daemon or
the supervisor and its workers, and their file-reading helpers), sampled from /proc from the moment the mode is
ready (idle start-up excluded) until its processes exit; CPU per submission bounds what more cores would give.

    python bench/scaling.py                      # 40 corpus submissions (bench/corpus.py), modes single,1,2,4
    python bench/scaling.py --mails 80 --modes single,2,4
    python bench/scaling.py --small              # 6 tiny submissions: proves the bench works
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

from common import (PASSWORD_ENV, REPO, DovecotServer, SmtpSink, base_parser, intake_config, median, percentile, table,
                    versions, write_results)
from corpus import DEFAULT_CACHE, CorpusMail, Mix, build_corpus, describe
from ingest.samples.submissions import RECEIVED
from servers import create_database, drop_database, postgres_server_url

POLL_SECONDS = 2
WORKER_FLAGS = ("--heartbeat-seconds", "2", "--stalled-after-seconds", "10")


@dataclass(frozen=True)
class ModeRun:
    mode: str
    mails: int
    receipts: int
    seconds: float
    cpu_seconds: float
    latencies_s: list[float]

    @property
    def per_minute(self) -> float:
        return self.mails / (self.seconds / 60) if self.seconds else 0.0

    @property
    def cpu_per_mail(self) -> float:
        return self.cpu_seconds / self.mails if self.mails else 0.0


def _command(mode: str) -> list[str]:
    if mode == "single":
        return ["run"]
    return ["run", "--workers", mode, *WORKER_FLAGS]


def _wait_ready(log_path: Path, mode: str, proc: subprocess.Popen[bytes], timeout: float = 180) -> None:
    """Until the daemon's first cycle ended, or every worker started."""
    needle, count = ("本轮收信：", 1) if mode == "single" else ("Starting worker", int(mode))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log_path.read_text(errors="replace").count(needle) >= count:
            return
        if proc.poll() is not None:
            raise RuntimeError(f"intake exited with {proc.returncode}:\n{log_path.read_text(errors='replace')[-3000:]}")
        time.sleep(0.2)
    raise TimeoutError(f"{mode}: not ready within {timeout} s")


def measure(mode: str, mails: Sequence[CorpusMail], server: DovecotServer, workdir: Path) -> ModeRun:
    run_dir = workdir / f"mode-{mode}"
    run_dir.mkdir()
    sink = SmtpSink()
    sink.start()
    db_url = create_database(postgres_server_url())
    proc: subprocess.Popen[bytes] | None = None
    try:
        user = server.new_user()
        with server.connect(user) as client:
            client.select_folder("INBOX")
        cfg = intake_config(run_dir, db_url=db_url, imap=(server.port, user), smtp_port=sink.port,
                            poll_interval=POLL_SECONDS, log_format="text")
        env = {**os.environ, PASSWORD_ENV: server.password, "INTAKE_CONFIG": str(cfg),
               # This checkout's code, not whatever the interpreter's editable install points at.
               "PYTHONPATH": os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])}
        log_path = run_dir / "intake.log"
        with log_path.open("wb") as log_file:
            proc = subprocess.Popen([sys.executable, "-m", "ingest.cli", *_command(mode)], env=env, cwd=run_dir,
                                    stdout=log_file, stderr=subprocess.STDOUT)
        _wait_ready(log_path, mode, proc)
        sampler = TreeCpu(proc.pid)
        sampler.start()
        appended: dict[str, float] = {}
        with server.connect(user) as client:
            client._imap.debug = 0
            for mail in mails:
                client.append("INBOX", mail.path.read_bytes(), msg_time=RECEIVED)
                appended[mail.sender.lower()] = time.perf_counter()
        first = min(appended.values())
        answered: dict[str, float] = {}
        deadline = time.monotonic() + 300 + 30 * len(mails)
        while len(answered) < len(mails) and time.monotonic() < deadline:
            now = time.perf_counter()
            for received in sink.messages:
                for rcpt in received.rcpt_tos:
                    if rcpt.lower() in appended and rcpt.lower() not in answered:
                        answered[rcpt.lower()] = now
            time.sleep(0.05)
        last = max(answered.values(), default=first)
        print(f"{mode}: {len(answered)}/{len(mails)} receipts in {last - first:.1f} s", flush=True)
        cpu = _stop_with_cpu(proc, sampler)
        proc = None
        return ModeRun(mode, len(mails), len(answered), round(last - first, 2), round(cpu, 1),
                       sorted(round(answered[s] - appended[s], 2) for s in answered))
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        sink.stop()
        drop_database(db_url)


class TreeCpu(threading.Thread):
    """CPU seconds of a process and every descendant, sampled from /proc (wait4 alone misses the file-reading
    helper processes: their fork server reaps them and is itself never waited for)."""

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.seen: dict[int, float] = {}
        self.done = threading.Event()

    def sample(self) -> None:
        parents: dict[int, int] = {}
        times: dict[int, float] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            pid = int(stat.parent.name)
            parents[pid] = int(fields[1])
            times[pid] = (int(fields[11]) + int(fields[12])) / TICKS
        tree, frontier = {self.root}, [self.root]
        children: dict[int, list[int]] = {}
        for pid, ppid in parents.items():
            children.setdefault(ppid, []).append(pid)
        while frontier:
            for child in children.get(frontier.pop(), []):
                if child not in tree:
                    tree.add(child)
                    frontier.append(child)
        for pid in tree:
            if pid in times:
                self.seen[pid] = max(self.seen.get(pid, 0.0), times[pid])

    def run(self) -> None:
        while not self.done.wait(0.25):
            self.sample()

    def total(self) -> float:
        return sum(self.seen.values())


TICKS = os.sysconf("SC_CLK_TCK")


def _stop_with_cpu(proc: subprocess.Popen[bytes], sampler: TreeCpu) -> float:
    """SIGTERM, then the CPU of the whole process tree (sampled until the end)."""
    sampler.sample()
    proc.send_signal(signal.SIGTERM)
    while proc.poll() is None:
        sampler.sample()
        time.sleep(0.1)
    sampler.done.set()
    return sampler.total()


def report(runs: Sequence[ModeRun], corpus: dict[str, object], cores: int) -> str:
    single = next((r for r in runs if r.mode == "single"), None)
    rows = []
    for r in runs:
        speedup = f"{r.per_minute / single.per_minute:.2f}×" if single and single.per_minute else "–"
        rows.append((r.mode if r.mode == "single" else f"{r.mode} worker(s)", r.receipts, f"{r.seconds:.0f}",
                     f"{r.per_minute:.1f}", speedup, f"{median(r.latencies_s):.0f}",
                     f"{percentile(r.latencies_s, 95):.0f}", f"{r.cpu_per_mail:.2f}"))
    best_cpu = min((r.cpu_per_mail for r in runs if r.cpu_per_mail), default=0.0)
    lines = [f"# Scaling: single process vs distributed workers ({corpus['mails']} submissions, "
             f"{corpus['total_MB']} MB, {cores} cores)", "",
             *table(("mode", "receipts", "s", "submissions/min", "vs single", "latency p50 s", "p95 s",
                     "CPU s/submission"), rows), ""]
    if best_cpu:
        lines.append(f"CPU per submission {best_cpu:.2f} s: at most {60 * cores / best_cpu:.0f} submissions/min "
                     f"on these {cores} cores, {60 * 8 / best_cpu:.0f} on 8 and {60 * 32 / best_cpu:.0f} on 32 "
                     "(while the database, mailbox and disk keep up).")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--mails", type=int, default=40)
    parser.add_argument("--modes", default="single,1,2,4")
    args = parser.parse_args()
    mix = Mix.small() if args.small else Mix()
    count = 6 if args.small else args.mails
    mails = build_corpus(count, mix, DEFAULT_CACHE)
    corpus = describe(mails)
    print(f"corpus: {corpus}", flush=True)
    server = DovecotServer()
    server.start()
    import tempfile

    runs = []
    try:
        with tempfile.TemporaryDirectory(prefix="intake-scaling-", dir=args.workdir) as tmp:
            for mode in args.modes.split(","):
                runs.append(measure(mode.strip(), mails, server, Path(tmp)))
    finally:
        server.cleanup()
    cores = os.cpu_count() or 1
    markdown = report(runs, corpus, cores)
    print(markdown)
    payload = {"corpus": corpus, "cores": cores, "versions": versions(),
               "runs": [asdict(r) | {"per_minute": round(r.per_minute, 2)} for r in runs]}
    path = write_results(args.results_dir, "scaling", payload, markdown)
    print(f"written: {path}")
    return 0 if all(r.receipts == r.mails for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
