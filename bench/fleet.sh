#!/usr/bin/env bash
# Fleet benchmarks (issue 16), in a loopback-only network namespace (when unshare works), against
# a private PostgreSQL cluster and local pebble:
#   1. `renew` with nothing due over COUNT certificates, on a node of the fleet (--store) and on a
#      single server's state directory (the same certificates), and the database round trips of
#      one fleet cycle;
#   2. `fleet sync` on a second node: first run (COUNT certificates written locally), then with
#      nothing to change; `fleet status` over NODES nodes.
#   3. (in the namespace) three nodes, each with its nginx on 127.0.0.2-4:443 and `certctl daemon
#      --nginx`: the time from a renewal's commit (the new version's created_at) until all three
#      nginx serve its serial, SWAPS times; then the daemons' idle convergence cycle (time and
#      database round trips, from their debug log).
#   bash bench/fleet.sh [COUNT=200] [RUNS=10] [SWAPS=5]   results: bench/results/fleet-*.md
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lab.sh
lab_enter_netns bench/fleet.sh "$@"
COUNT="${1:-200}"; RUNS="${2:-10}"; SWAPS="${3:-5}"
lab_bench_setup
mkdir -p "$W/ca" "$W/pg"
lab_start_pebble "$W/ca"
lab_start_postgres "$W/pg"

# COUNT certificates in a single server's state directory (one real issue, cloned), imported
# into the fleet by node web1, whose state directory it is.
"$CERTCTL" --state-dir "$W/web1" -q issue seed.test --standalone --http-port "$LAB_HTTP" \
    --server "$LAB_DIRECTORY" --ca-bundle "$LAB_CA" --agree-tos --email bench@example.test
lab_clone_certctl "$W/web1" "$COUNT"
export CERTCTL_STORE="$LAB_PG_URL" CERTCTL_FLEET_KEY="$W/fleet.key"
"$CERTCTL" -q fleet init
"$CERTCTL" --state-dir "$W/web1" --node web1 -q fleet import

# 2. A second node's first sync writes every certificate; later syncs change nothing.
hyperfine -N --runs 1 --export-markdown "$OUT/fleet-first-sync.md" \
    -n "fleet sync, first ($((COUNT + 1)) certificates written)" \
    "$CERTCTL --state-dir $W/web2 --node web2 -q fleet sync"
"$CERTCTL" --state-dir "$W/web3" --node web3 -q fleet sync

# 1. Nothing due: a fleet node, the same state directory without the store.
hyperfine -N --warmup 1 --runs "$RUNS" --export-markdown "$OUT/fleet-nothing-due.md" \
    --export-json "$OUT/fleet-nothing-due.json" \
    -n "renew, fleet node ($((COUNT + 1)) certs, PostgreSQL)" \
    "$CERTCTL --state-dir $W/web2 --node web2 -q renew" \
    -n "renew, single server ($((COUNT + 1)) certs, files)" \
    "env -u CERTCTL_STORE $CERTCTL --state-dir $W/web1 -q renew" \
    -n "fleet sync, nothing to change" \
    "$CERTCTL --state-dir $W/web2 --node web2 -q fleet sync" \
    -n "fleet status (3 nodes)" \
    "$CERTCTL --state-dir $W/web2 --node web2 -q fleet status"

# Database round trips (statements, plus connects) of one run of each.
{
    for cmd in renew "fleet sync" "fleet status"; do
        # shellcheck disable=SC2086
        trips=$(CERTCTL_LOG=certctl::store::pg=debug "$CERTCTL" --state-dir "$W/web2" --node web2 $cmd 2>&1 >/dev/null |
            sed -n 's/.*postgres store: \([0-9]*\) database round trips.*/\1/p' | tail -1)
        echo "| $cmd | $((COUNT + 1)) | $trips |"
    done
} | { echo "| command | certificates | database round trips |"; echo "|---|---|---|"; cat; } |
    tee "$OUT/fleet-round-trips.md"
cat "$OUT/fleet-nothing-due.md"

# 3. Three nodes converging by themselves (needs 127.0.0.2-4: the private namespace).
[ -n "${CERTCTL_LAB_NETNS:-}" ] || { echo "not in a network namespace: skipping the three-node part" >&2; exit 0; }
trap 'for i in 1 2 3; do [ -f "$W/nginx$i/nginx.pid" ] && kill "$(cat "$W/nginx$i/nginx.pid")" 2>/dev/null; done; lab_stop; rm -rf "$W"' EXIT
PSQL="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)/psql"
for i in 1 2 3; do
    node="web$i" P="$W/nginx$i"
    mkdir -p "$P/tmp" "$P/logs"
    cat >"$P/nginx.conf" <<EOF
worker_processes 1;
pid $P/nginx.pid;
error_log $P/logs/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $P/tmp/body; proxy_temp_path $P/tmp/proxy; fastcgi_temp_path $P/tmp/fastcgi;
    uwsgi_temp_path $P/tmp/uwsgi; scgi_temp_path $P/tmp/scgi;
    server {
        listen 127.0.0.$((i + 1)):443 ssl;
        server_name seed.test;
        ssl_certificate $W/$node/live/seed.test/fullchain.pem;
        ssl_certificate_key $W/$node/live/seed.test/privkey.pem;
        return 200 "$node";
    }
}
EOF
    nginx -p "$P" -c "$P/nginx.conf"
    CERTCTL_LOG=certctl::ops::fleet=debug "$CERTCTL" --state-dir "$W/$node" --node "$node" daemon \
        --cron "0 0 0 1 1 *" --recheck 1s --nginx --nginx-prefix "$P" --nginx-conf "$P/nginx.conf" \
        2>"$W/daemon-$node.log" &
    LAB_PIDS+=($!)
done
python3 - "$PSQL" "$LAB_PG_URL" "$CERTCTL" "$W" "$SWAPS" "$((COUNT + 1))" <<'PY' | tee "$OUT/fleet-swap.md"
import json, os, socket, ssl, statistics, subprocess, sys, time
psql, url, certctl, w, swaps, count = sys.argv[1:7]
env = dict(os.environ, CERTCTL_STORE=url)
def sql(q):
    return subprocess.run([psql, "-XAt", "-d", url, "-c", q], capture_output=True, text=True, check=True).stdout.strip()
def serial(der):
    def tlv(i):
        tag, n = der[i], der[i + 1]
        i += 2
        if n & 0x80:
            k = n & 0x7F
            n = int.from_bytes(der[i:i + k], "big")
            i += k
        return tag, i, n
    _, i, _ = tlv(0)
    _, i, _ = tlv(i)
    tag, j, n = tlv(i)
    if tag == 0xA0:
        tag, j, n = tlv(j + n)
    return der[j:j + n].hex().lstrip("0")
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
def served(addr):
    try:
        with socket.create_connection((addr, 443), timeout=2) as s, ctx.wrap_socket(s, server_hostname="seed.test") as t:
            return serial(t.getpeercert(True))
    except OSError:
        return None
nodes = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
# Every node deployed every certificate (the first deploy: one handshake per certificate).
start = time.time()
while True:
    out = subprocess.run([certctl, "--state-dir", f"{w}/web1", "--node", "web1", "fleet", "status", "--json"], env=env, capture_output=True, text=True)
    status = json.loads(out.stdout or "{}")
    certs = status.get("certs", [])
    if out.returncode == 0 and len(status.get("nodes", [])) >= 3 and all(n.get("served_serial") for c in certs for n in c["nodes"]):
        break
    if time.time() - start > 300:
        sys.exit("the nodes did not deploy within 300 s")
    time.sleep(0.5)
print(f"first deploy of {count} certificates on 3 nodes: {time.time() - start:.1f} s (all verified)\n")
times = []
for _ in range(int(swaps)):
    subprocess.run([certctl, "--state-dir", f"{w}/web1", "--node", "web1", "-q", "renew", "--force", "seed.test"], env=env, check=True)
    row = sql("SELECT extract(epoch FROM v.created_at) || '|' || v.serial FROM certctl_cert c JOIN certctl_version v ON v.name = c.name AND v.version = c.live_version WHERE c.name = 'seed.test'")
    t0, want = row.split("|")
    while not all(served(a) == want.lstrip("0") for a in nodes):
        time.sleep(0.005)
    times.append(time.time() - float(t0))
    time.sleep(1)
print("| renewal committed -> all 3 nodes serve it | median | min | max | runs |")
print("|---|---|---|---|---|")
print(f"| {count} certificates in the fleet | {statistics.median(times):.3f} s | {min(times):.3f} s | {max(times):.3f} s | {len(times)} |")
PY
# Idle cycles: every node re-checks every second with nothing new.
sleep 6
{
    echo "| node | idle convergence cycle, median of the last 5 | database round trips per cycle |"
    echo "|---|---|---|"
    for node in web1 web2 web3; do
        cycles=$(grep -o 'converge cycle: [0-9]* ms, [0-9]* database round trips' "$W/daemon-$node.log" | tail -5)
        ms=$(echo "$cycles" | awk '{print $3}' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
        echo "| $node | $ms ms | $(echo "$cycles" | tail -1 | awk '{print $5}') |"
    done
} | tee "$OUT/fleet-idle-cycle.md"
