#!/bin/bash
# Builds build/ngx_certmate_module.so against Debian's nginx (nginx-dev).
# CERTMATE_BUILD names another build directory and CERTMATE_CC_OPT adds
# compiler flags (for sanitizer builds).

set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
src=/usr/share/nginx/src
out=${CERTMATE_BUILD:-$top/build}
dir=$out/nginx
cc_opt="-g -O2 -fstack-protector-strong -D_FORTIFY_SOURCE=2 ${CERTMATE_CC_OPT:-}"

. "$src/conf_flags"

stamp="$(cat "$top/config") $cc_opt"

if [ ! -f "$dir/objs/Makefile" ] || [ "$(cat "$dir/.certmate-config" 2>/dev/null)" != "$stamp" ]; then
    rm -rf "$dir"
    mkdir -p "$out"
    cp -r "$src" "$dir"
    (cd "$dir" && ./configure "${NGX_CONF_FLAGS[@]}" \
                    --with-cc-opt="$cc_opt" \
                    --add-dynamic-module="$top" >configure.log 2>&1) || {
        tail -n 20 "$dir/configure.log"
        exit 1
    }
    printf '%s' "$stamp" > "$dir/.certmate-config"
fi

make -s -C "$dir" -f objs/Makefile modules >/dev/null
# a new file, not the old one rewritten: a running nginx keeps its copy
cp "$dir/objs/ngx_certmate_module.so" "$out/.ngx_certmate_module.so.new"
mv -f "$out/.ngx_certmate_module.so.new" "$out/ngx_certmate_module.so"
echo "certmate: built $out/ngx_certmate_module.so"
