#!/usr/bin/env bash
# The fault matrix at larger counts: certctl killed at every step of issue and renew, three
# concurrent renews, the daemon and the timer together, nginx failing for another site, many dry
# runs creating one account, the record killed on either side of the swap, a corrupt record, a
# full disk, and CA faults (stalled, reset and endless bodies, bodies past the cap, storms of 500s
# and of badNonce), nginx failing to reload, many issuances against pebble's defaults, and the
# audit against hostile TLS servers (silent, trickling, garbage, reset, endless, plain HTTP,
# oversized records).
# Prints one table row per fault: trials, live sets torn, certificates lost, duplicate deploys,
# hangs, longest run. Uses the debug build (the failpoints are compiled into debug builds only).
#   bash bench/faults.sh [TRIALS=5]          results: bench/results/faults.md
set -euo pipefail
cd "$(dirname "$0")/.."
TRIALS="${1:-5}"
OUT="$PWD/bench/results"; mkdir -p "$OUT"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
CERTCTL_FAULT_TRIALS="$TRIALS" cargo test --locked --test e2e -- faults:: hostile:: --nocapture --test-threads 1 >"$log" 2>&1 || true
{
    echo "# Fault matrix ($(date -u +%Y-%m-%d), $TRIALS trials per row)"
    echo
    echo "| fault | trials | torn | lost | duplicate deploys | hangs | longest run |"
    echo "|---|---|---|---|---|---|---|"
    grep -oE '\| [A-Za-z][^|]* \| [0-9]+ \|.*' "$log"
    echo
    grep -E -A3 "^test result|^test .* FAILED|panicked at" "$log" || true  # a panic with its message
} | tee "$OUT/faults.md"
