#!/usr/bin/env bash
# Installs what certctl's tests and demo need on a fresh Debian machine, when missing.
# Sourced by scripts/test.sh and scripts/demo.sh.
set -euo pipefail

lab_deps() {
    local missing=()
    command -v pebble >/dev/null 2>&1 || missing+=(pebble)
    command -v nginx >/dev/null 2>&1 || missing+=(nginx)
    command -v openssl >/dev/null 2>&1 || missing+=(openssl)
    command -v curl >/dev/null 2>&1 || missing+=(curl)
    command -v python3 >/dev/null 2>&1 || missing+=(python3)
    command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
    command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
    dpkg -s libssl-dev >/dev/null 2>&1 || missing+=(libssl-dev)
    if [ ${#missing[@]} -gt 0 ]; then
        echo "installing: ${missing[*]}" >&2
        local sudo=""
        [ "$(id -u)" -eq 0 ] || sudo="sudo"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
    command -v cargo >/dev/null 2>&1 || { echo "cargo not found: install Rust (rustup) first" >&2; exit 1; }
}
