#!/usr/bin/env bash
# Installs what certctl's tests and demo need on a fresh Debian machine, when missing.
# Sourced by scripts/test.sh and scripts/demo.sh.
set -euo pipefail

lab_deps() {
    local missing=()
    command -v pebble >/dev/null 2>&1 || missing+=(pebble)
    command -v nginx >/dev/null 2>&1 || missing+=(nginx)
    command -v certbot >/dev/null 2>&1 || missing+=(certbot)
    command -v openssl >/dev/null 2>&1 || missing+=(openssl)
    command -v curl >/dev/null 2>&1 || missing+=(curl)
    command -v python3 >/dev/null 2>&1 || missing+=(python3)
    python3 -c 'import ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
    command -v git >/dev/null 2>&1 || missing+=(git)
    command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
    # The nginx corpus on the real ports 80 and 443 runs under `unshare -n` with `ip link set lo up`.
    command -v unshare >/dev/null 2>&1 || missing+=(util-linux)
    command -v ip >/dev/null 2>&1 || missing+=(iproute2)
    command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
    dpkg -s libssl-dev >/dev/null 2>&1 || missing+=(libssl-dev)
    # certbot's nginx plugin: the import tests take a site `certbot --nginx` set up.
    dpkg -s python3-certbot-nginx >/dev/null 2>&1 || missing+=(python3-certbot-nginx)
    # The audit's --html page is opened in a real headless browser.
    command -v chromium >/dev/null 2>&1 || missing+=(chromium)
    # The fleet tests' PostgreSQL: Debian's server (initdb, pg_ctl under /usr/lib/postgresql/N/bin),
    # run by tests/common/postgres.rs as a private cluster on loopback.
    compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
    # The package: lintian checks the .deb, man -w finds its man pages once installed.
    command -v lintian >/dev/null 2>&1 || missing+=(lintian)
    command -v man >/dev/null 2>&1 || missing+=(man-db)
    # certctl doctor's tests: a real authoritative DNS server (Knot DNS) with A, AAAA, CAA records.
    command -v knotd >/dev/null 2>&1 || missing+=(knot)
    # The tests validate real --json outputs against docs/schemas/.
    python3 -c 'import jsonschema' >/dev/null 2>&1 || missing+=(python3-jsonschema)
    if [ ${#missing[@]} -gt 0 ]; then
        echo "installing: ${missing[*]}" >&2
        local sudo=""
        [ "$(id -u)" -eq 0 ] || sudo="sudo"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
    command -v cargo >/dev/null 2>&1 || { echo "cargo not found: install Rust (rustup) first" >&2; exit 1; }
}

# A virtualenv with the Django, django-environ and gunicorn versions the Django tests pin
# (tests/fixtures/django/requirements.txt), made again when that file changes.
django_venv() {
    local venv="$PWD/target/django-venv" req="$PWD/tests/fixtures/django/requirements.txt"
    if [ ! -x "$venv/bin/python" ] || ! cmp -s "$req" "$venv/requirements.txt"; then
        echo "installing Django into $venv" >&2
        rm -rf "$venv"
        python3 -m venv "$venv"
        "$venv/bin/pip" install -q --disable-pip-version-check -r "$req"
        cp "$req" "$venv/requirements.txt"
    fi
    export CERTCTL_DJANGO_PYTHON="$venv/bin/python"
}
