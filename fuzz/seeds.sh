#!/bin/bash
# Writes the seed corpora of the fuzz targets into DIR/corpus/TARGET
# (and the CA the ocsp target imports into DIR/ocsp-ca, the CA and the
# certificate of the ocsp-answer target's answers in DIR/ocsp-answer-ca),
# made afresh with openssl: no key is committed.  Usage: fuzz/seeds.sh DIR

set -eu

out=$1
stamp=$(sha256sum "$0" | cut -d' ' -f1)

[ "$(cat "$out/.seeds" 2>/dev/null)" = "$stamp" ] && exit 0

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"

for t in cert csr admin acme crl store ocsp ocsp-answer; do
    mkdir -p "$out/corpus/$t"
done

seed() {
    # seed TARGET NAME: stdin is the seed
    cat > "$out/corpus/$1/seed-$2"
}

q() { openssl "$@" 2>/dev/null; }

# keys, a CA, an intermediate, leaves

q ecparam -name prime256v1 -genkey -noout -out ec.key
q ecparam -name secp384r1 -genkey -noout -out ec384.key
q genrsa -out rsa.key 2048
q req -x509 -new -key ec.key -subj "/CN=seed root" -days 30 \
      -addext basicConstraints=critical,CA:TRUE -out root.pem
q req -new -key ec384.key -subj "/CN=seed intermediate" -out int.csr
printf 'basicConstraints=critical,CA:TRUE\n' > ca.ext
q x509 -req -in int.csr -CA root.pem -CAkey ec.key -CAcreateserial \
       -days 30 -extfile ca.ext -out int.pem

printf 'subjectAltName=DNS:a.example.com,DNS:*.example.com\n' > leaf.ext
for k in ec rsa; do
    q req -new -key $k.key -subj "/CN=a.example.com" -out $k.csr
    q x509 -req -in $k.csr -CA int.pem -CAkey ec384.key -CAcreateserial \
           -days 30 -extfile leaf.ext -out $k.pem
    { cat $k.pem int.pem; printf '\0'; cat $k.key; } | seed cert "$k-chain"
    { cat $k.pem; printf '\0'; q pkcs8 -topk8 -nocrypt -in $k.key; } \
        | seed cert "$k-pkcs8"
done

# CSRs: PEM, base64 DER on one line and in lines, names, CA:TRUE,
# a critical extension certmate does not know, challengePassword

q req -new -key ec.key -subj "/CN=fuzz.test" -out csr-cn.pem
q req -new -key ec.key -subj "/CN=x" \
      -addext "subjectAltName=DNS:a.example.com,DNS:b.example.com" \
      -addext "keyUsage=critical,digitalSignature" \
      -addext "extendedKeyUsage=serverAuth" -out csr-san.pem
q req -new -key rsa.key -subj "/CN=ca.example.com" \
      -addext "basicConstraints=critical,CA:TRUE" -out csr-ca.pem
q req -new -key ec.key -subj "/CN=c.example.com" \
      -addext "1.2.3.4=critical,DER:0500" -out csr-crit.pem
printf '[req]\ndistinguished_name=dn\nattributes=attr\n[dn]\n[attr]\n%s\n' \
       'challengePassword=c2VlZA==' > pop.cnf
q req -new -key ec.key -subj "/CN=a.example.com" -config pop.cnf \
      -out csr-pop.pem

for c in csr-*.pem; do
    seed csr "${c%.pem}" < "$c"
    q req -in "$c" -outform DER | base64 -w 0 | seed csr "${c%.pem}-b64"
    q req -in "$c" -outform DER | base64 -w 64 | seed csr "${c%.pem}-lines"
    q req -in "$c" -outform DER | seed csr "${c%.pem}-der"
done

# admin bodies: the first byte is the kind (import, issue, revoke)

chain=$(sed -z 's/\n/\\n/g' ec.pem)
key=$(sed -z 's/\n/\\n/g' ec.key)
printf '\0{"certificate":"%s","private_key":"%s"}' "$chain" "$key" \
    | seed admin import
printf '\1{"names":["a.example.com","*.b.example.com"],"profile":"web",' \
    | seed admin issue
printf '"key":"ec-p256","validity":"30d"}' >> "$out/corpus/admin/seed-issue"
printf '\1{"names":["x.example.com"],"validity":"2026-12-31T00:00:00Z"}' \
    | seed admin issue-time
printf '\2{"reason":"keyCompromise"}' | seed admin revoke
printf '\2{"reason":"01ab","extra":[1,{"a":null}]}' | seed admin revoke-odd

# what an ACME server (pebble) sends

printf '%s' '{"keyChange":"https://acme/rollover","meta":{"externalAccountRequired":true,"termsOfService":"data:text/plain,x"},"newAccount":"https://acme/sign-me-up","newNonce":"https://acme/nonce-plz","newOrder":"https://acme/order-plz","renewalInfo":"https://acme/renewal-info","revokeCert":"https://acme/revoke-cert"}' \
    | seed acme directory
printf '%s' '{"status":"pending","expires":"2026-12-04T10:00:00Z","identifiers":[{"type":"dns","value":"a.example.com"}],"finalize":"https://acme/finalize/1","authorizations":["https://acme/authz/1","https://acme/authz/2"]}' \
    | seed acme order
printf '%s' '{"status":"valid","finalize":"https://acme/finalize/1","authorizations":[],"certificate":"https://acme/cert/1"}' \
    | seed acme order-valid
printf '%s' '{"status":"invalid","error":{"type":"urn:ietf:params:acme:error:connection","detail":"refused"}}' \
    | seed acme order-invalid
printf '%s' '{"status":"pending","identifier":{"type":"dns","value":"a.example.com"},"challenges":[{"type":"dns-01","url":"https://acme/chal/1","token":"t1"},{"type":"http-01","url":"https://acme/chal/2","token":"LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0","status":"invalid","error":{"detail":"no"}}]}' \
    | seed acme authz
printf '%s' '{"type":"urn:ietf:params:acme:error:badNonce","detail":"JWS has an invalid anti-replay nonce","status":400}' \
    | seed acme problem
printf '%s' '{"suggestedWindow":{"start":"2026-12-01T00:00:00Z","end":"2026-12-02T00:00:00.123456Z"},"explanationURL":"https://acme/why"}' \
    | seed acme ari

# CRLs: empty, with entries and reasons, PEM and DER

mkdir -p ca/new
: > ca/index.txt
echo 01 > ca/crlnumber
cat > ca.cnf <<CNF
[ca]
default_ca = seed
[seed]
dir = ca
database = ca/index.txt
new_certs_dir = ca/new
crlnumber = ca/crlnumber
default_md = sha256
default_crl_days = 7
policy = any
[any]
commonName = supplied
CNF
q ca -config ca.cnf -gencrl -keyfile ec384.key -cert int.pem -out empty.pem
seed crl empty < empty.pem
q ca -config ca.cnf -revoke ec.pem -crl_reason keyCompromise \
     -keyfile ec384.key -cert int.pem
q ca -config ca.cnf -revoke rsa.pem -crl_reason superseded \
     -keyfile ec384.key -cert int.pem
q ca -config ca.cnf -gencrl -keyfile ec384.key -cert int.pem -out two.pem
seed crl two < two.pem
q crl -in two.pem -outform DER | seed crl two-der

# records of the store: the database, the key's length, the key, the record

printf '\1\20%s%s' 0123456789abcdef 0000000000000000 | seed store cert
printf '\3\11a.example%s' 00000000 | seed store acme
printf '\6\2ca%s' 0000000000000000 | seed store ca
printf '\14\10\0\0\0\0\0\0\0\1%s' 000000000000 | seed store audit

# OCSP requests for a CA of its own: POST bodies and GET paths

mkdir -p "$out/ocsp-ca"
cp root.pem "$out/ocsp-ca/ca.pem"
cp ec.key "$out/ocsp-ca/ca.key"

i=0
for args in "-serial 0x1234" "-serial 0x01 -serial 0x02 -no_nonce" \
            "-sha256 -cert int.pem" "-sha512 -serial 0x7f -no_nonce"; do
    # shellcheck disable=SC2086
    q ocsp -issuer root.pem $args -reqout req$i.der
    seed ocsp "post-$i" < req$i.der
    printf '/ocsp/%s' "$(base64 -w 0 < req$i.der | sed 's|/|%2F|g; s|+|%2B|g')" \
        | seed ocsp "get-$i"
    i=$((i + 1))
done

# a foreign CA's OCSP answers, its responder the intermediate of the CRLs
# (ec.pem and rsa.pem revoked): revoked, unknown, without certificates,
# of two certificates, by SHA-256

mkdir -p "$out/ocsp-answer-ca"
cp int.pem "$out/ocsp-answer-ca/issuer.pem"
cp ec.pem "$out/ocsp-answer-ca/cert.pem"

i=0
for args in "-cert ec.pem" "-serial 0x1234" "-cert ec.pem -no_nonce" \
            "-cert ec.pem -cert rsa.pem" "-sha256 -cert ec.pem"; do
    # shellcheck disable=SC2086
    q ocsp -issuer int.pem $args -reqout oreq$i.der
    extra=
    [ $i -eq 2 ] && extra=-resp_no_certs
    # shellcheck disable=SC2086
    q ocsp -index ca/index.txt -rsigner int.pem -rkey ec384.key -CA int.pem \
         -ndays 7 $extra -reqin oreq$i.der -respout oresp$i.der
    seed ocsp-answer "$i" < oresp$i.der
    i=$((i + 1))
done

printf '%s' "$stamp" > "$out/.seeds"
