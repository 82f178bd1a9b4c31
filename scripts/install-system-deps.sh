#!/usr/bin/env bash
# Installs the Debian packages case-intake and its tests need, and only those that are missing.
# Idempotent: a second run installs nothing. Never starts the system Dovecot (the tests run their own).
set -euo pipefail

# chromium: the console's browser tests (Playwright drives Debian's build); fonts-noto-cjk: Chinese in charts and
# in LibreOffice; libreoffice-writer-nogui: reading .doc/.wps/.rtf (runtime, ingest/classify.py).
packages=(dovecot-imapd libarchive13 libarchive-tools p7zip-full isync chromium fonts-noto-cjk libreoffice-writer-nogui)

installed() {
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

postgres_available() {
    # A server already answering, or server binaries the tests can start a throwaway cluster with.
    if (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
        return 0
    fi
    compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' >/dev/null
}

missing=()
for package in "${packages[@]}"; do
    installed "$package" || missing+=("$package")
done
postgres_available || missing+=(postgresql)

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        exec sudo -n "$0" "$@"
    fi
    echo "缺少系统软件包：${missing[*]}。请以 root 身份运行 scripts/install-system-deps.sh（或 apt-get install ${missing[*]}）。" >&2
    exit 0
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

# Refresh the package lists only when a package cannot be found in them.
if ! apt-cache show "${missing[@]}" >/dev/null 2>&1; then
    apt-get update -qq
fi
echo "安装系统软件包：${missing[*]}"
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
