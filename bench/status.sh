#!/usr/bin/env bash
# `certctl status` over COUNT certificates, each with its own nginx site (so one handshake per
# name), against local pebble and a private nginx, inside a loopback-only network namespace
# (when unshare works). The target is under 200 ms for 50 certificates.
#   bash bench/status.sh [COUNT=50] [RUNS=20]      results: bench/results/status.md
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lab.sh
lab_enter_netns bench/status.sh "$@"
COUNT="${1:-50}"; RUNS="${2:-20}"
lab_bench_setup
chmod 755 "$W"   # nginx's workers read the challenge webroot under it
lab_start_pebble "$W"
lab_start_nginx "$W" "$LAB_HTTP"
HTTPS=$(lab_free_port)
mkdir -p "$W/site" "$W/root"
for i in $(seq 1 "$COUNT"); do
    "$CERTCTL" --state-dir "$W/state" -q issue "s$i.test" --nginx --root "$W/site" --server "$LAB_DIRECTORY" \
        --ca-bundle "$LAB_CA" --agree-tos $LAB_NGINX_FLAGS --http-port "$LAB_HTTP" --https-port "$HTTPS" --listen 127.0.0.1
done
"$CERTCTL" --state-dir "$W/state" -q schedule install --root "$W/root"
"$CERTCTL" --state-dir "$W/state" status --root "$W/root" | tail -3
hyperfine --warmup 2 --runs "$RUNS" --export-json "$OUT/status.json" \
    -n "certctl status ($COUNT certificates, $COUNT handshakes)" "$CERTCTL --state-dir $W/state status --root $W/root" \
    -n "certctl status --json" "$CERTCTL --state-dir $W/state status --json --root $W/root" \
    -n "certctl list (no handshakes)" "$CERTCTL --state-dir $W/state list"
python3 - "$OUT/status.json" >"$OUT/status.md" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))["results"]
print("| command | median (ms) | min | max |\n|---|---|---|---|")
for r in rows:
    print(f"| {r['command']} | {r['median']*1000:.1f} | {r['min']*1000:.1f} | {r['max']*1000:.1f} |")
PY
cat "$OUT/status.md"
