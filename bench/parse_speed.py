"""Micro-benchmark of the streaming MIME parser (ingest/mail/mime_stream.py): MB/s of attachment data.

Parses the same mails N times into a scratch directory and reports the best and the median, in wall time and in
CPU time of this process (``time.process_time``: less disturbed by other work on a loaded machine). The mails are
the bench corpus (bench/corpus.py, made once and cached) or, with ``--synthetic``, generated mails with random
attachments (seconds to make). ``--compare FILE`` times another version of ``mime_stream.py`` (e.g. from
``git show main~3:ingest/mail/mime_stream.py > /tmp/old.py``) interleaved round by round with this checkout's, and
checks that both give the same attachments (SHA-256) for every mail. Only that file is swapped: what it imports
(the part decoder ``ingest/mail/transfer_decoding.py`` since it was split out) comes from this checkout.

    python3 bench/parse_speed.py --count 10 --rounds 5
    python3 bench/parse_speed.py --synthetic --compare /tmp/old_mime_stream.py
"""

from __future__ import annotations

import gc
import importlib.util
import os
import random
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType
from typing import Callable

from common import MB, base_parser, median, table, write_results

from ingest.mail import mime_stream
from ingest.samples.mails import Attachment, build_mail


@dataclass(frozen=True)
class SpeedRun:
    parser: str
    mails: int
    mail_MB: float
    attachment_MB: float
    best_wall_MBps: float
    median_wall_MBps: float
    best_cpu_MBps: float
    median_cpu_MBps: float


def synthetic_mails(directory: Path, count: int) -> list[Path]:
    rng = random.Random(21)
    paths = []
    for i in range(count):
        atts = [Attachment(f"照片{j}.jpg", rng.randbytes(rng.randint(2 * MB, 4 * MB)), "image/jpeg")
                for j in range(rng.randint(3, 6))]
        raw = build_mail(style=("163", "qq", "foxmail", "utf8")[i % 4], sender=f"s{i}@163.com", to="zj@163.com",
                         subject="浙江省杭州市育才小学+劳动教育课程群建设与实践+教育教学改革", body="您好，附件是材料。",
                         attachments=atts)
        path = directory / f"{i:03d}.eml"
        path.write_bytes(raw)
        paths.append(path)
    return paths


def corpus_mails(count: int) -> list[Path]:
    from corpus import Mix, build_corpus
    return [m.path for m in build_corpus(count, Mix())]


def load_parser(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("mime_stream_compare", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parse_all(parse: Callable[[Path, Path], object], mails: list[Path], scratch: Path) -> tuple[float, float, dict]:
    """One round over every mail: wall and CPU seconds, and the attachments' hashes per mail."""
    digests: dict[str, list[tuple[str, int]]] = {}
    wall = cpu = 0.0
    for mail in mails:
        out = scratch / mail.stem
        gc.collect()
        w0, c0 = time.perf_counter(), time.process_time()
        parsed = parse(mail, out)
        wall += time.perf_counter() - w0
        cpu += time.process_time() - c0
        digests[mail.name] = [(a.sha256, a.size) for a in parsed.attachments]  # type: ignore[attr-defined]
        shutil.rmtree(out)
    return wall, cpu, digests


def main() -> int:
    parser = base_parser(__doc__)
    parser.add_argument("--count", type=int, default=10, help="mails")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--synthetic", action="store_true", help="random attachments instead of the corpus")
    parser.add_argument("--compare", type=Path, default=None, help="another mime_stream.py to time alongside")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-parse-", dir=args.workdir))
    try:
        mails = synthetic_mails(workdir, 2 if args.small else args.count) if args.synthetic or args.small \
            else corpus_mails(args.count)
        scratch = workdir / "parts"
        scratch.mkdir()
        parsers: dict[str, Callable[[Path, Path], object]] = {"this checkout": mime_stream.parse_file}
        if args.compare is not None:
            parsers[f"compare: {args.compare.name}"] = load_parser(args.compare).parse_file
        rounds = 1 if args.small else args.rounds
        walls: dict[str, list[float]] = {name: [] for name in parsers}
        cpus: dict[str, list[float]] = {name: [] for name in parsers}
        attachment_bytes = 0
        reference: dict | None = None
        for r in range(rounds):
            for name, parse in parsers.items():  # interleaved: load on the machine hits every parser alike
                wall, cpu, digests = parse_all(parse, mails, scratch)
                walls[name].append(wall)
                cpus[name].append(cpu)
                attachment_bytes = sum(size for atts in digests.values() for _h, size in atts)
                if reference is None:
                    reference = digests
                elif digests != reference:
                    raise SystemExit(f"{name}: attachments differ from the first parser's")
                print(f"round {r + 1} {name}: wall {wall:.2f} s, cpu {cpu:.2f} s", flush=True)
        mail_mb = sum(p.stat().st_size for p in mails) / MB
        att_mb = attachment_bytes / MB
        runs = [SpeedRun(name, len(mails), round(mail_mb, 1), round(att_mb, 1),
                         round(att_mb / min(walls[name]), 1), round(att_mb / median(walls[name]), 1),
                         round(att_mb / max(min(cpus[name]), 1e-9), 1), round(att_mb / max(median(cpus[name]), 1e-9), 1))
                   for name in parsers]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    load = os.getloadavg()
    md = "\n".join([
        "# Streaming MIME parser: MB/s of attachment data", "",
        f"{'synthetic' if args.synthetic or args.small else 'corpus'} mails, {rounds} rounds, "
        f"load average at the end {load[0]:.1f}", "",
        *table(("parser", "mails", "mail MB", "attachment MB", "best wall MB/s", "median wall MB/s",
                "best CPU MB/s", "median CPU MB/s"),
               [(r.parser, r.mails, r.mail_MB, r.attachment_MB, r.best_wall_MBps, r.median_wall_MBps,
                 r.best_cpu_MBps, r.median_cpu_MBps) for r in runs])]) + "\n"
    print(md)
    write_results(args.results_dir, "parse_speed", {"runs": [asdict(r) for r in runs], "loadavg": load,
                                                     "rounds": rounds}, md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
