#!/usr/bin/env bash
# Fleet benchmarks (issue 16), in a loopback-only network namespace (when unshare works), against
# a private PostgreSQL cluster and local pebble:
#   1. `renew` with nothing due over COUNT certificates, on a node of the fleet (--store) and on a
#      single server's state directory (the same certificates), and the database round trips of
#      one fleet cycle;
#   2. `fleet sync` on a second node: first run (COUNT certificates written locally), then with
#      nothing to change; `fleet status` over NODES nodes.
#   bash bench/fleet.sh [COUNT=200] [RUNS=10]         results: bench/results/fleet-*.md
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lab.sh
lab_enter_netns bench/fleet.sh "$@"
COUNT="${1:-200}"; RUNS="${2:-10}"
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
