#!/bin/bash
# certmate built-in CA benchmark, in one run: the throughput of certmate's
# OCSP responder against "openssl ocsp -index ... -port" on the same CA and
# serials, the time to sign a CRL with REVOKED revoked entries, and the
# rate of POST /v1/ca/sign with EC P-256 CSRs.
#
# Usage: bench/ca.sh
#
# Environment (defaults in brackets):
#   SIGNS          CSRs signed in the issuance test [20000]
#   REVOKED        certificates signed, then revoked, for the CRL [100000]
#   OCSP_REQUESTS  requests per ab run [30000]
#   OCSP_CONC      ab's concurrency (openssl's listen backlog is 32) [16]
#   ROUNDS         OCSP rounds, certmate and openssl alternated [5]
#   DEPTH          requests pipelined by the admin API load generator [8]
#   CRL_WAIT       seconds to wait for the CRL with REVOKED entries [120]
#   SERVER_CPU     CPU the nginx worker, certmate's helper and openssl
#                  ocsp are pinned to [0]
#   CLIENT_CPU     CPU the load generators (load, ab) are pinned to [1]
#   PORT_BASE      first of the 2 local ports used [18600]
#   CERTMATE_BUILD where scripts/build.sh builds the module [build]
#   BENCH_NO_BUILD=1  use $CERTMATE_BUILD/ngx_certmate_module.so as it is
#   BENCH_KEEP=1      keep the temporary directories (configs, logs, store)
#
# See bench/README.md for what the numbers mean.

set -eu

top=$(cd "$(dirname "$0")/.." && pwd)

SIGNS=${SIGNS:-20000}
REVOKED=${REVOKED:-100000}
OCSP_REQUESTS=${OCSP_REQUESTS:-30000}
OCSP_CONC=${OCSP_CONC:-16}
ROUNDS=${ROUNDS:-5}
DEPTH=${DEPTH:-8}
CRL_WAIT=${CRL_WAIT:-120}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
PORT_BASE=${PORT_BASE:-18600}

TOKEN=bench
TOKEN_SHA256=1b32c28cb38c05480eccc1bd60ff97029b57a05c96718b96dad7e9d84894f549
SUBJECT=/CN=device.bench.test

module=${CERTMATE_BUILD:-$top/build}/ngx_certmate_module.so
bin=$top/build/bench
t_start=$(date +%s)

. "$top/bench/lib.sh"


# --- build -------------------------------------------------------------------

bench_build "$module"

bench_tools load

bench_cpus

hz=$(getconf CLK_TCK)


# --- temporary directories, processes, cleanup -------------------------------

tmp=$(mktemp -d /tmp/certmate-ca-bench.XXXXXX)
chmod 755 "$tmp"        # the workers (nobody) reach the module through it

# the store on tmpfs: LMDB's fsync per write would otherwise dominate
shm=$(mktemp -d /dev/shm/certmate-ca-bench.XXXXXX)
chmod 755 "$shm"        # the master makes the store in it for nobody

master=
ossl=

cleanup() {
    if [ -n "$ossl" ]; then
        kill -TERM "$ossl" 2>/dev/null || true
        wait "$ossl" 2>/dev/null || true
    fi

    if [ -n "$master" ]; then
        kill -TERM "$master" 2>/dev/null || true
        wait_gone "$master" || kill -KILL "$master" 2>/dev/null || true
    fi

    if [ "${BENCH_KEEP:-}" = 1 ]; then
        log "kept $tmp and $shm"
    else
        rm -rf "$tmp" "$shm"
    fi
}

trap cleanup EXIT
trap 'exit 130' INT TERM

# the copy keeps the run apart from rebuilds during it
cp "$module" "$tmp/"

mask=1
i=0
while [ $i -lt "$SERVER_CPU" ]; do
    mask=${mask}0
    i=$((i + 1))
done

port=$PORT_BASE
port_ossl=$((PORT_BASE + 1))
admin=http://127.0.0.1:$port/certmate
pki=$tmp/pki

pgrep_children() {
    local d

    for d in /proc/[0-9]*; do
        [ "$(cut -d' ' -f4 "$d/stat" 2>/dev/null)" = "$1" ] \
            && echo "${d#/proc/}"
    done
    return 0
}

# child_of PATTERN: the child of the master whose title matches
child_of() {
    local p

    for p in $(pgrep_children "$master"); do
        case $(tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null) in
        $1)
            echo "$p"
            return
            ;;
        esac
    done

    die "no process \"$1\""
}

cpu_ticks() {
    cut -d' ' -f14,15 "/proc/$1/stat" | awk '{ print $1 + $2 }'
}

# us_per TICKS COUNT: CPU microseconds per operation
us_per() {
    awk -v d="$1" -v hz="$hz" -v n="$2" \
        'BEGIN { printf "%.0f", d * 1e6 / hz / n }'
}

median() {
    tr ' ' '\n' | grep . | sort -g | awk '
        { v[NR] = $1 }
        END {
            if (NR % 2) { m = v[(NR + 1) / 2] }
            else { m = (v[NR / 2] + v[NR / 2 + 1]) / 2 }
            printf (m >= 1000 ? "%.0f\n" : "%.4g\n"), m
        }'
}

rate_of() {
    echo "$1" | sed -n 's/.*rate=\([0-9]*\).*/\1/p'
}

load() {
    taskset -c "$CLIENT_CPU" "$bin/load" -p "$port" -t "$TOKEN" -d "$DEPTH" \
        "$@"
}


# --- the CA, a CSR, nginx ----------------------------------------------------

log "run in $tmp, store in $shm: SIGNS=$SIGNS REVOKED=$REVOKED" \
    "OCSP_REQUESTS=$OCSP_REQUESTS OCSP_CONC=$OCSP_CONC ROUNDS=$ROUNDS," \
    "server CPU $SERVER_CPU, client CPU $CLIENT_CPU"

mkdir -p "$pki" "$tmp/logs"

openssl ecparam -name prime256v1 -genkey -noout -out "$pki/ca.key"
openssl req -x509 -new -key "$pki/ca.key" -subj "/CN=certmate bench CA" \
    -days 3650 -addext basicConstraints=critical,CA:TRUE \
    -addext keyUsage=critical,keyCertSign,cRLSign -out "$pki/ca.pem"

openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$pki/leaf.key" -subj "$SUBJECT" -out "$pki/leaf.csr" 2>/dev/null

# {"csr": PEM, "profile": "client"}, one line
awk 'BEGIN { printf "{\"csr\":\"" }
     { printf "%s\\n", $0 }
     END { printf "\",\"profile\":\"client\"}\n" }' \
    "$pki/leaf.csr" > "$tmp/sign.json"

# as long as an OCSP answer
floor_body=$(head -c 528 /dev/zero | base64 -w0)

# the helper logs each CRL at info; the http level keeps connections quiet
cat > "$tmp/nginx.conf" <<EOF
load_module $tmp/ngx_certmate_module.so;
worker_processes 1;
worker_cpu_affinity $mask;
error_log logs/error.log info;
pid logs/nginx.pid;

events {
    worker_connections 4096;
}

http {
    access_log off;
    error_log logs/error.log notice;
    keepalive_requests 1000000;

    certmate_store $shm/store max_size=4g;
    certmate_ca cert=$pki/ca.pem key_file=$pki/ca.key;

    server {
        listen 127.0.0.1:$port;

        location /certmate/ {
            certmate_admin;
            certmate_admin_token bench sha256:$TOKEN_SHA256;
        }

        location /ocsp {
            certmate_ocsp;
        }

        location = /crl {
            certmate_crl;
        }

        # the floor: what a connection and a request cost without OCSP
        location = /floor {
            return 200 "$floor_body";
        }
    }
}
EOF

/usr/sbin/nginx -p "$tmp/" -e "$tmp/logs/error.log" -c "$tmp/nginx.conf" \
    || die "nginx did not start"
master=$(cat "$tmp/logs/nginx.pid")

i=0
until curl -sf -H "Authorization: Bearer $TOKEN" "$admin/v1/ca" 2>/dev/null \
      | grep -q '"state":"ready"'
do
    i=$((i + 1))
    [ $i -lt 200 ] || die "the CA is not ready after 20 s"
    sleep 0.1
done

worker=$(child_of "*worker process*")
helper=$(pgrep_children "$master" | grep -vx "$worker" | head -1)
[ -n "$helper" ] || die "no helper process"
taskset -p -c "$SERVER_CPU" "$helper" >/dev/null

log "CA ready; worker $worker, helper $helper, both on CPU $SERVER_CPU"


# --- issuance ----------------------------------------------------------------

log "signing $SIGNS CSRs"
t0=$(cpu_ticks "$worker")
r=$(load -u /certmate/v1/ca/sign -f "$tmp/sign.json" -n "$SIGNS" -s 201 \
        -o "$tmp/good.txt" -k serial) || die "signing failed: $r"
sign_rate=$(rate_of "$r")
sign_cpu=$(us_per $(($(cpu_ticks "$worker") - t0)) "$SIGNS")
log "sign: $r, worker CPU $sign_cpu us per signature"

[ "$(grep -c . "$tmp/good.txt")" = "$SIGNS" ] \
    || die "not every answer had a serial"


# --- the CRL -----------------------------------------------------------------

log "signing $REVOKED more CSRs to revoke"
r=$(load -u /certmate/v1/ca/sign -f "$tmp/sign.json" -n "$REVOKED" -s 201 \
        -o "$tmp/revoked.txt" -k serial) || die "signing failed: $r"
pop_rate=$(rate_of "$r")
log "sign: $r"

[ "$(sort -u "$tmp/revoked.txt" | grep -c .)" = "$REVOKED" ] \
    || die "the serials are not $REVOKED distinct ones"

sed 's|.*|/certmate/v1/serials/&/revoke\t|' "$tmp/revoked.txt" \
    > "$tmp/revoke.txt"

log "revoking $REVOKED serials (empty bodies)"
t0=$(cpu_ticks "$worker")
r=$(load -l -f "$tmp/revoke.txt" -s 200) || die "revoking failed: $r"
revoke_rate=$(rate_of "$r")
revoke_cpu=$(us_per $(($(cpu_ticks "$worker") - t0)) "$REVOKED")
revoked_at=$(date +%s)
log "revoke: $r, worker CPU $revoke_cpu us per revocation"

pattern="certmate signed CRL number [0-9]* with $REVOKED entries in"
i=0
until grep -q "$pattern" "$tmp/logs/error.log"; do
    i=$((i + 1))
    [ $i -lt $((CRL_WAIT * 10)) ] \
        || die "no CRL with $REVOKED entries after $CRL_WAIT s"
    sleep 0.1
done

crl_line=$(grep -m1 "$pattern" "$tmp/logs/error.log")
crl_ms=$(echo "$crl_line" | sed -n 's/.* in \([0-9]*\) ms.*/\1/p')
crl_number=$(echo "$crl_line" | sed -n 's/.*CRL number \([0-9]*\) .*/\1/p')
crl_after=$(( $(date +%s) - revoked_at ))
crls=$(grep -c 'certmate signed CRL number' "$tmp/logs/error.log")
crl_others=$(grep 'certmate signed CRL number' "$tmp/logs/error.log" \
             | sed -n 's/.* with \([0-9]*\) entries in \([0-9]*\) ms.*/\1:\2/p' \
             | tail -n 6 | tr '\n' ' ')
log "CRL number $crl_number: $REVOKED entries in $crl_ms ms" \
    "($crls CRLs signed in all; entries:ms of the last ones: $crl_others)"

# the one served now may be a later one with the same entries
r=$(curl -s -o "$tmp/crl.der" -w '%{http_code} %{time_total} %{size_download}' \
         "http://127.0.0.1:$port/crl")
set -- $r
[ "$1" = 200 ] || die "GET /crl: $1"
crl_get_ms=$(awk -v t="$2" 'BEGIN { printf "%.1f", t * 1000 }')
crl_bytes=$3

openssl crl -inform DER -in "$tmp/crl.der" -CAfile "$pki/ca.pem" -noout \
    2>&1 | grep -q 'verify OK' || die "the CRL does not verify"
crl_entries=$(openssl crl -inform DER -in "$tmp/crl.der" -noout -text \
              | grep -c 'Serial Number:')
[ "$crl_entries" = "$REVOKED" ] \
    || die "the CRL served has $crl_entries entries, not $REVOKED"
log "GET /crl: $crl_bytes bytes in $crl_get_ms ms, $crl_entries entries"

store_mb=$(du -sm "$shm/store" | cut -f1)


# --- OCSP --------------------------------------------------------------------

# a serial that openssl writes the same way: no leading zero byte
serial=$(grep -m1 -v '^00' "$tmp/good.txt")
openssl ocsp -issuer "$pki/ca.pem" -serial "0x$serial" -no_nonce \
    -reqout "$pki/req.der" >/dev/null

# openssl ca's index: every serial of the store, as certmate has it
expires=$(date -u -d '+90 days' +%y%m%d%H%M%SZ)
revtime=$(date -u -d "@$revoked_at" +%y%m%d%H%M%SZ)
{
    awk -v e="$expires" -v s="$SUBJECT" \
        '{ printf "V\t%s\t\t%s\tunknown\t%s\n", e, $1, s }' "$tmp/good.txt"
    awk -v e="$expires" -v r="$revtime" -v s="$SUBJECT" \
        '{ printf "R\t%s\t%s\t%s\tunknown\t%s\n", e, r, $1, s }' \
        "$tmp/revoked.txt"
} > "$pki/index.txt"

# the certificates share one subject, as certmate allows
echo "unique_subject = no" > "$pki/index.txt.attr"

ocsp_post() {
    curl -s -o "$2" -w '%{http_code}' --data-binary "@$pki/req.der" \
         -H 'Content-Type: application/ocsp-request' "$1"
}

# openssl's responder wedges when a client connects and closes without a
# request, so it is started afresh for each run and probed with a request
ossl_start() {
    local i=0

    taskset -c "$SERVER_CPU" openssl ocsp -index "$pki/index.txt" \
        -port "$port_ossl" -rsigner "$pki/ca.pem" -rkey "$pki/ca.key" \
        -CA "$pki/ca.pem" -ndays 1 >> "$tmp/logs/openssl-ocsp.log" 2>&1 &
    ossl=$!

    until [ "$(ocsp_post "http://127.0.0.1:$port_ossl/" /dev/null \
               2>/dev/null)" = 200 ]
    do
        i=$((i + 1))
        [ $i -lt 300 ] && [ -d "/proc/$ossl" ] \
            || die "openssl ocsp did not start"
        sleep 0.1
    done
}

ossl_stop() {
    kill -TERM "$ossl"
    wait "$ossl" 2>/dev/null || true
    ossl=
}

# check NAME URL: the answer parses, verifies, and says "good"
check() {
    local out

    [ "$(ocsp_post "$2" "$tmp/$1.der")" = 200 ] || die "$1: no OCSP answer"

    out=$(openssl ocsp -respin "$tmp/$1.der" -issuer "$pki/ca.pem" \
              -CAfile "$pki/ca.pem" -serial "0x$serial" 2>&1) \
        || die "$1: $out"

    echo "$out" | grep -q "^0x$serial: good" \
        && echo "$out" | grep -q "Response verify OK" \
        || die "$1: $out"

    log "$1: $(stat -c %s "$tmp/$1.der") bytes, good, verify OK"
}

ossl_start
check openssl "http://127.0.0.1:$port_ossl/"
ossl_stop
check certmate "http://127.0.0.1:$port/ocsp"

# ab_run PID URL [-k]: sets ab_rate and ab_cpu (server CPU us per request);
# "Length" failures are expected: ECDSA signatures vary in length by a
# byte or two, and ab counts every answer not as long as the first
ab_run() {
    local pid=$1 url=$2 out t0 f

    t0=$(cpu_ticks "$pid")

    out=$(taskset -c "$CLIENT_CPU" ab -q ${3:-} -n "$OCSP_REQUESTS" \
              -c "$OCSP_CONC" -p "$pki/req.der" \
              -T application/ocsp-request "$url" 2>&1) \
        || die "ab $url: $out"

    ab_cpu=$(us_per $(($(cpu_ticks "$pid") - t0)) "$OCSP_REQUESTS")

    echo "$out" | grep -q "^Complete requests: *$OCSP_REQUESTS\$" \
        || die "ab $url: $out"
    ! echo "$out" | grep -q '^Non-2xx' || die "ab $url: $out"

    f=$(echo "$out" | sed -n 's/.*(Connect: \([0-9]*\), Receive: \([0-9]*\),'\
'.*Exceptions: \([0-9]*\)).*/\1\2\3/p')
    [ -z "$f" ] || [ "$f" = 000 ] || die "ab $url: $out"

    ab_rate=$(echo "$out" \
              | sed -n 's/^Requests per second: *\([0-9.]*\).*/\1/p')
    ab_rate=$(printf '%.0f' "$ab_rate")
}

log "OCSP warm-up"
ab_run "$worker" "http://127.0.0.1:$port/ocsp"

declare -A rates cpus

for round in $(seq 1 "$ROUNDS"); do
    ab_run "$worker" "http://127.0.0.1:$port/floor"
    rates[floor]="${rates[floor]:-} $ab_rate"
    cpus[floor]="${cpus[floor]:-} $ab_cpu"
    log "round $round nginx return 200: $ab_rate/s, $ab_cpu us/request"

    ab_run "$worker" "http://127.0.0.1:$port/ocsp"
    rates[cm]="${rates[cm]:-} $ab_rate"
    cpus[cm]="${cpus[cm]:-} $ab_cpu"
    log "round $round certmate: $ab_rate/s, $ab_cpu us/request"

    ossl_start
    ab_run "$ossl" "http://127.0.0.1:$port_ossl/"
    ossl_stop
    rates[ossl]="${rates[ossl]:-} $ab_rate"
    cpus[ossl]="${cpus[ossl]:-} $ab_cpu"
    log "round $round openssl: $ab_rate/s, $ab_cpu us/request"

    ab_run "$worker" "http://127.0.0.1:$port/ocsp" -k
    rates[cmk]="${rates[cmk]:-} $ab_rate"
    cpus[cmk]="${cpus[cmk]:-} $ab_cpu"
    log "round $round certmate keep-alive: $ab_rate/s, $ab_cpu us/request"
done

# openssl ocsp answers HTTP/1.0 and closes: with -k it is the same run
ossl_start
ab_out=$(taskset -c "$CLIENT_CPU" ab -k -n 200 -c 1 -p "$pki/req.der" \
             -T application/ocsp-request "http://127.0.0.1:$port_ossl/" 2>&1) \
    || die "ab -k openssl: $ab_out"
ossl_stop
ossl_ka=$(echo "$ab_out" | sed -n 's/^Keep-Alive requests: *//p')

alerts=$(grep '\[alert\]\|\[crit\]\|\[emerg\]' "$tmp/logs/error.log" \
         | head -3) || true
[ -z "$alerts" ] || die "the error log has alerts: $alerts"


# --- results -----------------------------------------------------------------

declare -A med_rate med_cpu

for s in cm ossl cmk floor; do
    med_rate[$s]=$(echo "${rates[$s]}" | median)
    med_cpu[$s]=$(echo "${cpus[$s]}" | median)
done

# paired S: the median of the per-round ratios of S's rate to openssl's
paired() {
    local i ratios=
    local -a a b

    read -r -a a <<< "${rates[$1]}"
    read -r -a b <<< "${rates[ossl]}"

    for i in "${!a[@]}"; do
        ratios="$ratios $(ratio "${a[$i]}" "${b[$i]}")"
    done

    ratio "$(echo "$ratios" | median)" 1
}

# row S: ratio to openssl, paired ratio, CPU, openssl's CPU / S's
row() {
    echo "${med_rate[$1]} | $(ratio "${med_rate[$1]}" "${med_rate[ossl]}") |" \
         "$(paired "$1") | ${med_cpu[$1]} |" \
         "$(ratio "${med_cpu[ossl]}" "${med_cpu[$1]}")"
}

ratio_close=$(paired cm)
ratio_ka=$(paired cmk)

at_least() {
    awk -v v="$1" -v min="$2" 'BEGIN { print (v >= min) ? "met" : "NOT met" }'
}

at_most() {
    awk -v v="$1" -v max="$2" 'BEGIN { print (v <= max) ? "met" : "NOT met" }'
}

elapsed=$(( $(date +%s) - t_start ))

cat <<EOF

## certmate built-in CA benchmark

$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(/usr/sbin/nginx -v 2>&1 | sed 's/.*: //'), $(openssl version | cut -d' ' -f1,2), $(ab -V | sed -n 's/.*\(Version [0-9.]*\).*/ab \1/p').
One CA (EC P-256, made by openssl) imported with
\`certmate_ca cert= key_file=\`; the store on tmpfs ($store_mb MB at the end);
nginx worker_processes 1 and certmate's helper on CPU $SERVER_CPU, load
generators on CPU $CLIENT_CPU.
Run took ${elapsed} s.

| /v1/ca/sign, EC P-256 CSR, profile client | |
| --- | ---: |
| signatures/s ($SIGNS, $DEPTH pipelined on one keep-alive connection) | $sign_rate |
| worker CPU per signature (utime+stime) | $sign_cpu µs |
| signatures/s while filling the store with $REVOKED more | $pop_rate |
| revocations/s, POST /v1/serials/{hex}/revoke, no body | $revoke_rate |
| worker CPU per revocation | $revoke_cpu µs |

| CRL with $REVOKED revoked entries | |
| --- | ---: |
| signed by the helper in (its log, CRL number $crl_number) | $crl_ms ms |
| seconds from the last revocation until it was logged | $crl_after s |
| size (DER) | $crl_bytes bytes |
| GET /crl with curl | $crl_get_ms ms |

OCSP: one fixed POST request (SHA-1 CertID, no nonce) for a good
serial, $OCSP_REQUESTS requests per run, $OCSP_CONC concurrent (ab), $ROUNDS rounds
alternated, medians. openssl ocsp -index (index.txt with the same
$((SIGNS + REVOKED)) serials) -rsigner/-rkey the same CA, restarted for
each run, pinned to CPU $SERVER_CPU. It answers HTTP/1.0 and closes each
connection (with ab -k: $ossl_ka of 200 requests kept alive), so its one
number serves both modes.

| responder | connections | requests/s | ratio to openssl | paired ratio | server CPU µs/request | openssl's CPU / this |
| --- | --- | ---: | ---: | ---: | ---: | ---: |
| openssl ocsp | one per request | $(row ossl) |
| certmate | one per request | $(row cm) |
| certmate | keep-alive (ab -k) | $(row cmk) |
| nginx \`return 200\` of ${#floor_body} bytes (no OCSP: the floor) | one per request | $(row floor) |

Per round (requests/s): openssl${rates[ossl]}; certmate${rates[cm]};
certmate keep-alive${rates[cmk]}; return 200${rates[floor]}.

Targets: OCSP ≥ 3 × openssl's responder (paired ratio of requests/s):
$ratio_close with a connection per request, $(at_least "$ratio_close" 3);
$ratio_ka with keep-alive, $(at_least "$ratio_ka" 3). CRL with $REVOKED
entries ≤ 1 s: $crl_ms ms, $(at_most "$crl_ms" 1000).
EOF
