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


def sized_mix(target_mb: float, video_seconds: int = VIDEO_SECONDS) -> Mix:
    """One submission of about ``target_mb`` MB as mailed: its video's bitrate fills what the documents leave."""
    video_bytes = max(0.2 * MB, target_mb * MB / BASE64_GROWTH - 0.3 * MB)
    kbps = max(50, int(video_bytes * 8 / video_seconds / 1000))
    return Mix(photos=(0, 0), photo_mb=(0.1, 0.1), video_share=1.0, video_minutes=(1, 1), video_kbps=kbps,
               video_unit_seconds=video_seconds, zip_share=1.0, sevenz_share=0.0, photo_pool=1,
               seed=int(target_mb * 10))


def measure(server: DovecotServer, mails: list[CorpusMail], what: str, workdir: Path) -> MemoryRun:
    run_dir = Path(tempfile.mkdtemp(prefix="mem-", dir=workdir))
    try:
        user = server.new_user()
        load_into_dovecot(server, user, mails)
        cfg = intake_config(run_dir, db_url=f"sqlite:///{run_dir / 'intake.db'}", imap=(server.port, user))
        run = run_intake(cfg, "poll", "--once", password=server.password)
        if run.returncode != 0:
            raise RuntimeError(f"intake poll failed:\n{run.stdout}\n{run.stderr[-3000:]}")
        size = max((m.size for m in mails), default=0) / MB
        print(f"{what}: peak RSS {run.peak_rss_mb:.0f} MB in {run.seconds:.1f} s", flush=True)
        return MemoryRun(what, len(mails), round(size, 1), round(run.peak_rss_mb, 1), round(run.seconds, 1))
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


def main() -> int:
    parser = base_parser(__doc__)
    parser.add_argument("--sizes", default="10,50,100", help="message sizes in MB, comma-separated")
    parser.add_argument("--backlog", type=int, default=50, help="corpus submissions in the backlog run (0: none)")
    args = parser.parse_args()
    sizes = [1.0, 3.0] if args.small else [float(s) for s in args.sizes.split(",") if s]
    video_seconds = 10 if args.small else VIDEO_SECONDS
    workdir = Path(tempfile.mkdtemp(prefix="bench-memory-", dir=args.workdir))
    cache = workdir / "cache" if args.small else DEFAULT_CACHE
    server = DovecotServer()
    server.start()
    runs: list[MemoryRun] = []
    try:
        runs.append(measure(server, [], "empty mailbox (floor)", workdir))
        for size in sizes:
            mails = build_corpus(1, sized_mix(size, video_seconds), cache)
            runs.append(measure(server, mails, f"one {size:g} MB submission", workdir))
        backlog = 2 if args.small else args.backlog
        if backlog:
            mails = build_corpus(backlog, Mix.small() if args.small else Mix(), cache)
            runs.append(measure(server, mails, f"backlog of {backlog} corpus submissions", workdir))
    finally:
        server.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)
    floor = runs[0].peak_rss_MB
    singles = [r for r in runs if r.what.startswith("one ")]
    slope = ((singles[-1].peak_rss_MB - singles[0].peak_rss_MB) / (singles[-1].message_MB - singles[0].message_MB)
             if len(singles) >= 2 and singles[-1].message_MB != singles[0].message_MB else float("nan"))
    md = "\n".join([
        "# Peak RSS of `intake poll --once`", "",
        *table(("run", "mails", "largest mail MB", "peak RSS MB", "above floor MB", "seconds"),
               [(r.what, r.mails, r.message_MB, r.peak_rss_MB, round(r.peak_rss_MB - floor, 1), r.seconds)
                for r in runs]),
        "", f"RSS growth per MB of message between the smallest and largest single submission: {slope:.3f} MB/MB "
            "(0 = bounded by a constant)."]) + "\n"
    write_results(args.results_dir, "memory", {"runs": [asdict(r) for r in runs], "rss_per_message_MB": slope}, md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
