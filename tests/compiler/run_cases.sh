#!/bin/sh
# run_cases.sh SRVC CASES_DIR - the compiler corpus.  For every NAME.srv:
# with NAME.err, srvc must exit 1, print exactly NAME.err on stderr and
# write nothing, and `srvc --check` must print the same and exit 1; with
# NAME.c, srvc must exit 0 and print exactly NAME.c (compiled to stdout, so
# #line names "<stdout>"), and `srvc --check` must print nothing and exit
# 0.  With NAME.routes too, `srvc --routes` must print exactly that.  Run
# from CASES_DIR so file names in diagnostics are just NAME.srv.
set -u
srvc=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
cd "$2" || exit 1
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
for srv in *.srv; do
    name=${srv%.srv}
    ok=1
    if [ -f "$name.err" ]; then
        "$srvc" "$srv" -o "$tmp/$name.c" >"$tmp/out" 2>"$tmp/err"; rc=$?
        if [ $rc -ne 1 ] || ! cmp -s "$tmp/err" "$name.err" || [ -e "$tmp/$name.c" ]; then
            echo "FAIL $name (exit $rc)"; diff -u "$name.err" "$tmp/err"; ok=0
        fi
        "$srvc" --check "$srv" >"$tmp/out" 2>"$tmp/err"; rc=$?
        if [ $rc -ne 1 ] || ! cmp -s "$tmp/err" "$name.err" || [ -s "$tmp/out" ]; then
            echo "FAIL $name: --check (exit $rc)"; diff -u "$name.err" "$tmp/err"; ok=0
        fi
    elif [ -f "$name.c" ]; then
        "$srvc" "$srv" >"$tmp/out" 2>"$tmp/err"; rc=$?
        if [ $rc -ne 0 ] || ! cmp -s "$tmp/out" "$name.c" || [ -s "$tmp/err" ]; then
            echo "FAIL $name (exit $rc)"; cat "$tmp/err"; diff -u "$name.c" "$tmp/out" | head -40
            ok=0
        fi
        "$srvc" --check "$srv" >"$tmp/out" 2>"$tmp/err"; rc=$?
        if [ $rc -ne 0 ] || [ -s "$tmp/out" ] || [ -s "$tmp/err" ]; then
            echo "FAIL $name: --check (exit $rc)"; cat "$tmp/err"; ok=0
        fi
    else
        echo "FAIL $name: no $name.err or $name.c"; ok=0
    fi
    if [ -f "$name.routes" ]; then
        "$srvc" --routes "$srv" >"$tmp/out" 2>"$tmp/err"; rc=$?
        if [ $rc -ne 0 ] || ! cmp -s "$tmp/out" "$name.routes" || [ -s "$tmp/err" ]; then
            echo "FAIL $name: --routes (exit $rc)"; cat "$tmp/err"; diff -u "$name.routes" "$tmp/out"
            ok=0
        fi
    fi
    if [ $ok -eq 1 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
done
echo "$pass passed, $fail failed"
[ $fail -eq 0 ] && [ $pass -gt 0 ]
