#!/usr/bin/env bash
# The embedded default: the whole job on generated sample submissions (SQLite database, a local demo mailbox,
# replies written to files, the staff console set up on the result). No mail account needed.
# Installs what `intake` needs to run (Debian packages; Python packages into the project's .venv) first.
#   bash scripts/demo.sh [DIR [intake demo options, e.g. --count 2]]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh
# One function called on the last line: bash parses all of it before the long steps run (a merge that rewrites
# this file meanwhile must not change what runs next; see install-system-deps.sh).

main() {
    bash scripts/install-system-deps.sh --runtime
    ensure_venv ""
    echo "运行：$VENV/bin/intake demo --dir ${1:-demo} ${*:2}"
    "$VENV/bin/intake" demo --dir "${1:-demo}" "${@:2}"
    echo "intake 命令在 $VENV/bin/ 中：先执行 source $VENV/bin/activate，上面提示的 intake 命令即可直接运行。"
}

main "$@"
exit
