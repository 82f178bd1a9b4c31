"""Real servers for tests: Dovecot (IMAP), an aiosmtpd sink (SMTP) and PostgreSQL.

Nothing here imitates a server: each class runs the real program on a free loopback port with a configuration
of its own in a temporary directory, so tests exercise the same protocol code paths as production.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import glob
import grp
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import warnings
from dataclasses import dataclass
from datetime import datetime
from email import message_from_bytes
from email.policy import compat32
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import psycopg
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session, SMTP
from imapclient import IMAPClient

DOVECOT_BINARY = "/usr/sbin/dovecot"
DOVEADM_BINARY = "/usr/bin/doveadm"
READY_TIMEOUT_SECONDS = 30.0


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def port_answers(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _unprivileged_account() -> tuple[str, str]:
    """User and group that Dovecot's mail processes run as.

    As root we use nobody/nogroup (Dovecot refuses to serve mail as root). Without root Dovecot can only run
    everything as the invoking user, so that user owns the mail too.
    """
    if os.geteuid() == 0:
        return "nobody", "nogroup"
    entry = pwd.getpwuid(os.geteuid())
    return entry.pw_name, grp.getgrgid(entry.pw_gid).gr_name


class DovecotServer:
    """A Dovecot 2.3 IMAP server of our own: plaintext LOGIN on loopback, any user name, one shared password."""

    def __init__(self, password: str = "intake-test-secret", extra_config: str = "") -> None:
        """``extra_config``: lines appended to the configuration (a limit a test needs)."""
        self.extra_config = extra_config
        self.host = "127.0.0.1"
        self.port = free_port()
        self.password = password
        # mkdtemp gives 0700; the mail processes run as nobody and must traverse the path.
        self.root = Path(tempfile.mkdtemp(prefix="intake-dovecot-"))
        self.root.chmod(0o755)
        self.mail_root = self.root / "mail"
        self.log_path = self.root / "dovecot.log"
        self.config_path = self.root / "dovecot.conf"
        self._process: subprocess.Popen[bytes] | None = None
        # Set when a test using this server failed: cleanup() then keeps the log and mail for a post-mortem.
        self.keep_files = False
        self._write_config()

    # ---- lifecycle -------------------------------------------------------------------------------------------

    def _write_config(self) -> None:
        mail_user, mail_group = _unprivileged_account()
        for sub in ("run", "state"):
            (self.root / sub).mkdir(mode=0o755, exist_ok=True)
        self.mail_root.mkdir(exist_ok=True)
        # Mail directories are created on first login by the unprivileged mail process.
        self.mail_root.chmod(0o777)
        internal_users = ""
        if os.geteuid() != 0:
            # Without root Dovecot cannot switch users: every process runs as us.
            internal_users = f"default_internal_user = {mail_user}\ndefault_login_user = {mail_user}\n"
        self.config_path.write_text(f"""# Written by tests/servers.py: a throwaway Dovecot independent of any system one.
protocols = imap
listen = 127.0.0.1
base_dir = {self.root}/run
state_dir = {self.root}/state
log_path = {self.log_path}
info_log_path = {self.log_path}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
{internal_users}first_valid_uid = 0
passdb {{
  driver = static
  args = password={self.password}
}}
userdb {{
  driver = static
  args = uid={mail_user} gid={mail_group} home={self.mail_root}/%u
}}
mail_location = maildir:{self.mail_root}/%u
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service stats {{
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
# IDLE tests must not wait for defaults: new mail is noticed within a second even where inotify is missing
# (the default check interval is 30 s), and the "still here" keepalive comes every second instead of 2 min.
mailbox_idle_check_interval = 1 secs
protocol imap {{
  imap_idle_notify_interval = 1 secs
}}
{self.extra_config}
""", encoding="utf-8")

    def start(self) -> None:
        if self._process is not None and self._process.poll() is None:
            return
        self._process = subprocess.Popen([DOVECOT_BINARY, "-F", "-c", str(self.config_path)],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                stderr = self._process.stderr.read().decode(errors="replace") if self._process.stderr else ""
                raise RuntimeError(f"Dovecot exited with {self._process.returncode}: {stderr}\n"
                                   f"log: {self.log_path}\n{self.log_tail()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=1.0) as sock:
                    greeting = sock.recv(256)
                if greeting.startswith(b"* OK"):
                    return
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"Dovecot did not greet on {self.host}:{self.port}; log {self.log_path}")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        # SIGTERM makes the master stop its children; it is the documented way to stop `dovecot -F`.
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        if process.stderr:
            process.stderr.close()

    def restart(self) -> None:
        """Stop and start again on the same port with the same mail store (a server reboot)."""
        self.stop()
        self.start()

    def cleanup(self) -> None:
        self.stop()
        if not self.keep_files:
            shutil.rmtree(self.root, ignore_errors=True)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no Dovecot log yet)"

    # ---- mail helpers ----------------------------------------------------------------------------------------

    @staticmethod
    def new_user() -> str:
        """A user name nobody else has used: the static passdb accepts any name, the maildir is made on login."""
        return f"u{uuid.uuid4().hex[:12]}"

    @contextlib.contextmanager
    def connect(self, user: str) -> Iterator[IMAPClient]:
        client = IMAPClient(self.host, port=self.port, ssl=False, timeout=30)
        try:
            client.login(user, self.password)
            yield client
        finally:
            with contextlib.suppress(OSError, IMAPClient.Error):
                client.logout()

    def append(self, user: str, folder: str, raw: bytes, internaldate: datetime | None = None,
               flags: Iterable[str] = ()) -> int | None:
        """APPEND one raw message; returns its UID (Dovecot answers with UIDPLUS APPENDUID)."""
        with self.connect(user) as client:
            if folder.upper() != "INBOX" and not client.folder_exists(folder):
                client.create_folder(folder)
            response = client.append(folder, raw, flags=tuple(flags), msg_time=internaldate)
        return _appended_uid(response)

    def uidvalidity(self, user: str, folder: str = "INBOX") -> int:
        with self.connect(user) as client:
            return int(client.folder_status(folder, [b"UIDVALIDITY"])[b"UIDVALIDITY"])

    def delete_and_recreate_folder(self, user: str, folder: str = "INBOX") -> int:
        """Empty the folder and give it a new UIDVALIDITY, as a server does after a rebuild; returns the new one.

        IMAP cannot DELETE the INBOX, so for it the maildir's storage (messages, uidlist, indexes) is removed on
        disk; Dovecot then rebuilds it with a fresh UIDVALIDITY and UIDs counting from 1 again. Other folders go
        through IMAP DELETE + CREATE.
        """
        old = self.uidvalidity(user, folder)
        if folder.upper() == "INBOX":
            self._wipe_inbox_storage(user)
        else:
            with self.connect(user) as client:
                client.delete_folder(folder)
                client.create_folder(folder)
        new = self.uidvalidity(user, folder)
        if new == old:
            raise RuntimeError(f"UIDVALIDITY of {user}/{folder} stayed {old} after delete and recreate")
        return new

    def _wipe_inbox_storage(self, user: str) -> None:
        inbox = self.mail_root / user
        for sub in ("cur", "new", "tmp"):
            shutil.rmtree(inbox / sub, ignore_errors=True)
        # dovecot-uidvalidity* is kept on purpose: Dovecot derives the next UIDVALIDITY from it, which is what
        # guarantees a different value even within the same second.
        for name in ("dovecot-uidlist", "dovecot-uidlist.lock", "dovecot-keywords"):
            (inbox / name).unlink(missing_ok=True)
        for index in inbox.glob("dovecot.index*"):
            index.unlink()
        for index in inbox.glob("dovecot.list.index*"):
            index.unlink()


def _appended_uid(response: bytes | None) -> int | None:
    # Shape: b'[APPENDUID <uidvalidity> <uid>] Append completed.'
    if not response or not response.startswith(b"[APPENDUID "):
        return None
    parts = response[1:response.index(b"]")].split()
    return int(parts[2])


# ---- SMTP --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedMail:
    """One message as the SMTP sink got it: envelope and the exact DATA bytes."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes

    @property
    def message_id(self) -> str | None:
        value = message_from_bytes(self.raw, policy=compat32).get("Message-ID")
        return str(value).strip() if value is not None else None


class _Collector:
    """aiosmtpd handler: keeps every accepted message; runs in the controller's thread."""

    def __init__(self, sink: SmtpSink) -> None:
        self._sink = sink

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        # A recipient the sink was told to refuse gets a permanent 550, as a real server answers an unknown user.
        if address.lower() in self._sink.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        self._sink._record(ReceivedMail(str(envelope.mail_from), tuple(str(r) for r in envelope.rcpt_tos),
                                        bytes(content)))
        return "250 OK"


class SmtpSink:
    """A real SMTP server (aiosmtpd) on a free loopback port that accepts and keeps every message.

    AUTH is off unless credentials are given; then AUTH PLAIN/LOGIN is offered without TLS (loopback only).
    stop() and start() reuse the same port, so tests can take SMTP down and bring it back.
    """

    def __init__(self, auth: tuple[str, str] | None = None, *, smtputf8: bool = True,
                 refuse: Iterable[str] = ()) -> None:
        self.host = "127.0.0.1"
        self.port = free_port()
        self.auth = auth
        self.smtputf8 = smtputf8
        # Recipients answered with 550 at RCPT TO (lower case); may be changed while running.
        self.refuse: set[str] = {a.lower() for a in refuse}
        self._messages: list[ReceivedMail] = []
        self._arrived = threading.Condition()
        self._controller: Controller | None = None

    def _record(self, mail: ReceivedMail) -> None:
        with self._arrived:
            self._messages.append(mail)
            self._arrived.notify_all()

    def _authenticate(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                      auth_data: Any) -> AuthResult:
        assert self.auth is not None
        ok = (isinstance(auth_data, LoginPassword)
              and (auth_data.login.decode(), auth_data.password.decode()) == self.auth)
        # handled=False lets aiosmtpd answer 235/535 itself.
        return AuthResult(success=ok, handled=False)

    def start(self) -> None:
        if self._controller is not None:
            return
        options: dict[str, Any] = {"decode_data": False, "enable_SMTPUTF8": self.smtputf8}
        if self.auth is not None:
            # Loopback only, so AUTH without TLS is acceptable here (aiosmtpd warns about it otherwise).
            warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
            options.update(authenticator=self._authenticate, auth_required=True, auth_require_tls=False)
        controller = Controller(_Collector(self), hostname=self.host, port=self.port,
                                ready_timeout=READY_TIMEOUT_SECONDS, **options)
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    @property
    def running(self) -> bool:
        return self._controller is not None

    @property
    def messages(self) -> list[ReceivedMail]:
        with self._arrived:
            return list(self._messages)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedMail]:
        """Block until at least `count` messages arrived; raise TimeoutError naming how many did."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self._messages) >= count, timeout=timeout):
                raise TimeoutError(f"SMTP sink got {len(self._messages)} of {count} messages in {timeout} s")
            return list(self._messages)


# ---- PostgreSQL --------------------------------------------------------------------------------------------

SELFSTART_ENV = "INTAKE_TEST_PG_SELFSTART"
URL_ENV = "INTAKE_TEST_PG_URL"
SQLALCHEMY_SCHEME = "postgresql+psycopg"


def _libpq_url(sqlalchemy_url: str) -> str:
    return sqlalchemy_url.replace(f"{SQLALCHEMY_SCHEME}://", "postgresql://", 1)


def _with_database(url: str, dbname: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + dbname


def _probe_local_postgres(host: str = "127.0.0.1", port: int = 5432) -> str | None:
    """The URL of a PostgreSQL on host:port that lets us in without a password, if one does."""
    if not port_answers(host, port):
        return None
    users = dict.fromkeys(["postgres", "root", getpass.getuser()])
    for user in users:
        for dbname in ("test", "postgres"):
            url = f"{SQLALCHEMY_SCHEME}://{user}@{host}:{port}/{dbname}"
            try:
                with psycopg.connect(_libpq_url(url), connect_timeout=3) as conn:
                    conn.execute("SELECT 1")
                return url
            except psycopg.OperationalError:
                continue
    return None


def find_pg_ctl() -> str | None:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if candidates:
        return candidates[-1]
    return shutil.which("pg_ctl")


class SelfStartedPostgres:
    """A throwaway PostgreSQL cluster (pytest-postgresql's executor over Debian's pg_ctl) in a temp dir.

    initdb refuses to run as root, so as root every pg_ctl call goes through a small wrapper that runs it as the
    `postgres` system user (or `nobody` when that user does not exist) with runuser.
    """

    def __init__(self) -> None:
        from pytest_postgresql.executors.proc import PostgreSQLExecutor

        pg_ctl = find_pg_ctl()
        if pg_ctl is None:
            raise RuntimeError("no pg_ctl found under /usr/lib/postgresql/*/bin: run scripts/install-system-deps.sh")
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="intake-pg-"))
        self.root.chmod(0o755)
        executable = pg_ctl
        if os.geteuid() == 0:
            owner = "postgres" if _user_exists("postgres") else "nobody"
            shutil.chown(self.root, user=owner)
            executable = str(self.root / f"pg_ctl-as-{owner}")
            Path(executable).write_text(f'#!/bin/sh\nexec runuser -u {owner} -- "{pg_ctl}" "$@"\n', encoding="utf-8")
            Path(executable).chmod(stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
        self.log_path = self.root / "postgresql.log"
        self._executor = PostgreSQLExecutor(
            executable=executable, host="127.0.0.1", port=self.port, datadir=str(self.root / "data"),
            unixsocketdir=str(self.root), logfile=str(self.log_path), startparams="-w", dbname="postgres",
            user="postgres", timeout=120)
        self.url = f"{SQLALCHEMY_SCHEME}://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        self._executor.start()
        self.wait_ready()

    def wait_ready(self, timeout: int = 120) -> None:
        """Until a real query answers: pg_ctl -w and an open port can come before the server accepts sessions
        ("the database system is starting up"), which a loaded machine makes long enough to race."""
        from pytest_postgresql.retry import retry

        def query() -> None:
            with psycopg.connect(_libpq_url(self.url), connect_timeout=5) as conn:
                conn.execute("SELECT 1")

        try:
            retry(query, timeout=timeout, possible_exception=psycopg.OperationalError)
        except TimeoutError as exc:
            log = self.log_path.read_text(encoding="utf-8", errors="replace")[-2000:] if self.log_path.exists() else ""
            raise RuntimeError(f"PostgreSQL on port {self.port} not ready after {timeout} s; log:\n{log}") from exc

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._executor.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


_server_lock = threading.Lock()
_server_url: str | None = None
_self_started: SelfStartedPostgres | None = None


def postgres_server_url() -> str:
    """Base SQLAlchemy URL of a PostgreSQL we may create databases on (cached for the process).

    Order: $INTAKE_TEST_PG_URL; the local server on 127.0.0.1:5432 with trust auth (user postgres or root);
    else a cluster of our own. INTAKE_TEST_PG_SELFSTART=1 skips the first two, to test the last path.
    """
    global _server_url, _self_started
    with _server_lock:
        if _server_url is not None:
            return _server_url
        forced = os.environ.get(SELFSTART_ENV, "") not in ("", "0")
        url = None if forced else (os.environ.get(URL_ENV) or _probe_local_postgres())
        if url is None:
            server = SelfStartedPostgres()
            server.start()
            _self_started = server
            url = server.url
        _server_url = url
        return url


def stop_self_started_postgres() -> None:
    """Stop the cluster postgres_server_url() started, if it started one (session teardown)."""
    global _server_url, _self_started
    with _server_lock:
        if _self_started is not None:
            _self_started.stop()
            _self_started = None
            _server_url = None


def create_database(server_url: str) -> str:
    """CREATE DATABASE intake_<random> on the server; returns its SQLAlchemy URL."""
    dbname = f"intake_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(_libpq_url(server_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{dbname}"')
    return _with_database(server_url, dbname)


def drop_database(database_url: str) -> None:
    """DROP the database, ending connections a test left open (FORCE, PostgreSQL 13+)."""
    dbname = database_url.rsplit("/", 1)[1]
    maintenance = _with_database(database_url, "postgres")
    with psycopg.connect(_libpq_url(maintenance), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


# ---------------------------------------------------------------------------------------------------------------
# The daemon's configuration and command line against these servers (shared by tests and bench/ suites)
# ---------------------------------------------------------------------------------------------------------------

TEST_MAILBOX = "jcjyzj2025@163.com"  # campaign.mailbox of the example campaign: our own sender address


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # JSON's string escapes are a subset of TOML's basic strings
    raise TypeError(f"no TOML for {value!r}")


def campaigns_toml(entries: Iterable[Mapping[str, Any]]) -> str:
    """One ``[[campaigns]]`` table per entry: its plain keys (campaign_file, id, case_number_prefix …), then each
    nested mapping as its sub-table (``{"imap": {"username": …}}`` -> ``[campaigns.imap]``)."""
    out = []
    for entry in entries:
        lines = ["[[campaigns]]"] + [f"{k} = {_toml_value(v)}" for k, v in entry.items() if not isinstance(v, Mapping)]
        for name, table in entry.items():
            if isinstance(table, Mapping):
                lines += [f"[campaigns.{name}]"] + [f"{k} = {_toml_value(v)}" for k, v in table.items()]
        out.append("\n".join(lines) + "\n")
    return "\n".join(out)


def write_intake_config(directory: Path, *, imap_port: int, user: str | None, smtp_port: int, db_url: str,
                        spool_dir: str = "spool", poll_interval_seconds: int = 1, fetch_chunk_bytes: int = 1048576,
                        replies_per_sender_per_hour: int | None = None, intake_extra: str = "",
                        smtp_extra: str = "", limits: str = "", campaign_file: str | None = None,
                        sender: str = TEST_MAILBOX, sender_name: str | None = "基础教育创新案例征集工作组",
                        links: str = "", tail: str = "", campaigns: Sequence[Mapping[str, Any]] = ()) -> Path:
    """``config.toml`` in ``directory``: loopback Dovecot and SMTP sink, the example campaign (the 2025 call)
    or a campaign profile (``campaign_file``). The IMAP password comes from TEST_IMAP_PASSWORD (``run_intake``).
    ``links``: keys of the [links] table; ``tail``: tables appended after the campaign (e.g. [console]).
    ``campaigns``: one deployment serving several calls instead (``campaigns_toml``); [imap] and [smtp] then hold
    what they share, each entry's own keys replacing them (``user`` None: every entry names its mailbox)."""
    from ingest.config import example_campaign_toml

    if campaigns and campaign_file:
        raise ValueError("campaign_file and campaigns are two forms of the configuration; give one")
    head = f'campaign_file = "{campaign_file}"' if campaign_file else ""
    campaign = campaigns_toml(campaigns) if campaigns else "" if campaign_file else example_campaign_toml()
    user_line = "" if user is None else f'username = "{user}"'
    name_line = "" if sender_name is None else f'sender_name = "{sender_name}"'
    per_hour = "" if replies_per_sender_per_hour is None else \
        f"max_replies_per_sender_per_hour = {replies_per_sender_per_hour}"
    cfg = directory / "config.toml"
    cfg.write_text(f"""{head}
[intake]
spool_dir = "{spool_dir}"
database_url = "{db_url}"
poll_interval_seconds = {poll_interval_seconds}
{intake_extra}

[imap]
host = "127.0.0.1"
port = {imap_port}
security = "plain"
{user_line}
password_env = "TEST_IMAP_PASSWORD"
fetch_chunk_bytes = {fetch_chunk_bytes}
use_idle = false

[smtp]
host = "127.0.0.1"
port = {smtp_port}
security = "plain"
username = ""
sender = "{sender}"
{name_line}
retry_base_seconds = 1
{per_hour}
{smtp_extra}

[limits]
{limits}

[links]
{links}

{campaign}
{tail}""", encoding="utf-8")
    return cfg


def run_intake(cfg: Path, *args: str, password: str, check: bool = True,
               timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """The real ``intake`` command line in a child process (``python -m ingest.cli``)."""
    env = {**os.environ, "TEST_IMAP_PASSWORD": password, "INTAKE_CONFIG": str(cfg)}
    proc = subprocess.run([sys.executable, "-m", "ingest.cli", *args], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=Path(__file__).resolve().parent.parent)
    if check and proc.returncode != 0:
        raise AssertionError(f"intake {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def reported_peak_memory_mb(stdout: str) -> tuple[float, float]:
    """(daemon, file-reading worker) peak resident memory in MB as ``intake poll --once`` prints them at exit:
    "…；峰值内存 98 MB（读取附件的工作进程另计 140 MB）". (0, 0) when absent."""
    import re

    own = re.search(r"峰值内存 (\d+(?:\.\d+)?) MB", stdout)
    worker = re.search(r"工作进程另计 (\d+(?:\.\d+)?) MB", stdout)
    return (float(own.group(1)) if own else 0.0, float(worker.group(1)) if worker else 0.0)


def bench_module(name: str) -> Any:
    """``bench/NAME.py`` imported as module NAME (once per process): the reduced suites in tests/ run the
    same code as the full ones in bench/."""
    import importlib.util

    if name in sys.modules:
        return sys.modules[name]
    path = Path(__file__).resolve().parent.parent / "bench" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module
