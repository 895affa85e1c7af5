#!/usr/bin/env bash
# The whole test suite: installs the lab (pebble, nginx, …) when missing, checks formatting,
# lints, the pure-module boundaries, then runs unit and end-to-end tests.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lab-deps.sh
lab_deps
django_venv

cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings

# Pure leaves stay free of I/O outside their tests (see docs/ARCHITECTURE.md).
pure=$(find src/names.rs src/keys.rs src/verify src/config.rs src/settings.rs src/health.rs src/doctor.rs src/store/layout.rs src/tls_policy.rs \
    src/finding.rs src/progress.rs src/prometheus.rs src/hsts.rs src/renewal src/scheduler/cron.rs \
    src/nginx/mod.rs src/nginx/render.rs src/nginx/dump.rs src/nginx/lex.rs src/nginx/edit.rs src/nginx/repoint.rs src/nginx/proxied.rs \
    src/audit/wire src/audit/suites.rs src/audit/grade.rs src/audit/clients.rs \
    src/audit/cert.rs src/audit/report.rs src/audit/findings.rs src/audit/error.rs src/audit/oracle.rs src/audit/html.rs \
    src/django/settings.rs src/django/python.rs src/django/environ.rs src/django/checks.rs src/django/live.rs \
    src/certbot/renewal.rs src/certbot/account.rs src/acme/jws.rs src/store/pg/schema.rs src/store/pg/status.rs \
    -name '*.rs')
impure=$(for f in $pure; do
    awk -v f="$f" '/^#\[cfg\(test\)\]/ { exit } /tokio|std::(fs|process)|std::net::(Tcp|Udp)|SystemTime::now/ { print f ":" NR ": " $0 }' "$f"
done)
if [ -n "$impure" ]; then
    echo "$impure"
    echo "a pure module does I/O (above)" >&2
    exit 1
fi

cargo test --locked --all-targets

# The Debian package, from the debug binary the tests built (nothing is compiled again; a release
# build, `bash scripts/package.sh`, takes ~6 min more on CI's 2 cores, see the README): lintian
# without errors, then installed into a throwaway root, checked and removed (scripts/test-deb.sh).
started=$(date +%s)
deb=$(bash scripts/package.sh --dev | tail -1)
bash scripts/test-deb.sh "$deb"
echo "package + install test: $(( $(date +%s) - started )) s" >&2
