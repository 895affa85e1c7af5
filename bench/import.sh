#!/usr/bin/env bash
# `certctl import certbot` of COUNT lineages, inside a loopback-only network namespace (when
# unshare works): one real certbot lineage (standalone, against local pebble) cloned COUNT times,
# imported into a fresh state directory on every run (so every run writes COUNT certificates and
# stores certbot's RSA account as it is, with nothing sent to the CA). A private nginx has
# one TLS site per lineage reading certbot's live/ files, so every run also repoints 2×COUNT
# lines (one nginx -t, one reload); `--no-nginx` times the store part alone, and
# `certbot certificates` listing the same lineages is the reference point (certbot has no import).
#   bash bench/import.sh [COUNT=100] [RUNS=10]      results: bench/results/import-*.md
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lab.sh
lab_enter_netns bench/import.sh "$@"
COUNT="${1:-100}"; RUNS="${2:-10}"
command -v certbot >/dev/null || { echo "apt-get install -y certbot" >&2; exit 1; }
lab_bench_setup
mkdir -p "$W/ca"
lab_start_pebble "$W/ca"

lab_certbot_lineages "$W/cb" "$COUNT"
cbdirs=$LAB_CERTBOT_DIRS
echo "lineages: $(ls "$W/cb/renewal" | wc -l)" >&2
# One TLS site per lineage, as certbot's nginx installer leaves them, in one file.
lab_start_nginx "$W" "$LAB_HTTP"
HTTPS="$(lab_free_port)"
for name in $(ls "$W/cb/live" | grep -v README); do
    printf 'server {\n    listen 127.0.0.1:%s ssl;\n    server_name %s;\n    ssl_certificate %s/live/%s/fullchain.pem; # managed by Certbot\n    ssl_certificate_key %s/live/%s/privkey.pem; # managed by Certbot\n    return 200;\n}\n' \
        "$HTTPS" "$name" "$W/cb" "$name" "$W/cb" "$name"
done >"$W/sites.orig"
cp "$W/sites.orig" "$LAB_NGINX/sites-enabled/certbot-sites"
nginx -p "$LAB_NGINX" -c "$LAB_NGINX/nginx.conf" -s reload
nginx_flags="--nginx-prefix $LAB_NGINX --nginx-conf $LAB_NGINX/nginx.conf"
printf 'rm -rf %s/state && cp %s/sites.orig %s/sites-enabled/certbot-sites\n' "$W" "$W" "$LAB_NGINX" >"$W/reset.sh"
reset="bash $W/reset.sh"
import=(-n "certctl import certbot ($COUNT lineages, $((2 * COUNT)) nginx lines repointed)"
    "$CERTCTL --state-dir $W/state -q import certbot --config-dir $W/cb --ca-bundle $LAB_CA $nginx_flags")
hyperfine -N --warmup 1 --runs "$RUNS" --prepare "$reset" \
    --export-markdown "$OUT/import-certbot.md" --export-json "$OUT/import-certbot.json" "${import[@]}"
store_only=(-n "certctl import certbot --no-nginx ($COUNT lineages)"
    "$CERTCTL --state-dir $W/state -q import certbot --config-dir $W/cb --ca-bundle $LAB_CA --no-nginx")
dry=(-n "certctl import certbot --dry-run ($COUNT lineages)"
    "$CERTCTL --state-dir $W/state-dry -q import certbot --dry-run --config-dir $W/cb --ca-bundle $LAB_CA $nginx_flags")
listing=(-n "certbot certificates ($COUNT lineages, reference)"
    "certbot certificates $cbdirs")
hyperfine -N --warmup 1 --runs "$RUNS" --prepare "$reset" \
    --export-markdown "$OUT/import-certbot-others.md" "${store_only[@]}" "${dry[@]}" "${listing[@]}"
bash "$W/reset.sh"
"$CERTCTL" --state-dir "$W/state" import certbot --config-dir "$W/cb" --ca-bundle "$LAB_CA" $nginx_flags | tail -n 4
