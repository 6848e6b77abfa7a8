#!/bin/bash
# certmate mTLS benchmark, in one run: server CPU per full TLS 1.3
# handshake and request with a client certificate, its revocation checked
# against a CRL of REVOKED entries, for
#   - plain nginx: ssl_verify_client on, ssl_crl holding the CRL;
#   - certmate: certmate_verify_client on, certmate_revocation hard, the
#     same CRL fetched by the helper (certmate_crl_fetch) into the store;
# and the delay from an admin revoke of a client of the built-in CA to
# the first refused request.
#
# Usage: bench/mtls.sh
#
# Environment (defaults in brackets):
#   REVOKED     entries of the CRL [100000]
#   HANDSHAKES  handshakes+requests per measurement [4000]
#   ROUNDS      rounds, the two servers alternated [5]
#   CONC        concurrent connections of the load generator [16]
#   REVOKES     revoke-to-refusal measurements [10]
#   SERVER_CPU  CPU the nginx processes are pinned to [0]
#   CLIENT_CPU  CPU the load generator is pinned to [1]
#   PORT_BASE   first of the 4 local ports used [18700]
#   CERTMATE_BUILD, BENCH_NO_BUILD=1, BENCH_KEEP=1: as in bench/ca.sh
#
# See bench/README.md for what the numbers mean.

set -eu

top=$(cd "$(dirname "$0")/.." && pwd)

REVOKED=${REVOKED:-100000}
HANDSHAKES=${HANDSHAKES:-4000}
ROUNDS=${ROUNDS:-5}
CONC=${CONC:-16}
REVOKES=${REVOKES:-10}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
PORT_BASE=${PORT_BASE:-18700}

TOKEN=bench
TOKEN_SHA256=1b32c28cb38c05480eccc1bd60ff97029b57a05c96718b96dad7e9d84894f549

module=${CERTMATE_BUILD:-$top/build}/ngx_certmate_module.so
bin=$top/build/bench
hz=$(getconf CLK_TCK)

. "$top/bench/lib.sh"


# --- build -------------------------------------------------------------------

bench_build "$module"

bench_tools handshake crlgen


# --- temporary directories, processes, cleanup -------------------------------

tmp=$(mktemp -d /tmp/certmate-mtls-bench.XXXXXX)
chmod 755 "$tmp"
shm=$(mktemp -d /dev/shm/certmate-mtls-bench.XXXXXX)
chmod 755 "$shm"

masters=

cleanup() {
    local m

    for m in $masters; do
        kill -TERM "$m" 2>/dev/null || true
    done

    sleep 0.5

    if [ "${BENCH_KEEP:-}" = 1 ]; then
        log "kept $tmp and $shm"
    else
        rm -rf "$tmp" "$shm"
    fi
}

trap cleanup EXIT
trap 'exit 130' INT TERM

cp "$module" "$tmp/"

p_plain=$PORT_BASE
p_cm=$((PORT_BASE + 1))
p_files=$((PORT_BASE + 2))
p_admin=$((PORT_BASE + 3))


# --- the PKI: a CA, a CRL of REVOKED serials, a client certificate -----------

pki=$tmp/pki
mkdir -p "$pki"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$pki/ca.key" -out "$pki/ca.crt" -subj /CN=bench-clients-ca \
    -days 30 -addext basicConstraints=critical,CA:TRUE \
    -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$pki/server.key" -out "$pki/server.crt" -subj /CN=localhost \
    -days 30 2>/dev/null

openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$pki/client.key" -out "$pki/client.csr" -subj /CN=client \
    2>/dev/null
printf 'extendedKeyUsage=clientAuth\n' > "$pki/client.ext"
openssl x509 -req -in "$pki/client.csr" -CA "$pki/ca.crt" \
    -CAkey "$pki/ca.key" -set_serial 0x5eed -days 30 \
    -extfile "$pki/client.ext" -out "$pki/client.crt" 2>/dev/null

log "signing a CRL of $REVOKED entries"
"$bin/crlgen" "$pki/ca.crt" "$pki/ca.key" "$REVOKED" "$pki/crl.pem"


# --- the servers ---------------------------------------------------------------

mask=1
for i in $(seq 1 "$SERVER_CPU"); do
    mask=${mask}0
done

common="worker_processes 1;
worker_cpu_affinity $mask;
events { worker_connections 4096; }"

mkdir -p "$tmp/plain" "$tmp/cm"

cat > "$tmp/plain/nginx.conf" <<EOF
$common
pid $tmp/plain/nginx.pid;
error_log $tmp/plain/error.log notice;
http {
    access_log off;
    ssl_protocols TLSv1.3;
    server {
        listen 127.0.0.1:$p_plain ssl;
        ssl_certificate $pki/server.crt;
        ssl_certificate_key $pki/server.key;
        ssl_verify_client on;
        ssl_client_certificate $pki/ca.crt;
        ssl_crl $pki/crl.pem;
        location / { return 200 "ok\n"; }
    }
}
EOF

cat > "$tmp/cm/nginx.conf" <<EOF
load_module $tmp/ngx_certmate_module.so;
$common
pid $tmp/cm/nginx.pid;
error_log $tmp/cm/error.log notice;
http {
    access_log off;
    ssl_protocols TLSv1.3;
    certmate_store $shm/store;
    certmate_ca;
    certmate_crl_fetch http://127.0.0.1:$p_files/crl.pem;
    server {
        listen 127.0.0.1:$p_files;
        root $pki;
    }
    server {
        listen 127.0.0.1:$p_admin;
        location /certmate/ {
            certmate_admin;
            certmate_admin_token bench sha256:$TOKEN_SHA256;
        }
    }
    server {
        listen 127.0.0.1:$p_cm ssl;
        ssl_certificate $pki/server.crt;
        ssl_certificate_key $pki/server.key;
        certmate_verify_client on;
        certmate_client_ca $pki/ca.crt;
        certmate_revocation hard;
        location / { return 200 "ok\n"; }
    }
}
EOF

for s in plain cm; do
    taskset -c "$SERVER_CPU" /usr/sbin/nginx -p "$tmp/$s/" \
        -c "$tmp/$s/nginx.conf" || die "nginx ($s) did not start"
    sleep 0.3
    masters="$masters $(cat "$tmp/$s/nginx.pid")"
done

worker_of() {
    local d master

    master=$(cat "$tmp/$1/nginx.pid")

    for d in /proc/[0-9]*; do
        if [ "$(cut -d' ' -f4 "$d/stat" 2>/dev/null)" = "$master" ] \
           && tr '\0' ' ' < "$d/cmdline" | grep -q 'worker process'
        then
            echo "${d#/proc/}"
            return
        fi
    done

    die "no worker of $1"
}

log "waiting for the helper to store the CRL"

for i in $(seq 1 600); do
    grep -q "fetched the CRL .*: $REVOKED entries" "$tmp/cm/error.log" && break
    sleep 0.2
done

grep "fetched the CRL" "$tmp/cm/error.log" | tail -1 | sed 's/^.*certmate/certmate/' >&2 \
    || die "the CRL was not fetched"

# both servers admit the client, and refuse nothing else on the way

for s in plain cm; do
    p=$p_plain
    [ $s = cm ] && p=$p_cm
    "$bin/handshake" -p "$p" -n 20 -c 2 -C "$pki/client.crt" \
        -K "$pki/client.key" -R / -q >/dev/null \
        || die "$s does not admit the client"
done


# --- CPU per handshake and request ---------------------------------------------

cpu_ticks() {
    cut -d' ' -f14,15 "/proc/$1/stat" | awk '{ print $1 + $2 }'
}

median() {
    tr ' ' '\n' | grep . | sort -g | awk '
        { v[NR] = $1 }
        END {
            if (NR % 2) { m = v[(NR + 1) / 2] }
            else { m = (v[NR / 2] + v[NR / 2 + 1]) / 2 }
            printf "%.4g\n", m
        }'
}

declare -A us
us[plain]=
us[cm]=
ratios=

for round in $(seq 1 "$ROUNDS"); do
    order="plain cm"
    [ $((round % 2)) -eq 0 ] && order="cm plain"

    for s in $order; do
        p=$p_plain
        [ $s = cm ] && p=$p_cm
        w=$(worker_of $s)

        a=$(cpu_ticks "$w")
        taskset -c "$CLIENT_CPU" "$bin/handshake" -p "$p" -n "$HANDSHAKES" \
            -c "$CONC" -C "$pki/client.crt" -K "$pki/client.key" -R / -q \
            >/dev/null || die "$s: handshakes failed"
        b=$(cpu_ticks "$w")

        v=$(awk -v d=$((b - a)) -v hz="$hz" -v n="$HANDSHAKES" \
                'BEGIN { printf "%.1f", d * 1e6 / hz / n }')
        us[$s]="${us[$s]} $v"
        log "round $round $s: $v us per handshake and request"
    done

    r_plain=$(echo "${us[plain]}" | awk '{ print $NF }')
    r_cm=$(echo "${us[cm]}" | awk '{ print $NF }')
    ratios="$ratios $(awk -v a="$r_cm" -v b="$r_plain" \
                          'BEGIN { printf "%.3f", a / b }')"
done

m_plain=$(echo "${us[plain]}" | median)
m_cm=$(echo "${us[cm]}" | median)
m_ratio=$(echo "$ratios" | median)


# --- from a revoke to the first refused request ---------------------------------

admin() {
    curl -s -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
        "$@"
}

for i in $(seq 1 100); do
    admin "http://127.0.0.1:$p_admin/certmate/v1/ca" | grep -q '"ready"' && break
    sleep 0.1
done

delays=

for i in $(seq 1 "$REVOKES"); do
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$pki/own.key" -out "$pki/own.csr" -subj /CN=own 2>/dev/null
    csr=$(awk '{ printf "%s\\n", $0 }' "$pki/own.csr")
    admin -d "{\"csr\": \"$csr\", \"profile\": \"client\"}" \
        "http://127.0.0.1:$p_admin/certmate/v1/ca/sign" > "$pki/own.json"
    serial=$(sed -n 's/.*"serial": *"\([0-9A-F]*\)".*/\1/p' "$pki/own.json")
    sed -n 's/.*"certificate": *"\([^"]*\)".*/\1/p' "$pki/own.json" \
        | sed 's/\\n/\n/g' > "$pki/own.crt"

    code=$(curl -sk -o /dev/null -w '%{http_code}' --cert "$pki/own.crt" \
           --key "$pki/own.key" "https://127.0.0.1:$p_cm/")
    [ "$code" = 200 ] || die "a client of the built-in CA got $code"

    t0=$(date +%s%N)
    admin -o /dev/null -d '{"reason": "keyCompromise"}' \
        "http://127.0.0.1:$p_admin/certmate/v1/serials/$serial/revoke"

    while :; do
        code=$(curl -sk -o /dev/null -w '%{http_code}' --cert "$pki/own.crt" \
               --key "$pki/own.key" "https://127.0.0.1:$p_cm/")
        [ "$code" = 400 ] && break
    done

    t1=$(date +%s%N)
    delays="$delays $(( (t1 - t0) / 1000000 ))"
done

m_delay=$(echo "$delays" | median)


# --- report --------------------------------------------------------------------------

cat <<EOF

## certmate mTLS benchmark

$(date -u +%Y-%m-%d), $(nproc) CPUs, $ROUNDS rounds of $HANDSHAKES full TLS 1.3 handshakes with a
client certificate and one request each, a CRL of $REVOKED entries.

| server | CPU µs per handshake+request (median) |
| --- | --- |
| nginx, ssl_verify_client + ssl_crl | $m_plain |
| certmate, certmate_verify_client + the CRL in the store | $m_cm |

certmate / nginx, median of the per-round ratios: **$m_ratio** (target ≤ 1.05: $(awk -v r="$m_ratio" 'BEGIN { print (r <= 1.05) ? "met" : "NOT met" }'))

From an admin revoke to the first refused request (built-in CA, median of
$REVOKES): **$m_delay ms** (target ≤ 1000 ms: $(awk -v d="$m_delay" 'BEGIN { print (d <= 1000) ? "met" : "NOT met" }'))
EOF
