#!/usr/bin/env bash
# sse.sh - Server-Sent Events fan-out and the memory of idle connections.
#
#   bench/sse.sh                    # ~1 min
#   COUNTS="1000" bench/sse.sh
#
# bench/sse.srv (one worker, pinned to CPU 0) holds COUNTS event streams
# open, all subscribed to one channel; bench/sse_fanout.c (pinned to CPU 1)
# publishes through POST /publish and prints, per count:
#   latency  one event at a time: publish sent -> the last stream has it
#            (p50, p99, max over EVENTS events);
#   rate     BURST events back to back: events delivered per second until
#            every stream has all of them.
# Then bench/idle_mem.py: RSS per idle keep-alive connection (after one
# GET /plaintext each) and per idle event stream, IDLE connections each.
# Environment: COUNTS ("1000 10000"), EVENTS (200), BURST (200), IDLE (10000),
# PORT (18195).
set -u
. "$(dirname "$0")/lib.sh"
COUNTS=${COUNTS:-"1000 10000"}; EVENTS=${EVENTS:-200}; BURST=${BURST:-200}
IDLE=${IDLE:-10000}; PORT=${PORT:-18195}
need cc meson ninja taskset curl python3
ulimit -n "$(ulimit -Hn)"

build_srvc
build_srv "$ROOT/bench/sse.srv" sse
build_srv "$ROOT/examples/hello.srv" hello
cc -O2 -Wall -Wextra "$ROOT/bench/sse_fanout.c" -o "$OUT/sse_fanout" || exit 1

echo "# bench/sse.srv (1 worker, CPU 0) <- bench/sse_fanout.c (CPU 1)"
for n in $COUNTS; do
    start sse 0 "$OUT/sse" --port "$PORT" --workers 1
    ready "$PORT" || exit 1
    taskset -c 1 "$OUT/sse_fanout" "$PORT" "$n" "$EVENTS" "$BURST" || { stop sse; exit 1; }
    stop sse
done
echo "# idle connections (bench/idle_mem.py)"
python3 "$BENCH_DIR/idle_mem.py" "$OUT/hello --port $PORT --workers 1" "$PORT" "$IDLE" /plaintext
python3 "$BENCH_DIR/idle_mem.py" "$OUT/sse --port $PORT --workers 1" "$PORT" "$IDLE" /events
