#!/bin/sh
# Builds certmate and runs nginx in the foreground with
# conf-examples/quickstart.conf: an HTTPS site on 127.0.0.1:8443 whose
# certificates come from the store in var/store, and the admin API on
# 127.0.0.1:8080 behind a bearer token that this script prints.

set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
var=${CERTMATE_VAR:-$top/var}

"$top/scripts/deps.sh" build
"$top/scripts/build.sh"

mkdir -p "$var/modules"
ln -sf "$top/build/ngx_certmate_module.so" "$var/modules/"

# the token is made once and kept; only its hash goes into the config

if [ ! -s "$var/admin-token" ]; then
    (umask 077 && openssl rand -hex 24 > "$var/admin-token")
fi

token=$(cat "$var/admin-token")
hash=$(printf '%s' "$token" | sha256sum | cut -d' ' -f1)

sed "s/sha256:0\{64\}/sha256:$hash/" "$top/conf-examples/quickstart.conf" \
    > "$var/quickstart.conf"

# a demonstration certificate for demo.localhost, ready to import

if [ ! -s "$var/demo.json" ]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$var/demo.key" -out "$var/demo.crt" -days 90 \
        -subj /CN=demo.localhost -addext subjectAltName=DNS:demo.localhost \
        2>/dev/null

    {
        printf '{"certificate": "'
        awk '{ printf "%s\\n", $0 }' "$var/demo.crt"
        printf '", "private_key": "'
        awk '{ printf "%s\\n", $0 }' "$var/demo.key"
        printf '"}\n'
    } > "$var/demo.json"
fi

cat <<TXT

certmate quickstart
  admin token:  $token

  import a certificate (no reload needed):
    curl -H "Authorization: Bearer $token" -H "Content-Type: application/json" \\
         --data-binary @$var/demo.json http://127.0.0.1:8080/certmate/v1/certificates

  the next handshake serves it:
    curl -k --resolve demo.localhost:8443:127.0.0.1 https://demo.localhost:8443/

  list what the store has:
    curl -H "Authorization: Bearer $token" http://127.0.0.1:8080/certmate/v1/certificates

nginx runs in the foreground; stop it with Ctrl-C.

TXT

# workers run as the invoking user; as root, that needs saying

user=
[ "$(id -u)" -eq 0 ] && user="user root;"

exec /usr/sbin/nginx -p "$var/" -c "$var/quickstart.conf" \
    -g "daemon off; $user"
