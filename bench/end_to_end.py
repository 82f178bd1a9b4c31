"""The whole job on a backlog: throughput, time per stage, and the ratio to the mbsync floor, same run.

Starts a Dovecot and an SMTP sink on loopback, APPENDs the corpus (bench/corpus.py), times `mbsync` pulling
the mailbox (the floor: download only), then runs the real `intake poll --once` (a fresh process, JSON logs):
fetch to the spool, parse, unpack, classify, facts, each check, store, queue and send every receipt. The
breakdown comes from the product's own stage timing (``stage_seconds`` per message, ``cycle_seconds`` per
cycle, ingest/pipeline/timing.py); peak RSS is the intake process's own (VmHWM). Every submission must end with a
receipt at the SMTP sink, or the run fails.

    python3 bench/end_to_end.py                      # 200 submissions, SQLite
    python3 bench/end_to_end.py --db postgresql      # the same on PostgreSQL
    python3 bench/end_to_end.py --typical 10         # issue 5: time per typical submission
    python3 bench/end_to_end.py --small              # 3 tiny submissions (the smoke test)
    python3 bench/end_to_end.py --count 20 --compare /tmp/before   # before/after on one mailbox, interleaved

``--compare DIR`` runs another checkout (``git archive`` of an older commit) on the same mailbox right after
this one (the IMAP select is read-only, so both fetch everything), and compares the verdict and the findings
of every submission between the two.

"Typical" is 8 photos of 3 MB, the form as Word and scanned PDF, the text material, one 3-minute 720p MP4.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

from common import (MB, DovecotServer, SmtpSink, base_parser, intake_config, json_records, mbsync_pull, median,
                    percentile, run_intake, table, write_results)
from corpus import DEFAULT_CACHE, CorpusMail, Mix, build_corpus, describe, load_into_dovecot
from servers import create_database, drop_database, postgres_server_url

TYPICAL = Mix(photos=(8, 8), photo_mb=(2.9, 3.1), video_share=1.0, video_minutes=(3, 3), zip_share=0.5,
              sevenz_share=0.0, photo_pool=8, seed=5)

# Stages reported one by one; the rest of the per-message stages are summed under their prefix.
GROUPS = ("facts", "check")


@dataclass(frozen=True)
class BacklogRun:
    submissions: int
    mailbox_MB: float
    mbsync_seconds: float
    intake_seconds: float
    peak_rss_MB: float
    receipts: int
    cycle_seconds: dict[str, float]
    stage_totals: dict[str, float]
    per_submission_seconds: list[float]
    statuses: dict[str, int]
    cpu_seconds: float = 0.0
    label: str = "this checkout"
    cycle_wall_seconds: float = 0.0  # 0: not logged (a checkout whose phases ran one after another)
    tree_pss_peak_MB: float = 0.0
    tree_cpu_seconds: float = 0.0

    @property
    def cycle_wall(self) -> float:
        return self.cycle_wall_seconds or sum(self.cycle_seconds.values())

    @property
    def per_minute(self) -> float:
        return self.submissions / (self.intake_seconds / 60)

    @property
    def ratio_to_floor(self) -> float:
        return self.intake_seconds / self.mbsync_seconds


def ingest_backlog(mails: Sequence[CorpusMail], workdir: Path, *, db: str = "sqlite",
                   checkouts: Sequence[tuple[str, Path | None]] = (("this checkout", None),),
                   ) -> tuple[list[BacklogRun], dict[str, dict[str, Any]]]:
    """Every checkout ingests the same mailbox in turn; their runs and each one's verdicts by Message-ID."""
    server, sink = DovecotServer(), SmtpSink()
    server.start()
    sink.start()
    runs: list[BacklogRun] = []
    verdicts: dict[str, dict[str, Any]] = {}
    try:
        user = server.new_user()
        load_seconds = load_into_dovecot(server, user, mails)
        total = sum(m.size for m in mails)
        print(f"appended {len(mails)} mails, {total / MB:.0f} MB, in {load_seconds:.1f} s", flush=True)
        settle()
        began = time.perf_counter()
        mbsync_pull(server, user, workdir / "mbsync")
        mbsync_seconds = time.perf_counter() - began
        shutil.rmtree(workdir / "mbsync")
        print(f"mbsync: {mbsync_seconds:.1f} s", flush=True)
        for i, (label, checkout) in enumerate(checkouts):
            run_dir = workdir / f"run{i}"
            run_dir.mkdir()
            db_url = f"sqlite:///{run_dir / 'intake.db'}" if db == "sqlite" else create_database(postgres_server_url())
            try:
                settle()
                runs.append(_one_run(mails, run_dir, server, user, sink, db_url, mbsync_seconds, label, checkout,
                                     receipts_before=len(sink.wait_for(0))))
                verdicts[label] = _verdicts(db_url)
            finally:
                if db != "sqlite":
                    drop_database(db_url)
    finally:
        sink.stop()
        server.cleanup()
    return runs, verdicts


def settle() -> None:
    """Before each timed run: write back what the runs before left dirty in the page cache. Without it the
    second of two identical runs took 23.4 s where the first took 18.5 s (the disk still busy with the first
    run's 3.6 GB of spool, parts and unpacked files), whichever checkout went second."""
    os.sync()
    time.sleep(2)


def _one_run(mails: Sequence[CorpusMail], run_dir: Path, server: DovecotServer, user: str, sink: SmtpSink,
             db_url: str, mbsync_seconds: float, label: str, checkout: Path | None, receipts_before: int) -> BacklogRun:
    cfg = intake_config(run_dir, db_url=db_url, imap=(server.port, user), smtp_port=sink.port)
    run = run_intake(cfg, "poll", "--once", password=server.password, checkout=checkout)
    if run.returncode != 0:
        raise RuntimeError(f"intake poll failed ({run.returncode}):\n{run.stdout}\n{run.stderr[-3000:]}")
    print(f"{label}: intake poll --once: {run.seconds:.1f} s, CPU {run.cpu_seconds:.1f} s, "
          f"peak RSS {run.peak_rss_mb:.0f} MB", flush=True)
    receipts = len(sink.wait_for(receipts_before + len(mails), timeout=60)) - receipts_before
    records = json_records(run.stderr)
    per_message = [r for r in records if "stage_seconds" in r]
    cycle: dict[str, float] = next((r["cycle_seconds"] for r in records if "cycle_seconds" in r), {})
    wall = next((r["cycle_wall_seconds"] for r in records if "cycle_wall_seconds" in r), 0.0)
    stage_totals: dict[str, float] = defaultdict(float)
    statuses: dict[str, int] = defaultdict(int)
    for record in per_message:
        statuses[record.get("status", "?")] += 1
        for name, seconds in record["stage_seconds"].items():
            stage_totals[name] += seconds
    return BacklogRun(submissions=len(mails), mailbox_MB=sum(m.size for m in mails) / MB,
                      mbsync_seconds=mbsync_seconds, intake_seconds=run.seconds, peak_rss_MB=run.peak_rss_mb,
                      receipts=receipts, cycle_seconds=cycle, stage_totals=dict(stage_totals),
                      per_submission_seconds=[sum(r["stage_seconds"].values()) for r in per_message],
                      statuses=dict(statuses), cpu_seconds=run.cpu_seconds, label=label, cycle_wall_seconds=wall,
                      tree_pss_peak_MB=run.tree_pss_peak_mb, tree_cpu_seconds=run.tree_cpu_seconds)


def _verdicts(db_url: str) -> dict[str, Any]:
    """Per mail (Message-ID): the submission's status and its findings (rule, severity, passed, file)."""
    import sqlalchemy as sa
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text(
                "SELECT m.message_id, s.id, s.status FROM submissions s JOIN messages m ON m.id = s.message_row_id"))
            out: dict[str, Any] = {}
            for message_id, sub_id, status in rows.all():
                findings = conn.execute(sa.text(
                    "SELECT rule, severity, passed, file FROM findings WHERE submission_id = :s "
                    "ORDER BY rule, file, severity"), {"s": sub_id}).all()
                out[str(message_id)] = {"status": status, "findings": [list(f) for f in findings]}
            return out
    finally:
        engine.dispose()


def breakdown_rows(result: BacklogRun) -> list[tuple[str, float, float, float]]:
    """(stage, total s, share of the cycle %, mean ms per submission), cycle phases first."""
    whole = result.cycle_wall or result.intake_seconds
    rows: list[tuple[str, float, float, float]] = [("process start, imports, migrations", result.intake_seconds - whole,
                                                     100 * (result.intake_seconds - whole) / whole, 0.0)]
    n = max(1, result.submissions)
    for phase in ("fetch", "send"):
        if phase in result.cycle_seconds:
            rows.append((f"{phase} (cycle phase)", result.cycle_seconds[phase],
                         100 * result.cycle_seconds[phase] / whole, 1000 * result.cycle_seconds[phase] / n))
    for name, seconds in sorted(result.stage_totals.items(), key=lambda kv: -kv[1]):
        rows.append((name, seconds, 100 * seconds / whole, 1000 * seconds / n))
    grouped: dict[str, float] = defaultdict(float)
    for name, seconds in result.stage_totals.items():
        prefix = name.split(":", 1)[0]
        if prefix in GROUPS:
            grouped[prefix] += seconds
    for prefix, seconds in grouped.items():
        rows.append((f"{prefix} (all)", seconds, 100 * seconds / whole, 1000 * seconds / n))
    return rows


def report(result: BacklogRun, title: str, corpus_info: dict[str, object]) -> str:
    per = result.per_submission_seconds
    lines = [f"# {title}", "", f"Corpus: {corpus_info}", "",
             *table(("measure", "value"), [
                 ("submissions", result.submissions), ("mailbox MB", round(result.mailbox_MB)),
                 ("mbsync (download floor) s", result.mbsync_seconds),
                 ("intake poll --once (process start to exit) s", result.intake_seconds),
                 ("CPU of intake, s (user+sys; worker processes only where reaped)", result.cpu_seconds),
                 ("CPU of intake and every process under it (sampled), s", result.tree_cpu_seconds),
                 ("of which the cycle (fetch + process + send; wall, phases may overlap) s", round(result.cycle_wall, 2)),
                 ("**full ingest / mbsync**", f"**{result.ratio_to_floor:.1f}**"),
                 ("throughput, submissions per minute", result.per_minute),
                 ("processing per submission, median s", median(per)),
                 ("processing per submission, p95 s", percentile(per, 95)),
                 ("peak RSS of intake + file-reading workers (sum of each one's VmHWM), MB", round(result.peak_rss_MB)),
                 ("peak PSS of intake and every process under it (sampled), MB", round(result.tree_pss_peak_MB)),
                 ("receipts at the SMTP sink", result.receipts),
                 ("verdicts", dict(result.statuses))]),
             "", "Per stage (the product's own stage timing; the cycle is fetch + process + send):", "",
             *table(("stage", "total s", "% of cycle", "mean ms / submission"), breakdown_rows(result))]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = base_parser(__doc__)
    parser.add_argument("--count", type=int, default=200, help="submissions in the backlog")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--typical", type=int, default=0, metavar="N",
                        help="instead of the corpus mix: N typical submissions (issue 5)")
    parser.add_argument("--compare", type=Path, default=None, metavar="DIR",
                        help="another checkout to run on the same mailbox (before/after)")
    parser.add_argument("--compare-second", action="store_true",
                        help="run the other checkout after this one (default: before it); a second invocation "
                             "with the order swapped shows what the order itself costs")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-e2e-", dir=args.workdir))
    checkouts: list[tuple[str, Path | None]] = [("this checkout", None)]
    if args.compare is not None:
        where = len(checkouts) if args.compare_second else 0  # "before" first, unless asked otherwise
        checkouts.insert(where, (f"compare: {args.compare}", args.compare))
    try:
        if args.small:
            mix, count, cache = Mix.small(), 3, workdir / "corpus-cache"
        elif args.typical:
            mix, count, cache = TYPICAL, args.typical, DEFAULT_CACHE
        else:
            mix, count, cache = Mix(), args.count, DEFAULT_CACHE
        mails = build_corpus(count, mix, cache)
        info = describe(mails)
        run_dir = workdir / "run"
        run_dir.mkdir()
        results, verdicts = ingest_backlog(mails, run_dir, db=args.db, checkouts=checkouts)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    kind = "typical submissions" if args.typical else "submissions"
    title = f"End to end: {count} {kind}, {args.db}"
    load = os.getloadavg()
    reference = verdicts[checkouts[0][0]]
    differing = sorted(mid for label, _ in checkouts for mid in set(reference) | set(verdicts[label])
                       if verdicts[label].get(mid) != reference.get(mid))
    payload: dict[str, Any] = {"db": args.db, "typical": bool(args.typical), "corpus": info, "mix": asdict(mix),
                               "result": asdict(results[-1]),  # this checkout's
                               "results": [asdict(r) for r in results], "loadavg": load,
                               "per_minute": [r.per_minute for r in results],
                               "ratio_to_mbsync": [r.ratio_to_floor for r in results],
                               "verdicts": verdicts, "submissions_with_differing_verdicts": differing}
    md = "\n".join(report(r, f"{title}: {r.label}", info) for r in results)
    if len(results) > 1:
        md += (f"\nLoad average at the end: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}. Verdicts and findings compared "
               f"for {len(reference)} submissions: {len(set(differing))} differ{': ' + ', '.join(differing) if differing else ''}.\n")
    write_results(args.results_dir, "end_to_end" + ("-typical" if args.typical else ""), payload, md)
    return 0 if all(r.receipts == count for r in results) and not differing else 1


if __name__ == "__main__":
    raise SystemExit(main())
