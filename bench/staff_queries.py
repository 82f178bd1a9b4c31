"""How long do the staff commands take on 10,000 submissions? SQLite and PostgreSQL.

Fills a fresh database per backend with tests/staff_factory.py (10,000 cases, ~12,000 versions,
~100,000 attachment rows, ~30,000 findings), then times, round after round:
  - `intake stats` (table), `intake stats --format json`, `intake list --limit 0 --format csv`: the real
    command in a fresh process, as staff run it (interpreter start, imports, migration check included);
  - `campaign_stats()` and `list_cases()` in-process: the query cost alone;
  - `intake export --xlsx` (the 汇总表 of all cases) once per round.
PostgreSQL is not ANALYZEd after the bulk load (as right after a big `intake import`, before autovacuum).

    python3 bench/staff_queries.py                        # 10,000 cases, 3 rounds, sqlite + postgresql
    python3 bench/staff_queries.py --cases 2000 --rounds 1 --backends sqlite
    python3 bench/staff_queries.py --compare /tmp/before   # also another checkout's commands, interleaved

With --compare the commands of both checkouts run on the same databases, one after the other in every round (load
on the machine hits both alike); each command's wall and CPU seconds are kept. The in-process queries are this
checkout's.

Results: bench/results/staff_queries-<UTC time>.json and .md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from common import REPO, RESULTS_DIR, intake_config, timed_child, write_results
from servers import create_database, drop_database, postgres_server_url
from staff_factory import CAMPAIGN_ID, fill_cases

from store import Store
from store.queries import campaign_stats, list_cases

TZ = ZoneInfo("Asia/Shanghai")
# The real `intake` command in a fresh interpreter (as `python -m ingest.cli` runs it).
CLI = "from ingest.cli import main\nmain()\n"


@dataclass(frozen=True)
class Timing:
    backend: str
    what: str
    round: int
    seconds: float
    cpu: float | None = None  # CPU seconds of a command's process (None for the in-process queries)
    checkout: str = "this"


def timed_cli(checkout: Path, cfg: Path, *args: str) -> tuple[float, float]:
    """(wall, CPU) seconds of one `intake` command of ``checkout`` in a fresh interpreter (bytecode compiled, as
    an installed tool has it)."""
    env = {**os.environ, "INTAKE_CONFIG": str(cfg), "COLUMNS": "160", "PYTHONPATH": str(checkout)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return timed_child([sys.executable, "-c", CLI, *args], env=env, cwd=checkout)


def bench_backend(backend: str, cases: int, rounds: int, work: Path,
                  checkouts: dict[str, Path]) -> tuple[list[Timing], dict[str, object]]:
    url = f"sqlite:///{work / 'intake.db'}" if backend == "sqlite" else create_database(postgres_server_url())
    timings: list[Timing] = []
    try:
        store = Store.open(url)
        start = time.perf_counter()
        data = fill_cases(store.engine, cases, seed=2025)
        fill_seconds = time.perf_counter() - start
        cfg = intake_config(work, db_url=url, log_format="text")
        for r in range(1, rounds + 1):
            for what, args in (("intake stats", ("stats",)), ("intake stats --format json", ("stats", "--format", "json")),
                               ("intake list --limit 0 --format csv", ("list", "--limit", "0", "--format", "csv"))):
                for name, checkout in checkouts.items():
                    wall, cpu = timed_cli(checkout, cfg, *args)
                    timings.append(Timing(backend, what, r, wall, cpu, name))
            for what, fn in (("campaign_stats()", lambda: campaign_stats(store, CAMPAIGN_ID, tz=TZ)),
                             ("list_cases() all", lambda: list_cases(store, CAMPAIGN_ID, tz=TZ))):
                start = time.perf_counter()
                fn()
                timings.append(Timing(backend, what, r, time.perf_counter() - start))
            for name, checkout in checkouts.items():
                wall, cpu = timed_cli(checkout, cfg, "export", "--xlsx", str(work / f"汇总表-{r}-{name}.xlsx"))
                timings.append(Timing(backend, "intake export --xlsx", r, wall, cpu, name))
        store.close()
        return timings, {"fill_seconds": round(fill_seconds, 2), "rows": data.rows}
    finally:
        if backend != "sqlite":
            drop_database(url)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--compare", type=Path, help="another checkout (e.g. before a change), run interleaved")
    args = parser.parse_args()
    checkouts = {"this": REPO} | ({"compare": args.compare.resolve()} if args.compare else {})
    load_at_start = os.getloadavg()
    all_timings: list[Timing] = []
    loads: dict[str, object] = {}
    for backend in args.backends.split(","):
        with tempfile.TemporaryDirectory(prefix=f"staff-bench-{backend}-") as tmp:
            timings, load = bench_backend(backend, args.cases, args.rounds, Path(tmp), checkouts)
        all_timings += timings
        loads[backend] = load
        print(f"{backend}: filled {args.cases} cases in {load['fill_seconds']} s", flush=True)
    summary: list[dict[str, object]] = []
    for backend in dict.fromkeys(t.backend for t in all_timings):
        for what in dict.fromkeys(t.what for t in all_timings):
            for name in checkouts:
                runs = [t for t in all_timings if t.backend == backend and t.what == what and t.checkout == name]
                if not runs:
                    continue
                secs = [t.seconds for t in runs]
                cpu = [t.cpu for t in runs if t.cpu is not None]
                summary.append({"backend": backend, "what": what, "checkout": name, "path": str(checkouts[name]),
                                "min": round(min(secs), 3), "median": round(statistics.median(secs), 3),
                                "max": round(max(secs), 3),
                                "cpu_median": round(statistics.median(cpu), 3) if cpu else None})
    load = os.getloadavg()
    meta = {"cases": args.cases, "rounds": args.rounds, "python": platform.python_version(),
            "machine": platform.machine(), "cpus": os.cpu_count(), "loads": loads,
            "loadavg_at_start": [round(x, 2) for x in load_at_start], "loadavg_at_end": [round(x, 2) for x in load]}
    lines = [f"# Staff commands on {args.cases} cases ({args.rounds} rounds, {os.cpu_count()} CPUs, load average at "
             f"start {load_at_start[0]:.1f}, at end {load[0]:.1f})", "",
             "| backend | what | checkout | min s | median s | max s | CPU median s |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {s['backend']} | {s['what']} | {s['checkout']} | {s['min']} | {s['median']} | {s['max']} | "
              f"{'—' if s['cpu_median'] is None else s['cpu_median']} |" for s in summary]
    write_results(RESULTS_DIR, "staff_queries", {"meta": meta, "summary": summary,
                                                  "runs": [asdict(t) for t in all_timings]}, "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
