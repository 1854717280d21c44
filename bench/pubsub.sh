#!/bin/sh
# pubsub.sh - the cross-worker pubsub bus: one-way latency (p50/p99, half a
# ping-pong round trip) and messages per second for 1 KiB messages between
# two workers.  Two programs, each run RUNS times:
#   bench/pubsub_transport.c  the three transports that were measured to
#                             choose the bus (relay: SOCK_SEQPACKET through a
#                             master process; dgram: SOCK_DGRAM written
#                             directly; shm: shared-memory rings + eventfd);
#   bench/pubsub_bus.c        the bus libsrv ships (runtime/bus.c), through
#                             srv_publish/srv_subscribe on two event loops.
# Command: bench/pubsub.sh   (MESSAGES=200000 RUNS=3; about 20 s).  Builds
# libsrv in build-bench/ (release) when it is not there.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
MESSAGES=${MESSAGES:-200000}
RUNS=${RUNS:-3}
out=$(mktemp -d /tmp/srv-pubsub-bench.XXXXXX)
trap 'rm -rf "$out"' EXIT

if [ ! -f "$root/build-bench/build.ninja" ]; then
    meson setup "$root/build-bench" "$root" --buildtype=release -Dtests=false >/dev/null
fi
ninja -C "$root/build-bench" runtime/libsrv_internal.a >/dev/null

cc -O2 -std=c11 -Wall -Wextra -Werror "$root/bench/pubsub_transport.c" -o "$out/transport"
cc -O2 -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -I"$root/runtime" \
    "$root/bench/pubsub_bus.c" "$root/build-bench/runtime/libsrv_internal.a" \
    $(pkg-config --libs jansson nettle hiredis zlib) -o "$out/bus"

echo "1 KiB messages, 2 workers, $MESSAGES messages per throughput run, $RUNS runs"
i=0
while [ "$i" -lt "$RUNS" ]; do
    for mode in relay dgram shm; do
        "$out/transport" "$mode" "$MESSAGES"
    done
    "$out/bus" "$MESSAGES"
    i=$((i + 1))
done
