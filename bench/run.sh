#!/bin/bash
# certmate handshake benchmark: server CPU per full TLS 1.3 handshake and
# start-up time, certmate with N names against plain nginx, in one run.
#
# Usage: bench/run.sh
#
# Environment (defaults in brackets):
#   N           certificates in the store [100000]
#   ROUNDS      measured rounds of each scenario, alternated [3]
#   HANDSHAKES  handshakes measured per round and scenario [20000]
#   WARMUP      handshakes before the first round of a scenario [5000]
#   CONC        parallel connections of the load generator [32]
#   STARTS      start-ups timed per configuration [7]
#   SERVER_CPU  CPU the nginx workers are pinned to [0]
#   CLIENT_CPU  CPU the load generator is pinned to [1]
#   THP         1: also "all cached" with glibc's malloc on transparent huge
#               pages (GLIBC_TUNABLES=glibc.malloc.hugetlb=1) [1]
#   PORT_BASE   first of the 7 local ports used [18400]
#   BENCH_NO_BUILD=1  use build/ngx_certmate_module.so as it is
#   BENCH_KEEP=1      keep the temporary directory (configs, logs, store)
#
# See bench/README.md for what the numbers mean.

set -eu

top=$(cd "$(dirname "$0")/.." && pwd)

N=${N:-100000}
ROUNDS=${ROUNDS:-3}
HANDSHAKES=${HANDSHAKES:-20000}
WARMUP=${WARMUP:-5000}
CONC=${CONC:-32}
STARTS=${STARTS:-7}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
PORT_BASE=${PORT_BASE:-18400}
THP=${THP:-1}

TOKEN=secret
TOKEN_SHA256=2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b
DEFAULT_CACHE=10000

bin=$top/build/bench
t_start=$(date +%s)

. "$top/bench/lib.sh"


# --- build -----------------------------------------------------------------

bench_build "$top/build/ngx_certmate_module.so"

bench_tools handshake gencerts load

bench_cpus

hz=$(getconf CLK_TCK)

thp_mode=/sys/kernel/mm/transparent_hugepage/enabled

if [ "$THP" = 1 ] && grep -q '\[never\]' "$thp_mode" 2>/dev/null; then
    log "transparent huge pages are off: no huge pages scenario"
    THP=0
fi

scenarios="static full small"
[ "$THP" = 1 ] && scenarios="static full thp small"


# --- temporary directory, processes, cleanup --------------------------------

tmp=$(mktemp -d /tmp/certmate-bench.XXXXXX)
chmod 755 "$tmp"        # the workers (nobody) reach the store through it

masters=

cleanup() {
    local pid

    for pid in $masters; do
        kill -TERM "$pid" 2>/dev/null || true
    done

    for pid in $masters; do
        wait_gone "$pid" || kill -KILL "$pid" 2>/dev/null || true
    done

    if [ "${BENCH_KEEP:-}" = 1 ]; then
        log "kept $tmp"
    else
        rm -rf "$tmp"
    fi
}

trap cleanup EXIT
trap 'exit 130' INT TERM

# the copy keeps the run apart from rebuilds of build/ during it
cp "$top/build/ngx_certmate_module.so" "$tmp/"

mask=1
i=0
while [ $i -lt "$SERVER_CPU" ]; do
    mask=${mask}0
    i=$((i + 1))
done

port_static=$PORT_BASE
port_full=$((PORT_BASE + 1))
port_small=$((PORT_BASE + 2))
port_admin=$((PORT_BASE + 3))
port_su_empty=$((PORT_BASE + 4))
port_su_full=$((PORT_BASE + 5))
port_thp=$((PORT_BASE + 6))

certs=$tmp/certs
store=$tmp/store
max_size=$((N / 64 + 256))m


# --- configurations ----------------------------------------------------------

# conf NAME PORT KIND [CACHE [STORE]]: writes $tmp/NAME/nginx.conf;
# KIND is static, certmate, import (certmate with the admin API), or
# startup (certmate with the static certificate as the fallback, so that
# an empty store handshakes too)

conf() {
    local name=$1 port=$2 kind=$3 cache=${4:-} st=${5:-$store}
    local dir=$tmp/$name

    mkdir -p "$dir/logs"

    {
        [ "$kind" = static ] \
            || echo "load_module $tmp/ngx_certmate_module.so;"

        cat <<EOF
worker_processes 1;
worker_cpu_affinity $mask;
error_log logs/error.log notice;
pid logs/nginx.pid;

events {
    worker_connections 4096;
}

http {
    access_log off;
    keepalive_requests 1000000;
    ssl_protocols TLSv1.2 TLSv1.3;

EOF

        case $kind in
        static)
            cat <<EOF
    server {
        listen 127.0.0.1:$port ssl;
        ssl_certificate $certs/static.crt;
        ssl_certificate_key $certs/static.key;
    }
}
EOF
            ;;

        certmate|import)
            cat <<EOF
    certmate_store $st max_size=$max_size;
    ${cache:+certmate_certificate_cache $cache;}

    server {
        listen 127.0.0.1:$port ssl;
        certmate_certificate on;
    }
EOF
            [ "$kind" = certmate ] || cat <<EOF

    server {
        listen 127.0.0.1:$port_admin;
        location /certmate/ {
            certmate_admin;
            certmate_admin_token bench sha256:$TOKEN_SHA256;
        }
    }
EOF
            echo "}"
            ;;

        startup)
            cat <<EOF
    certmate_store $st max_size=$max_size;

    server {
        listen 127.0.0.1:$port ssl;
        certmate_certificate on;
        ssl_certificate $certs/static.crt;
        ssl_certificate_key $certs/static.key;
    }
}
EOF
            ;;
        esac
    } > "$dir/nginx.conf"
}

nginx_cmd() {
    echo /usr/sbin/nginx -p "$tmp/$1/" -e "$tmp/$1/logs/error.log" \
         -c "$tmp/$1/nginx.conf"
}

master_of() {
    cat "$tmp/$1/logs/nginx.pid"
}

# start NAME [VAR=VALUE]: starts nginx with the variable in its environment
start() {
    env ${2:-} $(nginx_cmd "$1") || die "nginx $1 did not start"
    masters="$masters $(master_of "$1")"
}

stop() {
    local pid

    pid=$(master_of "$1")
    kill -TERM "$pid"
    wait_gone "$pid" || die "nginx $1 did not stop"
    masters=$(echo "$masters" | tr ' ' '\n' | grep -vx "$pid" | tr '\n' ' ')
}

pgrep_children() {
    local d

    for d in /proc/[0-9]*; do
        [ "$(cut -d' ' -f4 "$d/stat" 2>/dev/null)" = "$1" ] \
            && echo "${d#/proc/}"
    done
    return 0
}

worker_of() {
    local p

    for p in $(pgrep_children "$(master_of "$1")"); do
        case $(tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null) in
        *"worker process"*)
            echo "$p"
            return
            ;;
        esac
    done

    die "no worker process for $1"
}

# CPU of a process: clock ticks (utime + stime) and run time in ns
cpu_ticks() {
    cut -d' ' -f14,15 "/proc/$1/stat" | awk '{ print $1 + $2 }'
}

cpu_ns() {
    cut -d' ' -f1 "/proc/$1/schedstat"
}

status_kb() {
    awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"
}

hs() {
    taskset -c "$CLIENT_CPU" "$bin/handshake" "$@"
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


# --- certificates and the store --------------------------------------------

log "run in $tmp: N=$N ROUNDS=$ROUNDS HANDSHAKES=$HANDSHAKES CONC=$CONC" \
    "server CPU $SERVER_CPU, client CPU $CLIENT_CPU"

mkdir -p "$certs"
log "generating $N certificates"
"$bin/gencerts" -n "$N" -o "$certs" -j "$ncpu" >&2

conf static "$port_static" static
conf full "$port_full" import "$((N > DEFAULT_CACHE ? N : DEFAULT_CACHE))"
conf small "$port_small" certmate
conf thp "$port_thp" certmate "$((N > DEFAULT_CACHE ? N : DEFAULT_CACHE))"

start full

log "importing $N certificates through the admin API"
w=$(worker_of full)
t0=$(cpu_ticks "$w")
import=$(taskset -c "$CLIENT_CPU" "$bin/load" -p "$port_admin" \
             -u /certmate/v1/certificates -t "$TOKEN" \
             -f "$certs/certs.jsonl") \
    || die "import failed: $import"
import_rate=$(echo "$import" | sed -n 's/.*rate=\([0-9]*\).*/\1/p')
import_cpu=$(awk -v d=$(($(cpu_ticks "$w") - t0)) -v hz="$hz" -v n="$N" \
                 'BEGIN { printf "%.0f", d * 1e6 / hz / n }')
log "$import, worker CPU $import_cpu us per certificate"

store_mb=$(du -sm "$store" | cut -f1)

start static
start small
[ "$THP" = 1 ] && start thp GLIBC_TUNABLES=glibc.malloc.hugetlb=1

for s in $scenarios; do
    log "$s: worker $(worker_of $s), $(taskset -p "$(worker_of $s)")"
done


# --- warm-up ---------------------------------------------------------------

# every name once, in order, checking that each gets its own certificate;
# this also fills the full cache
log "full: warm-up over all $N names, certificate checked"
r=$(hs -p "$port_full" -f "$certs/names.txt" -o -v -c "$CONC") \
    || die "full: warm-up failed: $r"
log "full: $r"

if [ "$THP" = 1 ]; then
    log "thp: warm-up over all $N names, certificate checked"
    r=$(hs -p "$port_thp" -f "$certs/names.txt" -o -v -c "$CONC") \
        || die "thp: warm-up failed: $r"
    log "thp: $r"
fi

# every name if the cache holds them all, else enough to fill it twice over
if [ "$N" -le "$DEFAULT_CACHE" ]; then
    order=-o
    n=$N
else
    order=
    n=$((2 * DEFAULT_CACHE > WARMUP ? 2 * DEFAULT_CACHE : WARMUP))
fi

log "small: warm-up, $n handshakes, certificate checked"
r=$(hs -p "$port_small" -f "$certs/names.txt" $order -v -n "$n" -c "$CONC") \
    || die "small: warm-up failed: $r"
log "small: $r"

log "static: warm-up"
r=$(hs -p "$port_static" -f "$certs/names.txt" -n "$WARMUP" -c "$CONC") \
    || die "static: warm-up failed: $r"
log "static: $r"


# --- measured rounds ---------------------------------------------------------

declare -A port=([static]=$port_static [full]=$port_full [small]=$port_small
                [thp]=$port_thp)
declare -A us_ticks us_ns rates

for round in $(seq 1 "$ROUNDS"); do
    for s in $scenarios; do
        w=$(worker_of $s)
        t0=$(cpu_ticks "$w")
        n0=$(cpu_ns "$w")

        r=$(hs -p "${port[$s]}" -f "$certs/names.txt" -n "$HANDSHAKES" \
               -c "$CONC") || die "$s: round $round failed: $r"

        t1=$(cpu_ticks "$w")
        n1=$(cpu_ns "$w")

        a=$(awk -v d=$((t1 - t0)) -v hz="$hz" -v n="$HANDSHAKES" \
                'BEGIN { printf "%.1f", d * 1e6 / hz / n }')
        b=$(awk -v d=$((n1 - n0)) -v n="$HANDSHAKES" \
                'BEGIN { printf "%.1f", d / 1e3 / n }')
        rate=$(echo "$r" | sed -n 's/.*rate=\([0-9]*\).*/\1/p')

        us_ticks[$s]="${us_ticks[$s]:-} $a"
        us_ns[$s]="${us_ns[$s]:-} $b"
        rates[$s]="${rates[$s]:-} $rate"

        log "round $round $s: $a us/handshake (utime+stime)," \
            "$b us (schedstat), $rate handshakes/s"
    done
done

declare -A rss anon

for s in $scenarios; do
    w=$(worker_of $s)
    rss[$s]=$(status_kb "$w" VmRSS)
    anon[$s]=$(status_kb "$w" RssAnon)
done

for s in $scenarios; do
    stop $s
done


# --- start-up time -----------------------------------------------------------

mkdir -p "$tmp/store-empty"
chmod 755 "$tmp/store-empty"

conf su-static "$port_su_empty" static
conf su-empty "$port_su_empty" startup "" "$tmp/store-empty/store"
conf su-full "$port_su_full" startup "" "$store"

# startup NAME: sets su_last to the ms from starting nginx to its first
# handshake; nginx is not pinned (its worker pins itself)
startup() {
    local r rc=0

    r=$("$bin/handshake" -W -p "${su_port[$1]}" -s n000000.bench.test \
            -T 30000 -- $(nginx_cmd "$1")) || rc=$?

    if [ -f "$tmp/$1/logs/nginx.pid" ]; then
        masters="$masters $(master_of "$1")"
    fi

    [ $rc = 0 ] || die "$1: no handshake: $r"

    stop "$1"
    su_last=$(echo "$r" | sed -n 's/startup_ms=//p')
}

declare -A su_ms
declare -A su_port=([su-static]=$port_su_empty [su-empty]=$port_su_empty
                    [su-full]=$port_su_full)

# the empty store is created once, as it would exist before its first use
startup su-empty

log "start-up: $STARTS starts each, alternated"

for i in $(seq 1 "$STARTS"); do
    for s in su-static su-empty su-full; do
        startup $s
        su_ms[$s]="${su_ms[$s]:-} $su_last"
    done
done

log "start-up ms: static${su_ms[su-static]}; empty${su_ms[su-empty]};" \
    "$N names${su_ms[su-full]}"


# --- results -----------------------------------------------------------------

declare -A med_ticks med_ns med_rate

for s in $scenarios; do
    med_ticks[$s]=$(echo "${us_ticks[$s]}" | median)
    med_ns[$s]=$(echo "${us_ns[$s]}" | median)
    med_rate[$s]=$(echo "${rates[$s]}" | median)
done

ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'
}

# paired: the median of the per-round ratios
paired() {
    local s=$1 i ratios=
    local -a a b

    read -r -a a <<< "${us_ticks[$s]}"
    read -r -a b <<< "${us_ticks[static]}"

    for i in "${!a[@]}"; do
        ratios="$ratios $(ratio "${a[$i]}" "${b[$i]}")"
    done

    echo "$ratios" | median
}

su_static=$(echo "${su_ms[su-static]}" | median)
su_empty=$(echo "${su_ms[su-empty]}" | median)
su_full=$(echo "${su_ms[su-full]}" | median)

full_ratio=$(ratio "${med_ticks[full]}" "${med_ticks[static]}")
su_ratio=$(ratio "$su_full" "$su_empty")

per_cert=$(awk -v a="${rss[full]}" -v b="${rss[static]}" -v n="$N" \
               'BEGIN { printf "%.0f", (a - b) * 1024 / n }')
per_cert_anon=$(awk -v a="${anon[full]}" -v b="${anon[static]}" -v n="$N" \
                    'BEGIN { printf "%.0f", (a - b) * 1024 / n }')

verdict() {
    awk -v v="$1" -v max="$2" 'BEGIN { print (v <= max) ? "met" : "NOT met" }'
}

mb() {
    awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'
}

elapsed=$(( $(date +%s) - t_start ))

thp_row=
thp_round=

if [ "$THP" = 1 ]; then
    thp_row="| certmate, all cached, malloc on huge pages | ${med_ticks[thp]} | $(ratio "${med_ticks[thp]}" "${med_ticks[static]}") | $(paired thp) | ${med_ns[thp]} | ${med_rate[thp]} | $(mb "${rss[thp]}") | $(mb "${anon[thp]}") |
"
    thp_round=" huge pages${us_ticks[thp]};"
fi

cat <<EOF

## certmate handshake benchmark

$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(/usr/sbin/nginx -v 2>&1 | sed 's/.*: //'), $(openssl version | cut -d' ' -f1,2).
N=$N certificates (EC P-256, each its own key and name), full TLS 1.3
handshakes with X25519, random SNI over the N names, $CONC connections;
worker pinned to CPU $SERVER_CPU, load generator to CPU $CLIENT_CPU.
$ROUNDS rounds of $HANDSHAKES handshakes per scenario, alternated; medians.
Import: $N certificates at $import_rate/s, worker CPU $import_cpu µs each
(store ${store_mb} MB). Run took ${elapsed} s.

| scenario | server CPU µs/handshake (utime+stime) | ratio to static | paired ratio | schedstat µs | handshakes/s | worker VmRSS MB | RssAnon MB |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
| static nginx, one ssl_certificate | ${med_ticks[static]} | 1.000 | 1.000 | ${med_ns[static]} | ${med_rate[static]} | $(mb "${rss[static]}") | $(mb "${anon[static]}") |
| certmate, $N names, cache $((N > DEFAULT_CACHE ? N : DEFAULT_CACHE)) (all cached) | ${med_ticks[full]} | $full_ratio | $(paired full) | ${med_ns[full]} | ${med_rate[full]} | $(mb "${rss[full]}") | $(mb "${anon[full]}") |
$thp_row| certmate, $N names, default cache $DEFAULT_CACHE | ${med_ticks[small]} | $(ratio "${med_ticks[small]}" "${med_ticks[static]}") | $(paired small) | ${med_ns[small]} | ${med_rate[small]} | $(mb "${rss[small]}") | $(mb "${anon[small]}") |

Per round (µs/handshake, utime+stime): static${us_ticks[static]}; all cached${us_ticks[full]};${thp_round} default cache${us_ticks[small]}.

Memory per cached certificate, (VmRSS all cached − VmRSS static) / N:
$per_cert bytes ($per_cert_anon bytes counting anonymous memory only).

| start-up to the first handshake | median ms | ratio |
| --- | ---: | ---: |
| static nginx (reference) | $su_static | |
| certmate, empty store | $su_empty | 1.000 |
| certmate, $N names | $su_full | $su_ratio |

Targets: CPU per handshake, all cached ≤ 1.05 × static: $full_ratio,
$(verdict "$full_ratio" 1.05); start-up with $N names within 10% of an
empty store: $su_ratio, $(verdict "$su_ratio" 1.10).
EOF
