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
LAB="$(mktemp -d /tmp/certctl-demo.XXXXXX)"
chmod 755 "$LAB"
PIDS=()
cleanup() {
    [ -f "$LAB/nginx/nginx.pid" ] && kill "$(cat "$LAB/nginx/nginx.pid")" 2>/dev/null || true
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "nothing listens on $1" >&2; exit 1; }
HTTP=$(free_port); HTTPS=$(free_port); ACME=$(free_port); MGMT=$(free_port); DNS=$(free_port); CTS=$(free_port)
echo "== lab in $LAB (http :$HTTP, https :$HTTPS, pebble :$ACME)"

# pebble's HTTPS API needs a certificate from a CA we trust (--ca-bundle).
cd "$LAB"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
    -days 2 -subj "/CN=certctl demo CA" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout pebble.key -out pebble.csr \
    -subj /CN=localhost 2>/dev/null
openssl x509 -req -in pebble.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out pebble.pem -days 2 \
    -extfile <(printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n') 2>/dev/null
cat > pebble.json <<JSON
{"pebble":{"listenAddress":"127.0.0.1:$ACME","managementListenAddress":"127.0.0.1:$MGMT",
 "certificate":"$LAB/pebble.pem","privateKey":"$LAB/pebble.key","httpPort":$HTTP,"tlsPort":$(free_port),
 "ocspResponderURL":"","externalAccountBindingRequired":false}}
JSON
pebble-challtestsrv -defaultIPv4 127.0.0.1 -defaultIPv6 "" -dns01 "127.0.0.1:$DNS" -http01 "" -https01 "" \
    -tlsalpn01 "" -management "127.0.0.1:$CTS" >challtestsrv.log 2>&1 &
PIDS+=($!)
wait_port "$CTS"
PEBBLE_VA_NOSLEEP=1 pebble -config pebble.json -dnsserver "127.0.0.1:$DNS" >pebble.log 2>&1 &
PIDS+=($!)
wait_port "$ACME"

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
wait_port "$HTTP"

echo "== certctl issue demo.test -d www.demo.test --webroot (through nginx)"
export CERTCTL_STATE_DIR="$LAB/state"
time "$CERTCTL" issue demo.test -d www.demo.test --webroot "$LAB/www" --http-port "$HTTP" \
    --server "https://127.0.0.1:$ACME/dir" --ca-bundle "$LAB/ca.pem" --email ops@demo.test --agree-tos

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
curl -sS --noproxy '*' --cacert ca.pem "https://127.0.0.1:$MGMT/roots/0" >pebble-root.pem
curl -sS --noproxy '*' --cacert pebble-root.pem --resolve "demo.test:$HTTPS:127.0.0.1" "https://demo.test:$HTTPS/"
echo | openssl s_client -connect "127.0.0.1:$HTTPS" -servername demo.test -CAfile pebble-root.pem 2>/dev/null \
    | grep -E '^(subject|issuer)=|Verify return code'
echo "== (the SSL Labs style grade comes with 'certctl audit', issue 5)"
