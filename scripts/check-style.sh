#!/bin/sh
# House style checks that a machine can make: 80 columns, no tabs, no
# trailing blanks, a final newline, no // comments in C.

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1

status=0

for f in $(git ls-files '*.c' '*.h' config); do
    awk -v f="$f" '
        length($0) > 80  { print f ":" NR ": longer than 80 columns"; bad = 1 }
        /\t/             { print f ":" NR ": tab"; bad = 1 }
        /[ \t]$/         { print f ":" NR ": trailing blank"; bad = 1 }
        /^[^"]*\/\//     { print f ":" NR ": // comment"; bad = 1 }
        END              { exit bad }
    ' "$f" || status=1
done

for f in $(git ls-files '*.t' '*.pm' '*.sh' '*.md' '*.conf' .ci/run); do
    awk -v f="$f" '
        /[ \t]$/  { print f ":" NR ": trailing blank"; bad = 1 }
        END       { exit bad }
    ' "$f" || status=1
done

for f in $(git ls-files); do
    [ -s "$f" ] && [ "$(tail -c1 "$f" | od -An -c | tr -d ' ')" != '\n' ] && {
        echo "$f: no newline at the end"
        status=1
    }
done

exit $status
