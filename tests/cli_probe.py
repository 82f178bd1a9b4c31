"""Which modules a CLI command imports: run it in a fresh interpreter and list them (start-up cost, layering)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def loaded_after(args: list[str], cwd: Path, prefixes: tuple[str, ...]) -> tuple[str, list[str]]:
    """Run ``intake ARGS`` in a fresh interpreter: (what it printed, the modules it had imported by the end
    whose names start with one of ``prefixes``). The command must succeed."""
    code = ("import sys\nfrom ingest.cli import main\n"
            f"main({args!r}, standalone_mode=False)\n"
            f"print('LOADED', sorted(m for m in sys.modules if m.startswith({prefixes!r})))\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("LOADED "), proc.stdout
    return proc.stdout[:proc.stdout.rindex("LOADED")], ast.literal_eval(last[len("LOADED "):])
