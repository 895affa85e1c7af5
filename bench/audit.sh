#!/usr/bin/env bash
# Audit benchmark: a site made by `certctl issue --nginx` on a private nginx, graded by
# `certctl audit`, side by side with sslscan, sslyze and testssl.sh when they are installed.
# Runs in a loopback-only network namespace (when unshare works).
#   bash bench/audit.sh [RUNS]        results: bench/results/audit.md
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lab.sh
lab_enter_netns bench/audit.sh "$@"
RUNS="${1:-20}"
command -v hyperfine >/dev/null || { echo "apt-get install -y hyperfine" >&2; exit 1; }
cargo build --release --locked -q
CERTCTL="$PWD/target/release/certctl"
OUT="$PWD/bench/results"; mkdir -p "$OUT"
W="$(mktemp -d /tmp/certctl-bench.XXXXXX)"
chmod 755 "$W"
trap 'lab_stop; rm -rf "$W"' EXIT
lab_start_pebble "$W"
HTTP=$LAB_HTTP; HTTPS=$(lab_free_port)
lab_start_nginx "$W" "$HTTP"
mkdir -p "$W/site"
export CERTCTL_STATE_DIR="$W/state"
"$CERTCTL" -q issue bench.test --nginx --root "$W/site" --server "$LAB_DIRECTORY" --ca-bundle "$LAB_CA" \
    --agree-tos $LAB_NGINX_FLAGS --http-port "$HTTP" --https-port "$HTTPS" --listen 127.0.0.1
"$CERTCTL" audit "127.0.0.1:$HTTPS" --sni bench.test --ca-bundle "$LAB_CA" --http-port "$HTTP" | tee "$OUT/audit-report.txt"

cmds=(-n "certctl audit" "$CERTCTL audit 127.0.0.1:$HTTPS --sni bench.test --ca-bundle $LAB_CA --http-port $HTTP --json")
command -v sslscan >/dev/null && cmds+=(-n "sslscan" "sslscan --sni-name=bench.test 127.0.0.1:$HTTPS")
command -v sslyze >/dev/null && cmds+=(-n "sslyze" "sslyze 127.0.0.1:$HTTPS{bench.test}")
hyperfine -N --warmup 2 --runs "$RUNS" --export-markdown "$OUT/audit.md" --export-json "$OUT/audit.json" "${cmds[@]}"
TESTSSL=$(command -v testssl || command -v testssl.sh || true)
if [ -n "$TESTSSL" ]; then
    hyperfine -N --runs 3 --export-markdown "$OUT/audit-testssl.md" --export-json "$OUT/audit-testssl.json" \
        -n "testssl.sh" "$TESTSSL --quiet --color 0 --ip 127.0.0.1 https://bench.test:$HTTPS"
fi
