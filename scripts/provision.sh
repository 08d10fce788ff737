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
#      that tree's own loader and libraries (Debian, as root).  The tree also holds each
#      version's CPython test suite (libpython3.X-testsuite), whose executor tests
#      tests/stdlib/ runs against Pool; a tree made before that gets them added, at the
#      versions of its Pythons.
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

TREE="$CACHE/debian-sid"

# True if the tree's python$2 has its test suite (the part tests/stdlib/ runs).
has_testsuite() { [[ -d "$1/usr/lib/python$2/test/test_concurrent_futures" ]]; }

# Add the test suites of the tree's Pythons to a tree made without them, at the exact
# versions installed there: downloaded with the host's apt-get (pointed at the tree's
# sources and dpkg status) and unpacked into the tree.  Only adds files: Pythons that
# run from the tree meanwhile are not disturbed.  Returns 1 if that cannot be done
# (no apt-get, not writable, the mirror has moved on to other versions).
add_testsuites() {
    local tree="$1" v missing=() work
    for v in "${ALL_VERSIONS[@]}"; do
        has_testsuite "$tree" "$v" || missing+=("$v")
    done
    [[ ${#missing[@]} == 0 ]] && return 0
    command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null && [[ -w "$tree/usr/lib" ]] \
        || return 1
    mkdir -p "$CACHE"
    exec 8>"$CACHE/.testsuite-lock"; flock 8
    work="$(mktemp -d)"
    local apt=(-o "Dir::Etc::SourceList=$tree/etc/apt/sources.list" -o "Dir::Etc::SourceParts=$work/none"
        -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache"
        -o "Dir::State::status=$tree/var/lib/dpkg/status" -o "Acquire::Check-Valid-Until=false"
        -o "APT::Architecture=amd64" -o "APT::Sandbox::User=root")
    mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
    local ok=0 version
    if apt-get "${apt[@]}" -q update >/dev/null; then
        for v in "${missing[@]}"; do
            has_testsuite "$tree" "$v" && continue  # added meanwhile
            version="$(dpkg-query --admindir="$tree/var/lib/dpkg" -W -f='${Version}' "python$v")"
            log "adding libpython$v-testsuite $version to $tree"
            (cd "$work" && apt-get "${apt[@]}" -q download "libpython$v-testsuite=$version" >/dev/null) \
                && dpkg-deb -x "$work"/libpython"$v"-testsuite_*.deb "$tree" || { ok=1; break; }
        done
    else
        ok=1
    fi
    rm -rf "$work"
    flock -u 8
    return $ok
}

if [[ -x "$VENV/bin/python" && -f "$STAMP" && "$(cat "$STAMP")" == "$(want_stamp)" ]]; then
    # A venv on the Debian tree: make sure the tree has the test suites (added once).
    if [[ "$(readlink -f "$VENV/bin/python")" == "$TREE"/* ]] && ! has_testsuite "$TREE" "$VER"; then
        add_testsuites "$TREE" || log "could not add the CPython test suites to $TREE (tests/stdlib/ will skip)"
    fi
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
    local tree="$TREE"
    local bin="$tree/usr/bin/python$VER-native"
    if [[ -x "$bin" ]] && usable "$bin"; then
        has_testsuite "$tree" "$VER" || add_testsuites "$tree" >&2 \
            || log "could not add the CPython test suites to $tree (tests/stdlib/ will skip)"
        echo "$bin"; return 0
    fi
    debian_tree "$tree" >&2
    cp "$tree/usr/bin/python$VER" "$bin"
    patchelf --set-interpreter "$tree/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" \
        --force-rpath --set-rpath "$tree/usr/lib/x86_64-linux-gnu" "$bin"
    "$bin" -c 'import _interpreters, _interpqueues, ssl, sqlite3, ctypes' >&2
    echo "$bin"
}

# True if the tree has every supported version, with its test suite (one tree holds them
# all: one build).
tree_complete() {
    local v
    for v in "${ALL_VERSIONS[@]}"; do
        [[ -x "$1/usr/bin/python$v" ]] && has_testsuite "$1" "$v" || return 1
    done
}

# True if the tree has every supported version's interpreter.
has_pythons() {
    local v
    for v in "${ALL_VERSIONS[@]}"; do [[ -x "$1/usr/bin/python$v" ]] || return 1; done
}

debian_tree() {
    local tree="$1"
    tree_complete "$tree" && return 0
    has_pythons "$tree" && add_testsuites "$tree" && return 0
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
        for v in "${ALL_VERSIONS[@]}"; do packages+="python$v,python$v-venv,libpython$v-testsuite,"; done
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
