#!/bin/sh
# Builds certmate, runs each fuzz target for a few seconds (FUZZ_SECONDS,
# 10) from its seeds, runs every test with prove, then every test again
# with the module built with AddressSanitizer and UBSan, their runtimes
# preloaded into nginx (a sanitizer report fails the test).  Two test
# files run at a time: most of a test's time is spent waiting on nginx,
# its helper or a client, and every file has its own ports.  Extra
# arguments go to prove and run the plain pass only (for example:
# scripts/test.sh t/sni.t).

set -eu

top=$(cd "$(dirname "$0")/.." && pwd)

"$top/scripts/deps.sh" test
"$top/scripts/build.sh"

cd "$top"

if [ $# -gt 0 ]; then
    exec prove --timer "$@"
fi

status=0

echo "certmate: each fuzz target for ${FUZZ_SECONDS:-10} s"
"$top/scripts/fuzz.sh" all "${FUZZ_SECONDS:-10}" || status=1

prove -j2 --timer t/ || status=1

echo "certmate: the suite again under AddressSanitizer and UBSan"

CERTMATE_BUILD=$top/build/asan \
CERTMATE_CC_OPT='-fsanitize=address,undefined -fno-omit-frame-pointer' \
    "$top/scripts/build.sh"

asan=$(readlink -f "$(gcc -print-file-name=libasan.so)")
ubsan=$(readlink -f "$(gcc -print-file-name=libubsan.so)")

CERTMATE_MODULE=$top/build/asan/ngx_certmate_module.so \
CERTMATE_SANITIZE="$asan $ubsan" \
    prove -j2 --timer t/ || status=1

exit $status
