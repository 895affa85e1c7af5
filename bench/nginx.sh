#!/usr/bin/env bash
# nginx benchmark: `certctl issue --nginx` end to end against local pebble and a private nginx
# (a fresh site each run, so both reloads happen), and dhparam generation against `openssl dhparam`.
# Runs in a loopback-only network namespace when unshare works.
#   bash bench/nginx.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lab.sh
lab_enter_netns bench/nginx.sh "$@"
RUNS="${1:-15}"
command -v hyperfine >/dev/null || { echo "apt-get install -y hyperfine" >&2; exit 1; }
cargo build --release --locked -q
CERTCTL="$PWD/target/release/certctl"
OUT="$PWD/bench/results"; mkdir -p "$OUT"
export PEBBLE_WFE_NONCEREJECT=0 PEBBLE_AUTHZREUSE=0
W="$(mktemp -d /tmp/certctl-bench.XXXXXX)"; chmod 755 "$W"
trap 'lab_stop; rm -rf "$W"' EXIT
lab_start_pebble "$W"
lab_start_nginx "$W" "$LAB_HTTP"
HTTPS=$(lab_free_port)
mkdir -p "$W/site"; echo hi >"$W/site/index.html"
N="$LAB_NGINX"
reset="rm -f $N/sites-enabled/certctl-* $N/sites-available/certctl-* && nginx -p $N -c $N/nginx.conf -s reload && sleep 0.2"
issue="$CERTCTL --state-dir $W/state -q issue bench.test --nginx --root $W/site --server $LAB_DIRECTORY --ca-bundle $LAB_CA --agree-tos $LAB_NGINX_FLAGS --http-port $LAB_HTTP --https-port $HTTPS --listen 127.0.0.1"
hyperfine --warmup 1 --runs "$RUNS" --prepare "$reset" --export-json "$OUT/nginx-issue.json" -n "certctl issue --nginx (fresh site, 2 reloads)" "$issue"

hyperfine --runs "${DH_RUNS:-5}" --export-json "$OUT/dhparam.json" \
    -n "certctl dhparam --generate --bits 2048" "$CERTCTL -q dhparam --generate --bits 2048 --out $W/dh1.pem" \
    -n "openssl dhparam 2048" "openssl dhparam -out $W/dh2.pem 2048 2>/dev/null" \
    -n "certctl dhparam (RFC 7919)" "$CERTCTL -q dhparam --out $W/dh3.pem"

python3 - "$OUT" <<'PY'
import json, sys, os
out = sys.argv[1]
for name in ["nginx-issue", "dhparam"]:
    results = json.load(open(os.path.join(out, name + ".json")))["results"]
    print(f"{name}:")
    for r in results:
        print(f"  {r['command']:<45} median {r['median']*1000:9.1f} ms  min {r['min']*1000:9.1f}  max {r['max']*1000:9.1f}")
PY
