#!/usr/bin/env bash
# Install what agentd's build and tests need, only what is absent:
#   1. the Debian packages listed in scripts/deps/debian-packages.txt
#      (`apt-get update` once, and only when something is missing);
#   2. the tests' npm packages (tests/package.json, e.g. the Claude Code CLI)
#      with `npm ci --prefix tests`, when tests/node_modules is missing or
#      older than tests/package-lock.json.
# Idempotent: a second run changes nothing and prints one line per step.
# Runs as root, or through sudo when that is available. Needs no stdin.
#
#   scripts/setup-deps.sh [--no-npm]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
list="$root/scripts/deps/debian-packages.txt"
want_npm=1
for arg in "$@"; do
    case "$arg" in
    --no-npm) want_npm=0 ;;
    -h|--help) sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "setup-deps: unknown argument: $arg" >&2; exit 2 ;;
    esac
done

say() { echo "setup-deps: $*"; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n "$@" || {
            echo "setup-deps: '$*' needs root; run this script as root or with sudo" >&2
            exit 1
        }
    else
        echo "setup-deps: '$*' needs root, and sudo is not available" >&2
        exit 1
    fi
}

pkg_installed() {
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = "installed" ]
}

# --- Debian packages -------------------------------------------------------
missing=()
while read -r pkg cmd _; do
    case "$pkg" in ''|'#'*) continue ;; esac
    if [ -n "${cmd:-}" ] && command -v "$cmd" >/dev/null 2>&1; then
        continue
    fi
    pkg_installed "$pkg" || missing+=("$pkg")
done <"$list"

if [ ${#missing[@]} -eq 0 ]; then
    say "Debian packages: all present"
else
    say "Debian packages to install: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt_opts=(-y -q -o Dpkg::Use-Pty=0 -o DPkg::Lock::Timeout=600)
    as_root apt-get update -q -o DPkg::Lock::Timeout=600
    as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install "${apt_opts[@]}" --no-install-recommends "${missing[@]}"
    say "Debian packages: installed ${#missing[@]}"
fi

# --- npm packages for the tests --------------------------------------------
tests="$root/tests"
if [ "$want_npm" -eq 0 ]; then
    say "npm packages: skipped (--no-npm)"
elif [ ! -f "$tests/package.json" ]; then
    say "npm packages: none (no tests/package.json)"
else
    stamp="$tests/node_modules/.package-lock.json" # npm writes it on every install
    lock="$tests/package-lock.json"
    if [ -f "$stamp" ] && { [ ! -f "$lock" ] || [ ! "$lock" -nt "$stamp" ] ; } &&
       [ ! "$tests/package.json" -nt "$stamp" ]; then
        say "npm packages: tests/node_modules is up to date"
    else
        npm_opts=(--prefix "$tests" --no-audit --no-fund --loglevel=warn)
        if [ -f "$lock" ]; then
            say "npm packages: npm ci --prefix tests"
            npm ci "${npm_opts[@]}" </dev/null
        else
            say "npm packages: no tests/package-lock.json; npm install --prefix tests"
            npm install "${npm_opts[@]}" </dev/null
        fi
    fi
fi
