#!/usr/bin/env bash
# plaintext.sh - examples/hello.srv (built with cc -O2) against nginx answering
# the same 13-byte body, with wrk on loopback, runs interleaved.
#
#   bench/plaintext.sh                    # everything below, ~3 min
#   WORKERS=1 SCENARIOS=ka bench/plaintext.sh
#
# Scenarios: ka = keep-alive, 64 connections; pipe = the same with 16
# requests pipelined per write.  WORKERS="1 2": srv with --workers N, nginx
# with worker_processes N.  With 1 worker each server is pinned to CPU 0 and
# wrk to CPU 1; with more workers nothing is pinned (on a 2-core machine the
# servers then share the CPUs with wrk: compare ratios, not absolute figures).
# For N > 1 it also shows how the kernel spread the connections over srv's
# workers (SO_REUSEPORT), read from `ss` in the middle of a run.
# Environment: ROUNDS (3), DUR seconds per run (5), CONNS (64), DEPTH (16),
# SRV_PORT (18180), NGINX_PORT (18181).
set -u
. "$(dirname "$0")/lib.sh"
ROUNDS=${ROUNDS:-3}; DUR=${DUR:-5}; CONNS=${CONNS:-64}; DEPTH=${DEPTH:-16}
WORKERS=${WORKERS:-"1 2"}; SCENARIOS=${SCENARIOS:-"ka pipe"}
SRV_PORT=${SRV_PORT:-18180}; NGINX_PORT=${NGINX_PORT:-18181}
need wrk curl nginx cc meson ninja taskset ss

build_srvc
build_srv "$ROOT/examples/hello.srv" hello
echo "# srv: examples/hello.srv, cc -O2; nginx $(nginx -v 2>&1 | sed 's/.*\///'); wrk -t1 -c$CONNS, ${DUR}s x $ROUNDS rounds, interleaved"
printf '%-6s %-8s %12s %12s %8s\n' scenario workers "srv req/s" "nginx req/s" "srv/nginx"

for w in $WORKERS; do
    if [ "$w" -le 1 ]; then SCPU=0; WRK_CPUS=1; else SCPU=-; WRK_CPUS=-; fi
    export WRK_CPUS
    start srv "$SCPU" "$OUT/hello" --host 127.0.0.1 --port "$SRV_PORT" --workers "$w"
    start nginx "$SCPU" nginx -p "$(nginx_conf "$NGINX_PORT" "$w")/" -c nginx.conf -g 'daemon off;'
    ready "$SRV_PORT" && ready "$NGINX_PORT" || exit 1
    for sc in $SCENARIOS; do
        d=1; [ "$sc" = pipe ] && d=$DEPTH
        : >"$OUT/srv.rps"; : >"$OUT/nginx.rps"
        for r in $(seq 1 "$ROUNDS"); do
            # alternate who goes first, so drift in the machine hits both
            if [ $((r % 2)) -eq 1 ]; then order="srv nginx"; else order="nginx srv"; fi
            for s in $order; do
                if [ "$s" = srv ]; then p=$SRV_PORT; else p=$NGINX_PORT; fi
                wrk_rps "$p" "$CONNS" "$DUR" "$d" >>"$OUT/$s.rps"
            done
        done
        a=$(median <"$OUT/srv.rps"); b=$(median <"$OUT/nginx.rps")
        printf '%-6s %-8s %12s %12s %8s\n' "$sc" "$w" "$a" "$b" \
            "$(awk -v a="$a" -v b="$b" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')"
    done
    if [ "$w" -gt 1 ]; then
        # connections per worker process while wrk holds $CONNS of them open
        wrk_rps "$SRV_PORT" "$CONNS" 4 >/dev/null &
        wpid=$!
        sleep 2
        ss -tnpH state established "( sport = :$SRV_PORT )" 2>/dev/null |
            grep -o 'pid=[0-9]*' | sort | uniq -c |
            awk -v n="$CONNS" '{ sub("pid=", "", $2); printf "   spread: worker pid %s holds %d of %d connections\n", $2, $1, n }'
        wait "$wpid"
    fi
    stop srv; stop nginx
done
