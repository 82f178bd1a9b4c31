"""Many small items in one task of the isolated pool (ingest/files/isolation.py): a mail's files, the rules.

Many small items (the files of a submission, the rules) go to the worker as one task, each item under SIGALRM
(which also interrupts a regular expression), so a rule or reader looping in Python costs that item only. The
task's deadline (the sum of the items', capped by what is left of the mail's own budget) is the backstop for an
item stuck in C code or one that kills the worker. The worker writes each finished item's result to a progress
file as it goes, so then the culprit is known without running anything twice: items before it keep their
results, it is recorded as stopped (killed once, never re-run: a second run would cost the same again), the
items after it go to a fresh worker.
"""

from __future__ import annotations

import logging
import os
import pickle
import signal
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from types import FrameType
from typing import Any, Callable, Iterator, Sequence

from checks.facts import SubmissionFacts
from checks.registry import ConfiguredRule, ConfiguredRules, Finding, rule_error, run_rules
from ingest.config import LimitSettings
from ingest.files.isolation import Overrun, _collect, pool_size, recover_from_memory_error, run_bounded

log = logging.getLogger(__name__)


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
        out_of_memory = False
        try:
            with _alarm(seconds):
                result: Any = function(item, *common)
        except _Deadline:
            log.warning("%s：超过时限 %.1f 秒，已停止", getattr(function, "__name__", function), seconds)
            result = Overrun("timeout", seconds)
        except MemoryError:
            out_of_memory = True  # nothing else in here: what the reader built still fills the limit
        if out_of_memory:
            recover_from_memory_error()
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


__all__ = ["Outcome", "each_under_alarm", "map_bounded", "map_parallel", "run_rule", "run_rules_bounded"]
