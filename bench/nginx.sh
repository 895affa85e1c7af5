#!/usr/bin/env bash
# nginx benchmark: `certctl issue --nginx` end to end against local pebble and a private nginx
# (a fresh site each run, so both reloads happen), and dhparam generation against `openssl dhparam`.
# Runs in a loopback-only network namespace when unshare works.
#   bash bench/nginx.sh [RUNS]        (DH_RUNS=0 skips the dhparam part, CERTBOT_RUNS=0 certbot's)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lab.sh
lab_enter_netns bench/nginx.sh "$@"
RUNS="${1:-15}"
lab_bench_setup
chmod 755 "$W"   # nginx's workers read the site under it
lab_start_pebble "$W"
lab_start_nginx "$W" "$LAB_HTTP"
HTTPS=$(lab_free_port)
mkdir -p "$W/site"; echo hi >"$W/site/index.html"
N="$LAB_NGINX"
reset="rm -f $N/sites-enabled/certctl-* $N/sites-available/certctl-* && nginx -p $N -c $N/nginx.conf -s reload && sleep 0.2"
issue="$CERTCTL --state-dir $W/state -q issue bench.test --nginx --root $W/site --server $LAB_DIRECTORY --ca-bundle $LAB_CA --agree-tos $LAB_NGINX_FLAGS --http-port $LAB_HTTP --https-port $HTTPS --listen 127.0.0.1"
hyperfine --warmup 1 --runs "$RUNS" --prepare "$reset" --export-json "$OUT/nginx-issue.json" -n "certctl issue --nginx (fresh site, 2 reloads)" "$issue"

# An existing Debian-style site (sites-available + symlink) that certctl reads, redirects and
# copies to HTTPS; each issue starts from the plain site (the revert of the previous run), and
# each revert from an issued site.
mkdir -p "$W/app"; echo app >"$W/app/index.html"
cat >"$N/sites-available/app" <<SITE
server {
    listen 127.0.0.1:$LAB_HTTP;
    server_name app.test www.app.test;
    root $W/app;
    index index.html;
    location / { try_files \$uri \$uri/ =404; }
}
SITE
ln -sf ../sites-available/app "$N/sites-enabled/app"
nginx -p "$N" -c "$N/nginx.conf" -s reload; sleep 0.2
common="--state-dir $W/state -q"
flags="$LAB_NGINX_FLAGS --http-port $LAB_HTTP --https-port $HTTPS --listen 127.0.0.1"
issue_app="$CERTCTL $common issue app.test -d www.app.test --nginx --server $LAB_DIRECTORY --ca-bundle $LAB_CA --agree-tos $flags"
revert_app="$CERTCTL $common nginx app.test --revert $flags"
hyperfine --warmup 1 --runs "$RUNS" --prepare "$revert_app >/dev/null 2>&1 || true" --export-json "$OUT/nginx-existing.json" \
    -n "certctl issue --nginx (existing site)" "$issue_app"
hyperfine --runs "$RUNS" --prepare "$issue_app" --export-json "$OUT/nginx-revert.json" \
    -n "certctl nginx --revert" "$revert_app"

# The same site through certbot's nginx plugin (python3-certbot-nginx), when it is installed.
if [ "${CERTBOT_RUNS:-5}" -gt 0 ] && /usr/bin/python3 -c 'import certbot_nginx' 2>/dev/null; then
    # The last benchmark ended with a revert: the site is the user's plain one again.
    cp "$N/sites-available/app" "$W/app.site"
    certbot_reset="cp $W/app.site $N/sites-available/app && rm -rf $W/cb && nginx -p $N -c $N/nginx.conf -s reload && sleep 0.3"
    certbot_run="env REQUESTS_CA_BUNDLE=$LAB_CA certbot --nginx --nginx-server-root $N --redirect --hsts -d app.test -d www.app.test --server $LAB_DIRECTORY --agree-tos -m a@b.c --non-interactive --http-01-port $LAB_HTTP --https-port $HTTPS --config-dir $W/cb --work-dir $W/cb --logs-dir $W/cb"
    hyperfine --runs "${CERTBOT_RUNS:-5}" --prepare "$certbot_reset" --export-json "$OUT/nginx-certbot.json" \
        -n "certbot --nginx --redirect --hsts (existing site)" "$certbot_run"
    eval "$certbot_reset"
fi

[ "${DH_RUNS:-5}" -gt 0 ] && hyperfine --runs "${DH_RUNS:-5}" --export-json "$OUT/dhparam.json" \
    -n "certctl dhparam --generate --bits 2048" "$CERTCTL -q dhparam --generate --bits 2048 --out $W/dh1.pem" \
    -n "openssl dhparam 2048" "openssl dhparam -out $W/dh2.pem 2048 2>/dev/null" \
    -n "certctl dhparam (RFC 7919)" "$CERTCTL -q dhparam --out $W/dh3.pem"

python3 - "$OUT" <<'PY'
import json, sys, os
out = sys.argv[1]
for name in ["nginx-issue", "nginx-existing", "nginx-revert", "nginx-certbot", "dhparam"]:
    if not os.path.exists(os.path.join(out, name + ".json")):
        continue
    results = json.load(open(os.path.join(out, name + ".json")))["results"]
    print(f"{name}:")
    for r in results:
        print(f"  {r['command']:<45} median {r['median']*1000:9.1f} ms  min {r['min']*1000:9.1f}  max {r['max']*1000:9.1f}")
PY
