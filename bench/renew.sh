#!/usr/bin/env bash
# Renewal benchmarks, inside a loopback-only network namespace (when unshare works):
#   1. `renew` with nothing due over COUNT managed certificates, certctl vs certbot (same count);
#   2. DUE short-lived certificates, all due, renewed against local pebble in one `certctl renew`;
#   3. the daemon's memory while idle over the COUNT certificates.
#   bash bench/renew.sh [COUNT=1000] [DUE=50] [RUNS=10]      results: bench/results/renew-*.md
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lab.sh
lab_enter_netns bench/renew.sh "$@"
COUNT="${1:-1000}"; DUE="${2:-50}"; RUNS="${3:-10}"
lab_bench_init
mkdir -p "$W/ca1" "$W/ca2"
lab_start_pebble "$W/ca1"
common="--server $LAB_DIRECTORY --ca-bundle $LAB_CA --agree-tos --email bench@example.test"

# 1. Nothing due. One real certificate per tool, cloned COUNT times (cloning is how 1,000
#    lineages are made in seconds; each clone is a complete, valid lineage for the tool).
"$CERTCTL" --state-dir "$W/certctl" -q issue seed.test --standalone --http-port "$LAB_HTTP" $common
python3 - "$W/certctl" "$COUNT" <<'PY'
import os, shutil, sys
root, count = sys.argv[1], int(sys.argv[2])
seed = os.path.join(root, "certs", "seed.test")
for i in range(count):
    name = f"c{i}.test"
    dst = os.path.join(root, "certs", name)
    shutil.copytree(seed, dst, symlinks=True)
    rec = os.path.join(dst, "renewal.toml")
    text = open(rec).read().replace('name = "seed.test"', f'name = "{name}"')
    open(rec, "w").write(text)
    os.symlink(f"../certs/{name}/archive/1", os.path.join(root, "live", name))
PY
nothing=(-n "certctl renew" "$CERTCTL --state-dir $W/certctl -q renew")
if [ "${SKIP_CERTBOT:-0}" != 1 ] && command -v certbot >/dev/null; then
    lab_certbot_lineages "$W/cb" "$COUNT"
    cbdirs=$LAB_CERTBOT_DIRS
fi
hyperfine -N --warmup 1 --runs "$RUNS" --export-markdown "$OUT/renew-nothing-due.md" \
    --export-json "$OUT/renew-nothing-due.json" "${nothing[@]}"
if [ "${SKIP_CERTBOT:-0}" != 1 ] && command -v certbot >/dev/null; then
    # certbot takes seconds per run here: fewer runs.
    hyperfine -N --runs 3 --export-markdown "$OUT/renew-nothing-due-certbot.md" \
        --export-json "$OUT/renew-nothing-due-certbot.json" \
        -n "certbot renew" "env REQUESTS_CA_BUNDLE=$LAB_CA certbot renew -q $cbdirs"
fi

# 3. Daemon memory, idle over the same COUNT certificates.
"$CERTCTL" --state-dir "$W/certctl" -q daemon --cron "0 0 0 1 1 *" &
dpid=$!
sleep 3
grep -E "VmRSS|VmHWM" "/proc/$dpid/status" | tee "$OUT/renew-daemon-memory.txt"
kill "$dpid"; wait "$dpid" || true

# 2. DUE certificates valid for ten minutes (due at once), renewed in one run; every run renews
#    them all again. nginx serves the webroot (a single-threaded Python server was the
#    bottleneck at 16 concurrent validations).
lab_stop
LAB_VALIDITY=600 lab_start_pebble "$W/ca2"
common="--server $LAB_DIRECTORY --ca-bundle $LAB_CA --agree-tos --email bench@example.test"
mkdir -p "$W/www" "$W/nginx/logs"
chmod 755 "$W" "$W/www"  # nginx workers run as nobody
cat >"$W/nginx/nginx.conf" <<CONF
daemon off; worker_processes 2; pid $W/nginx/nginx.pid; error_log $W/nginx/logs/error.log;
events { worker_connections 256; }
http { access_log off; client_body_temp_path $W/nginx; proxy_temp_path $W/nginx;
  fastcgi_temp_path $W/nginx; uwsgi_temp_path $W/nginx; scgi_temp_path $W/nginx;
  server { listen 127.0.0.1:$LAB_HTTP; root $W/www; } }
CONF
nginx -p "$W/nginx" -c "$W/nginx/nginx.conf" &
LAB_PIDS+=($!)
lab_wait_port "$LAB_HTTP"
for i in $(seq 1 "$DUE"); do
    "$CERTCTL" --state-dir "$W/due" -q issue "d$i.test" --webroot "$W/www" --http-port "$LAB_HTTP" $common
done
hyperfine -N --runs "$RUNS" --export-markdown "$OUT/renew-due.md" --export-json "$OUT/renew-due.json" \
    -n "certctl renew ($DUE due, --concurrency 16)" "$CERTCTL --state-dir $W/due -q renew --concurrency 16"
