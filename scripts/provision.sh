#!/usr/bin/env bash
# Provision a virtual environment for one CPython version and print its python path.
#
#   scripts/provision.sh 3.14      -> prints .venv-3.14/bin/python (created on first use)
#
# Versions: 3.13, 3.14, 3.15 (the supported Pythons: docs/compatibility.md, "Python versions",
# which the README's Install section points to).
# Where the interpreter comes from, first that works:
#   1. python3.X already on PATH (for 3.13, release 3.13.8 or later: older ones are
#      skipped, as pyenv's 3.13.0 on our machines, in favour of Debian's current 3.13);
#   2. `uv python install 3.X` (fails offline: uv downloads from GitHub);
#   3. Debian unstable's python3.13, python3.14 and python3.15 packages, unpacked with
#      mmdebstrap into one tree in a cache directory and patched with patchelf to use
#      that tree's own loader and libraries (Debian, as root).
# Results are cached (the Debian tree in $INTERPOOL_CACHE, the venv in the repo), so a second
# run costs a second or two: the venv is only rebuilt when pyproject.toml changes.
set -euo pipefail

VER="${1:?usage: provision.sh 3.13|3.14|3.15}"
ALL_VERSIONS=(3.13 3.14 3.15)
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${INTERPOOL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/interpool-dev}"
VENV="$ROOT/.venv-$VER"
STAMP="$VENV/.interpool-stamp"
log() { echo "provision[$VER]: $*" >&2; }

want_stamp() { sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1; }

if [[ -x "$VENV/bin/python" && -f "$STAMP" && "$(cat "$STAMP")" == "$(want_stamp)" ]]; then
    echo "$VENV/bin/python"; exit 0
fi

# Succeeds if the interpreter has what interpool needs: the sub-interpreter modules
# (public from 3.14, private in 3.13) and, for 3.13, a recent enough release.
usable() {
    "$1" -c 'import sys, _interpreters, _interpqueues
assert sys.version_info >= (3, 14) or sys.version_info >= (3, 13, 8)' 2>/dev/null
}

find_python() {
    local p
    if p="$(command -v "python$VER" 2>/dev/null)" && usable "$p"; then
        echo "$p"; return 0
    fi
    if command -v uv >/dev/null 2>&1 && p="$(uv python find "$VER" 2>/dev/null)" && usable "$p"; then
        echo "$p"; return 0
    fi
    if command -v uv >/dev/null 2>&1 && uv python install "$VER" >/dev/null 2>&1 \
        && p="$(uv python find "$VER" 2>/dev/null)" && usable "$p"; then
        echo "$p"; return 0
    fi
    local tree="$CACHE/debian-sid"
    local bin="$tree/usr/bin/python$VER-native"
    if [[ -x "$bin" ]] && usable "$bin"; then
        echo "$bin"; return 0
    fi
    debian_tree "$tree" >&2
    cp "$tree/usr/bin/python$VER" "$bin"
    patchelf --set-interpreter "$tree/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" \
        --force-rpath --set-rpath "$tree/usr/lib/x86_64-linux-gnu" "$bin"
    "$bin" -c 'import _interpreters, _interpqueues, ssl, sqlite3, ctypes' >&2
    echo "$bin"
}

# True if the tree has every supported version (one tree holds them all: one build).
tree_complete() {
    local v
    for v in "${ALL_VERSIONS[@]}"; do [[ -x "$1/usr/bin/python$v" ]] || return 1; done
}

debian_tree() {
    local tree="$1"
    tree_complete "$tree" && return 0
    [[ "$(id -u)" == 0 ]] || { log "need python$VER: install it, or run as root to build it from Debian's packages"; exit 1; }
    command -v apt-get >/dev/null || { log "need python$VER on PATH (no apt-get to build it)"; exit 1; }
    if ! command -v mmdebstrap >/dev/null || ! command -v patchelf >/dev/null; then
        log "installing mmdebstrap and patchelf"
        apt-get update -q >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q mmdebstrap patchelf >/dev/null
    fi
    log "building a Debian unstable tree with Python ${ALL_VERSIONS[*]} in $tree"
    mkdir -p "$CACHE"
    # Serialise concurrent builds (make -j test) on one lock.
    exec 9>"$CACHE/.lock"; flock 9
    if ! tree_complete "$tree"; then
        local v packages=""
        for v in "${ALL_VERSIONS[@]}"; do packages+="python$v,python$v-venv,"; done
        rm -rf "$tree.tmp"
        mmdebstrap --quiet --variant=apt --aptopt='Acquire::Check-Valid-Until "false"' \
            --include="${packages%,}" sid "$tree.tmp"
        rm -rf "$tree"; mv "$tree.tmp" "$tree"
    fi
    flock -u 9
}

PY="$(find_python)"
log "interpreter: $PY ($("$PY" -c 'import sys; print(sys.version.split()[0])'))"
rm -rf "$VENV"
"$PY" -m venv --without-pip "$VENV"
if ! "$VENV/bin/python" -m ensurepip --upgrade >/dev/null 2>&1; then
    wheel="$(ls "$(dirname "$PY")"/../share/python-wheels/pip-*.whl 2>/dev/null | head -1 || true)"
    [[ -n "$wheel" ]] || { log "no pip wheel found to bootstrap pip"; exit 1; }
    "$VENV/bin/python" "$wheel/pip" install -q pip
fi
# interpool (editable) with every public extra, and the contributors' tools: the `dev`
# dependency group of pyproject.toml (PEP 735), which pip installs from 25.1 on.
"$VENV/bin/python" -m pip install -q --disable-pip-version-check "pip>=25.1"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check \
    -e "$ROOT[dask,bench,progress,examples]" --group "$ROOT/pyproject.toml:dev"
want_stamp > "$STAMP"
echo "$VENV/bin/python"
