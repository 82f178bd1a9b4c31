"""Where does processing time go? pyinstrument over the pipeline (parse → file → queue the receipt).

Spools N corpus submissions with ``import_local`` (what `intake import` does), then runs ``process_pending``
(what every cycle runs after fetching) in-process under pyinstrument, and writes the profile as text and
HTML next to the results, with the per-stage totals from the product's own stage timing.

    pip install pyinstrument
    python3 bench/profile_pipeline.py --count 20
    python3 bench/profile_pipeline.py --small
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from common import base_parser, intake_config, stamp, table, write_results
from corpus import DEFAULT_CACHE, Mix, build_corpus

from ingest.config import load_config
from ingest.mail.local import import_local
from ingest.pipeline.process import process_pending
from ingest.runtime import Runtime


class StageCollector(logging.Handler):
    """Collects the ``stage_seconds`` field of the pipeline's per-message log records."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.totals: dict[str, float] = defaultdict(float)
        self.messages = 0

    def emit(self, record: logging.LogRecord) -> None:
        seconds: Any = getattr(record, "stage_seconds", None)
        if isinstance(seconds, dict):
            self.messages += 1
            for name, value in seconds.items():
                self.totals[name] += value


def main() -> int:
    parser = base_parser(__doc__)
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--interval-ms", type=float, default=1.0, help="pyinstrument sampling interval")
    args = parser.parse_args()
    from pyinstrument import Profiler

    workdir = Path(tempfile.mkdtemp(prefix="bench-profile-", dir=args.workdir))
    try:
        mails = build_corpus(2 if args.small else args.count, Mix.small() if args.small else Mix(),
                             workdir / "cache" if args.small else DEFAULT_CACHE)
        source = workdir / "mails"
        source.mkdir()
        for mail in mails:
            (source / mail.path.name).symlink_to(mail.path)
        cfg = intake_config(workdir, db_url=f"sqlite:///{workdir / 'intake.db'}")
        runtime = Runtime(load_config(str(cfg), offline=True))
        collector = StageCollector()
        logging.getLogger("ingest.pipeline.process").addHandler(collector)
        logging.getLogger("ingest.pipeline.process").setLevel(logging.INFO)
        try:
            import_local(source, runtime.store, runtime.spool)
            profiler = Profiler(interval=args.interval_ms / 1000)
            began = time.perf_counter()
            profiler.start()
            report = process_pending(runtime)
            profiler.stop()
            seconds = time.perf_counter() - began
        finally:
            runtime.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    html = args.results_dir / f"profile_pipeline-{stamp()}.html"
    html.write_text(profiler.output_html(), encoding="utf-8")
    text = profiler.output_text(unicode=True, color=False, show_all=False)
    top = sorted(collector.totals.items(), key=lambda kv: -kv[1])[:15]
    md = "\n".join([f"# Profile of process_pending over {len(mails)} submissions ({seconds:.1f} s, "
                    f"{report.stored} filed)", "", *table(("stage", "total s", "ms / submission"),
                                                          [(k, v, 1000 * v / max(1, len(mails))) for k, v in top]),
                    "", f"Full profile: `{html.name}` (HTML). Call tree:", "", "```", text[:20000], "```"]) + "\n"
    write_results(args.results_dir, "profile_pipeline", {"seconds": seconds, "submissions": len(mails),
                                                         "stored": report.stored, "stages": dict(collector.totals)}, md)
    return 0 if report.stored == len(mails) else 1


if __name__ == "__main__":
    raise SystemExit(main())
