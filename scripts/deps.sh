#!/bin/sh
# Installs what building, running and testing certmate needs (Debian 12).
# Usage: scripts/deps.sh [build|test|bench]

set -eu

pkgs="nginx nginx-dev build-essential libssl-dev liblmdb-dev lmdb-utils
      libjansson-dev libcurl4-openssl-dev openssl curl"

case "${1:-build}" in
    test)  pkgs="$pkgs perl libio-socket-ssl-perl pebble gnutls-bin prometheus" ;;
    bench) pkgs="$pkgs perl util-linux apache2-utils wrk pebble certbot
                uacme" ;;
esac

missing=
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" \
        || missing="$missing $p"
done

[ -z "$missing" ] && exit 0

echo "certmate: installing$missing"

sudo=
[ "$(id -u)" -eq 0 ] || sudo=sudo

$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
    --no-install-recommends $missing >/dev/null
