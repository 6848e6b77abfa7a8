# Sourced by the benchmarks after they set $top (the repository): logging,
# the build, waiting for a process to go.

log() {
    printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2
}

die() {
    log "error: $*"
    exit 1
}

# installs what the benchmarks need and builds the module, unless
# BENCH_NO_BUILD=1; $1 is the module that must then exist
bench_build() {
    "$top/scripts/deps.sh" bench

    if [ "${BENCH_NO_BUILD:-}" != 1 ]; then
        "$top/scripts/build.sh" >&2
    fi

    [ -f "$1" ] || die "$1 is missing"
}

# compiles the named C tools of bench/ into $bin
bench_tools() {
    local tool

    mkdir -p "$bin"

    for tool in "$@"; do
        gcc -Wall -Wextra -Werror -O2 -o "$bin/$tool" "$top/bench/$tool.c" \
            -lssl -lcrypto || die "cannot build bench/$tool.c"
    done
}

# SERVER_CPU and CLIENT_CPU must be two CPUs of this machine; sets $ncpu
bench_cpus() {
    ncpu=$(nproc)
    [ "$SERVER_CPU" -lt "$ncpu" ] && [ "$CLIENT_CPU" -lt "$ncpu" ] \
        && [ "$SERVER_CPU" != "$CLIENT_CPU" ] \
        || die "SERVER_CPU and CLIENT_CPU must be two of the $ncpu CPUs"
}

# a / b with two decimals
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'
}

wait_gone() {
    local i=0

    while [ -d "/proc/$1" ] && [ $i -lt 200 ]; do
        sleep 0.05
        i=$((i + 1))
    done

    [ ! -d "/proc/$1" ]
}
