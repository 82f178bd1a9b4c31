"""What every bench shares: the test servers, an intake configuration, the real CLI run in a child process
(with its own peak RSS, VmHWM), JSON log records, mbsync as the fetch floor, and writing results.

Benches import this as ``from common import …`` (they are scripts run from anywhere: ``bench/`` is put on
``sys.path`` by Python itself, ``tests/`` and the repository root are added here).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

REPO = Path(__file__).resolve().parent.parent
for _extra in (REPO, REPO / "tests"):
    if str(_extra) not in sys.path:
        sys.path.insert(0, str(_extra))

from servers import DovecotServer, SmtpSink, reported_peak_memory_mb  # noqa: E402  (the test servers, reused)

from ingest.config import example_campaign_toml  # noqa: E402
from ingest.files.isolation import peak_memory_mb  # noqa: E402

RESULTS_DIR = REPO / "bench" / "results"
MB = 1024 * 1024
PASSWORD_ENV = "BENCH_IMAP_PASSWORD"

__all__ = ["DovecotServer", "SmtpSink", "MB", "REPO", "ChildRun", "base_parser", "intake_config", "json_records",
           "mbsync_pull", "note_problem", "percentile", "run_intake", "timed_child", "versions", "write_results",
           "median"]


def base_parser(description: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true", help="a tiny run (seconds) that only proves the bench works")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR, help="where the JSON and .md go")
    parser.add_argument("--workdir", type=Path, default=None, help="parent of the temp dirs (default: system temp)")
    return parser


def intake_config(directory: Path, *, db_url: str, imap: tuple[int, str] | None = None, smtp_port: int | None = None,
                  use_idle: bool = False, poll_interval: int = 60, chunk_bytes: int = 2 * MB,
                  log_format: str = "json") -> Path:
    """A config.toml for the real CLI: the shipped campaign (config.example.toml), our loopback servers."""
    parts = [f'[intake]\nspool_dir = "spool"\ndatabase_url = "{db_url}"\npoll_interval_seconds = {poll_interval}\n'
             f'log_format = "{log_format}"\n']
    if imap is not None:
        port, user = imap
        parts.append(f'[imap]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "plain"\nusername = "{user}"\n'
                     f'password_env = "{PASSWORD_ENV}"\nfetch_chunk_bytes = {chunk_bytes}\n'
                     f'use_idle = {"true" if use_idle else "false"}\n')
    if smtp_port is not None:
        parts.append(f'[smtp]\nhost = "127.0.0.1"\nport = {smtp_port}\nsecurity = "plain"\nusername = ""\n'
                     'sender = "jcjyzj2025@163.com"\nsender_name = "基础教育创新案例征集工作组"\n'
                     'max_replies_per_sender_per_hour = 1000\nretry_base_seconds = 1\n')
    parts.append(example_campaign_toml())
    cfg = directory / "config.toml"
    cfg.write_text("\n".join(parts), encoding="utf-8")
    return cfg


def timed_child(cmd: Sequence[str], *, env: Mapping[str, str], cwd: Path | None = None) -> tuple[float, float]:
    """(wall seconds, CPU seconds user+system) of one child process run to its end, its output discarded; raises
    if it fails. CPU time is what the command costs; on a busy machine the wall time also holds the wait for a
    core."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(list(cmd), env=dict(env), cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def note_problem(problems: list[str], found: Sequence[object], message: str, show: int = 3) -> None:
    """Add ``message`` to a suite's ``problems`` when ``found`` is not empty: ``{n}`` in it says how many were
    found, ``{some}`` lists the first ``show`` of them."""
    if found:
        problems.append(message.format(n=len(found), some=found[:show]))


@dataclass(frozen=True)
class ChildRun:
    seconds: float
    peak_rss_mb: float
    returncode: int
    stdout: str
    stderr: str
    cpu_seconds: float = 0.0  # user + system of the child and the processes it waited for
    daemon_peak_mb: float = 0.0  # the two parts of peak_rss_mb: the intake process, the file-reading worker(s)
    worker_peak_mb: float = 0.0
    # Sampled every TREE_SAMPLE_SECONDS over intake and every process under it (fork server, workers, office):
    # the peak of their summed PSS (shared pages counted once, split among the processes sharing them) and the
    # CPU seconds of all of them (each process's last sampled utime + stime).
    tree_pss_peak_mb: float = 0.0
    tree_cpu_seconds: float = 0.0
    tree_peak_breakdown: str = ""  # at that peak, each process's PSS: "intake poll 70.1 + forkserver 20.3 + …"


TREE_SAMPLE_SECONDS = 0.2
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _descendants(root: int) -> list[int]:
    """``root`` and every process under it, from /proc (Linux)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                ppid = int(fh.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def _pss_and_cpu(pid: int) -> tuple[float, float] | None:
    """(PSS in MB, CPU seconds so far) of one process, None when it is gone."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as fh:
            pss = next((int(line.split()[1]) for line in fh if line.startswith(b"Pss:")), 0)
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
        return pss / 1024, (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
    except (OSError, ValueError, IndexError):
        return None


def _process_name(pid: int) -> str:
    """What a process is, from its command line: ``intake poll``, ``forkserver``, ``worker``, ``soffice``…"""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            argv = fh.read().split(b"\0")
    except OSError:
        return "?"
    text = b" ".join(argv).decode(errors="replace")
    if "forkserver" in text:  # the fork server, or a worker it forked (same command line): ask the parent
        with open(f"/proc/{pid}/stat", "rb") as fh:
            ppid = int(fh.read().rsplit(b")", 1)[1].split()[1])
        return "worker" if _process_name(ppid) == "forkserver" else "forkserver"
    if "ingest.cli" in text:
        return "intake " + " ".join(a.decode(errors="replace") for a in argv[3:4])
    return os.path.basename(argv[0].decode(errors="replace"))[:20] or "?"


class TreeSampler:
    """Peak summed PSS and the CPU seconds of a process tree, sampled."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.pss_peak_mb = 0.0
        # At the peak: each process's name (its command line, shortened) and PSS, to see where the memory is.
        self.peak_breakdown: list[tuple[str, float]] = []
        self._cpu: dict[int, float] = {}
        self._next = 0.0

    def sample(self) -> None:
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + TREE_SAMPLE_SECONDS
        total = 0.0
        breakdown = []
        for pid in _descendants(self.root):
            seen = _pss_and_cpu(pid)
            if seen is not None:
                total += seen[0]
                breakdown.append((_process_name(pid), round(seen[0], 1)))
                self._cpu[pid] = max(seen[1], self._cpu.get(pid, 0.0))
        if total > self.pss_peak_mb:
            self.pss_peak_mb = total
            self.peak_breakdown = breakdown

    @property
    def cpu_seconds(self) -> float:
        return sum(self._cpu.values())


def run_intake(cfg: Path, *args: str, password: str = "", timeout: float = 1800,
               checkout: Path | None = None) -> ChildRun:
    """The real ``intake`` CLI in a fresh interpreter, with its peak RSS.

    Not ``wait4``'s ``ru_maxrss``: Linux carries that over from the parent across fork and exec, so a bench
    that had just read a 100 MB mail would charge its own memory to the child. VmHWM belongs to the new
    program image: it is read while the child runs, and `intake poll` also prints it itself at exit."""
    env = {**os.environ, PASSWORD_ENV: password, "INTAKE_CONFIG": str(cfg), "COLUMNS": "160"}
    # The code that runs: this repository (or ``checkout``, for before/after runs), not whatever the
    # interpreter's editable install points at.
    env["PYTHONPATH"] = os.pathsep.join([str(checkout or REPO), *filter(None, [os.environ.get("PYTHONPATH")])])
    out_path, err_path = cfg.parent / "intake.stdout", cfg.parent / "intake.stderr"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "ingest.cli", *args], env=env, stdout=out, stderr=err,
                                cwd=cfg.parent)
        deadline = start + timeout
        peak = cpu = 0.0
        tree = TreeSampler(proc.pid)
        while True:
            peak = max(peak, peak_memory_mb(proc.pid))
            tree.sample()
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:  # reaped here, for its CPU time: tell Popen
                proc.returncode = os.waitstatus_to_exitcode(status)
                cpu = usage.ru_utime + usage.ru_stime
                break
            if time.perf_counter() > deadline:
                proc.kill()
                proc.wait()
                break
            time.sleep(0.02)
        seconds = time.perf_counter() - start
    stdout = out_path.read_text(errors="replace")
    # Printed by `intake poll` at exit: its own peak and that of the worker process reading attachments.
    own, worker = reported_peak_memory_mb(stdout)
    peak = max(peak, own)
    return ChildRun(seconds, peak + worker, proc.returncode, stdout, err_path.read_text(errors="replace"),
                    round(cpu, 2), round(peak, 1), round(worker, 1), round(tree.pss_peak_mb, 1),
                    round(max(tree.cpu_seconds, cpu), 2),
                    " + ".join(f"{name} {pss}" for name, pss in tree.peak_breakdown))


def json_records(log_text: str) -> list[dict[str, Any]]:
    """The JSON log lines (``log_format = "json"``) of a run; other lines (warnings) are ignored."""
    records = []
    for line in log_text.splitlines():
        if line.startswith("{"):
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return records


def mbsync_pull(server: DovecotServer, user: str, target: Path) -> list[Path]:
    """``mbsync`` (isync) pulling INBOX into a fresh Maildir; fsyncs each message (its default, FSync yes)."""
    config = target.parent / f"{target.name}.mbsyncrc"
    config.write_text(f"""IMAPAccount bench
Host {server.host}
Port {server.port}
User {user}
Pass {server.password}
SSLType None
AuthMechs LOGIN

IMAPStore remote
Account bench

MaildirStore local
Path {target}/
Inbox {target}/INBOX
SubFolders Verbatim

Channel pull
Far :remote:
Near :local:
Patterns INBOX
Sync Pull
Create Near
SyncState {target}/state/
""", encoding="utf-8")
    (target / "state").mkdir(parents=True, exist_ok=True)
    subprocess.run(["mbsync", "-q", "-c", str(config), "pull"], check=True)
    return sorted(p for sub in ("cur", "new") for p in (target / "INBOX" / sub).iterdir())


def versions() -> dict[str, str]:
    def first_line(*cmd: str) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True).stdout.strip().splitlines()[0]
        except (OSError, IndexError):
            return "?"
    import imapclient
    import sqlalchemy
    return {"python": platform.python_version(), "imapclient": imapclient.__version__,
            "sqlalchemy": sqlalchemy.__version__, "dovecot": first_line("/usr/sbin/dovecot", "--version"),
            "mbsync": first_line("mbsync", "--version"), "cpus": str(os.cpu_count()), "kernel": platform.release()}


def median(values: Iterable[float]) -> float:
    data = list(values)
    return statistics.median(data) if data else float("nan")


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100): with few samples it is an observed value, not an interpolation."""
    data = sorted(values)
    if not data:
        return float("nan")
    rank = max(1, min(len(data), int(-(-q * len(data) // 100))))
    return data[rank - 1]


def stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def write_results(results_dir: Path, name: str, payload: Mapping[str, Any], markdown: str) -> Path:
    """``<name>-<UTC time>.json`` (everything measured, with versions) and ``.md`` (the table)."""
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{name}-{stamp()}"
    body = {**payload, "versions": versions()}
    path.with_suffix(".json").write_text(json.dumps(body, ensure_ascii=False, indent=2, default=str),
                                         encoding="utf-8")
    path.with_suffix(".md").write_text(markdown, encoding="utf-8")
    print(markdown, flush=True)
    return path


def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    def cell(value: object) -> str:
        return f"{value:.2f}" if isinstance(value, float) else str(value)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return lines
