"""Latency: time from APPEND of a submission to its receipt at the SMTP server, with IDLE and with the poll.

Runs the real daemon (`intake run`, a fresh process) against a Dovecot and an SMTP sink on loopback, twice:
with ``use_idle = true`` (a second connection waits in IMAP IDLE and wakes the cycle) and with
``use_idle = false`` (the interval poll alone). Submissions from the corpus (bench/corpus.py) are APPENDed one
at a time, each after the previous receipt arrived plus a random pause (so arrivals fall anywhere in the poll
interval); latency = receipt accepted by the SMTP server − APPEND completed. With the poll, expect about
the processing time plus a uniform wait of 0..interval.

The test Dovecot checks for new mail every second during IDLE (``mailbox_idle_check_interval = 1 secs``,
tests/servers.py); a Dovecot with inotify, or a provider's server, may announce sooner.

    python3 bench/latency.py                          # 10 with IDLE, 8 with a 30 s poll
    python3 bench/latency.py --interval 60 --poll-mails 10
    python3 bench/latency.py --small                  # 1 + 1 tiny submission, 3 s poll (the smoke test)
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import tempfile
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from common import (PASSWORD_ENV, REPO, DovecotServer, SmtpSink, base_parser, intake_config, median, percentile,
                    table, write_results)
from corpus import DEFAULT_CACHE, CorpusMail, Mix, build_corpus
from ingest.samples.submissions import RECEIVED


@dataclass(frozen=True)
class LatencyRun:
    mode: str
    interval_s: int
    latencies_s: list[float]

    @property
    def p50(self) -> float:
        return median(self.latencies_s)

    @property
    def p95(self) -> float:
        return percentile(self.latencies_s, 95)


def wait_for_log(path: Path, needle: str, timeout: float, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if needle in path.read_text(encoding="utf-8", errors="replace"):
            return
        if proc.poll() is not None:
            raise RuntimeError(f"intake run exited with {proc.returncode}:\n{path.read_text(errors='replace')[-3000:]}")
        time.sleep(0.1)
    raise TimeoutError(f"no {needle!r} in {path} within {timeout} s")


def measure(mode: str, mails: list[CorpusMail], interval: int, pause: float, workdir: Path) -> LatencyRun:
    server, sink = DovecotServer(), SmtpSink()
    server.start()
    sink.start()
    run_dir = workdir / mode
    run_dir.mkdir()
    proc: subprocess.Popen[bytes] | None = None
    rng = random.Random(7)
    try:
        user = server.new_user()
        with server.connect(user) as client:
            client.select_folder("INBOX")  # the mailbox exists before the daemon's first poll
        cfg = intake_config(run_dir, db_url=f"sqlite:///{run_dir / 'intake.db'}", imap=(server.port, user),
                            smtp_port=sink.port, use_idle=mode == "idle", poll_interval=interval)
        log_path = run_dir / "daemon.log"
        env = {**os.environ, PASSWORD_ENV: server.password, "INTAKE_CONFIG": str(cfg)}
        # This checkout's code, not whatever the interpreter's editable install points at (as run_intake does).
        env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])
        with log_path.open("wb") as log_file:
            proc = subprocess.Popen([sys.executable, "-m", "ingest.cli", "run"], env=env, stdout=log_file,
                                    stderr=subprocess.STDOUT, cwd=run_dir)
        wait_for_log(log_path, "本轮收信：", 120, proc)  # the first (empty) cycle is done
        if mode == "idle":
            time.sleep(1.0)  # the IDLE connection is up a moment after the first cycle
        latencies = []
        for n, mail in enumerate(mails, start=1):
            time.sleep(rng.uniform(0, pause))
            server.append(user, "INBOX", mail.path.read_bytes(), internaldate=RECEIVED)
            appended = time.perf_counter()
            sink.wait_for(n, timeout=interval + 300)
            latencies.append(time.perf_counter() - appended)
            print(f"{mode}: submission {n} ({mail.size / 1e6:.0f} MB) receipt after {latencies[-1]:.2f} s", flush=True)
        return LatencyRun(mode, interval, latencies)
    finally:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        sink.stop()
        server.cleanup()


def main() -> int:
    parser = base_parser(__doc__)
    parser.add_argument("--idle-mails", type=int, default=10)
    parser.add_argument("--poll-mails", type=int, default=8)
    parser.add_argument("--interval", type=int, default=30, help="poll interval of the run without IDLE, seconds")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-latency-", dir=args.workdir))
    try:
        if args.small:
            mails = build_corpus(2, Mix.small(), workdir / "cache")
            idle_mails, poll_mails, interval = mails[:1], mails[1:], 3
        else:
            mails = build_corpus(args.idle_mails + args.poll_mails, Mix(), DEFAULT_CACHE)
            idle_mails, poll_mails, interval = mails[:args.idle_mails], mails[args.idle_mails:], args.interval
        runs = [measure("idle", idle_mails, interval, 2.0, workdir),
                measure("poll", poll_mails, interval, float(interval), workdir)]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    md = "\n".join([
        "# Latency: APPEND → receipt at the SMTP server", "",
        *table(("mode", "poll interval s", "submissions", "median s", "p95 s", "max s"),
               [("IMAP IDLE" if r.mode == "idle" else "interval poll", r.interval_s, len(r.latencies_s), r.p50,
                 r.p95, max(r.latencies_s)) for r in runs]),
        "", f"Submissions from the corpus, mean {sum(m.size for m in mails) / len(mails) / 1e6:.0f} MB each; "
            "p95 is nearest-rank (with 20 samples or fewer it is the slowest one)."]) + "\n"
    write_results(args.results_dir, "latency", {"runs": [{**asdict(r), "p50": r.p50, "p95": r.p95} for r in runs]},
                  md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
