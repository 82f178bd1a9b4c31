"""Every benchmark in bench/ runs on a tiny input (--small) and writes sane results.

No timing is asserted here (speed is measured by the benches themselves, run by hand): only that each bench
drives the real servers and the real CLI to the end, and that what it reports is consistent with what it did.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"

pytestmark = pytest.mark.slow


def run_bench(script: str, tmp_path: Path, *args: str) -> dict[str, Any]:
    results = tmp_path / "results"
    proc = subprocess.run([sys.executable, str(BENCH / script), "--small", "--results-dir", str(results),
                           "--workdir", str(tmp_path), *args], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    stem = Path(script).stem
    jsons = sorted(results.glob("*.json"))
    assert len(jsons) == 1 and jsons[0].name.startswith(stem + "-"), [p.name for p in jsons]
    markdown = jsons[0].with_suffix(".md").read_text(encoding="utf-8")
    assert markdown.startswith("# ") and "|---" in markdown
    payload: dict[str, Any] = json.loads(jsons[0].read_text(encoding="utf-8"))
    assert payload["versions"]["mbsync"].startswith("isync")
    return payload


def test_corpus(tmp_path: Path) -> None:
    payload = run_bench("corpus.py", tmp_path, "--load")
    assert payload["corpus"]["mails"] == 3
    assert payload["append_seconds"] > 0
    mails = payload["mails"]
    assert len({m["message_id"] for m in mails}) == 3
    assert {m["style"] for m in mails} & {"163", "qq", "foxmail"}, "no GBK-family mail in the mix"


def test_fetch_vs_mbsync(tmp_path: Path) -> None:
    payload = run_bench("fetch_vs_mbsync.py", tmp_path)
    runs = payload["runs"]
    assert {r["method"] for r in runs} == {"mbsync", "intake", "imapclient-debug0"}
    assert all(r["verified"] and r["messages"] == 3 for r in runs), runs
    assert payload["ratio"]["intake_over_mbsync_median"] > 0


def test_end_to_end(tmp_path: Path) -> None:
    payload = run_bench("end_to_end.py", tmp_path)
    result = payload["result"]
    assert result["submissions"] == 3 and result["receipts"] == 3
    assert result["statuses"] == {"stored": 3}
    assert len(result["per_submission_seconds"]) == 3
    # The product's own stage timing reached the log: parsing, unpacking, facts and one entry per check.
    stages = set(result["stage_totals"])
    assert {"parse", "unpack", "store", "notify:enqueue", "check:photo-size", "check:form-versions"} <= stages
    assert {"fetch", "process", "send"} <= set(result["cycle_seconds"])


def test_memory(tmp_path: Path) -> None:
    payload = run_bench("memory.py", tmp_path)
    runs = payload["runs"]
    assert runs[0]["mails"] == 0 and all(r["peak_rss_MB"] > 20 for r in runs)
    assert [r["mails"] for r in runs[1:]] == [1, 1, 2]
    assert runs[2]["message_MB"] > runs[1]["message_MB"]


def test_idle_poll(tmp_path: Path) -> None:
    payload = run_bench("idle_poll.py", tmp_path)
    runs = payload["runs"]
    assert [r["messages"] for r in runs] == [50, 300]
    assert all(r["cycle_median_s"] > 0 and r["mbsync_noop_s"] > 0 for r in runs)


def test_latency(tmp_path: Path) -> None:
    payload = run_bench("latency.py", tmp_path)
    assert [(r["mode"], len(r["latencies_s"])) for r in payload["runs"]] == [("idle", 1), ("poll", 1)]
    assert all(0 < r["p50"] <= r["p95"] for r in payload["runs"])


def test_staff_queries_runs_on_a_few_cases(tmp_path: Path) -> None:
    """bench/staff_queries.py (a teammate's) has no --small or --results-dir: run it tiny and remove what it wrote."""
    results = BENCH / "results"
    before = set(results.glob("staff_queries-*")) if results.exists() else set()
    try:
        proc = subprocess.run([sys.executable, str(BENCH / "staff_queries.py"), "--cases", "150", "--rounds", "1",
                               "--backends", "sqlite"], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        written = set(results.glob("staff_queries-*")) - before
        data = json.loads(next(p for p in written if p.suffix == ".json").read_text(encoding="utf-8"))
        assert data["meta"]["cases"] == 150
        assert {s["what"] for s in data["summary"]} >= {"intake stats", "intake export --xlsx"}
    finally:
        for path in set(results.glob("staff_queries-*")) - before:
            path.unlink()
