#!/usr/bin/env bash
# The embedded default: install case-intake and run the whole job on generated sample submissions
# (SQLite database, a local demo mailbox, replies written to files). No mail account needed.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q -e .
exec intake demo --dir "${1:-demo}"
