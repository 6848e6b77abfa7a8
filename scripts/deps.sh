#!/bin/sh
# Installs what building, running and testing certmate needs (Debian 12).
# Usage: scripts/deps.sh [build|test|bench|fuzz]

set -eu

pkgs="nginx nginx-dev build-essential libssl-dev liblmdb-dev lmdb-utils
      libjansson-dev libcurl4-openssl-dev openssl curl"

case "${1:-build}" in
    test)  pkgs="$pkgs perl libio-socket-ssl-perl pebble gnutls-bin prometheus" ;;
    bench) pkgs="$pkgs perl util-linux apache2-utils wrk pebble certbot
                uacme" ;;
    fuzz)  pkgs="$pkgs clang libclang-rt-14-dev llvm binutils" ;;
esac

missing=
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" \
        || missing="$missing $p"
done

sudo=
[ "$(id -u)" -eq 0 ] || sudo=sudo

# the fuzz targets compile nginx's own sources: Debian's, from deb-src

src_list=/etc/apt/sources.list.d/certmate-src.sources

if [ "${1:-build}" = fuzz ] && [ ! -f "$src_list" ]; then
    printf '%s\n' "Types: deb-src" "URIs: http://deb.debian.org/debian" \
        "Suites: bookworm" "Components: main" \
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg" \
        | $sudo tee "$src_list" >/dev/null
    missing="$missing dpkg-dev"
fi

[ -z "$missing" ] && exit 0

echo "certmate: installing$missing"

$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
    --no-install-recommends $missing >/dev/null
