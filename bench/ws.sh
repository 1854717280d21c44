#!/usr/bin/env bash
# ws.sh - WebSocket echo: bench/ws_echo.srv (built with cc -O2) against the
# node `ws` package (bench/ws_node/echo.js), with bench/ws_load.c, runs
# interleaved; then the memory of idle WebSockets.
#
#   bench/ws.sh                                  # everything below, ~6 min
#   WORKERS=1 SCENARIOS="16:16" ROUNDS=1 bench/ws.sh
#
# Scenarios SIZE:WINDOW: CONNS WebSockets, each keeping WINDOW binary
# messages of SIZE bytes in flight (an echo received -> the next message
# sent); echoes counted for DUR seconds after a 1 s warm-up.  WORKERS="1 2":
# srv with --workers N against node in one process (1) or a cluster of N
# workers (N > 1).  With 1 worker each server is pinned to CPU 0 and
# ws_load to CPU 1; with more nothing is pinned (on a 2-core machine the
# servers then share the CPUs with ws_load: compare ratios, not absolute
# figures).  Prints, per scenario, the median messages/s, the srv/node
# ratio of messages/s, MB/s (echoed payload, one way) and the CPU time each
# server used per message (every process of it, user + system, read by
# ws_load from /proc): when ws_load is the bottleneck, that column still
# compares the servers.
# Then bench/ws_idle_mem.py: RSS per idle WebSocket (after the handshake
# and one echo each), IDLE of them, srv with 1 worker against node in one
# process.
# Environment: ROUNDS (3), DUR seconds per run (5), CONNS (100), SCENARIOS
# ("16:1 16:16 16384:1 16384:16"), WORKERS ("1 2"), IDLE (10000, 0 skips),
# SRV_PORT (18190), NODE_PORT (18191).
set -u
. "$(dirname "$0")/lib.sh"
ROUNDS=${ROUNDS:-3}; DUR=${DUR:-5}; CONNS=${CONNS:-100}
SCENARIOS=${SCENARIOS:-"16:1 16:16 16384:1 16384:16"}; WORKERS=${WORKERS:-"1 2"}
IDLE=${IDLE:-10000}; SRV_PORT=${SRV_PORT:-18190}; NODE_PORT=${NODE_PORT:-18191}
need cc meson ninja taskset curl node npm python3
ulimit -n "$(ulimit -Hn)"

build_srvc
build_srv "$BENCH_DIR/ws_echo.srv" ws_echo
cc -O2 -std=c11 -Wall -Wextra "$BENCH_DIR/ws_load.c" -o "$OUT/ws_load" || exit 1
# node_modules as package-lock.json says (npm ci: from the registry or npm's cache)
NODE_DIR=$BENCH_DIR/ws_node
if ! cmp -s <(sed -n '/"node_modules\/ws"/,/}/p' "$NODE_DIR/package-lock.json") \
             <(sed -n '/"node_modules\/ws"/,/}/p' "$NODE_DIR/node_modules/.package-lock.json" 2>/dev/null); then
    (cd "$NODE_DIR" && npm ci --no-audit --no-fund >"$OUT/npm.log" 2>&1) || { cat "$OUT/npm.log"; exit 1; }
fi
WS_VERSION=$(node -p "require('$NODE_DIR/node_modules/ws/package.json').version")

# run NAME PORT SIZE WINDOW: one ws_load run; appends messages/s, MB/s and
# the server's CPU time per message (µs) to $OUT/NAME.{msgs,mbs,us}
run() {
    local out pids
    pids=$(pgrep -g "${BENCH_PGID[$1]}" | tr '\n' ' ')
    if [ "$LOAD_CPUS" = - ]; then
        out=$(SERVER_PIDS=$pids "$OUT/ws_load" "$2" "$CONNS" "$4" "$3" "$DUR" 1) || exit 1
    else
        out=$(SERVER_PIDS=$pids taskset -c "$LOAD_CPUS" "$OUT/ws_load" "$2" "$CONNS" "$4" "$3" "$DUR" 1) || exit 1
    fi
    echo "$1 $out" >>"$OUT/ws_load.log"
    field() { awk -v u="$1" '{ for (i = 1; i < NF; i++) if ($(i + 1) ~ u) print $i }' <<<"$out"; }
    field '^messages/s' >>"$OUT/$1.msgs"
    field '^MB/s' >>"$OUT/$1.mbs"
    field '^us/message' >>"$OUT/$1.us"
}

echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine makes the figures noisy)"
echo "# srv: bench/ws_echo.srv, cc -O2; node $(node --version), ws $WS_VERSION (no bufferutil);" \
     "ws_load: $CONNS WebSockets, binary messages, ${DUR}s x $ROUNDS rounds, interleaved"
FMT='%-7s %-6s %-6s %11s %11s %8s %9s %9s %10s %10s\n'
printf "$FMT" workers size window "srv msg/s" "node msg/s" srv/node "srv MB/s" "node MB/s" \
    "srv us/msg" "node us/msg"
for w in $WORKERS; do
    if [ "$w" -le 1 ]; then SCPU=0; LOAD_CPUS=1; else SCPU=-; LOAD_CPUS=-; fi
    start srv "$SCPU" "$OUT/ws_echo" --host 127.0.0.1 --port "$SRV_PORT" --workers "$w"
    start node "$SCPU" node "$NODE_DIR/echo.js" "$NODE_PORT" "$w"
    ready "$SRV_PORT" && ready "$NODE_PORT" || exit 1
    for sc in $SCENARIOS; do
        size=${sc%:*} win=${sc#*:}
        rm -f "$OUT"/srv.{msgs,mbs,us} "$OUT"/node.{msgs,mbs,us}
        for r in $(seq 1 "$ROUNDS"); do
            # alternate who goes first, so drift in the machine hits both
            if [ $((r % 2)) -eq 1 ]; then order="srv node"; else order="node srv"; fi
            for s in $order; do
                if [ "$s" = srv ]; then p=$SRV_PORT; else p=$NODE_PORT; fi
                run "$s" "$p" "$size" "$win"
            done
        done
        a=$(median <"$OUT/srv.msgs"); b=$(median <"$OUT/node.msgs")
        printf "$FMT" "$w" "$size" "$win" "$a" "$b" \
            "$(awk -v a="$a" -v b="$b" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')" \
            "$(median <"$OUT/srv.mbs")" "$(median <"$OUT/node.mbs")" \
            "$(median <"$OUT/srv.us")" "$(median <"$OUT/node.us")"
    done
    stop srv; stop node
done

if [ "$IDLE" -gt 0 ]; then
    echo "# idle WebSockets (bench/ws_idle_mem.py), $IDLE each: srv 1 worker, node 1 process"
    line=$(python3 "$BENCH_DIR/ws_idle_mem.py" "$OUT/ws_echo --port $SRV_PORT --workers 1 2>$OUT/idle-srv.log" \
        "$SRV_PORT" "$IDLE") || exit 1
    echo "srv:  ${line#ws_idle_mem: }"
    line=$(python3 "$BENCH_DIR/ws_idle_mem.py" "node $NODE_DIR/echo.js $NODE_PORT 1 2>$OUT/idle-node.log" \
        "$NODE_PORT" "$IDLE") || exit 1
    echo "node: ${line#ws_idle_mem: }"
fi
