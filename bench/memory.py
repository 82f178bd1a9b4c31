"""Peak memory of intake: one submission of 10, 50 and 100 MB, and a backlog. Must not grow with message size.

Each measurement is a fresh `intake poll --once` (the real CLI, a fresh process, its own database and Dovecot
user) whose peak RSS is its own VmHWM (what `intake poll` prints at exit). The submissions are real: a
form (DOCX + sealed scanned PDF), text material and one 5-minute 720p MP4 (10 s with --small) whose bitrate is chosen so the
mail reaches the target size, packed in a GBK-named ZIP. A run with an empty mailbox gives the floor
(interpreter, imports, migrations). The spool streams the download to disk and the MIME parser streams
parts to files, so the peak should stay near the floor whatever the size.

    python3 bench/memory.py                         # 10, 50, 100 MB, a backlog of 50 corpus submissions
    python3 bench/memory.py --sizes 100 --backlog 0
    python3 bench/memory.py --small                 # 1 and 3 MB, backlog of 2 tiny ones (the smoke test)
    python3 bench/memory.py --sizes 100 --backlog 20 --compare /tmp/before   # before/after, case by case
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from common import MB, DovecotServer, base_parser, intake_config, run_intake, table, write_results
from corpus import DEFAULT_CACHE, CorpusMail, Mix, build_corpus, load_into_dovecot

VIDEO_SECONDS = 300
BASE64_GROWTH = 4 / 3 * 78 / 76  # base64 with CRLF every 76 characters


@dataclass(frozen=True)
class MemoryRun:
    what: str
    mails: int
    message_MB: float
    peak_rss_MB: float
    seconds: float
    daemon_MB: float = 0.0
    worker_MB: float = 0.0
    tree_pss_MB: float = 0.0  # peak summed PSS of intake and every process under it (sampled)
    cpu_seconds: float = 0.0  # CPU of intake and every process under it (sampled)
    peak_by_process: str = ""  # each process's PSS at that peak


def sized_mix(target_mb: float, video_seconds: int = VIDEO_SECONDS) -> Mix:
    """One submission of about ``target_mb`` MB as mailed: its video's bitrate fills what the documents leave."""
    video_bytes = max(0.2 * MB, target_mb * MB / BASE64_GROWTH - 0.3 * MB)
    kbps = max(50, int(video_bytes * 8 / video_seconds / 1000))
    return Mix(photos=(0, 0), photo_mb=(0.1, 0.1), video_share=1.0, video_minutes=(1, 1), video_kbps=kbps,
               video_unit_seconds=video_seconds, zip_share=1.0, sevenz_share=0.0, photo_pool=1,
               seed=int(target_mb * 10))


def measure(server: DovecotServer, mails: list[CorpusMail], what: str, workdir: Path,
            checkout: Path | None = None, existing_db: bool = False) -> MemoryRun:
    run_dir = Path(tempfile.mkdtemp(prefix="mem-", dir=workdir))
    try:
        user = server.new_user()
        load_into_dovecot(server, user, mails)
        cfg = intake_config(run_dir, db_url=f"sqlite:///{run_dir / 'intake.db'}", imap=(server.port, user))
        if existing_db:  # the database made by another process first, as for a daemon restarted on its database
            made = run_intake(cfg, "check-config", password=server.password, checkout=checkout)
            if made.returncode != 0:
                raise RuntimeError(f"intake check-config failed:\n{made.stdout}\n{made.stderr[-3000:]}")
        run = run_intake(cfg, "poll", "--once", password=server.password, checkout=checkout)
        if run.returncode != 0:
            raise RuntimeError(f"intake poll failed:\n{run.stdout}\n{run.stderr[-3000:]}")
        size = max((m.size for m in mails), default=0) / MB
        print(f"{what}: peak RSS {run.peak_rss_mb:.0f} MB (intake {run.daemon_peak_mb:.0f} + workers "
              f"{run.worker_peak_mb:.0f}), peak PSS of the tree {run.tree_pss_peak_mb:.0f} MB, "
              f"CPU {run.tree_cpu_seconds:.1f} s, in {run.seconds:.1f} s; at the peak: {run.tree_peak_breakdown}",
              flush=True)
        return MemoryRun(what, len(mails), round(size, 1), round(run.peak_rss_mb, 1), round(run.seconds, 1),
                         run.daemon_peak_mb, run.worker_peak_mb, run.tree_pss_peak_mb, run.tree_cpu_seconds,
                         run.tree_peak_breakdown)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


def main() -> int:
    parser = base_parser(__doc__)
    parser.add_argument("--sizes", default="10,50,100", help="message sizes in MB, comma-separated")
    parser.add_argument("--backlog", type=int, default=50, help="corpus submissions in the backlog run (0: none)")
    parser.add_argument("--compare", type=Path, default=None, metavar="DIR",
                        help="another checkout measured right before this one on each case (before/after)")
    parser.add_argument("--existing-db", action="store_true",
                        help="make the database with `intake check-config` first: the poll then starts as a "
                             "restarted daemon does, without running (and keeping) the migrations")
    args = parser.parse_args()
    sizes = [1.0, 3.0] if args.small else [float(s) for s in args.sizes.split(",") if s]
    video_seconds = 10 if args.small else VIDEO_SECONDS
    workdir = Path(tempfile.mkdtemp(prefix="bench-memory-", dir=args.workdir))
    cache = workdir / "cache" if args.small else DEFAULT_CACHE
    checkouts: list[tuple[str, Path | None]] = [("", None)]
    if args.compare is not None:
        checkouts.insert(0, (f" [{args.compare}]", args.compare))
    server = DovecotServer()
    server.start()
    runs: list[MemoryRun] = []
    cases: list[tuple[str, list[CorpusMail]]] = [("empty mailbox (floor)", [])]
    try:
        for size in sizes:
            cases.append((f"one {size:g} MB submission", build_corpus(1, sized_mix(size, video_seconds), cache)))
        backlog = 2 if args.small else args.backlog
        if backlog:
            cases.append((f"backlog of {backlog} corpus submissions",
                          build_corpus(backlog, Mix.small() if args.small else Mix(), cache)))
        for what, mails in cases:
            for label, checkout in checkouts:  # interleaved, case by case
                runs.append(measure(server, mails, what + label, workdir, checkout, args.existing_db))
    finally:
        server.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)
    mine = [r for r in runs if not r.what.endswith("]")]
    floor = mine[0].peak_rss_MB
    singles = [r for r in mine if r.what.startswith("one ")]
    slope = ((singles[-1].peak_rss_MB - singles[0].peak_rss_MB) / (singles[-1].message_MB - singles[0].message_MB)
             if len(singles) >= 2 and singles[-1].message_MB != singles[0].message_MB else float("nan"))
    md = "\n".join([
        "# Peak RSS of `intake poll --once`", "",
        *table(("run", "mails", "largest mail MB", "peak RSS MB (intake + workers)", "intake MB", "workers MB",
                "above floor MB", "peak PSS of the tree MB", "CPU s", "seconds"),
               [(r.what, r.mails, r.message_MB, r.peak_rss_MB, r.daemon_MB, r.worker_MB,
                 round(r.peak_rss_MB - floor, 1), r.tree_pss_MB, r.cpu_seconds, r.seconds) for r in runs]),
        "", "Peak RSS: intake's own VmHWM plus each file-reading worker's (pages shared between the processes, such",
        "as the readers' libraries the fork server loaded once, count in each). Peak PSS of the tree: sampled every",
        "0.2 s over intake, the fork server and the workers, each shared page split among the processes sharing it",
        "(what the processes take from the machine together; a spike shorter than the interval can be missed).",
        "", f"RSS growth per MB of message between the smallest and largest single submission: {slope:.3f} MB/MB "
            "(0 = bounded by a constant)."]) + "\n"
    write_results(args.results_dir, "memory", {"runs": [asdict(r) for r in mine], "rss_per_message_MB": slope,
                                               "compared": [asdict(r) for r in runs if r.what.endswith("]")]}, md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
