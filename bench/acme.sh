#!/bin/bash
# certmate ACME benchmark, in one run against Debian's pebble:
#
#   A. the time from the start of an issuance to a certificate from pebble
#      served by nginx, certmate against certbot (webroot, then a reload)
#      and uacme (its shipped hook, then a reload), alternated, each round
#      with a new account, new state and a new name;
#   B. the request latency of an nginx worker (p50, p99) while the helper
#      renews 200 names continuously, against the same worker with the
#      helper stopped (SIGSTOP), in alternated windows.
#
# Usage: bench/acme.sh
#
# Environment (defaults in brackets):
#   ROUNDS          rounds of part A, the three clients alternated [5]
#   WINDOWS         quiet/busy window pairs of part B [30]
#   WINDOW          seconds of one window (wrk -d) [5]
#   SETTLE          seconds between stopping or continuing the helper and
#                   the window's start [2]
#   NAMES           names renewed in part B [200]
#   VALIDITY        lifetime in seconds of part B's certificates [20]
#   CONC            wrk's connections (one thread) [4]
#   SERVER_CPU      CPU of the nginx worker of part B [0]
#   CLIENT_CPU      CPU of wrk [1]
#   HELPER_CPU      CPU the helper of part B is pinned to, or "none"
#                   [CLIENT_CPU]
#   PEBBLE_CPU      CPU pebble and pebble-challtestsrv are pinned to, or
#                   "none" [CLIENT_CPU]
#   WORKER_PRIORITY nginx's worker_priority in part B: the worker ahead of
#                   whatever else runs on the shared machine; the helper
#                   keeps the master's 0 [-10]
#   PEBBLE_IDLE=1   pebble and pebble-challtestsrv under SCHED_IDLE [0]
#   ISOLATE=1       part B with scheduling classes instead of nice values:
#                   the worker and wrk SCHED_FIFO, the helper, pebble and
#                   pebble-challtestsrv SCHED_IDLE, so that on 2 CPUs the
#                   CA's work and the helper's take only the time the
#                   worker and the load generator leave [1]
#   WRK_NICE        nice value of wrk, ahead of pebble and the helper on
#                   its CPU [-10]
#   STEAL_MAX       part B's verdict counts only windows in which the
#                   hypervisor stole at most this % of the CPUs (and busy
#                   windows that stored certificates) [0.5]
#   PARTS           which parts to run ["A B"]
#   PORT_BASE       first of the 13 local ports used [18500]
#   CERTMATE_BUILD  where scripts/build.sh builds the module
#                   [/tmp/certmate-bench-build]
#   BENCH_NO_BUILD=1  use $MODULE (default $CERTMATE_BUILD/
#                     ngx_certmate_module.so) as it is
#   BENCH_KEEP=1      keep the temporary directory (configs, logs, stores)
#
# See bench/README.md for what the numbers mean.

set -eu

top=$(cd "$(dirname "$0")/.." && pwd)

ROUNDS=${ROUNDS:-5}
WINDOWS=${WINDOWS:-30}
WINDOW=${WINDOW:-5}
SETTLE=${SETTLE:-2}
NAMES=${NAMES:-200}
VALIDITY=${VALIDITY:-20}
CONC=${CONC:-4}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
HELPER_CPU=${HELPER_CPU:-$CLIENT_CPU}
PEBBLE_CPU=${PEBBLE_CPU:-$CLIENT_CPU}
WRK_NICE=${WRK_NICE:--10}
WORKER_PRIORITY=${WORKER_PRIORITY:--10}
PEBBLE_IDLE=${PEBBLE_IDLE:-0}
ISOLATE=${ISOLATE:-1}
STEAL_MAX=${STEAL_MAX:-0.5}
PARTS=${PARTS:-A B}
PORT_BASE=${PORT_BASE:-18500}

wrk_sched="nice -n $WRK_NICE"
[ "$ISOLATE" = 1 ] && wrk_sched="chrt -f 1"

export CERTMATE_BUILD=${CERTMATE_BUILD:-/tmp/certmate-bench-build}
MODULE=${MODULE:-$CERTMATE_BUILD/ngx_certmate_module.so}

TOKEN=bench
TOKEN_SHA256=1b32c28cb38c05480eccc1bd60ff97029b57a05c96718b96dad7e9d84894f549

NGINX=/usr/sbin/nginx
t_start=$(date +%s)

. "$top/bench/lib.sh"


# --- what it needs -------------------------------------------------------------

# uacme has no option for the CAs it trusts and its libcurl (GnuTLS) reads
# no environment variable for them: it runs in a mount namespace of its
# own, where pebble's CA is bind-mounted over the system's bundle
[ "$(id -u)" -eq 0 ] || die "run as root (nginx workers as nobody, and" \
                            "uacme needs a mount namespace)"

bench_build "$MODULE"

bench_cpus

hz=$(getconf CLK_TCK)


# --- temporary directory, processes, cleanup ---------------------------------

tmp=$(mktemp -d /tmp/certmate-acme-bench.XXXXXX)
chmod 755 "$tmp"        # the workers (nobody) reach the module and webroots

# nginx prefixes whose master may run; pebble, challtestsrv; a stopped helper
prefixes=
pids=
stopped=

cleanup() {
    local p pid

    [ -n "$stopped" ] && kill -CONT "$stopped" 2>/dev/null || true

    for p in $prefixes; do
        pid=$(cat "$p/logs/nginx.pid" 2>/dev/null) || continue
        kill -TERM "$pid" 2>/dev/null || true
        wait_gone "$pid" || kill -KILL "$pid" 2>/dev/null || true
    done

    for pid in $pids; do
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done

    if [ "${BENCH_KEEP:-}" = 1 ]; then
        log "kept $tmp"
    else
        rm -rf "$tmp"
    fi
}

trap cleanup EXIT
trap 'exit 130' INT TERM

# the copy keeps the run apart from rebuilds during it
cp "$MODULE" "$tmp/ngx_certmate_module.so"

port_dns=$PORT_BASE
port_dnsmgmt=$((PORT_BASE + 1))
port_http=$((PORT_BASE + 2))        # part A: pebble's HTTP-01 port
port_https=$((PORT_BASE + 3))
port_b_http=$((PORT_BASE + 4))      # part B: pebble's HTTP-01 port, wrk
port_b_https=$((PORT_BASE + 5))
# pebble A: PORT_BASE + 6, 7, 8; pebble B: PORT_BASE + 9, 10, 11

now_ms() {
    echo $(($(date +%s%N) / 1000000))
}

pin() {
    [ "$1" = none ] || taskset -p -c "$1" "$2" >/dev/null
}

cpus_of() {
    taskset -c -p "$1" | sed 's/.*: //'
}

cpu_ticks() {
    cut -d' ' -f14,15 "/proc/$1/stat" | awk '{ print $1 + $2 }'
}

pgrep_children() {
    local d

    for d in /proc/[0-9]*; do
        [ "$(cut -d' ' -f4 "$d/stat" 2>/dev/null)" = "$1" ] \
            && echo "${d#/proc/}"
    done
    return 0
}

# child_of MASTER PATTERN: the master's child whose title matches
child_of() {
    local p

    for p in $(pgrep_children "$1"); do
        case $(tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null) in
        $2)
            echo "$p"
            return
            ;;
        esac
    done

    die "no process \"$2\" under $1"
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

# paired "A1 A2 ..." "B1 B2 ...": the median of the ratios Ai / Bi
paired() {
    local i ratios=
    local -a a b

    read -r -a a <<< "$1"
    read -r -a b <<< "$2"

    for i in "${!a[@]}"; do
        ratios="$ratios $(ratio "${a[$i]}" "${b[$i]}")"
    done

    echo "$ratios" | median
}

# selfsigned DIR NAME: DIR/self.crt and DIR/self.key, EC P-256
selfsigned() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$1/self.key" -out "$1/self.crt" -days 2 -subj "/CN=$2" \
        -addext "subjectAltName=DNS:$2" 2>/dev/null
}


# --- pebble ------------------------------------------------------------------

log "run in $tmp: ROUNDS=$ROUNDS WINDOWS=$WINDOWS x ${WINDOW}s NAMES=$NAMES" \
    "VALIDITY=${VALIDITY}s PARTS=\"$PARTS\""

# pebble's own TLS certificate, from a CA of the run's
pki=$tmp/pki
mkdir -p "$pki"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$pki/ca.key" -out "$pki/ca.crt" -days 2 \
    -subj "/CN=certmate bench pebble TLS CA" 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$pki/tls.key" -out "$pki/tls.csr" -subj /CN=localhost 2>/dev/null
echo "subjectAltName=DNS:localhost,IP:127.0.0.1" > "$pki/tls.ext"
openssl x509 -req -in "$pki/tls.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" \
    -set_serial 1 -days 2 -extfile "$pki/tls.ext" -out "$pki/tls.crt" \
    2>/dev/null

# one DNS server for both pebbles: 127.0.0.1 for every name
taskset_pebble=
[ "$PEBBLE_CPU" = none ] || taskset_pebble="taskset -c $PEBBLE_CPU"
[ "$PEBBLE_IDLE" = 1 ] || [ "$ISOLATE" = 1 ] \
    && taskset_pebble="chrt -i 0 $taskset_pebble"

$taskset_pebble pebble-challtestsrv -dns01 "127.0.0.1:$port_dns" \
    -management "127.0.0.1:$port_dnsmgmt" -http01 "" -https01 "" \
    -tlsalpn01 "" -defaultIPv4 127.0.0.1 -defaultIPv6 "" \
    > "$tmp/challtestsrv.log" 2>&1 &
pids="$pids $!"

i=0
until (exec 3<>"/dev/tcp/127.0.0.1/$port_dnsmgmt") 2>/dev/null; do
    i=$((i + 1))
    [ $i -lt 200 ] || die "pebble-challtestsrv does not start:
$(cat "$tmp/challtestsrv.log")"
    sleep 0.05
done

# start_pebble NAME FIRST_PORT HTTP_PORT [VALIDITY]: the directory URL in
# $directory, pebble's pid in $pebble_pid
start_pebble() {
    local name=$1 p=$2 i=0

    mkdir -p "$tmp/$name"

    cat > "$tmp/$name/pebble.json" <<EOF
{"pebble": {
    "listenAddress": "127.0.0.1:$p",
    "managementListenAddress": "127.0.0.1:$((p + 1))",
    "certificate": "$pki/tls.crt",
    "privateKey": "$pki/tls.key",
    "httpPort": $3,
    "tlsPort": $((p + 2)),
    "ocspResponderURL": "",
    "externalAccountBindingRequired": false${4:+,
    \"certificateValidityPeriod\": $4}
}}
EOF

    PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 PEBBLE_AUTHZREUSE=0 \
        $taskset_pebble pebble -config "$tmp/$name/pebble.json" \
        -dnsserver "127.0.0.1:$port_dns" > "$tmp/$name/pebble.log" 2>&1 &
    pebble_pid=$!
    pids="$pids $pebble_pid"

    directory=https://127.0.0.1:$p/dir

    until curl -sf --cacert "$pki/ca.crt" "$directory" >/dev/null; do
        i=$((i + 1))
        [ $i -lt 200 ] || die "$name does not answer:
$(tail -n 20 "$tmp/$name/pebble.log")"
        sleep 0.05
    done
}

stop_pebble() {
    kill -TERM "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}


# --- nginx -------------------------------------------------------------------

user=
[ "$(id -u)" -eq 0 ] && user="user nobody nogroup;"

# main_conf DIR [MODULE]: the main context of a configuration in DIR
main_conf() {
    [ -z "${2:-}" ] || echo "load_module $tmp/ngx_certmate_module.so;"

    cat <<EOF
$user
worker_processes 1;
error_log $1/logs/error.log notice;
pid $1/logs/nginx.pid;

events {
    worker_connections 4096;
}
EOF
}

http_common() {
    cat <<EOF
    access_log off;
    ssl_protocols TLSv1.2 TLSv1.3;
    client_body_temp_path $1/tmp;
    proxy_temp_path $1/tmp;
    fastcgi_temp_path $1/tmp;
    uwsgi_temp_path $1/tmp;
    scgi_temp_path $1/tmp;
EOF
}

nginx_start() {
    prefixes="$prefixes $1"
    $NGINX -p "$1/" -c "$1/nginx.conf" -e "$1/logs/error.log" \
        || die "nginx in $1 did not start: $(tail -n 5 "$1/logs/error.log")"
}

nginx_stop() {
    local pid

    pid=$(cat "$1/logs/nginx.pid")
    kill -TERM "$pid"
    wait_gone "$pid" || die "nginx $pid does not stop"
}

wait_port() {
    local i=0

    until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
        i=$((i + 1))
        [ $i -lt 200 ] || die "nothing listens on $1"
        sleep 0.02
    done
}

# served NAME PORT: nginx serves a certificate from pebble for NAME
served() {
    openssl s_client -connect "127.0.0.1:$2" -servername "$1" </dev/null \
            2>/dev/null \
        | openssl x509 -noout -issuer 2>/dev/null | grep -q Pebble
}

# wait_served NAME PORT T0: ms from T0 to the first handshake that gets
# pebble's certificate, polled every 20 ms
wait_served() {
    local deadline=$(($3 + 120000))

    until served "$1" "$2"; do
        [ "$(now_ms)" -lt "$deadline" ] || return 1
        sleep 0.02
    done

    echo $(($(now_ms) - $3))
}


# --- A: time to a served certificate --------------------------------------------

declare -A a_ms
round_ms=

# the webroot server of certbot and uacme: no module, a self-signed
# certificate for the name until the client's is linked in
plain_conf() {
    local d=$1 name=$2

    mkdir -p "$d/logs" "$d/tmp" "$d/www/.well-known/acme-challenge"
    chmod -R 755 "$d/www"
    selfsigned "$d" "$name"
    ln -sfn "$d/self.crt" "$d/served.crt"
    ln -sfn "$d/self.key" "$d/served.key"

    {
        main_conf "$d"
        cat <<EOF

http {
$(http_common "$d")

    server {
        listen 127.0.0.1:$port_http;
        server_name $name;

        location /.well-known/acme-challenge/ {
            root $d/www;
        }
    }

    server {
        listen 127.0.0.1:$port_https ssl;
        server_name $name;

        ssl_certificate $d/served.crt;
        ssl_certificate_key $d/served.key;
    }
}
EOF
    } > "$d/nginx.conf"
}

round_certmate() {
    local d=$1 name=$2 t0

    mkdir -p "$d/logs" "$d/tmp"
    selfsigned "$d" "$name"

    {
        main_conf "$d" module
        cat <<EOF

http {
$(http_common "$d")

    certmate_store $d/store;
    certmate_acme_issuer pebble directory=$directory
                                ca_bundle=$pki/ca.crt;

    server {
        listen 127.0.0.1:$port_http;
        server_name $name;
    }

    server {
        listen 127.0.0.1:$port_https ssl;
        server_name $name;

        ssl_certificate $d/self.crt;
        ssl_certificate_key $d/self.key;

        certmate_acme pebble;
    }
}
EOF
    } > "$d/nginx.conf"

    t0=$(now_ms)
    nginx_start "$d"
    round_ms=$(wait_served "$name" "$port_https" "$t0") \
        || die "certmate: $name not served after 120 s:
$(tail -n 20 "$d/logs/error.log")"
    nginx_stop "$d"
}

round_certbot() {
    local d=$1 name=$2 t0

    plain_conf "$d" "$name"
    nginx_start "$d"
    wait_port "$port_https"

    t0=$(now_ms)

    REQUESTS_CA_BUNDLE=$pki/ca.crt certbot certonly --webroot -w "$d/www" \
        -d "$name" --server "$directory" --key-type ecdsa \
        --elliptic-curve secp256r1 --agree-tos \
        --register-unsafely-without-email --non-interactive \
        --config-dir "$d/certbot" --work-dir "$d/certbot-work" \
        --logs-dir "$d/certbot-logs" > "$d/certbot.out" 2>&1 \
        || die "certbot failed: $(tail -n 20 "$d/certbot.out")"

    ln -sfn "$d/certbot/live/$name/fullchain.pem" "$d/served.crt"
    ln -sfn "$d/certbot/live/$name/privkey.pem" "$d/served.key"
    $NGINX -p "$d/" -c "$d/nginx.conf" -e "$d/logs/error.log" -s reload

    round_ms=$(wait_served "$name" "$port_https" "$t0") \
        || die "certbot: $name not served after 120 s"
    nginx_stop "$d"
}

round_uacme() {
    local d=$1 name=$2 t0

    plain_conf "$d" "$name"
    nginx_start "$d"
    wait_port "$port_https"

    t0=$(now_ms)

    UACME_CHALLENGE_PATH=$d/www/.well-known/acme-challenge \
    unshare -m sh -c '
        mount --bind "$0" /etc/ssl/certs/ca-certificates.crt || exit 1
        uacme -v -a "$1" -c "$2" -t EC -b 256 -y new || exit 1
        exec uacme -v -a "$1" -c "$2" -t EC -b 256 \
            -h /usr/share/uacme/uacme.sh issue "$3"' \
        "$pki/ca.crt" "$directory" "$d/uacme" "$name" \
        > "$d/uacme.out" 2>&1 \
        || die "uacme failed: $(tail -n 20 "$d/uacme.out")"

    ln -sfn "$d/uacme/$name/cert.pem" "$d/served.crt"
    ln -sfn "$d/uacme/private/$name/key.pem" "$d/served.key"
    $NGINX -p "$d/" -c "$d/nginx.conf" -e "$d/logs/error.log" -s reload

    round_ms=$(wait_served "$name" "$port_https" "$t0") \
        || die "uacme: $name not served after 120 s"
    nginx_stop "$d"
}

part_a() {
    local round tool d name

    start_pebble pebble-a $((PORT_BASE + 6)) "$port_http"
    log "A: pebble at $directory (PID $pebble_pid)"

    for round in $(seq 1 "$ROUNDS"); do
        for tool in certmate certbot uacme; do
            name=r$round-$tool-$RANDOM.bench.example.com
            d=$tmp/a/$round-$tool
            mkdir -p "$d"

            round_$tool "$d" "$name"
            a_ms[$tool]="${a_ms[$tool]:-} $round_ms"
            log "A: round $round $tool: $name served after $round_ms ms"
        done
    done

    a_orders=$(grep -c 'POST /order-plz' "$tmp/pebble-a/pebble.log" || true)
    stop_pebble "$pebble_pid"
}


# --- B: worker latency with and without renewals ----------------------------------

mask=1
i=0
while [ $i -lt "$SERVER_CPU" ]; do
    mask=${mask}0
    i=$((i + 1))
done

b_names=
for i in $(seq 1 "$NAMES"); do
    b_names="$b_names n$i.renew.example.com"
done

admin() {
    curl -sf -H "Authorization: Bearer $TOKEN" \
        "http://127.0.0.1:$port_b_http/certmate/v1/$1"
}

# renewals and first issuances the helper logged so far
got() {
    grep -c 'certmate acme "[^"]*" got certificate' "$1/logs/error.log" \
        || true
}

to_us() {
    awk -v v="$1" 'BEGIN {
        n = v + 0
        if (v ~ /us$/) { f = 1 } else if (v ~ /ms$/) { f = 1000 }
        else if (v ~ /s$/) { f = 1000000 } else { f = 1 }
        printf "%.0f", n * f
    }'
}

# window KIND N: one wrk run; appends to the KIND lists
declare -A b_p50 b_p99 b_rps b_got b_helper b_worker b_pebble b_steal b_clean

# steal_ticks: the time the hypervisor gave the machine's CPUs to others
steal_ticks() {
    awk '$1 == "cpu" { print $9 }' /proc/stat
}

# percent TICKS: of one CPU over a window
percent() {
    awk -v d="$1" -v hz="$hz" -v s="$WINDOW" \
        'BEGIN { printf "%.0f", d * 100 / hz / s }'
}

window() {
    local kind=$1 n=$2 out g0 h0 w0 c0 s0 p50 p99 rps g h w c st

    g0=$(got "$bd")
    s0=$(steal_ticks)
    h0=$(cpu_ticks "$helper")
    w0=$(cpu_ticks "$worker")
    c0=$(cpu_ticks "$pebble_pid")

    out=$($wrk_sched taskset -c "$CLIENT_CPU" \
              wrk -t1 -c"$CONC" -d"${WINDOW}s" --latency \
              "http://127.0.0.1:$port_b_http/ping") \
        || die "wrk failed: $out"

    g=$(($(got "$bd") - g0))
    h=$(percent $(($(cpu_ticks "$helper") - h0)))
    w=$(percent $(($(cpu_ticks "$worker") - w0)))
    c=$(percent $(($(cpu_ticks "$pebble_pid") - c0)))
    st=$(awk -v d=$(($(steal_ticks) - s0)) -v hz="$hz" -v s="$WINDOW" \
             -v n="$(nproc)" 'BEGIN { printf "%.1f", d * 100 / hz / s / n }')

    echo "$out" | grep -q 'Non-2xx' && die "wrk: non-2xx answers: $out"

    p50=$(to_us "$(echo "$out" | awk '$1 == "50%" { print $2 }')")
    p99=$(to_us "$(echo "$out" | awk '$1 == "99%" { print $2 }')")
    rps=$(echo "$out" | awk '/^Requests\/sec/ { printf "%.0f", $2 }')

    b_p50[$kind]="${b_p50[$kind]:-} $p50"
    b_p99[$kind]="${b_p99[$kind]:-} $p99"
    b_rps[$kind]="${b_rps[$kind]:-} $rps"
    b_got[$kind]="${b_got[$kind]:-} $g"
    b_helper[$kind]="${b_helper[$kind]:-} $h"
    b_worker[$kind]="${b_worker[$kind]:-} $w"
    b_pebble[$kind]="${b_pebble[$kind]:-} $c"
    b_steal[$kind]="${b_steal[$kind]:-} $st"

    # the verdict's windows: little steal, and renewals really flowing
    if awk -v st="$st" -v max="$STEAL_MAX" 'BEGIN { exit !(st <= max) }' \
        && { [ "$kind" = quiet ] || [ "$g" -gt 0 ]; }
    then
        b_clean[$kind]="${b_clean[$kind]:-} $p99"
    fi

    log "B: window $n $kind: p50 $p50 us, p99 $p99 us, $rps requests/s," \
        "$g certificates stored, CPU: worker $w%, helper $h%, pebble $c%," \
        "steal $st%"
}

part_b() {
    local i n t0 issued

    start_pebble pebble-b $((PORT_BASE + 9)) "$port_b_http" "$VALIDITY"
    log "B: pebble at $directory (PID $pebble_pid)," \
        "certificates valid for $VALIDITY s"

    bd=$tmp/b
    mkdir -p "$bd/logs" "$bd/tmp"

    {
        main_conf "$bd" module
        cat <<EOF
worker_cpu_affinity $mask;
worker_priority $WORKER_PRIORITY;

http {
$(http_common "$bd")
    keepalive_requests 1000000;

    certmate_store $bd/store;
    certmate_acme_issuer pebble directory=$directory
                                ca_bundle=$pki/ca.crt retry=1s;

    server {
        listen 127.0.0.1:$port_b_http;

        location = /ping {
            return 200 "pong\n";
        }

        location /certmate/ {
            certmate_admin;
            certmate_admin_token bench sha256:$TOKEN_SHA256;
        }
    }

    server {
        listen 127.0.0.1:$port_b_https ssl;

        certmate_acme pebble$b_names;
    }
}
EOF
    } > "$bd/nginx.conf"

    t0=$(now_ms)
    nginx_start "$bd"
    master=$(cat "$bd/logs/nginx.pid")
    worker=$(child_of "$master" "*worker process*")
    helper=$(child_of "$master" "*cache manager process*")
    pin "$HELPER_CPU" "$helper"

    if [ "$ISOLATE" = 1 ]; then
        chrt -f -p 1 "$worker"
        chrt -i -p 0 "$helper"
    fi

    log "B: worker $worker on CPU $(cpus_of "$worker") at nice" \
        "$WORKER_PRIORITY, helper $helper on $(cpus_of "$helper")," \
        "pebble $pebble_pid on $(cpus_of "$pebble_pid")," \
        "wrk on $CLIENT_CPU ($wrk_sched)," \
        "$(chrt -p "$worker" | sed -n 's/.*policy: //p' | head -1) worker"

    # every name issued once: each has a certificate in GET /v1/acme/orders
    i=0
    until [ "$(admin acme/orders | grep -o '"certificate_id":"' | wc -l)" \
            -ge "$NAMES" ]
    do
        i=$((i + 1))
        [ $i -lt 600 ] || die "not all $NAMES names issued after 300 s"
        sleep 0.5
    done

    b_first=$(($(now_ms) - t0))
    log "B: $NAMES names issued after $b_first ms"

    # renewals in steady flow before the first window
    sleep "$VALIDITY"
    log "B: $(got "$bd") certificates stored so far"

    for n in $(seq 1 "$WINDOWS"); do
        kill -STOP "$helper"
        stopped=$helper
        sleep "$SETTLE"
        window quiet "$n"

        kill -CONT "$helper"
        stopped=
        sleep "$SETTLE"
        window busy "$n"
    done

    b_issued=$(admin acme/orders | grep -o '"certificate_id":"' | wc -l)
    b_failed=$(admin acme/orders | grep -o '"status":"failed"' | wc -l)
    b_errors=$(grep -c '\[error\]' "$bd/logs/error.log" || true)
    b_orders=$(grep -c 'POST /order-plz' "$tmp/pebble-b/pebble.log" || true)
    b_total=$(got "$bd")

    nginx_stop "$bd"
    stop_pebble "$pebble_pid"
}


# --- run ---------------------------------------------------------------------

case " $PARTS " in *" A "*) part_a ;; esac
case " $PARTS " in *" B "*) part_b ;; esac


# --- results -----------------------------------------------------------------

elapsed=$(( $(date +%s) - t_start ))

cat <<EOF

## certmate ACME benchmark

$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $($NGINX -v 2>&1 | sed 's/.*: //'), $(openssl version | cut -d' ' -f1,2),
pebble $(dpkg-query -W -f='${Version}' pebble), certbot $(dpkg-query -W -f='${Version}' certbot), uacme $(dpkg-query -W -f='${Version}' uacme), wrk $(dpkg-query -W -f='${Version}' wrk).
Run took ${elapsed} s.
EOF

case " $PARTS " in
*" A "*)
    cm=$(echo "${a_ms[certmate]}" | median)
    cb=$(echo "${a_ms[certbot]}" | median)
    ua=$(echo "${a_ms[uacme]}" | median)

    cat <<EOF

### Time to a served certificate

pebble with PEBBLE_VA_NOSLEEP=1, PEBBLE_WFE_NONCEREJECT=0,
PEBBLE_AUTHZREUSE=0; EC P-256 keys; each round a new account, new state
and a new name; $ROUNDS rounds, the clients alternated; served = the first
\`openssl s_client -servername NAME\` (polled every 20 ms) that gets a
certificate issued by pebble. certmate: from starting nginx; certbot and
uacme: from starting the client, with nginx already running, until
served after \`nginx -s reload\`. $a_orders orders in all.

| client | median ms | ratio certmate / client | each round, ms |
| --- | ---: | ---: | --- |
| certmate (nginx start to served) | $cm | 1.00 |${a_ms[certmate]} |
| certbot certonly --webroot + reload | $cb | $(ratio "$cm" "$cb") |${a_ms[certbot]} |
| uacme new + issue (uacme.sh hook) + reload | $ua | $(ratio "$cm" "$ua") |${a_ms[uacme]} |
EOF
    ;;
esac

case " $PARTS " in
*" B "*)
    q99=$(echo "${b_p99[quiet]}" | median)
    y99=$(echo "${b_p99[busy]}" | median)
    q50=$(echo "${b_p50[quiet]}" | median)
    y50=$(echo "${b_p50[busy]}" | median)
    r99=$(ratio "$y99" "$q99")
    p99=$(paired "${b_p99[busy]}" "${b_p99[quiet]}")

    # the verdict: the clean windows' medians, at least 3 of each kind
    nq=$(echo "${b_clean[quiet]:-}" | wc -w)
    ny=$(echo "${b_clean[busy]:-}" | wc -w)

    if [ "$nq" -ge 3 ] && [ "$ny" -ge 3 ]; then
        cq99=$(echo "${b_clean[quiet]}" | median)
        cy99=$(echo "${b_clean[busy]}" | median)
        c99=$(ratio "$cy99" "$cq99")
        verdict="$c99 ($cy99 / $cq99 µs), $(awk -v r="$c99" \
                 'BEGIN { print (r <= 1.05) ? "met" : "NOT met" }')"
    else
        verdict="not shown: $nq quiet and $ny busy windows had at most
$STEAL_MAX% steal (and, busy, stored certificates); 3 of each are needed"
    fi

    cat <<EOF

### Worker latency with renewals in flight

One nginx worker pinned to CPU $SERVER_CPU (\`worker_priority $WORKER_PRIORITY\`), $NAMES names under
\`certmate_acme\`, pebble issuing certificates valid for $VALIDITY s (the
helper renews each at about two thirds of that: $NAMES names keep
renewing, at most 32 at once). All $NAMES were first issued $b_first ms
after nginx started. wrk -t1 -c$CONC on CPU $CLIENT_CPU, plain HTTP
keep-alive \`GET /ping\` (\`return 200\`, 5 bytes), wrk under \`$wrk_sched\`;
$WINDOWS pairs of ${WINDOW} s windows, quiet first: quiet = the helper stopped
(SIGSTOP), busy = running; windows start $SETTLE s after the signal.
Helper pinned to CPU: $HELPER_CPU; pebble and pebble-challtestsrv pinned to
CPU: $PEBBLE_CPU. ISOLATE=$ISOLATE (1: the worker and wrk SCHED_FIFO, the
helper, pebble and pebble-challtestsrv SCHED_IDLE).

| windows | p50 µs (median) | p99 µs (median) | requests/s (median) | certificates stored per window | CPU % worker | helper | pebble |
| --- | ---: | ---: | ---: | --- | --- | --- | --- |
| quiet (helper stopped) | $q50 | $q99 | $(echo "${b_rps[quiet]}" | median) |${b_got[quiet]} |${b_worker[quiet]} |${b_helper[quiet]} |${b_pebble[quiet]} |
| busy (renewing) | $y50 | $y99 | $(echo "${b_rps[busy]}" | median) |${b_got[busy]} |${b_worker[busy]} |${b_helper[busy]} |${b_pebble[busy]} |

p99 per window, µs: quiet${b_p99[quiet]}; busy${b_p99[busy]}.
p50 per window, µs: quiet${b_p50[quiet]}; busy${b_p50[busy]}.
Steal per window, % of the CPUs: quiet${b_steal[quiet]}; busy${b_steal[busy]}.

All windows: p99 busy / quiet $r99 (median of the per-pair ratios $p99;
p50 $(ratio "$y50" "$q50")). Target p99 busy within 5% of quiet, over the
windows with at most $STEAL_MAX% steal (quiet${b_clean[quiet]:-}; busy${b_clean[busy]:-}):
$verdict.
$b_total certificates stored in all, $b_orders orders at pebble; at the
end $b_issued names had a certificate, $b_failed were failed; $b_errors
error lines.
EOF
    ;;
esac
