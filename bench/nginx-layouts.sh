#!/usr/bin/env bash
# The nginx layouts real servers have, taken to HTTPS by `certctl issue --nginx` and by
# `certbot --nginx --redirect --hsts` (python3-certbot-nginx), side by side: for each layout and
# tool, whether it succeeded, the grade `certctl audit` gives the result (the same grader for
# both), and the time. Runs in a private network namespace with only loopback, so the sites use
# the real ports 80 and 443 as users have them. Each tool starts from the same files.
#   bash bench/nginx-layouts.sh            results: bench/results/nginx-layouts.md
# KEEP=1 keeps the work directory; LAYOUTS="deb one" runs those; CERTCTL_BIN=PATH uses that build.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lab.sh
[ -n "${CERTCTL_LAB_NETNS:-}" ] || unshare -n true 2>/dev/null || { echo "needs unshare -n (root)" >&2; exit 1; }
lab_enter_netns bench/nginx-layouts.sh "$@"
lab_bench_setup
export LAB_HTTP_PORT=80
chmod 755 "$W"   # nginx's workers read the sites' roots under it
[ -z "${KEEP:-}" ] || trap 'lab_stop; echo "kept $W"' EXIT
lab_start_pebble "$W"
lab_start_nginx "$W" 80
N="$LAB_NGINX"
certbot_ok=1; /usr/bin/python3 -c 'import certbot_nginx' 2>/dev/null || certbot_ok=0

# A backend for the proxied site, as gunicorn would be.
mkdir -p "$W/backend" "$W/static" "$W/www"
echo "from the app" >"$W/backend/index.html"; echo "a static file" >"$W/static/app.css"
python3 -m http.server 8000 --bind 127.0.0.1 --directory "$W/backend" >/dev/null 2>&1 &
LAB_PIDS+=($!)
lab_wait_port 8000
for s in deb proxy one multi two snake; do mkdir -p "$W/www/$s"; echo "$s site" >"$W/www/$s/index.html"; done
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/snakeoil.key" \
    -out "$W/snakeoil.pem" -days 30 -subj /CN=snake.test 2>/dev/null

# Each layout: its names, then the files it writes (the same for both tools).
layout() {
    rm -f "$N"/sites-enabled/* "$N"/sites-available/*
    case "$1" in
    deb) # Debian's way: sites-available enabled by a symlink, IPv4 and IPv6.
        printf 'server {\n    listen 80;\n    listen [::]:80;\n    server_name deb.test www.deb.test;\n    root %s/www/deb;\n    index index.html;\n    location / {\n        try_files $uri $uri/ =404;\n    }\n}\n' "$W" >"$N/sites-available/deb"
        ln -s ../sites-available/deb "$N/sites-enabled/deb" ;;
    proxy) # The seed's Django deployment: gunicorn behind nginx, /static/ from disk.
        printf 'upstream app {\n    server 127.0.0.1:8000;\n}\nserver {\n    listen 80;\n    server_name proxy.test;\n    client_max_body_size 20m;\n    location /static/ {\n        alias %s/static/;\n    }\n    location / {\n        proxy_pass http://app;\n        proxy_set_header Host $host;\n        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n    }\n}\n' "$W" >"$N/sites-available/proxy"
        ln -s ../sites-available/proxy "$N/sites-enabled/proxy" ;;
    one) # A server written on one line.
        printf 'server { listen 80; server_name one.test; root %s/www/one; index index.html; }\n' "$W" >"$N/sites-enabled/one.conf" ;;
    multi) # server_name spread over lines.
        printf 'server {\n    listen 80;\n    server_name multi.test\n                www.multi.test;\n    root %s/www/multi;\n}\n' "$W" >"$N/sites-enabled/multi.conf" ;;
    two) # Two servers in one file; only one is issued.
        printf 'server {\n    listen 80;\n    server_name two.test;\n    root %s/www/two;\n}\nserver {\n    listen 80;\n    server_name other.test;\n    root %s/www/two;\n}\n' "$W" "$W" >"$N/sites-enabled/two.conf" ;;
    snake) # An existing TLS server with a self-signed certificate.
        printf 'server {\n    listen 80;\n    server_name snake.test;\n    root %s/www/snake;\n}\nserver {\n    listen 443 ssl;\n    server_name snake.test;\n    ssl_certificate %s/snakeoil.pem;\n    ssl_certificate_key %s/snakeoil.key;\n    root %s/www/snake;\n}\n' "$W" "$W" "$W" "$W" >"$N/sites-enabled/snake.conf" ;;
    esac
    nginx -p "$N" -c "$N/nginx.conf" -s reload; sleep 0.3
}
names() {
    case "$1" in
    deb) echo "deb.test www.deb.test" ;; proxy) echo proxy.test ;; one) echo one.test ;;
    multi) echo "multi.test www.multi.test" ;; two) echo two.test ;; snake) echo snake.test ;;
    esac
}
grade() { # NAME: the grade certctl audit gives 127.0.0.1:443 for NAME, or "-" when it cannot
    "$CERTCTL" audit 127.0.0.1:443 --sni "$1" --ca-bundle "$LAB_CA" --json 2>/dev/null \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["grade"])' 2>/dev/null || echo "-"
}
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
page() { curl -s --max-time 5 --resolve "$1:80:127.0.0.1" "http://$1/" || true; }
# NAME BEFORE: "yes" when HTTPS serves the page plain HTTP served before and plain HTTP answers
# 301 to https://NAME/… ; else what differs.
kept() {
    local after code
    after=$(curl -s --max-time 5 --cacert "$LAB_CA" --resolve "$1:443:127.0.0.1" "https://$1/" || true)
    code=$(curl -s --max-time 5 -o /dev/null -w '%{http_code} %{redirect_url}' --resolve "$1:80:127.0.0.1" "http://$1/p?q" || true)
    if [ "$after" != "$2" ]; then echo "page differs"
    elif [ "$code" != "301 https://$1/p?q" ]; then echo "http: $code"
    else echo yes; fi
}

printf '| layout | certctl issue --nginx | grade | same page, 301 | ms | certbot --nginx --redirect --hsts | grade | same page, 301 | ms |\n|---|---|---|---|---|---|---|---|---|\n' >"$OUT/nginx-layouts.md"
for l in ${LAYOUTS:-deb proxy one multi two snake}; do
    read -r -a ns <<<"$(names "$l")"
    ds=(); for n in "${ns[@]}"; do ds+=(-d "$n"); done
    layout "$l"
    before=$(page "${ns[0]}")
    flags=(--nginx $LAB_NGINX_FLAGS --server "$LAB_DIRECTORY" --ca-bundle "$LAB_CA" --agree-tos)
    t=$(date +%s%N)
    if "$CERTCTL" -q --state-dir "$W/state-$l" issue "${ns[0]}" "${ds[@]:2}" "${flags[@]}" >"$W/$l.certctl" 2>&1; then
        c_ok=ok
    elif [ "$l" = snake ] && "$CERTCTL" -q --state-dir "$W/state-$l" issue "${ns[0]}" "${ds[@]:2}" "${flags[@]}" --take-over >>"$W/$l.certctl" 2>&1; then
        c_ok="ok with --take-over"
    else
        c_ok="FAILED: $(tail -1 "$W/$l.certctl" | cut -c1-80)"
    fi
    c_ms=$(ms "$t"); c_grade=$(grade "${ns[0]}"); c_kept=$(kept "${ns[0]}" "$before")
    b_ok=skipped; b_grade=-; b_ms=-; b_kept=-
    if [ "$certbot_ok" = 1 ]; then
        layout "$l"
        t=$(date +%s%N)
        if env REQUESTS_CA_BUNDLE="$LAB_CA" certbot --nginx --nginx-server-root "$N" --redirect --hsts "${ds[@]}" \
            --server "$LAB_DIRECTORY" --agree-tos -m bench@example.test --non-interactive \
            --config-dir "$W/cb-$l" --work-dir "$W/cb-$l" --logs-dir "$W/cb-$l" >"$W/$l.certbot" 2>&1; then
            b_ok=ok
        else
            b_ok="FAILED: $(grep -v '^$' "$W/$l.certbot" | tail -1 | cut -c1-80)"
        fi
        b_ms=$(ms "$t"); sleep 0.3; b_grade=$(grade "${ns[0]}"); b_kept=$(kept "${ns[0]}" "$before")
    fi
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$l" "$c_ok" "$c_grade" "$c_kept" "$c_ms" "$b_ok" "$b_grade" "$b_kept" "$b_ms" | tee -a "$OUT/nginx-layouts.md"
done
cat "$OUT/nginx-layouts.md"
