#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages case-intake needs, and only those that are missing; says what it installs
# and how long it took. Idempotent: a second run installs nothing. Never starts the system Dovecot.
#
#   bash scripts/install-system-deps.sh            # what `intake` needs to run (scripts/demo.sh)
#   bash scripts/install-system-deps.sh --test     # that, plus what the tests need (scripts/test.sh)
set -euo pipefail
# The work is one function called on the last line, so bash has parsed all of it before apt-get runs. Bash reads a
# plain script as it goes: a checkout or merge that rewrote this file during a minutes-long install made it resume
# at the old byte offset in the new text (seen: "line 87: /null: No such file or directory", the tail of a
# `>/dev/null` six bytes further on, after a comment above had grown by six bytes; packages installed, exit 127).

# At run time:
#   python3-venv             the project virtualenv (.venv): stock Debian/Ubuntu split ensurepip out of python3
#   libarchive13             RAR/7z/tar unpacking (libarchive-c loads it)
#   libreoffice-writer-nogui legacy .doc/.wps/.rtf → .docx (soffice --headless, ingest/files/classify.py)
#   fonts-noto-cjk           Chinese in `intake chart` and in converted documents
# (MediaInfo and ffmpeg need nothing: the pymediainfo and imageio-ffmpeg wheels carry them.)
runtime=(python3-venv libarchive13 libreoffice-writer-nogui fonts-noto-cjk)
# Only for the tests:
#   dovecot-imapd   the real IMAP server the tests start on loopback
#   isync           mbsync, the fetch floor of the benchmarks
#   chromium, libatomic1   the console's browser test (Playwright drives Debian's build; its bundled node needs libatomic)
#   libarchive-tools, p7zip-full, zip   bsdtar, 7z and Info-ZIP make the test archives (GBK-named ZIPs, 7z)
#   git             the fresh-clone install test
#   pipx            the `pipx install .` test (intake in a venv of its own, on PATH)
#   postgresql      its server binaries (pg_ctl), unless present: the tests use the server on 127.0.0.1:5432 when one
#                   answers, and test_self_started_postgres_when_forced starts a throwaway cluster in every run (a
#                   stock root whose host server answered lacked pg_ctl: that test failed)
test_only=(dovecot-imapd isync chromium libatomic1 libarchive-tools p7zip-full zip git pipx)

installed() {
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

postgres_available() {
    # Server binaries the tests can start a throwaway cluster with (a server answering on 5432 is not enough).
    compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' >/dev/null
}

main() {
    with_tests=0
    case "${1:-}" in
        --test) with_tests=1 ;;
        ""|--runtime) ;;
        *) echo "用法：$0 [--runtime|--test]" >&2; exit 2 ;;
    esac

    wanted=("${runtime[@]}")
    if [ "$with_tests" -eq 1 ]; then
        wanted+=("${test_only[@]}")
    fi
    missing=()
    for package in "${wanted[@]}"; do
        installed "$package" || missing+=("$package")
    done
    if [ "$with_tests" -eq 1 ]; then
        postgres_available || missing+=(postgresql)
    fi

    if [ ${#missing[@]} -eq 0 ]; then
        echo "系统软件包：已齐全（${wanted[*]}）"
        exit 0
    fi

    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
            exec sudo -n "$0" "$@"
        fi
        echo "缺少系统软件包：${missing[*]}。请以 root 身份运行 bash scripts/install-system-deps.sh $*（或 sudo apt-get install ${missing[*]}）。" >&2
        exit 1
    fi

    export DEBIAN_FRONTEND=noninteractive

    # Keep apt from starting services (the system dovecot in particular) while we install, unless the machine
    # already has a policy of its own; ours is removed again on exit.
    policy=/usr/sbin/policy-rc.d
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' > "$policy"
        chmod 755 "$policy"
        trap 'rm -f "$policy"' EXIT
    fi

    started=$SECONDS
    # Refresh the package lists only when a package cannot be found in them.
    if ! apt-cache show "${missing[@]}" >/dev/null 2>&1; then
        apt-get update -qq
    fi
    echo "安装系统软件包：${missing[*]}（下载和安装可能需要几分钟）"
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    echo "系统软件包安装完成，用时 $((SECONDS - started)) 秒"
}

main "$@"
exit
