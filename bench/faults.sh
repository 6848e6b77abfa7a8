#!/bin/bash
# certmate benchmark of handshakes under admin writes, in one run: the
# latency of full TLS 1.3 handshakes (p50, p99) while WRITES imports come
# in through the admin API, WRITE_CONC at a time (curl --parallel), and
# with no writes, rounds alternated; the target is busy p99 <= 2 x quiet.
#
# Usage: bench/faults.sh
#
# Environment (defaults in brackets):
#   NAMES       certificates stored first, the SNI names handshaken [1000]
#   WRITES      imports of new certificates per busy round [1000]
#   WRITE_CONC  imports in flight at once [50]
#   ROUNDS      rounds, quiet and busy alternated [5]
#   CONC        parallel handshake connections [1]
#   WORKERS     nginx worker processes, pinned to SERVER_CPU [1]
#   THREADS     threads of nginx's "default" thread pool, which makes the
#               writes [nginx's default, 32]
#   STORE_DIR   the directory the store is made in [the run's, on /tmp]
#   SERVER_CPU  CPU the nginx workers and the helper are pinned to [0]
#   CLIENT_CPU  CPU the handshake client and curl are pinned to [1]
#   PORT_BASE   first of the 2 local ports used [18700]
#   CERTMATE_BUILD where scripts/build.sh builds the module [build]
#   BENCH_NO_BUILD=1  use $CERTMATE_BUILD/ngx_certmate_module.so as it is
#   BENCH_KEEP=1      keep the temporary directory (configs, logs, store)
#
# See bench/README.md for what the numbers mean.

set -eu

top=$(cd "$(dirname "$0")/.." && pwd)

NAMES=${NAMES:-1000}
WRITES=${WRITES:-1000}
WRITE_CONC=${WRITE_CONC:-50}
ROUNDS=${ROUNDS:-5}
CONC=${CONC:-1}
WORKERS=${WORKERS:-1}
THREADS=${THREADS:-}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
PORT_BASE=${PORT_BASE:-18700}

TOKEN=bench
TOKEN_SHA256=1b32c28cb38c05480eccc1bd60ff97029b57a05c96718b96dad7e9d84894f549

module=${CERTMATE_BUILD:-$top/build}/ngx_certmate_module.so
bin=$top/build/bench
t_start=$(date +%s)

. "$top/bench/lib.sh"


# --- build -------------------------------------------------------------------

bench_build "$module"

bench_tools handshake gencerts load

bench_cpus


# --- temporary directory, processes, cleanup ---------------------------------

tmp=$(mktemp -d /tmp/certmate-faults-bench.XXXXXX)
chmod 755 "$tmp"        # the workers (nobody) reach the module through it

master=

cleanup() {
    if [ -n "$master" ]; then
        kill -TERM "$master" 2>/dev/null || true
        wait_gone "$master" || kill -KILL "$master" 2>/dev/null || true
    fi

    if [ "${BENCH_KEEP:-}" = 1 ]; then
        log "kept $tmp"
    else
        rm -rf "$tmp"
    fi
}

trap cleanup EXIT
trap 'exit 130' INT TERM

cp "$module" "$tmp/"

store_dir=${STORE_DIR:-$tmp}
store=$(mktemp -d "$store_dir/certmate-faults-store.XXXXXX")
chmod 755 "$store"      # the master makes the store in it for nobody

port_https=$PORT_BASE
port_admin=$((PORT_BASE + 1))

certs=$tmp/certs
total=$((NAMES + WRITES * ROUNDS))


# --- nginx -------------------------------------------------------------------

mkdir -p "$tmp/logs"

cat > "$tmp/nginx.conf" <<EOF
load_module $tmp/ngx_certmate_module.so;
worker_processes $WORKERS;
${THREADS:+thread_pool default threads=$THREADS;}
error_log logs/error.log notice;
pid logs/nginx.pid;

events {
    worker_connections 4096;
}

http {
    access_log off;
    ssl_protocols TLSv1.2 TLSv1.3;

    certmate_store $store/store max_size=$((total / 64 + 256))m;
    certmate_certificate_cache $total;

    server {
        listen 127.0.0.1:$port_https ssl;
        certmate_certificate on;
    }

    server {
        listen 127.0.0.1:$port_admin;
        location /certmate/ {
            certmate_admin;
            certmate_admin_token bench sha256:$TOKEN_SHA256;
        }
    }
}
EOF

taskset -c "$SERVER_CPU" /usr/sbin/nginx -p "$tmp/" -c "$tmp/nginx.conf" \
    || die "nginx did not start"
master=$(cat "$tmp/logs/nginx.pid")

hs() {
    taskset -c "$CLIENT_CPU" "$bin/handshake" -p "$port_https" "$@"
}

median() {
    tr ' ' '\n' | grep . | sort -g | awk '
        { v[NR] = $1 }
        END {
            if (NR % 2) { m = v[(NR + 1) / 2] }
            else { m = (v[NR / 2] + v[NR / 2 + 1]) / 2 }
            printf (m >= 100 ? "%.0f\n" : "%.3g\n"), m
        }'
}


# --- certificates, the store, the writes -------------------------------------

log "run in $tmp, store in $store: NAMES=$NAMES WRITES=$WRITES" \
    "WRITE_CONC=$WRITE_CONC ROUNDS=$ROUNDS CONC=$CONC WORKERS=$WORKERS" \
    "THREADS=${THREADS:-32}," \
    "server CPU $SERVER_CPU, client CPU $CLIENT_CPU"

mkdir -p "$certs/bodies"
"$bin/gencerts" -n "$total" -o "$certs" -j "$ncpu" >&2

head -n "$NAMES" "$certs/names.txt" > "$certs/served.txt"
head -n "$NAMES" "$certs/certs.jsonl" > "$certs/served.jsonl"

log "importing $NAMES certificates to handshake with"
r=$(taskset -c "$CLIENT_CPU" "$bin/load" -p "$port_admin" \
        -u /certmate/v1/certificates -t "$TOKEN" -s 201 \
        -f "$certs/served.jsonl") || die "import failed: $r"
log "$r"

# a curl config a busy round: its WRITES imports, each a transfer
tail -n +"$((NAMES + 1))" "$certs/certs.jsonl" \
    | awk -v dir="$certs" -v n="$WRITES" -v port="$port_admin" \
          -v token="$TOKEN" '
        {
            body = dir "/bodies/" NR ".json"
            print > body
            close(body)

            cfg = dir "/round" int((NR - 1) / n) + 1 ".cfg"
            if ((NR - 1) % n) {
                print "next" > cfg
            }
            printf "url = \"http://127.0.0.1:%s/certmate/v1/certificates\"\n" \
                   "header = \"Authorization: Bearer %s\"\n" \
                   "header = \"Content-Type: application/json\"\n" \
                   "data-binary = \"@%s\"\n" \
                   "output = \"/dev/null\"\n" \
                   "silent\n" \
                   "write-out = \"%%{http_code}\\n\"\n", port, token, body \
                   > cfg
        }'


# --- rounds ------------------------------------------------------------------

# a first pass over every name, checked, fills the cache; it and the
# first batch of writes, alone, give the number of handshakes a round
# makes: what the quiet worker does in a third of the time of the writes,
# so that the busy handshakes end before the writes do

log "warm-up: every name, certificate checked"
r=$(hs -f "$certs/served.txt" -o -v -c "$CONC") || die "warm-up failed: $r"
log "warm-up: $r"
quiet_rate=$(echo "$r" | sed -n 's/.*rate=\([0-9]*\).*/\1/p')

declare -a q50 q99 b50 b99 ratios
writes_ok=0
writes_bad=0
write_secs=

for round in $(seq 1 "$ROUNDS"); do
    if [ "$round" = 1 ]; then
        t0=$(date +%s.%N)
        out=$(taskset -c "$CLIENT_CPU" curl -s -Z --parallel-max "$WRITE_CONC" \
                  -K "$certs/round1.cfg" 2>> "$tmp/curl.log")
        secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
        handshakes=$(awk -v r="$quiet_rate" -v s="$secs" '
                         BEGIN { n = int(r * s / 3); print n < 200 ? 200 : n }')
        log "round 1: $WRITES writes alone in $secs s; $handshakes" \
            "handshakes a round"
        writes_ok=$((writes_ok + $(echo "$out" | grep -c '^201$' || true)))
        writes_bad=$((writes_bad + $(echo "$out" | grep -vc '^201$' || true)))
        continue
    fi

    r=$(hs -f "$certs/served.txt" -n "$handshakes" -c "$CONC" -L) \
        || die "round $round quiet: $r"
    p50=$(echo "$r" | sed -n 's/^p50_us=\([0-9]*\) .*/\1/p')
    p99=$(echo "$r" | sed -n 's/.* p99_us=\([0-9]*\) .*/\1/p')
    log "round $round quiet: ${r//$'\n'/, }"
    q50+=("$p50")
    q99+=("$p99")

    # the writes first, the handshakes while they go on

    t0=$(date +%s.%N)
    taskset -c "$CLIENT_CPU" curl -s -Z --parallel-max "$WRITE_CONC" \
        -K "$certs/round$round.cfg" > "$tmp/writes$round" 2>> "$tmp/curl.log" &
    writer=$!

    r=$(hs -f "$certs/served.txt" -n "$handshakes" -c "$CONC" -L) \
        || die "round $round busy: $r"
    t_hs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')

    wait "$writer"
    t_w=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')

    ok=$(grep -c '^201$' "$tmp/writes$round" || true)
    bad=$(grep -vc '^201$' "$tmp/writes$round" || true)
    writes_ok=$((writes_ok + ok))
    writes_bad=$((writes_bad + bad))

    p50=$(echo "$r" | sed -n 's/^p50_us=\([0-9]*\) .*/\1/p')
    p99=$(echo "$r" | sed -n 's/.* p99_us=\([0-9]*\) .*/\1/p')
    log "round $round busy: ${r//$'\n'/, }; handshakes done at $t_hs s," \
        "$ok writes 201 ($bad other) in $t_w s"
    b50+=("$p50")
    b99+=("$p99")
    ratios+=("$(ratio "$p99" "${q99[-1]}")")

    awk -v h="$t_hs" -v w="$t_w" 'BEGIN { exit !(h > w) }' \
        && log "round $round: the handshakes outlasted the writes"
done

stored=$(curl -s -H "Authorization: Bearer $TOKEN" \
             "http://127.0.0.1:$port_admin/certmate/v1/health" \
         | sed -n 's/.*"certificates": *\([0-9]*\).*/\1/p')
errors=$(grep -c '\[\(alert\|crit\|emerg\)\]' "$tmp/logs/error.log" || true)

kill -TERM "$master"
wait_gone "$master" || die "nginx did not stop"
master=


# --- report ------------------------------------------------------------------

cpu=$(sed -n 's/^model name\t*: //p' /proc/cpuinfo | head -1)
qm99=$(echo "${q99[*]}" | median)
bm99=$(echo "${b99[*]}" | median)

cat <<EOF

### Handshakes under admin writes

$(date -u '+%Y-%m-%d %H:%M') UTC, $(($(date +%s) - t_start)) s, $ncpu CPUs: $cpu.
Workers: $WORKERS on CPU $SERVER_CPU, thread pool of ${THREADS:-32}. Client: handshake -c $CONC and curl on CPU $CLIENT_CPU.
Store: under $store_dir. Handshakes: $handshakes a round, over $NAMES cached names.
Writes: $WRITES imports of new certificates a busy round, $WRITE_CONC at a time.

| handshakes, $((ROUNDS - 1)) rounds | p50 µs (median) | p99 µs (median) | p99 µs per round |
| --- | ---: | ---: | --- |
| quiet | $(echo "${q50[*]}" | median) | $qm99 | ${q99[*]} |
| $WRITES writes in flight | $(echo "${b50[*]}" | median) | $bm99 | ${b99[*]} |

Busy p99 / quiet p99: **$(ratio "$bm99" "$qm99")** (per round: ${ratios[*]}); target <= 2.
Writes: $writes_ok answered 201, $writes_bad otherwise; $stored certificates stored ($((NAMES + writes_ok)) expected).
Alert, crit or emerg lines in the error log: $errors.
EOF

[ "$writes_bad" = 0 ] || die "$writes_bad writes were not 201"
[ "$stored" = $((NAMES + writes_ok)) ] || die "$stored certificates stored"
[ "$errors" = 0 ] || die "the error log has $errors alert, crit or emerg lines"
