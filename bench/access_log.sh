#!/usr/bin/env bash
# access_log.sh - what the access log costs: examples/hello.srv as it is
# against the same file with `log "FILE" combined;` and with `log json;` to
# a file, one worker each, wrk on loopback, runs interleaved.
#
#   bench/access_log.sh                   # ~2 min
#   SCENARIOS=pipe ROUNDS=5 bench/access_log.sh
#
# Scenarios: ka = keep-alive, 64 connections; pipe = 16 requests pipelined
# per write (where the server, not wrk, is the bottleneck, so the cost
# shows most).  Every server is pinned to CPU 0 and wrk to CPU 1.  The log
# files go to a temporary directory (on /tmp) and are removed at the end;
# their size is printed so you can see every request was written.
# Environment: ROUNDS (3), DUR seconds per run (5), CONNS (64), DEPTH (16),
# PORT (18190, 18191, 18192).
set -u
. "$(dirname "$0")/lib.sh"
ROUNDS=${ROUNDS:-3}; DUR=${DUR:-5}; CONNS=${CONNS:-64}; DEPTH=${DEPTH:-16}
SCENARIOS=${SCENARIOS:-"ka pipe"}; PORT=${PORT:-18190}
need wrk curl cc meson ninja taskset

build_srvc
LOGDIR=$(mktemp -d "${LOG_TMPDIR:-/tmp}/srv-log-bench.XXXXXX")
sed 's|workers 1;|workers 1;\n    log "'"$LOGDIR"'/combined.log" combined;|' "$ROOT/examples/hello.srv" >"$OUT/combined.srv"
sed 's|workers 1;|workers 1;\n    log "'"$LOGDIR"'/json.log" json;|' "$ROOT/examples/hello.srv" >"$OUT/json.srv"
build_srv "$ROOT/examples/hello.srv" hello
build_srv "$OUT/combined.srv" combined
build_srv "$OUT/json.srv" json
echo "# examples/hello.srv without a log, with log combined and log json (files in $LOGDIR)"
echo "# wrk -t1 -c$CONNS, ${DUR}s x $ROUNDS rounds, interleaved; server on CPU 0, wrk on CPU 1"
export WRK_CPUS=1
NAMES="hello combined json"
i=0
for n in $NAMES; do
    start "$n" 0 "$OUT/$n" --host 127.0.0.1 --port $((PORT + i)) --workers 1
    i=$((i + 1))
done
i=0
for n in $NAMES; do ready $((PORT + i)) || exit 1; i=$((i + 1)); done
printf '%-6s %12s %12s %12s %9s %9s\n' scenario "no log" combined json "comb/none" "json/none"
for sc in $SCENARIOS; do
    d=1; [ "$sc" = pipe ] && d=$DEPTH
    for n in $NAMES; do : >"$OUT/$n.rps"; done
    for r in $(seq 1 "$ROUNDS"); do
        order=$NAMES; [ $((r % 2)) -eq 0 ] && order="json combined hello"
        for n in $order; do
            i=0; for m in $NAMES; do [ "$m" = "$n" ] && break; i=$((i + 1)); done
            wrk_rps $((PORT + i)) "$CONNS" "$DUR" "$d" >>"$OUT/$n.rps"
        done
    done
    a=$(median <"$OUT/hello.rps"); b=$(median <"$OUT/combined.rps"); c=$(median <"$OUT/json.rps")
    printf '%-6s %12s %12s %12s %9s %9s\n' "$sc" "$a" "$b" "$c" \
        "$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f", b / a }')" \
        "$(awk -v a="$a" -v c="$c" 'BEGIN { printf "%.3f", c / a }')"
done
for n in $NAMES; do stop "$n"; done
for f in combined json; do
    printf '# %s.log: %s lines, %s bytes\n' "$f" "$(wc -l <"$LOGDIR/$f.log")" "$(wc -c <"$LOGDIR/$f.log")"
done
rm -rf "$LOGDIR"
