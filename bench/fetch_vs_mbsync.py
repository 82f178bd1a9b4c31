"""How fast can we pull a mailbox? The product's fetch against mbsync, the fetch floor, on a real Dovecot.

The bench starts its own Dovecot (tests/servers.py), APPENDs the backlog (by default the realistic corpus of
bench/corpus.py; ``--synthetic`` for mails of one random attachment), then alternates, round after round,
rotating the order, between:
  - mbsync:            `mbsync` pulling INBOX into a fresh Maildir (fsyncs each message by default);
  - intake:            the product itself: ingest.mail.imap.MailboxClient + ingest.mail.fetch.fetch_new into a fresh
                       Spool and SQLite store (each message fsynced, renamed, its directory fsynced, then a
                       database row: a message counts as received only then), exactly what a poll does, with
                       the default imap.fetch_connections (2);
  - intake-1conn, intake-3conn: the same over one or three connections (fetch_connections = 1, 3);
  - imapclient-debug0: bare imapclient, `_imap.debug = 0`, chunked BODY.PEEK[]<offset.length> to fsynced files;
  - imapclient-default: the same with imapclient's own setting (debug = 5), to measure that setting's cost;
  - imapclient-2conn:  imapclient-debug0 over two connections in two threads, each taking every other message.
Every method's output is checked byte for byte (SHA-256) against what was appended. The ratio reported is
intake's median time over mbsync's (target <= 1.0). Results go to bench/results/ as JSON and Markdown.

    python3 bench/fetch_vs_mbsync.py                      # 200 corpus submissions, 3 rounds
    python3 bench/fetch_vs_mbsync.py --small              # 3 tiny submissions, 1 round (the smoke test)
    python3 bench/fetch_vs_mbsync.py --synthetic --messages 200 --methods mbsync,intake,imapclient-default
"""

from __future__ import annotations

import hashlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Callable

from common import MB, DovecotServer, base_parser, mbsync_pull, write_results
from corpus import DEFAULT_CACHE, Mix, build_corpus, load_into_dovecot

from ingest.config import ImapSettings
from ingest.mail.fetch import fetch_new
from ingest.mail.imap import MailboxClient
from ingest.mail.spool import Spool
from store import Store


@dataclass(frozen=True)
class Run:
    method: str
    round: int
    seconds: float
    messages: int
    bytes: int
    verified: bool


def make_mail(index: int, attachment_bytes: int) -> bytes:
    """One submission-like mail: GBK-free UTF-8 text plus one random (incompressible, like JPEG/MP4) attachment."""
    message = EmailMessage()
    message["From"] = f"school{index}@163.com"
    message["To"] = "jcjyzj2025@163.com"
    message["Subject"] = f"湖北省/育才小学创新实践案例{index}+教育教学改革"
    message["Message-ID"] = make_msgid(domain="bench.local")
    message.set_content("附件为申报材料，请查收。")
    message.add_attachment(os.urandom(attachment_bytes), maintype="application", subtype="zip",
                           filename=f"案例材料{index}.zip")
    return message.as_bytes(policy=message.policy.clone(linesep="\r\n"))


def populate(server: DovecotServer, user: str, count: int, attachment_bytes: int) -> tuple[set[str], int]:
    """APPEND `count` mails; returns the digest of each and their total size."""
    expected: set[str] = set()
    total = 0
    with server.connect(user) as client:
        client._imap.debug = 0  # only the literal size would be logged on APPEND, but keep setup fast anyway
        for index in range(count):
            raw = make_mail(index, attachment_bytes)
            client.append("INBOX", raw)
            expected.add(crlf_digest(raw))
            total += len(raw)
    return expected, total


def populate_corpus(server: DovecotServer, user: str, count: int, small: bool, workdir: Path) -> tuple[set[str], int]:
    """APPEND the realistic corpus (bench/corpus.py); returns the digest of each mail and their total size."""
    cache = workdir / "corpus-cache" if small else DEFAULT_CACHE
    mails = build_corpus(count, Mix.small() if small else Mix(), cache)
    load_into_dovecot(server, user, mails)
    return {crlf_digest(m.path.read_bytes()) for m in mails}, sum(m.size for m in mails)


def crlf_digest(data: bytes) -> str:
    """SHA-256 with line ends made CRLF: mbsync stores Maildir files with LF ends, IMAP sends CRLF."""
    return hashlib.sha256(data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")).hexdigest()


def without_tuid(data: bytes) -> bytes:
    """mbsync writes an `X-TUID:` header of its own into each message it stores; drop it to compare."""
    head_end = data.find(b"\n\n")
    head, body = (data[:head_end + 1], data[head_end + 1:]) if head_end >= 0 else (data, b"")
    kept = [line for line in head.splitlines(keepends=True) if not line.startswith(b"X-TUID: ")]
    return b"".join(kept) + body


def digest_files(files: list[Path], strip_tuid: bool) -> set[str]:
    return {crlf_digest(without_tuid(p.read_bytes()) if strip_tuid else p.read_bytes()) for p in files}


def fetch_intake(server: DovecotServer, user: str, target: Path, chunk_bytes: int,
                 connections: int = ImapSettings.fetch_connections) -> list[Path]:
    """The product's fetch, as a poll runs it: MailboxClient (ID, read-only SELECT) and fetch_new into a Spool
    and a SQLite store of its own. Returns the spooled files."""
    target.mkdir(parents=True)
    settings = ImapSettings(host=server.host, port=server.port, security="plain", username=user,
                            password=server.password, fetch_chunk_bytes=chunk_bytes, fetch_connections=connections,
                            use_idle=False)
    store = Store.open(f"sqlite:///{target / 'intake.db'}", campaign_id="jcjy2025")
    spool = Spool(target / "spool")
    mailbox = MailboxClient(settings)
    try:
        mailbox.connect()
        report = fetch_new(mailbox, store, spool)
    finally:
        mailbox.close()
        store.close()
    files = sorted((target / "spool" / "raw").rglob("*.eml"))
    if report.new != len(files):
        raise RuntimeError(f"fetch_new reported {report.new} new messages but {len(files)} are spooled")
    return files


def chunked_fetch(server: DovecotServer, user: str, target: Path, chunk_bytes: int, debug: int | None,
                  connections: int = 1) -> list[Path]:
    """Each message in BODY.PEEK[]<offset.length> chunks to a temp file, fsynced, then renamed into place.
    With ``connections`` > 1, that many connections in threads, each taking every n-th message."""
    target.mkdir(parents=True)
    if connections > 1:
        with ThreadPoolExecutor(connections) as pool:
            shares = list(pool.map(lambda k: _chunked_share(server, user, target, chunk_bytes, debug, k, connections),
                                   range(connections)))
        written = sorted(p for share in shares for p in share)
    else:
        written = _chunked_share(server, user, target, chunk_bytes, debug, 0, 1)
    directory = os.open(target, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return written


def _chunked_share(server: DovecotServer, user: str, target: Path, chunk_bytes: int, debug: int | None,
                   share: int, shares: int) -> list[Path]:
    written: list[Path] = []
    with server.connect(user) as client:
        if debug is not None:
            client._imap.debug = debug
        client.select_folder("INBOX", readonly=True)
        sizes = client.fetch(client.search(["ALL"]), ["RFC822.SIZE"])
        for uid in sorted(sizes)[share::shares]:
            size = sizes[uid][b"RFC822.SIZE"]
            final = target / f"{uid}.eml"
            partial = target / f"{uid}.eml.part"
            with partial.open("wb") as out:
                offset = 0
                while offset < size:
                    key = f"BODY[]<{offset}>".encode()
                    chunk = client.fetch([uid], [f"BODY.PEEK[]<{offset}.{chunk_bytes}>"])[uid][key]
                    if not chunk:
                        raise RuntimeError(f"empty chunk at {offset} of UID {uid}")
                    out.write(chunk)
                    offset += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            partial.rename(final)
            written.append(final)
    return written


Fetcher = Callable[[DovecotServer, str, Path, int], list[Path]]

FETCHERS: dict[str, Fetcher] = {
    "mbsync": lambda server, user, target, chunk: mbsync_pull(server, user, target),
    "intake": fetch_intake,
    "intake-1conn": lambda server, user, target, chunk: fetch_intake(server, user, target, chunk, connections=1),
    "intake-3conn": lambda server, user, target, chunk: fetch_intake(server, user, target, chunk, connections=3),
    "imapclient-debug0": lambda server, user, target, chunk: chunked_fetch(server, user, target, chunk, debug=0),
    "imapclient-default": lambda server, user, target, chunk: chunked_fetch(server, user, target, chunk, debug=None),
    "imapclient-2conn": lambda server, user, target, chunk: chunked_fetch(server, user, target, chunk, debug=0,
                                                                          connections=2),
}


def summarise(runs: list[Run]) -> dict[str, dict[str, float]]:
    summary: dict[str, dict[str, float]] = {}
    for method in dict.fromkeys(r.method for r in runs):
        seconds = [r.seconds for r in runs if r.method == method]
        total = next(r.bytes for r in runs if r.method == method)
        summary[method] = {"median_s": statistics.median(seconds), "min_s": min(seconds), "max_s": max(seconds),
                           "median_MB_per_s": total / MB / statistics.median(seconds)}
    return summary


def ratio_to_floor(runs: list[Run]) -> dict[str, float]:
    """intake's time over mbsync's: per round (they ran back to back) and of the medians."""
    out: dict[str, float] = {}
    rounds = sorted({r.round for r in runs})
    per_round = []
    for n in rounds:
        by = {r.method: r.seconds for r in runs if r.round == n}
        if "intake" in by and "mbsync" in by:
            per_round.append(by["intake"] / by["mbsync"])
    if per_round:
        intake = statistics.median(r.seconds for r in runs if r.method == "intake")
        floor = statistics.median(r.seconds for r in runs if r.method == "mbsync")
        out = {"intake_over_mbsync_median": intake / floor, "per_round_min": min(per_round),
               "per_round_max": max(per_round)}
    return out


def markdown(meta: dict[str, object], summary: dict[str, dict[str, float]], runs: list[Run],
             ratio: dict[str, float]) -> str:
    lines = [f"# fetch vs mbsync — {meta['started']}", "",
             f"{meta['messages']} messages ({meta['corpus']}), {meta['total_MB']:.0f} MB in all "
             f"(~{meta['message_MB']:.1f} MB each), chunk {meta['chunk_MB']} MB, {meta['rounds']} rounds alternating, "
             "same Dovecot on loopback, warm page cache, every copy fsynced.", "",
             "| method | median s | min s | max s | MB/s (median) |", "|---|---:|---:|---:|---:|"]
    for method, row in summary.items():
        lines.append(f"| {method} | {row['median_s']:.2f} | {row['min_s']:.2f} | {row['max_s']:.2f} "
                     f"| {row['median_MB_per_s']:.0f} |")
    if ratio:
        lines += ["", f"**intake / mbsync = {ratio['intake_over_mbsync_median']:.2f}** (medians; per round "
                      f"{ratio['per_round_min']:.2f}–{ratio['per_round_max']:.2f}; target <= 1.0)"]
    lines += ["", "Runs in order:", ""]
    lines += [f"- round {r.round} {r.method}: {r.seconds:.2f} s, verified={r.verified}" for r in runs]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = base_parser(__doc__)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--synthetic", action="store_true",
                        help="mails of one random attachment instead of the realistic corpus")
    parser.add_argument("--attachment-mb", type=float, default=5.0,
                        help="with --synthetic: random attachment size before base64 (5 MB gives ~6.8 MB mails)")
    parser.add_argument("--chunk-mb", type=int, default=2, help="MB per partial FETCH (product default 2 MB)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--methods", default="mbsync,intake,imapclient-debug0",
                        help="comma-separated, from: " + ", ".join(FETCHERS))
    args = parser.parse_args()
    if args.small:
        args.messages, args.rounds = 3, 1
    methods = [m for m in args.methods.split(",") if m]
    unknown = set(methods) - set(FETCHERS)
    if unknown:
        parser.error(f"unknown methods: {', '.join(sorted(unknown))}")

    started = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    workdir = Path(tempfile.mkdtemp(prefix="intake-bench-", dir=args.workdir))
    server = DovecotServer()
    server.start()
    runs: list[Run] = []
    try:
        user = server.new_user()
        began = time.perf_counter()
        if args.synthetic:
            expected, total = populate(server, user, args.messages, int(args.attachment_mb * MB))
        else:
            expected, total = populate_corpus(server, user, args.messages, args.small, workdir)
        print(f"appended {args.messages} mails, {total / MB:.0f} MB, in {time.perf_counter() - began:.1f} s",
              flush=True)
        for round_no in range(1, args.rounds + 1):
            # Rotate the order each round so no method always runs first (or right after another's writes).
            shift = (round_no - 1) % len(methods)
            for method in methods[shift:] + methods[:shift]:
                target = workdir / f"{method}-{round_no}"
                began = time.perf_counter()
                files = FETCHERS[method](server, user, target, args.chunk_mb * MB)
                seconds = time.perf_counter() - began
                verified = len(files) == len(expected) and digest_files(files, strip_tuid=method == "mbsync") == expected
                runs.append(Run(method, round_no, seconds, len(files), total, verified))
                print(f"round {round_no} {method}: {seconds:.2f} s verified={verified}", flush=True)
                shutil.rmtree(target)
    finally:
        server.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)

    summary = summarise(runs)
    ratio = ratio_to_floor(runs)
    meta: dict[str, object] = {
        "started": started, "messages": args.messages, "message_MB": total / args.messages / MB,
        "corpus": "random attachments" if args.synthetic else ("small corpus" if args.small else "realistic corpus"),
        "total_MB": total / MB, "chunk_MB": args.chunk_mb, "rounds": args.rounds}
    write_results(args.results_dir, "fetch_vs_mbsync", {"meta": meta, "summary": summary, "ratio": ratio,
                                                        "runs": [asdict(r) for r in runs]},
                  markdown(meta, summary, runs, ratio))
    return 0 if all(r.verified for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
