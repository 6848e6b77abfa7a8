#!/bin/bash
# Builds build/ngx_certmate_module.so against Debian's nginx (nginx-dev).
# Extra arguments go to nginx's configure (used for sanitizer builds).

set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
src=/usr/share/nginx/src
dir=$top/build/nginx

. "$src/conf_flags"

stamp="$(cat "$top/config") $*"

if [ ! -f "$dir/objs/Makefile" ] || [ "$(cat "$dir/.certmate-config" 2>/dev/null)" != "$stamp" ]; then
    rm -rf "$dir"
    mkdir -p "$top/build"
    cp -r "$src" "$dir"
    (cd "$dir" && ./configure "${NGX_CONF_FLAGS[@]}" \
                    --with-cc-opt="-g -O2 -fstack-protector-strong -D_FORTIFY_SOURCE=2" \
                    --add-dynamic-module="$top" "$@" >configure.log 2>&1) || {
        tail -n 20 "$dir/configure.log"
        exit 1
    }
    printf '%s' "$stamp" > "$dir/.certmate-config"
fi

make -s -C "$dir" -f objs/Makefile modules >/dev/null
cp "$dir/objs/ngx_certmate_module.so" "$top/build/"
echo "certmate: built build/ngx_certmate_module.so"
