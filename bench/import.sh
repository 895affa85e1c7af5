#!/usr/bin/env bash
# `certctl import certbot` of COUNT lineages, inside a loopback-only network namespace (when
# unshare works): one real certbot lineage (standalone, against local pebble) cloned COUNT times,
# imported into a fresh state directory on every run (so every run writes COUNT certificates and
# registers one account, since certbot's RSA account key cannot be reused).
#   bash bench/import.sh [COUNT=100] [RUNS=10]      results: bench/results/import-*.md
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lab.sh
lab_enter_netns bench/import.sh "$@"
COUNT="${1:-100}"; RUNS="${2:-10}"
command -v hyperfine >/dev/null || { echo "apt-get install -y hyperfine" >&2; exit 1; }
command -v certbot >/dev/null || { echo "apt-get install -y certbot" >&2; exit 1; }
cargo build --release --locked -q
CERTCTL="$PWD/target/release/certctl"
OUT="$PWD/bench/results"; mkdir -p "$OUT"
export PEBBLE_WFE_NONCEREJECT=0
W="$(mktemp -d /tmp/certctl-bench.XXXXXX)"
trap 'lab_stop; rm -rf "$W"' EXIT
mkdir -p "$W/ca"
lab_start_pebble "$W/ca"

cbdirs="--config-dir $W/cb --work-dir $W/cb-work --logs-dir $W/cb-logs"
env REQUESTS_CA_BUNDLE="$LAB_CA" certbot certonly --standalone --http-01-port "$LAB_HTTP" \
    --server "$LAB_DIRECTORY" -d seed.test --agree-tos -m bench@example.test --non-interactive -q $cbdirs
# Clones: each a complete lineage (archive, live symlinks, renewal file) under its own name.
python3 - "$W/cb" "$COUNT" <<'PY'
import os, shutil, sys
root, count = sys.argv[1], int(sys.argv[2])
conf = open(os.path.join(root, "renewal", "seed.test.conf")).read()
for i in range(count - 1):
    name = f"c{i}.test"
    shutil.copytree(os.path.join(root, "archive", "seed.test"), os.path.join(root, "archive", name))
    os.makedirs(os.path.join(root, "live", name))
    for f in ("cert", "chain", "fullchain", "privkey"):
        os.symlink(f"../../archive/{name}/{f}1.pem", os.path.join(root, "live", name, f"{f}.pem"))
    # The paths change; the certificate stays seed.test's (certctl keys lineages by file name).
    open(os.path.join(root, "renewal", f"{name}.conf"), "w").write(
        conf.replace("/seed.test", f"/{name}"))
PY
echo "lineages: $(ls "$W/cb/renewal" | wc -l)" >&2
import=(-n "certctl import certbot ($COUNT lineages)"
    "$CERTCTL --state-dir $W/state -q import certbot --config-dir $W/cb --ca-bundle $LAB_CA")
hyperfine -N --warmup 1 --runs "$RUNS" --prepare "rm -rf $W/state" \
    --export-markdown "$OUT/import-certbot.md" --export-json "$OUT/import-certbot.json" "${import[@]}"
dry=(-n "certctl import certbot --dry-run ($COUNT lineages)"
    "$CERTCTL --state-dir $W/state-dry -q import certbot --dry-run --config-dir $W/cb --ca-bundle $LAB_CA")
hyperfine -N --warmup 1 --runs "$RUNS" \
    --export-markdown "$OUT/import-certbot-dry-run.md" "${dry[@]}"
"$CERTCTL" --state-dir "$W/state" list | tail -n 2
