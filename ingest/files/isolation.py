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

Many small items go to a worker as one task through ``ingest.files.isolation_items`` (``map_bounded``,
``map_parallel``, the rules).
"""

from __future__ import annotations

import atexit
import copyreg
import gc
import ctypes
import logging
import mmap
import multiprocessing
import os
import resource
import signal
import threading
import time
from concurrent.futures import TimeoutError as FutureTimeout
from types import MappingProxyType
from typing import Any, Callable, TypeVar

from pebble import ProcessExpired, ProcessPool

from ingest import heap, logs
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
_PRELOAD = ["ingest.files.isolation", "ingest.files.isolation_items", "ingest.files.worker_tasks", "ingest.files.facts",
            "ingest.files.unpack", "ingest.files.classify", "checks.rules"]


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


def _let_the_fork_server_end() -> None:
    """The fork server ends when the daemon's end of its "alive" pipe closes, but it hands every child a copy of
    that end (so a child could start processes through it too). While a worker held it, a SIGKILLed daemon left
    the fork server waiting for the worker and the worker's parent-death signal never came: the worker read on
    until its item's alarm, or for good if stuck in C code (seen: a worker 10 s into a hostile PDF outlived its
    daemon). Our workers start no processes through the fork server, so the copy is closed."""
    from multiprocessing import forkserver

    server = getattr(forkserver, "_forkserver", None)
    fd = getattr(server, "_forkserver_alive_fd", None)
    if server is not None and fd is not None:
        os.close(fd)
        server._forkserver_alive_fd = None


def _worker_init(memory_mb: int, log_setup: tuple[str, int] | None) -> None:
    _die_with_parent()
    _let_the_fork_server_end()
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
    _keep_spare()


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
    out_of_memory = False
    try:
        result = function(*args)
    except MemoryError:
        out_of_memory = True  # nothing else in here: what the function built still fills the limit
    if out_of_memory:
        recover_from_memory_error()
        raise MemoryError  # with room now for the pool to format and send it
    _collect()
    return result, os.getpid(), peak_memory_mb()


# Address space a worker keeps unused for the moment it meets its memory limit. A MemoryError there came back
# as a crash one run in ten under load (CI): the reader's objects are reference cycles that outlive the
# exception until a collection, so building the answer (or pebble formatting the traceback) raised MemoryError
# again, out of the worker's loop, and the worker exited with code 1. An anonymous mapping counts against
# RLIMIT_AS but, never touched, costs no resident memory.
_SPARE_BYTES = 8 << 20
_spare: mmap.mmap | None = None


def _keep_spare() -> None:
    global _spare
    if _spare is None:
        try:
            _spare = mmap.mmap(-1, _SPARE_BYTES)
        except (MemoryError, OSError):
            pass  # no room yet: the next recovery tries again


def recover_from_memory_error() -> None:
    """In a worker, after a task or item ran out of memory, outside the ``except`` block (so the exception's
    frames are gone): hand back the spare address space, collect what the reader left, keep a spare again."""
    global _spare
    if _spare is not None:
        _spare.close()
        _spare = None
    _collect()
    _keep_spare()


def _collect() -> None:
    """In a worker, after each file: pypdf's and python-docx's object graphs are full of reference cycles,
    which the collector's thresholds let pile up over several files; with the heap fragmented in between, a
    worker grew from 61 to 115 MB over 13 corpus mails, and stayed at 77 MB with a collection after each file.
    Then what was freed goes back to the system (ingest/heap.py)."""
    gc.collect()
    heap.release()


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


__all__ = ["LimitSettings", "Overrun", "peak_memory_mb", "pool_size", "recover_from_memory_error", "run_bounded", "shutdown",
           "worker_peak_memory_mb"]
