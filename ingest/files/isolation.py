"""Reading strangers' files with a bound on time and memory: the work runs in a worker process.

python-docx, pypdf, Pillow, libarchive and libmediainfo parse whatever a sender attaches. Most hostile input
makes them raise (recorded as a finding by the caller), but some makes them run for minutes or eat memory
(a 12 KB PDF whose 3 pages share a content stream of 150,000 text operators kept pypdf busy 37 s at 331 MB, and
it grows with the pages), and a fault in a C library can end the process. In the daemon's own process any of these would stall
every mail behind it or kill the daemon with the mail half done, again on every restart.

So each step that reads a file (unpacking one attachment, classifying or reading one file, the rules over one
submission) is a task in a small pool of worker processes (pebble), each task with a deadline and each worker with
an address-space limit. A task past its deadline has its worker killed and replaced; a worker that dies takes
only its task with it. The caller gets ``Overrun`` and records it as a finding on that file or rule; the mail goes
to staff review. Workers come from a fork server started from a clean interpreter (the daemon has scheduler, IDLE
and database threads that must not be forked), with the readers imported once.

Many small items (the files of a submission, the rules) go to the worker as one task, each item under SIGALRM
(which also interrupts a regular expression), so a rule or reader looping in Python costs that item only. The
task's deadline (the sum of the items', capped by what is left of the mail's own budget) is the backstop for an
item stuck in C code or one that kills the worker. The worker writes each finished item's result to a progress
file as it goes, so then the culprit is known without running anything twice: items before it keep their
results, it is recorded as stopped (killed once, never re-run: a second run would cost the same again), the
items after it go to a fresh worker.
"""

from __future__ import annotations

import atexit
import copyreg
import gc
from concurrent.futures import ThreadPoolExecutor
import ctypes
import logging
import multiprocessing
import os
import pickle
import resource
import signal
import tempfile
import threading
import time
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from types import FrameType, MappingProxyType
from typing import Any, Callable, Iterator, Sequence, TypeVar

from pebble import ProcessExpired, ProcessPool

from checks.facts import SubmissionFacts
from checks.registry import ConfiguredRule, ConfiguredRules, Finding, rule_error, run_rules
from ingest import logs
from ingest.config import LimitSettings

log = logging.getLogger(__name__)

T = TypeVar("T")

def _mapping_proxy(items: dict[str, Any]) -> MappingProxyType[str, Any]:
    return MappingProxyType(items)


# Findings and rule parameters are frozen through MappingProxyType, which pickle does not know.
copyreg.pickle(MappingProxyType, lambda m: (_mapping_proxy, (dict(m),)))

# Modules the fork server imports once, so a worker starts in milliseconds with every reader loaded.
# What a worker may import is kept small on purpose (ingest/files/worker_tasks.py): the pipeline and the store
# have no place here.
_PRELOAD = ["ingest.files.isolation", "ingest.files.worker_tasks", "ingest.files.facts", "ingest.files.unpack",
            "ingest.files.classify", "checks.rules"]


class Overrun(Exception):
    """A task was stopped: ``kind`` is "timeout" (past its deadline), "memory" (past the worker's memory limit)
    or "crashed" (its worker died)."""

    def __init__(self, kind: str, seconds: float, detail: str = "") -> None:
        super().__init__(f"{kind} after {seconds:.1f} s {detail}".strip())
        self.kind = kind
        self.seconds = seconds
        self.detail = detail

    def __reduce__(self) -> tuple[Any, ...]:  # crosses the process boundary inside a task's result
        return (Overrun, (self.kind, self.seconds, self.detail))

    def chinese(self) -> str:
        """What happened, in Chinese, for the file's error line."""
        if self.kind == "budget":
            return "未读取：整封邮件的处理时间已用完（limits.mail_seconds），其余文件未再读取"
        if self.kind == "timeout":
            return f"读取超时（超过 {self.seconds:.0f} 秒仍未完成），文件可能已损坏或构造异常"
        if self.kind == "memory":
            return "读取所需内存超过限制，文件可能已损坏或构造异常"
        return "读取时处理进程异常退出，文件可能已损坏或构造异常"


# ---------------------------------------------------------------------------------------------------------------
# The pool (one per worker memory limit, shared by every Runtime in the process)
# ---------------------------------------------------------------------------------------------------------------

_pools: dict[tuple[int, int], ProcessPool] = {}
_pools_lock = threading.Lock()
# Each worker's peak resident memory (VmHWM) by pid, as the worker reported it with its last task: a worker
# recycled or killed keeps its figure here.
_worker_peaks: dict[int, float] = {}


def _die_with_parent() -> None:
    """Linux: the kernel kills this worker when its parent (the fork server, which ends with the daemon) dies,
    so a daemon killed with SIGKILL leaves no worker reading on with nobody to enforce its deadline."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


_PR_SET_PDEATHSIG = 1


def _worker_init(memory_mb: int, log_setup: tuple[str, int] | None) -> None:
    _die_with_parent()
    # The readers' modules (imported by the fork server) stay for the worker's life: out of the collector's
    # sight, a full collection after each item costs microseconds instead of ~0.2 s (see _collect).
    gc.freeze()
    if log_setup is not None:
        logs.setup_logging(*log_setup)
    if memory_mb > 0:
        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = memory_mb << 20
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        # Only the soft limit: LibreOffice, started from a worker for a .doc, lifts it again for itself.
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _pool(memory_mb: int, workers: int) -> ProcessPool:
    with _pools_lock:
        pool = _pools.get((memory_mb, workers))
        if pool is None or not pool.active:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(_PRELOAD)
            # One worker per core: the files of one mail are read side by side (map_parallel); everything else
            # is one task at a time. Recycled now and then so a reader's leaks or heap fragmentation do not pile
            # up over weeks, but rarely: a new worker costs ~0.5 s, and at 200 tasks per worker a 10,000-file
            # zip took 71 s instead of 18 s (tasks themselves cost ~0.3 ms).
            pool = ProcessPool(max_workers=workers, max_tasks=10_000, initializer=_worker_init,
                               initargs=(memory_mb, logs.current_setup()), context=context)
            _pools[memory_mb, workers] = pool
        return pool


def pool_size(limits: LimitSettings) -> int:
    """Worker processes reading files: ``limits.workers``, or one per core this process may run on."""
    if limits.workers > 0:
        return limits.workers
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def peak_memory_mb(pid: int | str = "self") -> float:
    """A process's peak resident memory in MB (VmHWM; unlike ru_maxrss it is not inherited across exec),
    0 when it is gone or /proc is absent."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return 0.0


def worker_peak_memory_mb(limits: LimitSettings) -> float | None:
    """The file-reading workers' peak resident memory, summed over the workers (each its own VmHWM, as it
    reported with its last task), None when none ran a task (or isolation is off). A worker killed in a task
    (timeout, crash) took that task's figure with it."""
    if not limits.isolate:
        return None
    with _pools_lock:
        return sum(_worker_peaks.values()) if _worker_peaks else None


def _measured(function: Callable[..., T], *args: Any) -> tuple[T, int, float]:
    """In a worker: ``function(*args)``, with this worker's pid and peak memory so far."""
    result = function(*args)
    _collect()
    return result, os.getpid(), peak_memory_mb()


def _collect() -> None:
    """In a worker, after each file: pypdf's and python-docx's object graphs are full of reference cycles,
    which the collector's thresholds let pile up over several files; with the heap fragmented in between, a
    worker grew from 61 to 115 MB over 13 corpus mails, and stayed at 77 MB with a collection after each file."""
    gc.collect()


@atexit.register
def shutdown() -> None:
    """Stop the worker pools (at exit, and in tests)."""
    with _pools_lock:
        pools = list(_pools.values())
        _pools.clear()
    for pool in pools:
        pool.stop()
        pool.join(timeout=10)


def run_bounded(limits: LimitSettings, seconds: float, function: Callable[..., T], *args: Any) -> T:
    """``function(*args)`` in a worker, stopped after ``seconds``; exceptions it raises are raised here.
    With isolation disabled (debugging) it runs in this process, unbounded."""
    started = time.monotonic()
    try:
        if not limits.isolate:
            return function(*args)
        pool = _pool(limits.worker_memory_mb, pool_size(limits))
        result, pid, peak = pool.schedule(_measured, args=(function, *args), timeout=seconds).result()
        with _pools_lock:
            _worker_peaks[pid] = max(peak, _worker_peaks.get(pid, 0.0))
        return result
    except MemoryError:
        log.warning("%s：所需内存超过限制（[limits] worker_memory_mb）", getattr(function, "__name__", function))
        raise Overrun("memory", time.monotonic() - started) from None
    except FutureTimeout:
        log.warning("%s：超过时限 %.0f 秒，已停止", getattr(function, "__name__", function), seconds)
        raise Overrun("timeout", seconds) from None
    except ProcessExpired as exc:
        log.warning("读取进程在 %s 中异常退出，退出码 %s", getattr(function, "__name__", function), exc.exitcode)
        raise Overrun("crashed", time.monotonic() - started, f"exit code {exc.exitcode}") from None


# ---------------------------------------------------------------------------------------------------------------
# Many small items (the files of a submission, the rules) in one task, each under its own alarm
# ---------------------------------------------------------------------------------------------------------------

class _Deadline(BaseException):
    """Raised by the alarm inside one item; a BaseException so a reader's or rule's own ``except Exception``
    (and the engine's isolation of crashing rules) do not swallow it."""


@contextmanager
def _alarm(seconds: float) -> Iterator[None]:
    def ring(_signum: int, _frame: FrameType | None) -> None:
        raise _Deadline

    previous = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# On top of the items' own bounds: starting a worker, passing the facts (10,000 prior cases pickle in ~0.1 s).
_SLACK_SECONDS = 10.0

Outcome = tuple[Any, float]  # (the item's result or its Overrun, seconds it took)


def each_under_alarm(function: Callable[..., Any], items: Sequence[Any], common: tuple[Any, ...],
                     seconds: float, progress: str | None = None) -> list[Outcome]:
    """Runs inside a worker (SIGALRM needs a process's main thread): ``function(item, *common)`` per item.
    With ``progress`` (a file name), each item's outcome is appended there as soon as it is known."""
    outcomes: list[Outcome] = []
    sink = open(progress, "ab") if progress else None  # noqa: SIM115 - closed below, also on the way out
    try:
        _each(function, items, common, seconds, outcomes, sink)
    finally:
        if sink is not None:
            sink.close()
    return outcomes


def _each(function: Callable[..., Any], items: Sequence[Any], common: tuple[Any, ...], seconds: float,
          outcomes: list[Outcome], sink: Any) -> None:
    for item in items:
        start = time.perf_counter()
        try:
            with _alarm(seconds):
                result: Any = function(item, *common)
        except _Deadline:
            log.warning("%s：超过时限 %.1f 秒，已停止", getattr(function, "__name__", function), seconds)
            result = Overrun("timeout", seconds)
        except MemoryError:
            result = Overrun("memory", time.perf_counter() - start)
        outcomes.append((result, time.perf_counter() - start))
        _collect()
        if sink is not None:
            try:
                pickle.dump(outcomes[-1], sink)
            except (pickle.PicklingError, TypeError, AttributeError):
                pickle.dump((None, outcomes[-1][1]), sink)  # the pool's own return path raises for it
            sink.flush()


def _finished(progress: str) -> list[Outcome]:
    """Outcomes a killed worker wrote before it died (a record cut by the kill is ignored)."""
    found: list[Outcome] = []
    try:
        with open(progress, "rb") as fh:
            while True:
                found.append(pickle.load(fh))
    except (EOFError, pickle.UnpicklingError, ValueError, OSError, AttributeError, ImportError, IndexError):
        pass
    return found


def map_bounded(limits: LimitSettings, seconds: float, function: Callable[..., Any], items: Sequence[Any],
                *common: Any, deadline: float | None = None) -> list[Outcome]:
    """``function(item, *common)`` for each item, each bounded by ``seconds``; per item its result or the
    ``Overrun`` that stopped it, and its seconds. One task for all items (a task costs ~0.3 ms and a
    10,000-file zip is 10,000 items): the alarm bounds an item stuck in Python code; an item stuck in C code
    or killing the worker exhausts the task's deadline. Then the progress file tells which item it was: it is
    recorded as stopped and never run again, the items after it go on in a fresh worker. ``deadline``
    (``time.monotonic()`` value) is the mail's budget: items it leaves no time for are ``Overrun("budget")``."""
    outcomes: list[Outcome] = []
    rest = list(items)
    while rest:
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            outcomes += [(Overrun("budget", 0.0), 0.0) for _ in rest]
            break
        if not limits.isolate:
            outcomes.append(_in_process(function, rest.pop(0), common))
            continue
        natural = seconds * len(rest) + _SLACK_SECONDS
        allowed = natural if left is None else min(natural, left + _SLACK_SECONDS)
        fd, progress = tempfile.mkstemp(prefix="intake-progress-", suffix=".pickle")
        os.close(fd)
        start = time.perf_counter()
        try:
            outcomes += run_bounded(limits, allowed, each_under_alarm, function, rest, common, seconds, progress)
            break
        except Overrun as exc:
            done = _finished(progress)
            stopped = exc
        finally:
            os.unlink(progress)
        outcomes += done
        if len(done) >= len(rest):
            break
        took = time.perf_counter() - start - sum(t for _, t in done)
        if stopped.kind == "timeout" and allowed < natural:
            stopped = Overrun("budget", took)  # the mail's budget ran out while this item was being read
        elif stopped.kind == "timeout":
            stopped = Overrun("timeout", seconds)
        log.warning("%s：第 %d 项（共 %d 项）已停止（%s），不再重试；还剩 %d 项", getattr(function, "__name__", function),
                    len(outcomes) + 1, len(items), stopped, len(rest) - len(done) - 1)
        outcomes.append((stopped, took))
        rest = rest[len(done) + 1:]
    return outcomes


# Chunks per worker in map_parallel: enough that a worker done early takes more, few enough that the cost of a
# task (a pickle round trip and a progress file, ~1 ms) stays small.
_CHUNKS_PER_WORKER = 4


def map_parallel(limits: LimitSettings, seconds: float, function: Callable[..., Any], items: Sequence[Any],
                 *common: Any, deadline: float | None = None) -> list[Outcome]:
    """``map_bounded`` spread over every worker of the pool: the items go in consecutive chunks, each chunk is
    one ``map_bounded`` (same per-item bounds, same mail budget, same handling of an item that stops its
    worker), and a worker that is free takes the next chunk. The outcomes come in the items' order, whichever
    worker read what and whenever it finished."""
    items = list(items)
    workers = pool_size(limits) if limits.isolate else 1
    if workers < 2 or len(items) < 2:
        return map_bounded(limits, seconds, function, items, *common, deadline=deadline)
    size = max(1, -(-len(items) // (workers * _CHUNKS_PER_WORKER)))
    chunks = [items[i:i + size] for i in range(0, len(items), size)]

    def chunk_outcomes(chunk: list[Any]) -> list[Outcome]:
        return map_bounded(limits, seconds, function, chunk, *common, deadline=deadline)

    # Threads only wait here (each on its task in the pool): the reading happens in the worker processes.
    with ThreadPoolExecutor(max_workers=min(workers, len(chunks)), thread_name_prefix="map-parallel") as pool:
        return [outcome for outcomes in pool.map(chunk_outcomes, chunks) for outcome in outcomes]


def _in_process(function: Callable[..., Any], item: Any, common: tuple[Any, ...]) -> Outcome:
    start = time.perf_counter()
    try:
        return function(item, *common), time.perf_counter() - start
    except MemoryError:
        return Overrun("memory", time.perf_counter() - start), time.perf_counter() - start


# ---------------------------------------------------------------------------------------------------------------
# Rules
# ---------------------------------------------------------------------------------------------------------------

def run_rule(rule: ConfiguredRule, facts: SubmissionFacts) -> list[Finding]:
    """One rule on the facts, in an isolated worker."""
    return run_rules(ConfiguredRules((rule,)), facts)


def run_rules_bounded(limits: LimitSettings, rules: ConfiguredRules,
                      facts: SubmissionFacts) -> tuple[list[Finding], dict[str, float]]:
    """Every rule's findings (a rule past ``rule_seconds`` becomes a rule-error finding: staff review) and
    each rule's seconds."""
    findings: list[Finding] = []
    seconds: dict[str, float] = {}
    outcomes = map_bounded(limits, limits.rule_seconds, run_rule, rules.rules, facts)
    for rule, (result, took) in zip(rules.rules, outcomes):
        if isinstance(result, Overrun):
            log.warning("规则 %s 在案例 %s 上没有完成：%s", rule.id, facts.case_no or "（新案例）", result)
            how = {"timeout": f"超时（限时 {limits.rule_seconds:.0f} 秒）", "memory": "所需内存超过限制"}
            findings.append(rule_error(rule, how.get(result.kind, "时处理进程异常退出"), str(result)))
        else:
            findings += result
        seconds[rule.id] = took
    return findings, seconds


__all__ = ["LimitSettings", "Outcome", "Overrun", "each_under_alarm", "map_bounded", "map_parallel", "peak_memory_mb",
           "pool_size", "run_bounded", "run_rule", "run_rules_bounded", "shutdown",
           "worker_peak_memory_mb"]
