#!/usr/bin/env bash
# The newcomer's path on a stock Debian 12, measured: a throwaway root made by debootstrap (python3, git and
# ca-certificates, as on a Debian server; the system Python carries the PEP 668 marker), a clean clone of this
# checkout's HEAD, then the README's demo command (and with --tests the README's test command) run inside it.
# Prints and saves wall times and disk used (bench/results/fresh_debian-<UTC time>.md).
#
#   sudo bash bench/fresh_debian.sh            # debootstrap + scripts/demo.sh   (about 10 minutes here)
#   sudo bash bench/fresh_debian.sh --tests    # also scripts/test.sh            (the whole suite: 20+ minutes)
#
# Needs root, debootstrap (`apt-get install debootstrap`; not on these machines by default) and Debian's mirror.
# PostgreSQL for --tests: the host's server on 127.0.0.1:5432 is reachable from the chroot (same network); without
# one the test script installs postgresql in the chroot.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
run_tests=0
[ "${1:-}" = "--tests" ] && run_tests=1
[ "$(id -u)" -eq 0 ] || { echo "run as root (debootstrap, chroot)" >&2; exit 2; }

work="$(mktemp -d /var/tmp/intake-fresh-XXXXXX)"
root="$work/root"
mounted=()
cleanup() {
    for ((i=${#mounted[@]}-1; i>=0; i--)); do umount -l "${mounted[$i]}" 2>/dev/null || true; done
    [ -n "${KEEP_ROOT:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
report="$repo/bench/results/fresh_debian-$stamp.md"
log="$work/run.log"
say() { echo "$*" | tee -a "$report"; }

# One function called on the last line: bash parses all of it before the long steps run (see
# scripts/install-system-deps.sh).
main() {
    t0=$SECONDS
    debootstrap --variant=minbase --include=python3,git,ca-certificates bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1
    t_boot=$((SECONDS - t0))
    base_kb=$(du -sxk "$root" | cut -f1)
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    # A network whose HTTPS goes through an intercepting proxy needs its CA: use the host's bundle for pip in the root
    # (the stock Debian bundle stays where it is; only pip is pointed at this one).
    cp /etc/ssl/certs/ca-certificates.crt "$root/etc/host-ca-certificates.crt"
    for fs in proc sys dev dev/pts; do
        mount --bind "/$fs" "$root/$fs"; mounted+=("$root/$fs")
    done
    mkdir -p "$root/dev/shm"

    git clone -q "$repo" "$root/root/case-intake"
    git -C "$root/root/case-intake" checkout -q "$(git -C "$repo" rev-parse HEAD)"
    in_root() { chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 CI="${CI:-}" \
        PIP_CERT=/etc/host-ca-certificates.crt \
        /bin/bash -c "cd /root/case-intake && $1"; }

    {
        echo "# Fresh Debian 12 (debootstrap minbase + python3, git, ca-certificates): the README's commands"
        echo
        echo "commit $(git -C "$repo" rev-parse --short HEAD), $stamp, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
        echo
        echo "- system Python in the root: $(chroot "$root" /usr/bin/python3 --version 2>&1); PEP 668 marker: $(cd "$root" && ls -d usr/lib/python3*/EXTERNALLY-MANAGED 2>/dev/null || echo none)"
        echo "- pip into the system Python is refused: $(chroot "$root" /usr/bin/python3 -m pip --version >/dev/null 2>&1 && echo "no (pip present)" || echo "yes (no pip at all)")"
        echo "- debootstrap: ${t_boot} s, root $((base_kb / 1024)) MB"
    } > "$report"

    t0=$SECONDS
    status=0
    in_root "bash scripts/demo.sh" >"$log" 2>&1 || status=$?
    t_demo=$((SECONDS - t0))
    after_kb=$(du -sxk --exclude=root/case-intake --exclude=root/tmp "$root" | cut -f1)
    venv_kb=$(du -sxk "$root/root/case-intake/.venv" 2>/dev/null | cut -f1 || echo 0)
    say "- \`bash scripts/demo.sh\`: exit $status, ${t_demo} s wall (system packages + .venv + the demo)"
    grep -E "用时|安装系统软件包|创建 Python|回执写入" "$log" | sed 's/^/    /' | tee -a "$report"
    debs_kb=$(du -sxk "$root/var/cache/apt/archives" | cut -f1)
    say "- disk: system packages $(((after_kb - base_kb - debs_kb) / 1024)) MB installed (+ $((debs_kb / 1024)) MB of .deb files in apt's cache), .venv $((venv_kb / 1024)) MB"

    if [ "$status" -eq 0 ]; then
        # The first real step after the demo: intake init, then check-config naming every missing secret in one run.
        in_root ".venv/bin/intake init /root/deploy --mailbox jcjyzj2025@163.com && .venv/bin/intake check-config \
            --config /root/deploy/config.toml" >"$work/init.log" 2>&1 || true
        say "- \`intake init\` + \`intake check-config\`:"
        grep -E "已写入|缺少|  - |配置有效" "$work/init.log" | sed 's/^/    /' | tee -a "$report"
    fi

    if [ "$run_tests" -eq 1 ] && [ "$status" -eq 0 ]; then
        t0=$SECONDS
        tstatus=0
        in_root "bash scripts/test.sh" >"$work/test.log" 2>&1 || tstatus=$?
        t_test=$((SECONDS - t0))
        tests_kb=$(du -sxk --exclude=root/case-intake --exclude=root/tmp "$root" | cut -f1)  # not the tests' leftovers in /tmp
        debs2_kb=$(du -sxk "$root/var/cache/apt/archives" | cut -f1)
        say "- \`bash scripts/test.sh\`: exit $tstatus, ${t_test} s wall; test-only system packages $(((tests_kb - after_kb - debs2_kb + debs_kb) / 1024)) MB installed"
        grep -E "passed|failed|用时|安装系统软件包|全部通过|失败" "$work/test.log" | tail -8 | sed 's/^/    /' | tee -a "$report"
        cp "$work/test.log" "${report%.md}-test.log"
    fi
    cp "$log" "${report%.md}-demo.log"
    tail -5 "$log"
    echo "report: $report"
    exit "$status"
}

main "$@"
exit
