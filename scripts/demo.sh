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
trap lab_stop EXIT
lab_start_pebble "$LAB"
HTTP=$LAB_HTTP; HTTPS=$(lab_free_port)
echo "== lab in $LAB (http :$HTTP, https :$HTTPS, pebble $LAB_DIRECTORY)"
cd "$LAB"

# A private nginx laid out like Debian's: sites-available, sites-enabled, snippets.
lab_start_nginx "$LAB" "$HTTP"
mkdir -p "$LAB/site"
echo "<h1>hello from demo.test over TLS</h1>" >"$LAB/site/index.html"

echo "== certctl issue demo.test -d www.demo.test --nginx --root site/ (challenge via nginx, cert, TLS site, reload)"
export CERTCTL_STATE_DIR="$LAB/state"
time "$CERTCTL" issue demo.test -d www.demo.test --nginx --root "$LAB/site" \
    --server "$LAB_DIRECTORY" --ca-bundle "$LAB_CA" --email ops@demo.test --agree-tos \
    $LAB_NGINX_FLAGS --http-port "$HTTP" --https-port "$HTTPS" --listen 127.0.0.1

echo "== certctl list"
"$CERTCTL" list

echo "== what nginx serves now"
curl -sS --noproxy '*' --cacert "$LAB_CA" "https://127.0.0.1:$LAB_MGMT/roots/0" >pebble-root.pem
sleep 0.3
curl -sS --noproxy '*' -D - -o /dev/null --cacert pebble-root.pem --resolve "demo.test:$HTTPS:127.0.0.1" \
    "https://demo.test:$HTTPS/" | grep -iE '^(HTTP|strict-transport)'
curl -sS --noproxy '*' -D - -o /dev/null -H "Host: demo.test" "http://127.0.0.1:$HTTP/any/path" | grep -iE '^(HTTP|location)'
echo | openssl s_client -connect "127.0.0.1:$HTTPS" -servername demo.test -CAfile pebble-root.pem 2>/dev/null \
    | grep -E '^(subject|issuer)=|Verify return code|Protocol  :'
echo "== certctl audit 127.0.0.1:$HTTPS --sni demo.test (SSL Labs style grade)"
"$CERTCTL" audit "127.0.0.1:$HTTPS" --sni demo.test --ca-bundle "$LAB_CA" --http-port "$HTTP"

echo "== certctl renew (nothing due: no CA contacted) and certctl verify"
"$CERTCTL" renew -v
"$CERTCTL" verify demo.test
