#!/usr/bin/env bash
# Installs what Kiln needs on a Debian machine, idempotently: the Debian packages listed in
# scripts/debian-packages.txt and a virtualenv (.venv) holding the locked Python dependencies
# and Kiln itself. A second run finds everything in place and returns in a second or two.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

install_debian_packages() {
    local wanted missing=()
    wanted=$(grep -v '^\s*#' scripts/debian-packages.txt | tr -s ' \n' '\n' | sed '/^$/d' || true)
    for pkg in $wanted; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
            || missing+=("$pkg")
    done
    if ((${#missing[@]})); then
        echo "kiln install: Debian packages: ${missing[*]}"
        local sudo=""
        [ "$(id -u)" -eq 0 ] || sudo="sudo"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
            "${missing[@]}" >/dev/null
    fi
}

install_python_env() {
    local python=${KILN_PYTHON:-python3}
    if ! "$python" -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null; then
        echo "kiln install: Kiln needs Python 3.11 or newer as '$python'" >&2
        exit 1
    fi
    if [ ! -x .venv/bin/python ]; then
        "$python" -m venv .venv
    fi
    local stamp=.venv/.kiln-installed want
    want=$(cat requirements.lock pyproject.toml | sha256sum | cut -d' ' -f1)
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        echo "kiln install: Python dependencies (requirements.lock)"
        [ -x .venv/bin/uv ] || .venv/bin/python -m pip install -q uv
        .venv/bin/uv pip sync -q --python .venv/bin/python requirements.lock
        .venv/bin/uv pip install -q --python .venv/bin/python --no-deps -e .
        echo "$want" > "$stamp"
    fi
}

install_debian_packages
install_python_env
