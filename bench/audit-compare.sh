#!/usr/bin/env bash
# Audit cross-check: a battery of nginx configurations on loopback, each audited by certctl and by
# sslscan and testssl.sh (sslyze too, when installed), with their protocol and cipher findings
# printed side by side so any disagreement shows. Not a test: the peers' own quirks are reported,
# not failed on. Runs in a loopback-only network namespace (when unshare works).
#   bash bench/audit-compare.sh            results: bench/results/audit-compare.md
#   COMPARE_TESTSSL=0 bash bench/audit-compare.sh     skip testssl.sh (about 10 s per server)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lab.sh
lab_enter_netns bench/audit-compare.sh "$@"
cargo build --release --locked -q
CERTCTL="$PWD/target/release/certctl"
OUT="$PWD/bench/results"; mkdir -p "$OUT"
W="$(mktemp -d /tmp/certctl-compare.XXXXXX)"
chmod 755 "$W"
trap 'lab_stop; rm -rf "$W"' EXIT

# A root, an intermediate, and ECDSA and RSA leaves for compare.test.
P="$W/pki"; mkdir -p "$P"
(
    cd "$P"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout root.key -out root.pem \
        -days 2 -subj "/CN=Compare Root" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout int.key -out int.csr \
        -subj "/CN=Compare Intermediate" 2>/dev/null
    printf 'basicConstraints=critical,CA:true\nkeyUsage=critical,keyCertSign,cRLSign\n' >ca.ext
    openssl x509 -req -in int.csr -CA root.pem -CAkey root.key -CAcreateserial -days 2 -extfile ca.ext \
        -out int.pem 2>/dev/null
    printf 'subjectAltName=DNS:compare.test\nextendedKeyUsage=serverAuth\n' >leaf.ext
    for kind in ec rsa; do
        case $kind in
            ec) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out $kind.key 2>/dev/null ;;
            rsa) openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out $kind.key 2>/dev/null ;;
        esac
        openssl req -new -key $kind.key -subj /CN=compare.test -out $kind.csr 2>/dev/null
        openssl x509 -req -in $kind.csr -CA int.pem -CAkey int.key -CAcreateserial -days 2 -extfile leaf.ext \
            -out $kind.leaf 2>/dev/null
        cat $kind.leaf int.pem >$kind.pem
    done
    openssl dhparam -out dh1024.pem 1024 2>/dev/null
)

HTTP=$(lab_free_port)
lab_start_nginx "$W" "$HTTP"
INTERMEDIATE="ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384"
# name|key|nginx TLS lines
BATTERY=(
    "modern|ec|ssl_protocols TLSv1.3;"
    "intermediate|ec|ssl_protocols TLSv1.2 TLSv1.3; ssl_ciphers $INTERMEDIATE;"
    "intermediate-rsa|rsa|ssl_protocols TLSv1.2 TLSv1.3; ssl_ciphers $INTERMEDIATE;"
    "tls1.0-on|ec|ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3; ssl_ciphers ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES128-GCM-SHA256:@SECLEVEL=0;"
    "rsa-kex-only|rsa|ssl_protocols TLSv1.2; ssl_ciphers AES128-GCM-SHA256:AES256-GCM-SHA384:AES128-SHA;"
    "dh1024|rsa|ssl_protocols TLSv1.2; ssl_ciphers DHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:@SECLEVEL=0; ssl_dhparam $P/dh1024.pem;"
)
declare -A PORT
for entry in "${BATTERY[@]}"; do
    IFS='|' read -r name key tls <<<"$entry"
    PORT[$name]=$(lab_free_port)
    cat >>"$LAB_NGINX/sites-enabled/compare.conf" <<CONF
server {
    listen 127.0.0.1:${PORT[$name]} ssl;
    server_name compare.test;
    ssl_certificate $P/$key.pem;
    ssl_certificate_key $P/$key.key;
    $tls
    add_header Strict-Transport-Security "max-age=63072000" always;
    return 200 "ok";
}
CONF
done
nginx -p "$LAB_NGINX" -c "$LAB_NGINX/nginx.conf" -s reload
sleep 0.5

TESTSSL=$(command -v testssl || command -v testssl.sh || true)
[ "${COMPARE_TESTSSL:-1}" = 0 ] && TESTSSL=""
REPORT="$OUT/audit-compare.md"
{
    echo "# certctl audit beside its peers"
    echo
    echo "Each row: the protocols and cipher suites (IANA values, per protocol) one tool found on one"
    echo "nginx configuration. \`=\` means the same as certctl's."
    echo
} >"$REPORT"
for entry in "${BATTERY[@]}"; do
    IFS='|' read -r name _ _ <<<"$entry"
    port=${PORT[$name]}
    D="$W/out/$name"; mkdir -p "$D"
    "$CERTCTL" audit "127.0.0.1:$port" --sni compare.test --ca-bundle "$P/root.pem" --json >"$D/certctl.json" || true
    command -v sslscan >/dev/null && sslscan --xml="$D/sslscan.xml" --no-colour --sni-name=compare.test \
        "127.0.0.1:$port" >/dev/null 2>&1 || true
    command -v sslyze >/dev/null && sslyze --json_out="$D/sslyze.json" "127.0.0.1:$port{compare.test}" \
        >/dev/null 2>&1 || true
    [ -n "$TESTSSL" ] && "$TESTSSL" --quiet --color 0 --warnings off -p -E --ip 127.0.0.1 \
        --jsonfile "$D/testssl.json" "https://compare.test:$port" >/dev/null 2>&1 || true
    python3 - "$name" "$D" >>"$REPORT" <<'PY'
import json, os, re, sys
import xml.etree.ElementTree as ET

name, d = sys.argv[1], sys.argv[2]
NAMES = {"SSLv2": "SSL 2.0", "SSLv3": "SSL 3.0", "TLSv1.0": "TLS 1.0", "TLSv1.1": "TLS 1.1",
         "TLSv1.2": "TLS 1.2", "TLSv1.3": "TLS 1.3"}

def fmt(found):
    return "; ".join(f"{p}: {' '.join(sorted(s))}" for p, s in sorted(found.items())) or "nothing"

def certctl():
    r = json.load(open(os.path.join(d, "certctl.json")))
    found = {p["protocol"]: {s["id"].lower() for s in p["suites"]} for p in r["protocols"] if p["supported"]}
    if r.get("sslv2"):
        found["SSL 2.0"] = set()
    caps = "; ".join(c["why"] for c in r["rating"]["caps"]) or "none"
    return found, f'{r["grade"]} (caps: {caps}; {r["connections"]} connections)'

def sslscan():
    root = ET.parse(os.path.join(d, "sslscan.xml")).getroot()
    found = {}
    for p in root.iter("protocol"):
        if p.get("enabled") == "1":
            key = ("SSL " if p.get("type") == "ssl" else "TLS ") + p.get("version") + (".0" if p.get("type") == "ssl" else "")
            found.setdefault(key, set())
    for c in root.iter("cipher"):
        found.setdefault(NAMES.get(c.get("sslversion"), c.get("sslversion")), set()).add(c.get("id").lower())
    return found, ""

def testssl():
    found = {}
    for e in json.load(open(os.path.join(d, "testssl.json"))):
        m = re.match(r"cipher-(tls1(?:_\d)?|ssl\d)_x([0-9a-f]+)$", e["id"])
        if m:
            proto = {"ssl2": "SSL 2.0", "ssl3": "SSL 3.0", "tls1": "TLS 1.0", "tls1_1": "TLS 1.1",
                     "tls1_2": "TLS 1.2", "tls1_3": "TLS 1.3"}[m.group(1)]
            found.setdefault(proto, set()).add("0x" + m.group(2).rjust(4, "0"))
        elif e["id"] in ("SSLv2", "SSLv3", "TLS1", "TLS1_1", "TLS1_2", "TLS1_3") and e["finding"].startswith("offered"):
            proto = {"SSLv2": "SSL 2.0", "SSLv3": "SSL 3.0", "TLS1": "TLS 1.0", "TLS1_1": "TLS 1.1",
                     "TLS1_2": "TLS 1.2", "TLS1_3": "TLS 1.3"}[e["id"]]
            found.setdefault(proto, set())
    return found, ""

def sslyze():
    r = json.load(open(os.path.join(d, "sslyze.json")))
    found = {}
    scan = r["server_scan_results"][0]["scan_result"]
    for key, proto in [("ssl_2_0_cipher_suites", "SSL 2.0"), ("ssl_3_0_cipher_suites", "SSL 3.0"),
                       ("tls_1_0_cipher_suites", "TLS 1.0"), ("tls_1_1_cipher_suites", "TLS 1.1"),
                       ("tls_1_2_cipher_suites", "TLS 1.2"), ("tls_1_3_cipher_suites", "TLS 1.3")]:
        accepted = scan[key]["result"]["accepted_cipher_suites"]
        if accepted:
            found[proto] = {s["cipher_suite"]["name"] for s in accepted}
    return found, "(suite names, not values)"

ours, grade = certctl()
print(f"## {name}\n\n| tool | protocols and suites | notes |\n|---|---|---|")
print(f"| certctl | {fmt(ours)} | grade {grade} |")
for tool, read in [("sslscan", sslscan), ("testssl.sh", testssl), ("sslyze", sslyze)]:
    try:
        found, note = read()
    except (OSError, ValueError, KeyError, ET.ParseError):
        continue
    same = "=" if found == ours else fmt(found)
    diff = ""
    if found != ours and tool != "sslyze":
        extra = {p: s - ours.get(p, set()) for p, s in found.items() if s - ours.get(p, set()) or p not in ours}
        missing = {p: s - found.get(p, set()) for p, s in ours.items() if s - found.get(p, set()) or p not in found}
        diff = f"**differs**: only {tool} {fmt(extra)}; only certctl {fmt(missing)}"
    print(f"| {tool} | {same} | {diff} {note} |")
print()
PY
done
cat "$REPORT"
