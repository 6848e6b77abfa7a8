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

wait_gone() {
    local i=0

    while [ -d "/proc/$1" ] && [ $i -lt 200 ]; do
        sleep 0.05
        i=$((i + 1))
    done

    [ ! -d "/proc/$1" ]
}
