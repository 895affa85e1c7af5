#!/usr/bin/env bash
# The main job end to end on one machine, nothing leaving loopback:
# build certctl, start the local test CA (pebble) and a real nginx, issue a certificate over
# HTTP-01 through nginx's webroot, point an nginx TLS server at live/, and show what it serves.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lab-deps.sh
lab_deps

cargo build --release --locked -q
CERTCTL="$PWD/target/release/certctl"
. scripts/lab.sh
LAB="$(mktemp -d /tmp/certctl-demo.XXXXXX)"
chmod 755 "$LAB"
cleanup() {
    [ -f "$LAB/nginx/nginx.pid" ] && kill "$(cat "$LAB/nginx/nginx.pid")" 2>/dev/null || true
    lab_stop
}
trap cleanup EXIT
lab_start_pebble "$LAB"
HTTP=$LAB_HTTP; HTTPS=$(lab_free_port)
echo "== lab in $LAB (http :$HTTP, https :$HTTPS, pebble $LAB_DIRECTORY)"
cd "$LAB"

# A plain-HTTP site whose challenge location serves a webroot.
mkdir -p nginx/tmp www
nginx_conf() {
    cat <<NGINX
pid $LAB/nginx/nginx.pid;
error_log $LAB/nginx/error.log;
events { worker_connections 64; }
http {
    access_log $LAB/nginx/access.log;
    client_body_temp_path $LAB/nginx/tmp/body; proxy_temp_path $LAB/nginx/tmp/proxy;
    fastcgi_temp_path $LAB/nginx/tmp/fastcgi; uwsgi_temp_path $LAB/nginx/tmp/uwsgi; scgi_temp_path $LAB/nginx/tmp/scgi;
    server {
        listen 127.0.0.1:$HTTP;
        server_name demo.test;
        location /.well-known/acme-challenge/ { root $LAB/www; default_type text/plain; }
        location / { return 301 https://\$host\$request_uri; }
    }
$1
}
NGINX
}
nginx_conf "" >nginx/nginx.conf
nginx -p "$LAB/nginx" -c "$LAB/nginx/nginx.conf" -e "$LAB/nginx/error.log"
lab_wait_port "$HTTP"

echo "== certctl issue demo.test -d www.demo.test --webroot (through nginx)"
export CERTCTL_STATE_DIR="$LAB/state"
time "$CERTCTL" issue demo.test -d www.demo.test --webroot "$LAB/www" --http-port "$HTTP" \
    --server "$LAB_DIRECTORY" --ca-bundle "$LAB_CA" --email ops@demo.test --agree-tos

echo "== certctl list"
"$CERTCTL" list

echo "== nginx serves live/demo.test over TLS"
nginx_conf "    server {
        listen 127.0.0.1:$HTTPS ssl;
        server_name demo.test;
        ssl_certificate $LAB/state/live/demo.test/fullchain.pem;
        ssl_certificate_key $LAB/state/live/demo.test/privkey.pem;
        ssl_protocols TLSv1.2 TLSv1.3;
        location / { return 200 \"hello over TLS\\n\"; }
    }" >nginx/nginx.conf
nginx -t -q -p "$LAB/nginx" -c "$LAB/nginx/nginx.conf" -e "$LAB/nginx/error.log"
nginx -s reload -p "$LAB/nginx" -c "$LAB/nginx/nginx.conf" -e "$LAB/nginx/error.log"
sleep 0.5
curl -sS --noproxy '*' --cacert "$LAB_CA" "https://127.0.0.1:$LAB_MGMT/roots/0" >pebble-root.pem
curl -sS --noproxy '*' --cacert pebble-root.pem --resolve "demo.test:$HTTPS:127.0.0.1" "https://demo.test:$HTTPS/"
echo | openssl s_client -connect "127.0.0.1:$HTTPS" -servername demo.test -CAfile pebble-root.pem 2>/dev/null \
    | grep -E '^(subject|issuer)=|Verify return code'
echo "== (the SSL Labs style grade comes with 'certctl audit', issue 5)"
