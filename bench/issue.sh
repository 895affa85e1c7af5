#!/usr/bin/env bash
# Issuance benchmark against a local pebble (PEBBLE_VA_NOSLEEP=1, no nonce rejection, no authz reuse),
# certctl side by side with certbot and lego when they are installed. Runs inside a private network
# namespace with only loopback (when unshare works), so no tool can reach anything else.
#   bash bench/issue.sh [RUNS]        results: bench/results/issue-*.md (hyperfine markdown)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lab.sh
lab_enter_netns bench/issue.sh "$@"
RUNS="${1:-20}"
lab_bench_init
lab_start_pebble "$W"
P=$LAB_HTTP
common="--server $LAB_DIRECTORY --ca-bundle $LAB_CA --agree-tos --email bench@example.test"

# One name, existing account (the account is made by the warm-up run).
existing=(-n "certctl" "$CERTCTL --state-dir $W/certctl -q issue one.test --standalone --http-port $P $common")
# One name, fresh account each run: the state is removed before every run.
fresh=(-n "certctl" "rm -rf $W/f && $CERTCTL --state-dir $W/f -q issue one.test --standalone --http-port $P $common")
if command -v certbot >/dev/null; then
    cb="certbot certonly --standalone --http-01-port $P --server $LAB_DIRECTORY -d one.test --agree-tos -m bench@example.test --non-interactive --force-renewal -q"
    existing+=(-n "certbot" "env REQUESTS_CA_BUNDLE=$LAB_CA $cb --config-dir $W/cb --work-dir $W/cb --logs-dir $W/cb")
    fresh+=(-n "certbot" "rm -rf $W/f && env REQUESTS_CA_BUNDLE=$LAB_CA $cb --config-dir $W/f --work-dir $W/f --logs-dir $W/f")
fi
if command -v lego >/dev/null; then
    lg="lego --server $LAB_DIRECTORY --email bench@example.test --accept-tos --domains one.test --http --http.port 127.0.0.1:$P"
    existing+=(-n "lego" "env LEGO_CA_CERTIFICATES=$LAB_CA $lg --path $W/lego run")
    fresh+=(-n "lego" "rm -rf $W/f && env LEGO_CA_CERTIFICATES=$LAB_CA $lg --path $W/f run")
fi
hyperfine -N --warmup 1 --runs "$RUNS" --export-markdown "$OUT/issue-existing-account.md" --export-json "$OUT/issue-existing-account.json" "${existing[@]}"
# The fresh-account commands need a shell for the `rm -rf &&`.
hyperfine --warmup 1 --runs "$RUNS" --export-markdown "$OUT/issue-fresh-account.md" --export-json "$OUT/issue-fresh-account.json" "${fresh[@]}"

# 20 processes at once against one fresh state dir, one name each (webroot: 20 standalone servers
# cannot share a port). A tiny Python server plays the web server for the webroot.
mkdir -p "$W/www"
python3 -m http.server "$P" --bind 127.0.0.1 --directory "$W/www" >/dev/null 2>&1 &
LAB_PIDS+=($!)
lab_wait_port "$P"
cat >"$W/twenty.sh" <<SH
#!/usr/bin/env bash
set -u
rm -rf "$W/twenty"
pids=()
for i in \$(seq 1 20); do
    "$CERTCTL" --state-dir "$W/twenty" -q issue "p\$i.test" --webroot "$W/www" --http-port $P $common &
    pids+=(\$!)
done
fail=0
for p in "\${pids[@]}"; do wait "\$p" || fail=1; done
n=\$(ls "$W/twenty/live" | wc -l); a=\$(ls "$W/twenty/accounts" | wc -l)
[ "\$n" -eq 20 ] && [ "\$a" -eq 1 ] || fail=1
exit \$fail
SH
hyperfine -N --warmup 1 --runs "$(( RUNS < 10 ? RUNS : 10 ))" --export-markdown "$OUT/issue-twenty.md" --export-json "$OUT/issue-twenty.json" \
    -n "20 x certctl issue at once (fresh state dir)" "bash $W/twenty.sh"

# Medians and ratios, the figures the issue asks for.
python3 - "$OUT" <<'PY'
import json, sys, os
out = sys.argv[1]
for name in ["issue-existing-account", "issue-fresh-account", "issue-twenty"]:
    results = json.load(open(os.path.join(out, name + ".json")))["results"]
    base = results[0]["median"]
    print(f"{name}:")
    for r in results:
        print(f"  {r['command']:<45} median {r['median']*1000:8.1f} ms   ({r['median']/base:5.1f}x certctl)")
PY
