# Sourced by demo.sh and test.sh: the project's own Python environment, never the system's.
# Stock Debian 12 / Ubuntu 24.04 refuse `pip install` into the system Python (PEP 668), and pip into a
# pyenv or other shared interpreter would change it for everyone: everything goes into $VENV (.venv).
VENV="${INTAKE_VENV:-.venv}"

# The interpreter the venv is made from: Debian's python3 (what a stock box runs), else the first python3.
base_python() {
    local candidate
    for candidate in /usr/bin/python3 "$(command -v python3 || true)"; do
        if [ -x "$candidate" ] && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    echo "需要 Python 3.11 或更高版本（Debian 12 / Ubuntu 24.04 自带的 python3 即可）" >&2
    return 1
}

# ensure_venv EXTRAS: create $VENV when missing or broken, then install the project into it (editable) with
# the given extras ("" or "[test]"), skipped when pyproject.toml has not changed since the last install.
ensure_venv() {
    local extras="$1" started=$SECONDS python stamp
    if ! "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
        python="$(base_python)"
        rm -rf "$VENV"
        echo "创建 Python 虚拟环境 $VENV（基于 $python，$("$python" --version 2>&1)）"
        "$python" -m venv "$VENV" || {
            echo "无法创建虚拟环境：Debian/Ubuntu 上请先安装 python3-venv（bash scripts/install-system-deps.sh）" >&2
            return 1
        }
    fi
    stamp="$VENV/.case-intake-installed"
    local want
    want="$(sha256sum pyproject.toml | cut -d' ' -f1) $extras"
    if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
        return 0
    fi
    echo "安装 Python 依赖到 $VENV（pip install -e .$extras）"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e ".$extras"
    echo "$want" > "$stamp"
    echo "Python 依赖安装完成，用时 $((SECONDS - started)) 秒"
}
