#!/usr/bin/env bash
# The live Django check: real Django under gunicorn behind a real nginx that `certctl issue
# --nginx --proxy-pass` took to HTTPS, inside a loopback-only network namespace. Times
# `certctl django check --url` (every request it makes: the http→https redirect, the HTTPS page,
# the cookie page, a 404 probe, a CSRF post) with and without the project's static check, and
# `curl` fetching the same page once as the floor.
#   bash bench/django-live.sh [RUNS=20]        results: bench/results/django-live.md
# CERTCTL_BIN=PATH uses that build.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lab.sh
lab_enter_netns bench/django-live.sh "$@"
RUNS="${1:-20}"
. scripts/lab-deps.sh
django_venv
lab_bench_setup
chmod 755 "$W"
lab_start_pebble "$W"
lab_start_nginx "$W" "$LAB_HTTP"
HTTPS=$(lab_free_port); APP=$(lab_free_port)
cp -a tests/fixtures/django/split "$W/split"
KEY="Zq3vN8mR2tW6yB1cE5gH9jK4lP7sU0xA3dF6hJ9kL2nQ5rT8vY1zC4eG7iM0oS3u"
(cd "$W/split" && env DJANGO_SETTINGS_MODULE=shop.settings.secure DJANGO_SECRET_KEY="$KEY" \
    DJANGO_ALLOWED_HOSTS=live.test "$CERTCTL_DJANGO_PYTHON" -m gunicorn --workers 2 \
    --bind "127.0.0.1:$APP" shop.wsgi >"$W/gunicorn.log" 2>&1) &
LAB_PIDS+=($!)
lab_wait_port "$APP"
"$CERTCTL" --state-dir "$W/state" -q issue live.test --nginx --proxy-pass "http://127.0.0.1:$APP" \
    --server "$LAB_DIRECTORY" --ca-bundle "$LAB_CA" --agree-tos $LAB_NGINX_FLAGS \
    --http-port "$LAB_HTTP" --https-port "$HTTPS" --listen 127.0.0.1
curl -s "$LAB_DIRECTORY" --cacert "$LAB_CA" >/dev/null
curl -s --cacert "$LAB_CA" "https://127.0.0.1:$(grep -o 'managementListenAddress":"127.0.0.1:[0-9]*' "$W/pebble.json" | cut -d: -f3)/roots/0" >"$W/root.pem"
live="--url https://live.test:$HTTPS/ --connect 127.0.0.1 --http-url http://live.test:$LAB_HTTP/ --path /visit/ --ca-bundle $W/root.pem"
"$CERTCTL" django check $live >"$W/first.txt" || { cat "$W/first.txt"; exit 1; }
hyperfine -N --warmup 3 --runs "$RUNS" --export-markdown "$OUT/django-live.md" \
    -n "certctl django check --url (live site only)" "$CERTCTL django check $live" \
    -n "certctl django check --url --project (live + static, joined)" \
    "env DJANGO_SECRET_KEY=$KEY $CERTCTL django check $live --project $W/split --settings shop.settings.secure" \
    -n "curl the HTTPS page once (the floor)" \
    "curl -s -o /dev/null --cacert $W/root.pem --resolve live.test:$HTTPS:127.0.0.1 https://live.test:$HTTPS/visit/"
cat "$OUT/django-live.md"
