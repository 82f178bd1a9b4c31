#!/usr/bin/env bash
# The project's one test command: system packages, the project's .venv with the test extras, the test suite,
# then mypy. Extra arguments go to pytest, e.g.  bash scripts/test.sh -k imap -x
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh
# One function called on the last line: bash parses all of it before the long steps run (a merge that rewrites
# this file meanwhile must not change what runs next; see install-system-deps.sh).

main() {
    bash scripts/install-system-deps.sh --test || { echo "系统软件包安装失败" >&2; exit 1; }
    ensure_venv "[test]" || { echo "Python 依赖安装失败" >&2; exit 1; }

    # Two test processes (pytest-xdist), each file's tests in one of them in order (--dist loadfile: a module's
    # fixtures are built once). The suite mostly waits on real servers and subprocesses: on 2 cores it took
    # 6 min 54 s this way, where one process took 22-28 min. INTAKE_TEST_PROCESSES=0 runs it in this one process.
    "$VENV/bin/python" -m pytest -q -p no:cacheprovider -n "${INTAKE_TEST_PROCESSES:-2}" --dist loadfile "$@"
    tests_status=$?
    if [ "$tests_status" -eq 5 ]; then
        echo "没有收集到任何测试：视为失败" >&2
    fi

    "$VENV/bin/python" -m mypy ingest checks store notify console
    types_status=$?

    if [ "$tests_status" -ne 0 ] || [ "$types_status" -ne 0 ]; then
        echo "失败：pytest 退出码 $tests_status，mypy 退出码 $types_status" >&2
        exit 1
    fi
    echo "全部通过"
}

main "$@"
exit
