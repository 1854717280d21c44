#!/usr/bin/env bash
# routes.sh - dispatch cost does not grow with the number of routes.
#
# Generates a .srv with ROUTES (10,000) routes, times srvc on it and cc -O2 on
# its output, then measures with wrk (keep-alive, interleaved rounds) the
# first route declared against the last one.  Equal figures mean the route
# table is a decision tree, not a list scanned per request.
# Environment: ROUTES (10000), ROUNDS (3), DUR (5), CONNS (64), PORT (18182).
set -u
. "$(dirname "$0")/lib.sh"
ROUTES=${ROUTES:-10000}; ROUNDS=${ROUNDS:-3}; DUR=${DUR:-5}; CONNS=${CONNS:-64}
PORT=${PORT:-18182}
need wrk curl cc meson ninja taskset python3

build_srvc
python3 "$BENCH_DIR/gen_routes.py" "$ROUTES" >"$OUT/routes.srv"
first=$(sed -n 's|^// first: ||p' "$OUT/routes.srv"); last=$(sed -n 's|^// last: ||p' "$OUT/routes.srv")

t0=$(date +%s.%N)
"$ROOT/build-bench/compiler/srvc" "$OUT/routes.srv" -o "$OUT/routes.c" || exit 1
t1=$(date +%s.%N)
cc -O2 "$OUT/routes.c" -I "$ROOT/runtime" "$ROOT/build-bench/runtime/libsrv.a" \
    $(pkg-config --libs jansson nettle hiredis zlib) -o "$OUT/routes" || exit 1
t2=$(date +%s.%N)
printf '# %d routes: srvc %.3f s, cc -O2 %.1f s, %s lines of C\n' "$ROUTES" \
    "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" \
    "$(awk -v a="$t1" -v b="$t2" 'BEGIN { print b - a }')" "$(wc -l <"$OUT/routes.c")"

start routes 0 "$OUT/routes" --port "$PORT" --workers 1
ready "$PORT" || exit 1
for path in "$first" "$last"; do
    body=$(curl -s "http://127.0.0.1:$PORT$path")
    echo "# GET $path -> $body"
done
WRK_CPUS=1
: >"$OUT/first.rps"; : >"$OUT/last.rps"
for r in $(seq 1 "$ROUNDS"); do
    for which in first last; do
        path=$first; [ "$which" = last ] && path=$last
        taskset -c 1 wrk -t1 -c"$CONNS" -d"${DUR}s" "http://127.0.0.1:$PORT$path" >"$OUT/wrk.last" 2>&1
        awk '/^Requests\/sec:/ {print int($2)}' "$OUT/wrk.last" >>"$OUT/$which.rps"
    done
done
a=$(median <"$OUT/first.rps"); b=$(median <"$OUT/last.rps")
printf '%-6s %-28s %12s\n' route path "req/s"
printf '%-6s %-28s %12s\n' first "$first" "$a" last "$last" "$b"
awk -v a="$a" -v b="$b" 'BEGIN { printf "last/first: %.2f\n", b / a }'
