#!/bin/bash
# libFuzzer targets for the parsers of outside input (fuzz/*.c).
#
#   scripts/fuzz.sh TARGET SECONDS    fuzz one target (or "all", each in
#                                     turn) for SECONDS, from the seed
#                                     corpus and the findings kept so far
#   scripts/fuzz.sh build             build every target
#
# nginx (the sources of Debian's package) and certmate are built with
# clang, ASan, UBSan and the fuzzer's coverage in build/fuzz; each target links certmate with nginx's own
# objects (nginx's main() renamed), so the code under test is the module's.
# A target that #includes a source of the module (for its static
# functions) is linked without that source's object.  Corpora live in
# build/fuzz/corpus/TARGET (seeds from fuzz/seeds.sh); a crash is kept
# in build/fuzz/crash-TARGET-* and fails the run.

set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
out=$top/build/fuzz
dir=$out/nginx
flags="-g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined"
# memcpy() of nothing from a NULL string is nginx's habit (ngx_str_null)
flags="$flags -fno-sanitize=nonnull-attribute"
flags="$flags -fno-sanitize-recover=undefined"

[ $# -ge 1 ] || { echo "usage: $0 TARGET SECONDS | build" >&2; exit 2; }

"$top/scripts/deps.sh" fuzz

# nginx with the modules certmate needs (auth_basic's ngx_crypt among
# them), not all of Debian's: 100 objects to build instead of 140
without="gzip ssi userid access mirror autoindex geo map
         split_clients referer rewrite proxy fastcgi uwsgi scgi grpc
         memcached limit_conn limit_req empty_gif browser upstream_hash
         upstream_ip_hash upstream_least_conn upstream_random
         upstream_keepalive upstream_zone charset"
conf="--with-debug --with-threads --with-http_ssl_module --with-pcre"
for m in $without; do
    conf="$conf --without-http_${m}_module"
done

stamp="$(cat "$top/config") $flags $conf"

if [ ! -f "$dir/objs/Makefile" ] \
   || [ "$(cat "$dir/.certmate-config" 2>/dev/null)" != "$stamp" ]
then
    rm -rf "$dir"
    mkdir -p "$out" "$dir"
    # nginx-dev has no .c files: the sources of Debian's nginx package
    [ -f "$out"/nginx_*.orig.tar.gz ] \
        || (cd "$out" && apt-get source -qq --download-only nginx)
    tar -xzf "$out"/nginx_*.orig.tar.gz -C "$dir" --strip-components=1
    (cd "$dir" && ./configure $conf --with-cc=clang \
                    --with-cc-opt="$flags -fsanitize=fuzzer-no-link" \
                    --with-ld-opt="$flags -fsanitize=fuzzer-no-link" \
                    --add-module="$top" >configure.log 2>&1) || {
        tail -n 20 "$dir/configure.log"
        exit 1
    }
    printf '%s' "$stamp" > "$dir/.certmate-config"
fi

make -s -j"$(nproc)" -C "$dir" -f objs/Makefile >/dev/null

objcopy --redefine-sym main=ngx_nginx_main \
    "$dir/objs/src/core/nginx.o" "$out/nginx-main.o"

# the libraries of nginx's link line (certmate's among them)
libs=$(grep -m 1 -- ' -lssl ' "$dir/objs/Makefile" | grep -o -- ' -l[^ ]*' \
       | tr -d '\n')
incs="-I $dir/src/core -I $dir/src/event -I $dir/src/event/modules
      -I $dir/src/os/unix -I $dir/objs -I $dir/src/http
      -I $dir/src/http/modules -I $dir/src/http/v2 -I $top/src"

build_target() {
    local name=$1 src=$top/fuzz/$1.c objs included

    objs=$(find "$dir/objs" -name '*.o' ! -path '*/src/core/nginx.o')

    for included in $(sed -n 's/^#include "\(ngx_[a-z_]*\)\.c"$/\1/p' "$src")
    do
        objs=$(echo "$objs" | grep -v "/$included\.o\$")
    done

    # shellcheck disable=SC2086
    clang $flags -fsanitize=fuzzer -Wall -Wextra -Wno-unused-parameter \
        -Werror $incs -o "$out/$name" "$src" "$top/fuzz/fuzz.c" \
        "$out/nginx-main.o" $objs $libs
}

targets=$(cd "$top/fuzz" && ls ./*.c | sed 's|^\./||; s|\.c$||' \
          | grep -v '^fuzz$')

for t in $targets; do
    build_target "$t"
done

[ "$1" = build ] && { echo "certmate: fuzz targets built in $out"; exit 0; }

[ $# -eq 2 ] || { echo "usage: $0 TARGET SECONDS | build" >&2; exit 2; }

if [ "$1" = all ]; then
    run=$targets
else
    echo "$targets" | grep -qx "$1" || {
        echo "$0: no target \"$1\"; the targets:" $targets >&2
        exit 2
    }
    run=$1
fi

"$top/fuzz/seeds.sh" "$out"

# the stores of the targets that have one, on tmpfs, gone after the run
CERTMATE_FUZZ_DIR=$(mktemp -d /dev/shm/certmate-fuzz.XXXXXX)
export CERTMATE_FUZZ_DIR
trap 'rm -rf "$CERTMATE_FUZZ_DIR"' EXIT

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:symbolize=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

status=0

for t in $run; do
    mkdir -p "$out/corpus/$t"
    echo "certmate: fuzzing $t for $2 s"
    (cd "$out" && "./$t" -max_total_time="$2" -print_final_stats=1 \
                         -timeout=10 -rss_limit_mb=2048 \
                         -artifact_prefix="$out/crash-$t-" \
                         "corpus/$t" 2>"$out/$t.log") || {
        status=1
        tail -n 60 "$out/$t.log"
        echo "certmate: fuzz target $t FAILED (log: $out/$t.log)"
        continue
    }
    grep -E '^stat::(number_of_executed_units|peak_rss_mb|new_units_added)' \
        "$out/$t.log" | sed "s/^/certmate: $t /"
done

exit $status
