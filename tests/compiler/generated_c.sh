#!/bin/sh
# generated_c.sh SRVC TESTDIR RUNTIMEDIR CC... - the generated C against the
# real compiler and runtime header:
#  1. sample.srv compiles with cc -fsyntax-only and every warning enabled;
#  2. its matcher, linked with match_harness.c instead of libsrv, answers
#     the routes listed in sample.expect (specificity, backtracking, HEAD,
#     ANY, 405 Allow sets, parameters), and big_node.srv's those in
#     big_node.expect (hash tables, shared functions, backtracking out of
#     them);
#  3. a C error inside an inline handler is reported by cc at the .srv line;
#  and the other golden cases with runtime tables (hooks, SSE, WS,
#  behind_lb's trust_proxy and metrics) compile with every warning.
set -u
srvc=$1 dir=$2 rt=$3
shift 3
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
flags="-std=c11 -Wall -Wextra -Wpedantic -Werror -I$rt"
status=0

"$srvc" "$dir/cases/sample.srv" -o "$tmp/sample.c" || exit 1
# shellcheck disable=SC2086
if "$@" $flags -fsyntax-only "$tmp/sample.c"; then
    echo "ok: sample.srv compiles cleanly against srv.h"
else
    echo "FAIL: generated C does not compile"; status=1
fi

# shellcheck disable=SC2086
if "$@" $flags "$tmp/sample.c" "$dir/match_harness.c" -o "$tmp/match" &&
    "$tmp/match" <"$dir/sample.expect" >"$tmp/match.out" 2>&1; then
    echo "ok: matcher answers every line of sample.expect"
else
    echo "FAIL: matcher"; cat "$tmp/match.out"; status=1
fi

"$srvc" "$dir/cases/big_node.srv" -o "$tmp/big_node.c" || exit 1
# shellcheck disable=SC2086
if "$@" $flags "$tmp/big_node.c" "$dir/match_harness.c" -o "$tmp/big" &&
    "$tmp/big" <"$dir/big_node.expect" >"$tmp/big.out" 2>&1; then
    echo "ok: big_node matcher answers every line of big_node.expect"
else
    echo "FAIL: big_node matcher"; cat "$tmp/big.out"; status=1
fi

"$srvc" "$dir/cases/hooks.srv" -o "$tmp/hooks.c" || exit 1
# shellcheck disable=SC2086
if "$@" $flags -fsyntax-only "$tmp/hooks.c"; then
    echo "ok: hooks.srv (groups, hooks, error blocks, mounts) compiles cleanly against srv.h"
else
    echo "FAIL: generated hook chains do not compile"; status=1
fi

"$srvc" "$dir/cases/sse_route.srv" -o "$tmp/sse_route.c" || exit 1
# shellcheck disable=SC2086
if "$@" $flags -fsyntax-only "$tmp/sse_route.c"; then
    echo "ok: sse_route.srv compiles cleanly against srv.h"
else
    echo "FAIL: generated SSE route does not compile"; status=1
fi

"$srvc" "$dir/cases/ws_route.srv" -o "$tmp/ws_route.c" || exit 1
# shellcheck disable=SC2086
if "$@" $flags -fsyntax-only "$tmp/ws_route.c"; then
    echo "ok: ws_route.srv compiles cleanly against srv.h"
else
    echo "FAIL: generated WS route does not compile"; status=1
fi

"$srvc" "$dir/cases/behind_lb.srv" -o "$tmp/behind_lb.c" || exit 1
# shellcheck disable=SC2086
if "$@" $flags -fsyntax-only "$tmp/behind_lb.c"; then
    echo "ok: behind_lb.srv (trust_proxy table, proxy_protocol, metrics route) compiles cleanly against srv.h"
else
    echo "FAIL: generated trust_proxy/metrics code does not compile"; status=1
fi

"$srvc" "$dir/cases/overlap.srv" -o "$tmp/overlap.c" || exit 1
# shellcheck disable=SC2086
if "$@" $flags -O2 -c "$tmp/overlap.c" -o "$tmp/overlap.o"; then
    echo "ok: overlap.srv builds with -O2 -Werror"
else
    echo "FAIL: overlap.srv does not build with -O2"; status=1
fi

"$srvc" "$dir/cases/cc_error.srv" -o "$tmp/cc_error.c" || exit 1
# shellcheck disable=SC2086
"$@" $flags -fsyntax-only "$tmp/cc_error.c" 2>"$tmp/cc.err"
if grep -q 'cc_error.srv:7:[0-9]*: error:.*undeclared_thing' "$tmp/cc.err"; then
    echo "ok: cc reports the handler's error at cc_error.srv:7"
else
    echo "FAIL: cc did not point into cc_error.srv:"; cat "$tmp/cc.err"; status=1
fi
exit $status
