"""How fast can we pull a mailbox? Our chunked IMAP fetch against mbsync, the fetch floor, on a real Dovecot.

The bench starts its own Dovecot (tests/servers.py), APPENDs N generated mails with base64 attachments, then
alternates, round after round, between:
  - mbsync:           `mbsync` pulling INBOX into a fresh Maildir (fsyncs by default);
  - imapclient-debug0: plain imapclient, `_imap.debug = 0`, chunked BODY.PEEK[]<offset.length> to fsynced files;
  - imapclient-default: the same with imapclient's own setting (debug = 5), to measure that setting's cost.
Every method's output is checked byte for byte (SHA-256) against what was appended. Results go to
bench/results/ as JSON and Markdown. Swap in another fetcher by adding a function to FETCHERS.

    python3 bench/fetch_vs_mbsync.py                      # 200 mails of ~6.8 MB, 3 rounds
    python3 bench/fetch_vs_mbsync.py --messages 20 --rounds 2
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Callable

import imapclient
from imapclient import IMAPClient

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from servers import DovecotServer  # noqa: E402  (the test servers are reused as they are)

RESULTS_DIR = REPO / "bench" / "results"
MB = 1024 * 1024


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


def fetch_mbsync(server: DovecotServer, user: str, target: Path) -> list[Path]:
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
    (target / "state").mkdir(parents=True)
    subprocess.run(["mbsync", "-q", "-c", str(config), "pull"], check=True)
    return sorted(p for sub in ("cur", "new") for p in (target / "INBOX" / sub).iterdir())


def chunked_fetch(server: DovecotServer, user: str, target: Path, chunk_bytes: int, debug: int | None) -> list[Path]:
    """Each message in BODY.PEEK[]<offset.length> chunks to a temp file, fsynced, then renamed into place."""
    target.mkdir(parents=True)
    written: list[Path] = []
    with server.connect(user) as client:
        if debug is not None:
            client._imap.debug = debug
        client.select_folder("INBOX", readonly=True)
        sizes = client.fetch(client.search(["ALL"]), ["RFC822.SIZE"])
        for uid in sorted(sizes):
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
        directory = os.open(target, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    return written


Fetcher = Callable[[DovecotServer, str, Path, int], list[Path]]

FETCHERS: dict[str, Fetcher] = {
    "mbsync": lambda server, user, target, chunk: fetch_mbsync(server, user, target),
    "imapclient-debug0": lambda server, user, target, chunk: chunked_fetch(server, user, target, chunk, debug=0),
    "imapclient-default": lambda server, user, target, chunk: chunked_fetch(server, user, target, chunk, debug=None),
}


def versions() -> dict[str, str]:
    dovecot = subprocess.run(["/usr/sbin/dovecot", "--version"], capture_output=True, text=True).stdout.strip()
    mbsync = subprocess.run(["mbsync", "--version"], capture_output=True, text=True).stdout.strip()
    return {"python": platform.python_version(), "imapclient": imapclient.__version__, "dovecot": dovecot,
            "mbsync": mbsync, "cpus": str(os.cpu_count()), "kernel": platform.release()}


def summarise(runs: list[Run]) -> dict[str, dict[str, float]]:
    summary: dict[str, dict[str, float]] = {}
    for method in dict.fromkeys(r.method for r in runs):
        seconds = [r.seconds for r in runs if r.method == method]
        total = next(r.bytes for r in runs if r.method == method)
        summary[method] = {"median_s": statistics.median(seconds), "min_s": min(seconds), "max_s": max(seconds),
                           "median_MB_per_s": total / MB / statistics.median(seconds)}
    return summary


def markdown(meta: dict[str, object], summary: dict[str, dict[str, float]], runs: list[Run]) -> str:
    lines = [f"# fetch vs mbsync — {meta['started']}", "",
             f"{meta['messages']} messages, {meta['total_MB']:.0f} MB in all (~{meta['message_MB']:.1f} MB each), "
             f"chunk {meta['chunk_MB']} MB, {meta['rounds']} rounds alternating, same Dovecot on loopback, "
             "warm page cache.", "",
             "| method | median s | min s | max s | MB/s (median) |", "|---|---:|---:|---:|---:|"]
    for method, row in summary.items():
        lines.append(f"| {method} | {row['median_s']:.2f} | {row['min_s']:.2f} | {row['max_s']:.2f} "
                     f"| {row['median_MB_per_s']:.0f} |")
    lines += ["", "Runs in order:", ""]
    lines += [f"- round {r.round} {r.method}: {r.seconds:.2f} s, verified={r.verified}" for r in runs]
    lines += ["", "Versions: " + ", ".join(f"{k} {v}" for k, v in dict(meta["versions"]).items())]  # type: ignore[call-overload]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--attachment-mb", type=float, default=5.0,
                        help="random attachment size before base64 (5 MB gives ~6.8 MB mails)")
    parser.add_argument("--chunk-mb", type=int, default=8, help="bytes per partial FETCH (product default 8 MB)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--methods", default=",".join(FETCHERS), help="comma-separated, from: " + ", ".join(FETCHERS))
    parser.add_argument("--workdir", type=Path, default=None, help="where fetched copies go (default: a temp dir)")
    args = parser.parse_args()
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
        expected, total = populate(server, user, args.messages, int(args.attachment_mb * MB))
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
    meta: dict[str, object] = {
        "started": started, "messages": args.messages, "message_MB": total / args.messages / MB,
        "total_MB": total / MB, "chunk_MB": args.chunk_mb, "rounds": args.rounds, "versions": versions()}
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stem = RESULTS_DIR / f"fetch_vs_mbsync-{started}"
    stem.with_suffix(".json").write_text(json.dumps({"meta": meta, "summary": summary,
                                                     "runs": [asdict(r) for r in runs]},
                                                    ensure_ascii=False, indent=2), encoding="utf-8")
    stem.with_suffix(".md").write_text(markdown(meta, summary, runs), encoding="utf-8")
    print(markdown(meta, summary, runs))
    return 0 if all(r.verified for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
