#!/usr/bin/env bash
# Audit benchmark: a site made by `certctl issue --nginx` on a private nginx, graded by
# `certctl audit`, side by side with sslscan, sslyze and testssl.sh when they are installed.
# Runs in a loopback-only network namespace (when unshare works).
#   bash bench/audit.sh [RUNS]        results: bench/results/audit.md
#   CERTCTL_BIN=PATH                  a given build instead of the release build
#   BASELINE_BIN=PATH                 also time this build (before/after in the same run)
#   PEERS=0                           certctl only (no sslscan, sslyze, testssl.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lab.sh
lab_enter_netns bench/audit.sh "$@"
RUNS="${1:-20}"
lab_bench_setup
chmod 755 "$W"
PEERS="${PEERS:-1}"
peer() { [ "$PEERS" != 0 ] && command -v "$1" >/dev/null; }
lab_start_pebble "$W"
HTTP=$LAB_HTTP; HTTPS=$(lab_free_port)
lab_start_nginx "$W" "$HTTP"
mkdir -p "$W/site"
export CERTCTL_STATE_DIR="$W/state"
"$CERTCTL" -q issue bench.test --nginx --root "$W/site" --server "$LAB_DIRECTORY" --ca-bundle "$LAB_CA" \
    --agree-tos $LAB_NGINX_FLAGS --http-port "$HTTP" --https-port "$HTTPS" --listen 127.0.0.1
"$CERTCTL" audit "127.0.0.1:$HTTPS" --sni bench.test --ca-bundle "$LAB_CA" --http-port "$HTTP" | tee "$OUT/audit-report.txt"

cmds=(-n "certctl audit" "$CERTCTL audit 127.0.0.1:$HTTPS --sni bench.test --ca-bundle $LAB_CA --http-port $HTTP --json")
[ -n "${BASELINE_BIN:-}" ] && cmds+=(-n "certctl audit (baseline)" "$(realpath "$BASELINE_BIN") audit 127.0.0.1:$HTTPS --sni bench.test --ca-bundle $LAB_CA --http-port $HTTP --json")
peer sslscan && cmds+=(-n "sslscan" "sslscan --sni-name=bench.test 127.0.0.1:$HTTPS")
peer sslyze && cmds+=(-n "sslyze" "sslyze bench.test:$HTTPS{127.0.0.1}")
hyperfine -N -i --warmup 2 --runs "$RUNS" --export-markdown "$OUT/audit.md" --export-json "$OUT/audit.json" "${cmds[@]}"
TESTSSL=""
[ "$PEERS" = 0 ] || TESTSSL=$(command -v testssl || command -v testssl.sh || true)
if [ -n "$TESTSSL" ]; then
    hyperfine -N -i --runs 3 --export-markdown "$OUT/audit-testssl.md" --export-json "$OUT/audit-testssl.json" \
        -n "testssl.sh" "$TESTSSL --quiet --color 0 --ip 127.0.0.1 https://bench.test:$HTTPS"
fi

# Connections each tool makes to the server for one full run: TCP PassiveOpens (connections
# accepted) before and after, in the bench's own network namespace (without one, the whole
# machine's count: an upper bound).
passive_opens() { awk '/^Tcp:/ { if (!h) { for (i = 1; i <= NF; i++) if ($i == "PassiveOpens") c = i; h = 1 } else print $c }' /proc/net/snmp; }
connections() { local before; before=$(passive_opens); "$@" >/dev/null 2>&1 || true; echo $(( $(passive_opens) - before )); }
{
    echo "| tool | connections (one run) |"
    echo "|---|---|"
    echo "| certctl audit | $(connections "$CERTCTL" audit "127.0.0.1:$HTTPS" --sni bench.test --ca-bundle "$LAB_CA" --http-port "$HTTP" --json) |"
    peer sslscan && echo "| sslscan | $(connections sslscan --sni-name=bench.test "127.0.0.1:$HTTPS") |"
    peer sslyze && echo "| sslyze | $(connections sslyze "bench.test:$HTTPS{127.0.0.1}") |"
    [ -n "$TESTSSL" ] && echo "| testssl.sh | $(connections "$TESTSSL" --quiet --color 0 --ip 127.0.0.1 "https://bench.test:$HTTPS") |"
    echo
    echo "certctl's own count (report.connections): $("$CERTCTL" audit "127.0.0.1:$HTTPS" --sni bench.test --ca-bundle "$LAB_CA" --http-port "$HTTP" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["connections"])')"
} | tee "$OUT/audit-connections.md"

# Fifty targets at once: fifty TLS listens of one nginx server with the same certificate,
# audited by one `certctl audit T1 … T50` (one connection budget, --concurrency 8).
SITE_CERT=$(grep -RhoE 'ssl_certificate +[^;]+' "$LAB_NGINX/sites-enabled/" | head -1 | awk '{print $2}')
SITE_KEY=$(grep -RhoE 'ssl_certificate_key +[^;]+' "$LAB_NGINX/sites-enabled/" | head -1 | awk '{print $2}')
FIFTY=()
{
    echo "server {"
    for _ in $(seq 50); do p=$(lab_free_port); FIFTY+=("127.0.0.1:$p"); echo "    listen 127.0.0.1:$p ssl;"; done
    echo "    server_name bench.test; ssl_certificate $SITE_CERT; ssl_certificate_key $SITE_KEY;"
    echo "    ssl_protocols TLSv1.2 TLSv1.3; return 200 ok;"
    echo "}"
} >"$LAB_NGINX/sites-enabled/fifty.conf"
nginx -p "$LAB_NGINX" -c "$LAB_NGINX/nginx.conf" -s reload
sleep 1
"$CERTCTL" audit "${FIFTY[@]}" --sni bench.test --ca-bundle "$LAB_CA" --http-port 0 | tail -1
hyperfine -N --warmup 1 --runs 5 --export-markdown "$OUT/audit-fifty.md" \
    -n "certctl audit (50 targets)" "$CERTCTL audit ${FIFTY[*]} --sni bench.test --ca-bundle $LAB_CA --http-port 0"
