#!/usr/bin/env bash
# Django static check benchmark: `certctl django check` against Django's own
# `manage.py check --deploy` on the same fixture projects, whole process, hyperfine.
#   bash bench/django.sh [RUNS]        results: bench/results/django.md
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-30}"
command -v hyperfine >/dev/null || { echo "apt-get install -y hyperfine" >&2; exit 1; }
. scripts/lab-deps.sh
django_venv
cargo build --release --locked -q
CERTCTL="$PWD/target/release/certctl"
OUT="$PWD/bench/results"; mkdir -p "$OUT"
F="$PWD/tests/fixtures/django"
export PYTHONDONTWRITEBYTECODE=1
CC="$F/cookiecutter"
ENVF="$CC/.envs/.production/.django"
hyperfine -N --warmup 3 --runs "$RUNS" --export-markdown "$OUT/django.md" --export-json "$OUT/django.json" \
    -n "certctl django check (cookiecutter, production + env file)" \
    "$CERTCTL django check --project $CC --settings config.settings.production --env-file $ENVF" \
    -n "manage.py check --deploy (same)" \
    "env $(grep -v '^#' "$ENVF" | xargs) $CERTCTL_DJANGO_PYTHON $CC/manage.py check --deploy" \
    -n "certctl django check (startproject defaults)" \
    "$CERTCTL django check --project $F/plain" \
    -n "manage.py check --deploy (startproject defaults)" \
    "$CERTCTL_DJANGO_PYTHON $F/plain/manage.py check --deploy"
cat "$OUT/django.md"
