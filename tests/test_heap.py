"""ingest.heap.release gives freed heap pages back to the system (glibc), which the daemon relies on after each
mail and a worker after each file (issue 21 §4)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ingest import heap

_CHILD = """
import sys
from ingest import heap

def rss_mb():
    with open("/proc/self/status") as fh:
        return next(int(l.split()[1]) for l in fh if l.startswith("VmRSS:")) / 1024

# 200 MB in 100 KB blocks: below malloc's mmap threshold, so they come from the heap, each followed by a small
# block that stays (as the daemon's longer-lived objects do), so the freed space is not at the heap's top.
blocks, keep = [], []
for _ in range(2000):
    blocks.append(bytearray(100_000))
    keep.append(bytearray(1024))  # over 512 bytes: malloc's heap, not one of Python's own arenas
before = rss_mb()
del blocks
freed = rss_mb()
if sys.argv[1] == "release":
    heap.release()
print(before, freed, rss_mb())
"""


@pytest.mark.skipif(heap._malloc_trim() is None, reason="not glibc: nothing is hoarded to release")
def test_freed_heap_memory_goes_back_to_the_system() -> None:
    def run(mode: str) -> tuple[float, float, float]:
        out = subprocess.run([sys.executable, "-c", _CHILD, mode], capture_output=True, text=True, check=True)
        before, freed, after = (float(x) for x in out.stdout.split())
        return before, freed, after

    before, freed, kept = run("keep")
    assert before > 200 and kept > 150  # without release, the freed blocks' pages stay resident
    before, freed, after = run("release")
    assert after < before - 150, (before, freed, after)
