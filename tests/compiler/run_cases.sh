#!/bin/sh
# run_cases.sh SRVC CASES_DIR - the compiler corpus.  For every NAME.srv:
# with NAME.err, srvc must exit 1, print exactly NAME.err on stderr and
# write nothing; with NAME.c, srvc must exit 0 and print exactly NAME.c
# (compiled to stdout, so #line names "<stdout>").  Run from CASES_DIR so
# file names in diagnostics are just NAME.srv.
set -u
srvc=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
cd "$2" || exit 1
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
for srv in *.srv; do
    name=${srv%.srv}
    if [ -f "$name.err" ]; then
        "$srvc" "$srv" -o "$tmp/$name.c" >"$tmp/out" 2>"$tmp/err"; rc=$?
        if [ $rc -ne 1 ] || ! cmp -s "$tmp/err" "$name.err" || [ -e "$tmp/$name.c" ]; then
            echo "FAIL $name (exit $rc)"; diff -u "$name.err" "$tmp/err"; fail=$((fail + 1))
        else
            pass=$((pass + 1))
        fi
    elif [ -f "$name.c" ]; then
        "$srvc" "$srv" >"$tmp/out" 2>"$tmp/err"; rc=$?
        if [ $rc -ne 0 ] || ! cmp -s "$tmp/out" "$name.c" || [ -s "$tmp/err" ]; then
            echo "FAIL $name (exit $rc)"; cat "$tmp/err"; diff -u "$name.c" "$tmp/out" | head -40
            fail=$((fail + 1))
        else
            pass=$((pass + 1))
        fi
    else
        echo "FAIL $name: no $name.err or $name.c"; fail=$((fail + 1))
    fi
done
echo "$pass passed, $fail failed"
[ $fail -eq 0 ] && [ $pass -gt 0 ]
