"""How fast do commands start? Repeated runs of short commands in a fresh interpreter, hyperfine-like.

Staff and scripts run commands one by one (`intake subject` per line of a list, `intake stats` from cron), so the
interpreter start, the imports and the database check count as much as the work. Each command is run --warmup
times unmeasured, then --runs times; the table gives mean ± standard deviation, min and max (wall time), and
which heavy modules the command imported (from `python -X importtime`).

    python3 bench/startup.py                                  # this checkout
    python3 bench/startup.py --runs 20 --compare /tmp/before  # also another checkout, runs interleaved

`intake stats` runs on a SQLite database of --cases cases (tests/staff_factory.py), as bench/staff_queries.py;
with --export also `intake list --limit 0 --format csv` and `intake export --xlsx` of all of them.
Results: bench/results/startup-<UTC time>.json and .md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from common import REPO, RESULTS_DIR, intake_config, timed_child, write_results

HEAVY = ("sqlalchemy", "alembic", "rich", "openpyxl", "matplotlib", "jinja2", "ingest.pipeline.process", "console",
         "starlette", "PIL")
SUBJECT = "浙江省/杭州市文三街小学AI+劳动课程群建设+人工智能教育"


def commands(cfg: Path, with_export: bool) -> list[tuple[str, list[str]]]:
    cmds = [("intake --help", ["--help"]),
            ("intake subject …", ["subject", SUBJECT]),
            ("intake subject --json …", ["subject", "--json", SUBJECT]),
            ("intake stats", ["stats", "--config", str(cfg)]),
            ("intake stats --format json", ["stats", "--format", "json", "--config", str(cfg)])]
    if with_export:
        cmds += [("intake list --limit 0 --format csv", ["list", "--limit", "0", "--format", "csv", "--config", str(cfg)]),
                 ("intake export --xlsx", ["export", "--xlsx", str(cfg.parent / "汇总表.xlsx"), "--config", str(cfg)])]
    return cmds


def run_once(checkout: Path, args: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds user+system) of one run in a fresh interpreter."""
    env = {**os.environ, "PYTHONPATH": str(checkout), "COLUMNS": "160"}
    env.pop("INTAKE_CONFIG", None)
    # An installed tool has its bytecode compiled (pip does it); with PYTHONDONTWRITEBYTECODE set (as in some
    # shells here) every run would compile the project's sources again and count that as start-up.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return timed_child([sys.executable, "-m", "ingest.cli", *args], env=env, cwd=checkout)


def output_of(checkout: Path, args: list[str]) -> str:
    """What the command prints (to compare checkouts: a faster command must print the same)."""
    env = {**os.environ, "PYTHONPATH": str(checkout), "COLUMNS": "160"}
    env.pop("INTAKE_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "ingest.cli", *args], env=env, cwd=checkout, capture_output=True,
                          text=True, check=True).stdout


def heavy_imports(checkout: Path, args: list[str]) -> list[str]:
    env = {**os.environ, "PYTHONPATH": str(checkout), "COLUMNS": "160"}
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "ingest.cli", *args], env=env, cwd=checkout,
                          capture_output=True, text=True, check=True)
    names = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if "|" in line}
    return [h for h in HEAVY if h in names]


def fill(work: Path, cases: int) -> Path:
    from staff_factory import fill_cases  # noqa: PLC0415  (bench-only helper)

    from store import Store

    url = f"sqlite:///{work / 'intake.db'}"
    store = Store.open(url)
    fill_cases(store.engine, cases, seed=2025)
    store.close()
    return intake_config(work, db_url=url, log_format="text")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--compare", type=Path, help="another checkout (e.g. before a change), run interleaved")
    parser.add_argument("--export", action="store_true", help="also `intake list --limit 0` and `intake export --xlsx`")
    args = parser.parse_args()
    load_at_start = os.getloadavg()
    checkouts = {"this": REPO} | ({"compare": args.compare.resolve()} if args.compare else {})
    results = []
    with tempfile.TemporaryDirectory(prefix="startup-bench-") as tmp:
        cfg = fill(Path(tmp), args.cases)
        for what, cmd in commands(cfg, args.export):
            times: dict[str, list[float]] = {name: [] for name in checkouts}
            cpu: dict[str, list[float]] = {name: [] for name in checkouts}
            for name, checkout in checkouts.items():
                for _ in range(args.warmup):
                    run_once(checkout, cmd)
            for _ in range(args.runs):  # interleaved: load on the machine hits both alike
                for name, checkout in checkouts.items():
                    wall, used = run_once(checkout, cmd)
                    times[name].append(wall)
                    cpu[name].append(used)
            # The export's file is written by each checkout in turn (its line names the path): compared by
            # tests/test_staff_stats' cell-by-cell check instead.
            same = (None if len(checkouts) < 2 or "export" in what else
                    len({output_of(checkout, cmd) for checkout in checkouts.values()}) == 1)
            for name, checkout in checkouts.items():
                t = times[name]
                results.append({"checkout": name, "path": str(checkout), "what": what, "runs": len(t),
                                "mean": round(statistics.mean(t), 3), "stdev": round(statistics.stdev(t), 3),
                                "min": round(min(t), 3), "max": round(max(t), 3),
                                "cpu_mean": round(statistics.mean(cpu[name]), 3),
                                "cpu_min": round(min(cpu[name]), 3),
                                "heavy_imports": heavy_imports(checkout, cmd), "same_output": same})
                print(f"{name:8} {what:28} {statistics.mean(t):.3f} s ± {statistics.stdev(t):.3f} "
                      f"(CPU {statistics.mean(cpu[name]):.3f} s)", flush=True)
    load = os.getloadavg()
    meta = {"runs": args.runs, "warmup": args.warmup, "cases": args.cases, "python": platform.python_version(),
            "cpus": os.cpu_count(), "loadavg_at_end": [round(x, 2) for x in load]}
    meta["loadavg_at_start"] = [round(x, 2) for x in load_at_start]
    lines = [f"# Command start-up ({args.runs} runs after {args.warmup} warm-up, {os.cpu_count()} CPUs, "
             f"load average at start {load_at_start[0]:.1f}, at end {load[0]:.1f})", "",
             "| checkout | command | wall mean s | ± s | min s | max s | CPU mean s | CPU min s | heavy imports | "
             "same output |", "|---|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['checkout']} | {r['what']} | {r['mean']} | {r['stdev']} | {r['min']} | {r['max']} | "
              f"{r['cpu_mean']} | {r['cpu_min']} | {', '.join(r['heavy_imports']) or '—'} | "
              f"{'—' if r['same_output'] is None else 'yes' if r['same_output'] else 'NO'} |" for r in results]
    write_results(RESULTS_DIR, "startup", {"meta": meta, "results": results}, "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
