#!/usr/bin/env bash
# Shell side of the lab, shared by demo.sh and bench/: pebble + pebble-challtestsrv on free
# loopback ports, in a directory, with a lab CA for pebble's HTTPS API. Source it, then:
#   lab_start_pebble DIR     sets LAB_HTTP (HTTP-01 port), LAB_ACME, LAB_MGMT, LAB_DIRECTORY, LAB_CA
#   lab_stop                 kills what was started (also run on EXIT)
# PEBBLE_WFE_NONCEREJECT / PEBBLE_AUTHZREUSE from the caller's environment are passed through;
# LAB_VALIDITY (seconds) sets pebble's certificate validity period.

LAB_PIDS=()

# Re-runs the calling script (once) inside a private network namespace that has only loopback, so
# no tool it starts, certctl's peers included, can reach another address. No-op where unshare fails.
lab_enter_netns() {
    local script="$1"
    shift
    if [ -z "${CERTCTL_LAB_NETNS:-}" ] && unshare -n true 2>/dev/null; then
        exec env CERTCTL_LAB_NETNS=1 unshare -n bash -c 'ip link set lo up && exec bash "$0" "$@"' "$script" "$@"
    fi
}

# What every bench script starts with: hyperfine present, the release build, CERTCTL and OUT
# (bench/results), pebble without nonce rejection or authorization reuse, a work directory W
# removed with everything the lab started on exit.
lab_bench_setup() {
    command -v hyperfine >/dev/null || { echo "apt-get install -y hyperfine" >&2; exit 1; }
    if [ -n "${CERTCTL_BIN:-}" ]; then
        CERTCTL="$(realpath "$CERTCTL_BIN")"   # a given build (before/after comparisons)
    else
        cargo build --release --locked -q
        CERTCTL="$PWD/target/release/certctl"
    fi
    OUT="$PWD/bench/results"; mkdir -p "$OUT"
    export PEBBLE_WFE_NONCEREJECT=0 PEBBLE_AUTHZREUSE=0
    W="$(mktemp -d /tmp/certctl-bench.XXXXXX)"
    trap 'lab_stop; rm -rf "$W"' EXIT
}

# A free port below the kernel's ephemeral range (32768 and up), where no outgoing connection
# can take it between this check and the server's bind (as tests/common/process.rs does), and
# never one this script handed out before (listed in a file: callers use $(lab_free_port), a
# subshell, so a variable would not keep them).
lab_free_port() {
    local port given="/tmp/certctl-lab-ports.$$"
    port=$(python3 -c '
import random, socket, sys
given = set(sys.argv[1].split())
for port in random.sample(range(15000, 32000), 17000):
    if str(port) in given:
        continue
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    print(port)
    break
' "$(cat "$given" 2>/dev/null || true)")
    echo "$port" >>"$given"
    echo "$port"
}

lab_wait_port() {
    for _ in $(seq 1 200); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "nothing listens on 127.0.0.1:$1" >&2
    return 1
}

lab_start_pebble() {
    local dir="$1" dns cts
    # LAB_HTTP_PORT: the port pebble validates HTTP-01 on (80 inside a private network namespace).
    LAB_HTTP=${LAB_HTTP_PORT:-$(lab_free_port)}; LAB_ACME=$(lab_free_port); LAB_MGMT=$(lab_free_port)
    dns=$(lab_free_port); cts=$(lab_free_port)
    LAB_CA="$dir/lab-ca.pem"
    LAB_DIRECTORY="https://127.0.0.1:$LAB_ACME/dir"
    local validity=""
    [ -z "${LAB_VALIDITY:-}" ] || validity=",\"certificateValidityPeriod\":$LAB_VALIDITY"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$dir/lab-ca.key" \
        -out "$LAB_CA" -days 2 -subj "/CN=certctl lab CA" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$dir/pebble.key" \
        -out "$dir/pebble.csr" -subj /CN=localhost 2>/dev/null
    openssl x509 -req -in "$dir/pebble.csr" -CA "$LAB_CA" -CAkey "$dir/lab-ca.key" -CAcreateserial \
        -out "$dir/pebble.pem" -days 2 -extfile <(printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n') 2>/dev/null
    cat >"$dir/pebble.json" <<JSON
{"pebble":{"listenAddress":"127.0.0.1:$LAB_ACME","managementListenAddress":"127.0.0.1:$LAB_MGMT",
 "certificate":"$dir/pebble.pem","privateKey":"$dir/pebble.key","httpPort":$LAB_HTTP,"tlsPort":$(lab_free_port),
 "ocspResponderURL":"","externalAccountBindingRequired":false$validity}}
JSON
    pebble-challtestsrv -defaultIPv4 127.0.0.1 -defaultIPv6 "" -dns01 "127.0.0.1:$dns" -http01 "" \
        -https01 "" -tlsalpn01 "" -management "127.0.0.1:$cts" >"$dir/challtestsrv.log" 2>&1 &
    LAB_PIDS+=($!)
    lab_wait_port "$cts"
    PEBBLE_VA_NOSLEEP=1 pebble -config "$dir/pebble.json" -dnsserver "127.0.0.1:$dns" >"$dir/pebble.log" 2>&1 &
    LAB_PIDS+=($!)
    lab_wait_port "$LAB_ACME"
    lab_wait_port "$LAB_MGMT"
    # The bundle also carries pebble's issuing root, so renewed chains pass the trust check.
    curl -sS --fail --noproxy '*' --cacert "$LAB_CA" "https://127.0.0.1:$LAB_MGMT/roots/0" >>"$LAB_CA"
}

# A private nginx laid out like Debian's (sites-available, sites-enabled, snippets) in DIR/nginx,
# with only a default server on 127.0.0.1:PORT. Sets LAB_NGINX (its prefix) and LAB_NGINX_FLAGS
# (the certctl flags that point at it; add --http-port/--https-port/--listen yourself).
lab_start_nginx() {
    local dir="$1" port="$2" listen="127.0.0.1:$2"
    # On the real port 80 (a private namespace) sites listen on *:80 as users write them; a
    # default server bound to 127.0.0.1:80 alone would keep nginx from binding *:80 on reload.
    [ "$port" != 80 ] || listen=80
    LAB_NGINX="$dir/nginx"
    mkdir -p "$LAB_NGINX/tmp" "$LAB_NGINX/sites-available" "$LAB_NGINX/sites-enabled" "$LAB_NGINX/snippets" "$LAB_NGINX/acme"
    cat >"$LAB_NGINX/nginx.conf" <<NGINX
pid $LAB_NGINX/nginx.pid;
error_log $LAB_NGINX/error.log;
events { worker_connections 1024; }
http {
    access_log $LAB_NGINX/access.log;
    client_body_temp_path $LAB_NGINX/tmp/body; proxy_temp_path $LAB_NGINX/tmp/proxy;
    fastcgi_temp_path $LAB_NGINX/tmp/fastcgi; uwsgi_temp_path $LAB_NGINX/tmp/uwsgi; scgi_temp_path $LAB_NGINX/tmp/scgi;
    server { listen $listen default_server; return 404; }
    include $LAB_NGINX/sites-enabled/*;
}
NGINX
    nginx -p "$LAB_NGINX" -c "$LAB_NGINX/nginx.conf" -e "$LAB_NGINX/error.log"
    lab_wait_port "$port"
    LAB_NGINX_FLAGS="--nginx-prefix $LAB_NGINX --nginx-conf $LAB_NGINX/nginx.conf --nginx-sites $LAB_NGINX/sites-available --nginx-enabled $LAB_NGINX/sites-enabled --nginx-snippets $LAB_NGINX/snippets/certctl --acme-webroot $LAB_NGINX/acme"
}

# COUNT complete certbot lineages in the config directory DIR (work and logs beside it, as
# LAB_CERTBOT_DIRS names them for later certbot commands): one real lineage, seed.test, issued by
# certbot against the lab's pebble, and COUNT-1 copies of it under their own names (archive, live
# symlinks, renewal file; the paths change, the certificate stays seed.test's).
lab_certbot_lineages() {
    local dir=$1 count=$2
    LAB_CERTBOT_DIRS="--config-dir $dir --work-dir $dir-work --logs-dir $dir-logs"
    env REQUESTS_CA_BUNDLE="$LAB_CA" certbot certonly --standalone --http-01-port "$LAB_HTTP" \
        --server "$LAB_DIRECTORY" -d seed.test --agree-tos -m bench@example.test --non-interactive \
        -q $LAB_CERTBOT_DIRS
    python3 - "$dir" "$count" <<'PY'
import os, shutil, sys
root, count = sys.argv[1], int(sys.argv[2])
conf = open(os.path.join(root, "renewal", "seed.test.conf")).read()
for i in range(count - 1):
    name = f"c{i}.test"
    shutil.copytree(os.path.join(root, "archive", "seed.test"), os.path.join(root, "archive", name))
    os.makedirs(os.path.join(root, "live", name))
    for f in ("cert", "chain", "fullchain", "privkey"):
        os.symlink(f"../../archive/{name}/{f}1.pem", os.path.join(root, "live", name, f"{f}.pem"))
    open(os.path.join(root, "renewal", f"{name}.conf"), "w").write(
        conf.replace("/seed.test", f"/{name}"))
PY
}

# Clones certctl's certificate seed.test in the state directory ROOT into COUNT certificates
# c0.test … (each a complete copy: archive, record, live link): how benches get many certificates
# from one real issue in seconds.
lab_clone_certctl() {
    python3 - "$1" "$2" <<'PY'
import os, shutil, sys
root, count = sys.argv[1], int(sys.argv[2])
seed = os.path.join(root, "certs", "seed.test")
for i in range(count):
    name = f"c{i}.test"
    dst = os.path.join(root, "certs", name)
    shutil.copytree(seed, dst, symlinks=True)
    rec = os.path.join(dst, "renewal.toml")
    text = open(rec).read().replace('name = "seed.test"', f'name = "{name}"')
    open(rec, "w").write(text)
    os.symlink(f"../certs/{name}/archive/1", os.path.join(root, "live", name))
PY
}

# A private PostgreSQL cluster (Debian's server) in DIR on a free loopback port, as the test lab's
# tests/common/postgres.rs runs it (as the postgres user when root). Sets LAB_PG_URL; lab_stop
# stops it.
lab_start_postgres() {
    local dir="$1" bin as=()
    bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
    [ -x "$bin/initdb" ] || { echo "apt-get install -y postgresql" >&2; return 1; }
    mkdir -p "$dir/sock"
    if [ "$(id -u)" -eq 0 ]; then
        # The server refuses root: it runs as postgres, which must reach DIR.
        chmod o+x "$(dirname "$dir")"; chmod 755 "$dir"; chown -R postgres: "$dir"
        as=(runuser -u postgres --)
    fi
    local port; port=$(lab_free_port)
    "${as[@]}" "$bin/initdb" -A trust -U certctl -E UTF8 --no-sync -D "$dir/data" >/dev/null
    "${as[@]}" "$bin/pg_ctl" start -w -D "$dir/data" -l "$dir/server.log" \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir/sock" >/dev/null
    LAB_PG_STOP=("${as[@]}" "$bin/pg_ctl" stop -m fast -D "$dir/data")
    LAB_PG_URL="postgres://certctl@127.0.0.1:$port/postgres"
}

lab_stop() {
    if [ -n "${LAB_PG_STOP:-}" ]; then
        "${LAB_PG_STOP[@]}" >/dev/null 2>&1 || true
        LAB_PG_STOP=()
    fi
    if [ -n "${LAB_NGINX:-}" ] && [ -f "$LAB_NGINX/nginx.pid" ]; then
        kill "$(cat "$LAB_NGINX/nginx.pid")" 2>/dev/null || true
    fi
    for p in "${LAB_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    LAB_PIDS=()
    rm -f "/tmp/certctl-lab-ports.$$"
}
