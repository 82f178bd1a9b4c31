#!/usr/bin/env bash
# The embedded default: the whole job on generated sample submissions (SQLite database, a local demo mailbox,
# replies written to files, the staff console set up on the result). No mail account needed.
# Installs what `intake` needs to run (Debian packages; Python packages into the project's .venv) first.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh

bash scripts/install-system-deps.sh --runtime
ensure_venv ""
echo "运行：$VENV/bin/intake demo --dir ${1:-demo}"
"$VENV/bin/intake" demo --dir "${1:-demo}"
echo "intake 命令在 $VENV/bin/ 中：先执行 source $VENV/bin/activate，上面提示的 intake 命令即可直接运行。"
