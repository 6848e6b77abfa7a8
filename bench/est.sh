#!/bin/bash
# certmate EST benchmark: the rate of EST simpleenroll with EC P-256 CSRs
# signed by the built-in CA (its issuing CA is EC P-256), over HTTPS
# keep-alive with HTTP Basic, nginx with two workers on the machine's two
# CPUs, next to the floor of the same machine: nginx answering "return
# 200" with a body as long as an enrollment's over the same connections.
#
# Usage: bench/est.sh
#
# Environment (defaults in brackets):
#   ENROLLS        enrollments per round [20000]
#   CONC           ab's concurrency [16]
#   ROUNDS         rounds, floor and EST alternated [3]
#   WORKERS        nginx worker processes [2]
#   STORE          where the store is: "shm" (tmpfs, the CPU's rate) or
#                  "disk" (under /tmp, with LMDB's fsync per enrollment)
#                  ["shm disk"]
#   PORT_BASE      first of the 3 local ports used [18700]
#   CERTMATE_BUILD where scripts/build.sh builds the module [build]
#   BENCH_NO_BUILD=1  use $CERTMATE_BUILD/ngx_certmate_module.so as it is
#   BENCH_KEEP=1      keep the temporary directories
#
# See bench/README.md for what the numbers mean.

set -eu

top=$(cd "$(dirname "$0")/.." && pwd)

ENROLLS=${ENROLLS:-20000}
CONC=${CONC:-16}
ROUNDS=${ROUNDS:-3}
WORKERS=${WORKERS:-2}
STORE=${STORE:-shm disk}
PORT_BASE=${PORT_BASE:-18700}

module=${CERTMATE_BUILD:-$top/build}/ngx_certmate_module.so
t_start=$(date +%s)

. "$top/bench/lib.sh"


# --- build -------------------------------------------------------------------

bench_build "$module"

hz=$(getconf CLK_TCK)


# --- temporary directories, processes, cleanup -------------------------------

tmp=$(mktemp -d /tmp/certmate-est-bench.XXXXXX)
chmod 755 "$tmp"        # the workers (nobody) reach the module through it
shm=$(mktemp -d /dev/shm/certmate-est-bench.XXXXXX)
chmod 755 "$shm"

master=

cleanup() {
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

cp "$module" "$tmp/"

port_est=$PORT_BASE
port_floor=$((PORT_BASE + 1))
port_admin=$((PORT_BASE + 2))


# --- the TLS certificate, the CSR, the password -------------------------------

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$tmp/tls.key" -subj /CN=localhost -days 2 \
    -out "$tmp/tls.crt" 2>/dev/null

openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$tmp/device.key" -subj /CN=device.bench.test -outform DER \
    -out "$tmp/device.der" 2>/dev/null
base64 "$tmp/device.der" > "$tmp/csr.b64"

# a SHA-1 hash, so that what is measured is EST, not a password hash
printf 'bench:{SHA}%s\n' \
    "$(printf secret | openssl dgst -sha1 -binary | base64)" \
    > "$tmp/est.htpasswd"


# --- nginx --------------------------------------------------------------------

# start STORE_DIR: nginx with the EST server and the floor server
start() {
    local store=$1

    cat > "$tmp/nginx.conf" <<EOF
load_module $tmp/ngx_certmate_module.so;
worker_processes $WORKERS;
pid $tmp/nginx.pid;
error_log $tmp/error.log notice;
events { worker_connections 1024; }

http {
    access_log off;
    client_body_temp_path $tmp/body;
    ssl_protocols TLSv1.2 TLSv1.3;
    keepalive_requests 1000000;

    certmate_store $store;
    certmate_ca;

    server {
        listen 127.0.0.1:$port_est ssl;
        ssl_certificate $tmp/tls.crt;
        ssl_certificate_key $tmp/tls.key;

        location /.well-known/est/ {
            certmate_est;
            certmate_est_auth basic $tmp/est.htpasswd;
        }
    }

    server {
        listen 127.0.0.1:$port_floor ssl;
        ssl_certificate $tmp/tls.crt;
        ssl_certificate_key $tmp/tls.key;

        location / {
            return 200 "$(head -c 760 /dev/zero | tr '\0' A)";
        }
    }
}
EOF

    : > "$tmp/error.log"
    /usr/sbin/nginx -p "$tmp/" -c "$tmp/nginx.conf" \
        || die "nginx does not start: $(cat "$tmp/error.log")"
    master=$(cat "$tmp/nginx.pid")

    local i=0
    until curl -skf -o "$tmp/cacerts" \
            "https://127.0.0.1:$port_est/.well-known/est/cacerts"
    do
        i=$((i + 1))
        [ $i -lt 200 ] || die "the CA is not ready: $(cat "$tmp/error.log")"
        sleep 0.05
    done
}

stop() {
    kill -QUIT "$master"
    wait_gone "$master" || die "nginx does not stop"
    master=
}

workers() {
    pgrep -P "$master" -f 'worker process' | tr '\n' ' '
}

cpu_ticks() {
    local p sum=0

    for p in $1; do
        sum=$((sum + $(cut -d' ' -f14,15 "/proc/$p/stat" \
                        | awk '{ print $1 + $2 }')))
    done

    echo $sum
}

median() {
    tr ' ' '\n' | grep -v '^$' | sort -n | awk '{ v[NR] = $1 }
        END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# ab_run URL [ab arguments]: requests per second in $ab_rate, the
# answers that were not 2xx in $ab_bad
ab_run() {
    local url=$1 out
    shift

    out=$(ab -q -k -n "$ENROLLS" -c "$CONC" "$@" "$url" 2>&1) \
        || die "ab failed: $out"

    ab_bad=$(echo "$out" | awk '/^Non-2xx responses/ { print $3 }')
    ab_bad=${ab_bad:-0}
    ab_rate=$(echo "$out" | awk '/^Requests per second/ { printf "%.0f", $4 }')
}


# --- rounds -------------------------------------------------------------------

declare -A rate_floor rate_est cpu_est got_est

for where in $STORE; do
    case $where in
    shm)  store=$shm/store ;;
    disk) store=$tmp/store ;;
    *)    die "STORE: \"shm\" or \"disk\", not \"$where\"" ;;
    esac

    start "$store"

    # warm-up: sessions, the CA parsed in every worker
    ab -q -k -n 200 -c "$CONC" -p "$tmp/csr.b64" -T application/pkcs10 \
        -A bench:secret \
        "https://127.0.0.1:$port_est/.well-known/est/simpleenroll" \
        >/dev/null 2>&1

    for round in $(seq 1 "$ROUNDS"); do
        ab_run "https://127.0.0.1:$port_floor/"
        r=$ab_rate
        [ "$ab_bad" = 0 ] || die "the floor answered $ab_bad non-2xx"
        rate_floor[$where]="${rate_floor[$where]:-} $r"
        log "$where round $round: floor $r requests/s"

        w=$(workers)
        c0=$(cpu_ticks "$w")
        g0=$(grep -c 'certmate est enrolled' "$tmp/error.log" || true)

        ab_run "https://127.0.0.1:$port_est/.well-known/est/simpleenroll" \
               -p "$tmp/csr.b64" -T application/pkcs10 -A bench:secret
        r=$ab_rate
        [ "$ab_bad" = 0 ] || die "EST answered $ab_bad non-2xx:
$(tail -n 5 "$tmp/error.log")"

        c=$(( $(cpu_ticks "$w") - c0 ))
        g=$(( $(grep -c 'certmate est enrolled' "$tmp/error.log") - g0 ))
        [ "$g" -ge "$ENROLLS" ] || die "$g enrollments logged, not $ENROLLS"

        us=$(awk -v c="$c" -v hz="$hz" -v n="$ENROLLS" \
                 'BEGIN { printf "%.0f", c * 1000000 / hz / n }')

        rate_est[$where]="${rate_est[$where]:-} $r"
        cpu_est[$where]="${cpu_est[$where]:-} $us"
        got_est[$where]=$(( ${got_est[$where]:-0} + g ))
        log "$where round $round: EST $r enrollments/s, $us us of worker" \
            "CPU each"
    done

    # every enrollment is in the store and its certificate verifies
    openssl base64 -d -in "$tmp/cacerts" \
        | openssl pkcs7 -inform DER -print_certs > "$tmp/ca.pem"
    curl -sk -u bench:secret -H 'Content-Type: application/pkcs10' \
        --data-binary "@$tmp/csr.b64" \
        "https://127.0.0.1:$port_est/.well-known/est/simpleenroll" \
        | openssl base64 -d | openssl pkcs7 -inform DER -print_certs \
        > "$tmp/last.pem"
    openssl verify -CAfile "$tmp/ca.pem" "$tmp/last.pem" >/dev/null \
        || die "an enrolled certificate does not verify"

    stop
done


# --- results ------------------------------------------------------------------

elapsed=$(( $(date +%s) - t_start ))

cat <<EOF

## certmate EST benchmark

$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(/usr/sbin/nginx -v 2>&1 | sed 's/.*: //'), $(openssl version | cut -d' ' -f1,2).
Run took ${elapsed} s. nginx with $WORKERS workers and ab on the same
$(nproc) CPUs; ab -k -c $CONC -n $ENROLLS over HTTPS (TLS 1.3 keep-alive), HTTP
Basic with a {SHA} password; one EC P-256 CSR for CN=device.bench.test,
signed by the built-in CA's EC P-256 issuing CA, each enrollment a new
certificate stored in its own LMDB write transaction. $ROUNDS rounds, the
floor (\`return 200\` of 760 bytes, as long as an enrollment's answer)
and EST alternated; medians.

| store | floor requests/s | EST enrollments/s | worker CPU per enrollment | rounds (enrollments/s) |
| --- | ---: | ---: | ---: | --- |
EOF

for where in $STORE; do
    printf '| %s | %s | %s | %s µs |%s |\n' "$where" \
        "$(echo "${rate_floor[$where]}" | median)" \
        "$(echo "${rate_est[$where]}" | median)" \
        "$(echo "${cpu_est[$where]}" | median)" "${rate_est[$where]}"
done

echo
echo "Target: at least 2,000 enrollments/s over both cores."
