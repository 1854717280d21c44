#!/bin/sh
# lint_man.sh PAGE... - the manual pages must be lint-clean: every message of
# `mandoc -T lint` (style included) and every warning of `groff -ww` is a
# failure.  The one exception: mandoc's "referenced manual not found" (and
# its note about an outdated mandoc.db), which says whether the machine has
# a page installed - srv's own pages are not installed when this runs, and
# cc(1) may not be - not whether the page is right.  One case per page.
set -u
command -v mandoc >/dev/null || { echo "mandoc is missing (scripts/setup installs it)"; echo "0 passed, 1 failed"; exit 1; }
command -v groff >/dev/null || { echo "groff is missing (scripts/setup installs it)"; echo "0 passed, 1 failed"; exit 1; }
pass=0 fail=0
for page in "$@"; do
    out=$(mandoc -T lint "$page" 2>&1 |
          grep -v -e 'STYLE: referenced manual not found' -e 'outdated mandoc.db')
    groff_out=$(groff -ww -z -mdoc "$page" 2>&1)
    if [ -n "$out$groff_out" ]; then
        echo "FAIL $page"
        [ -n "$out" ] && printf '%s\n' "$out"
        [ -n "$groff_out" ] && printf '%s\n' "$groff_out"
        fail=$((fail + 1))
    else
        echo "ok $(basename "$page")"
        pass=$((pass + 1))
    fi
done
echo "$pass passed, $fail failed"
[ $fail -eq 0 ] && [ $pass -gt 0 ]
