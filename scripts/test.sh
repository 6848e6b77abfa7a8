#!/bin/sh
# Builds certmate and runs every test with prove; extra arguments go to
# prove (for example: scripts/test.sh t/sni.t).

set -eu

top=$(cd "$(dirname "$0")/.." && pwd)

"$top/scripts/deps.sh" test
"$top/scripts/build.sh"

cd "$top"

if [ $# -eq 0 ]; then
    set -- t/
fi

exec prove --timer "$@"
