"""Wall time spent in each processing stage of one message (or one cycle), for the log and the benchmarks.

The pipeline fills one ``StageTimes`` per message and logs it (as the ``stage_seconds`` field with
``log_format = "json"``), so an operator sees where the time of a slow morning went, and ``bench/``
reads the same records instead of timing a copy of the pipeline.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterable, Iterator


@dataclass
class StageTimes:
    """Seconds per stage name, summed over repeated entries. Mutable on purpose: it is an accumulator
    filled while one message is worked on, then logged and dropped."""

    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the ``with`` block as stage ``name``."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - start)

    def add(self, name: str, seconds: float) -> None:
        """Time measured elsewhere (in the worker process that reads the files)."""
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    def add_all(self, timings: Iterable[tuple[str, float]]) -> None:
        """The (stage, seconds) pairs a stage returned (ingest/pipeline/values.py ``Timings``)."""
        for name, seconds in timings:
            self.add(name, seconds)

    def rounded(self) -> dict[str, float]:
        """Seconds per stage to 0.1 ms, for the log record."""
        return {name: round(value, 4) for name, value in self.seconds.items()}

    def summary(self) -> str:
        """The stages that took measurable time, longest first ("facts 1.20 秒，unpack 0.31 秒")."""
        top = sorted(self.seconds.items(), key=lambda kv: -kv[1])
        return "，".join(f"{name} {value:.2f} 秒" for name, value in top if value >= 0.005) or "各步均不到 5 毫秒"
