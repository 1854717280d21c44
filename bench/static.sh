#!/usr/bin/env bash
# static.sh - static files: srv (bench/static.srv, built with cc -O2) against
# nginx (bench/nginx-static.conf: sendfile, tcp_nopush, open_file_cache)
# serving the same files from the same directory: a 13-byte file, a 16 KiB
# file and a 1 MiB file, keep-alive, wrk on loopback, runs interleaved;
# median req/s per file and the srv/nginx ratio.
#
#   bench/static.sh                   # ~3 min
#   FILES=1m ROUNDS=3 bench/static.sh
#
# One worker each: the server pinned to CPU 0, wrk to CPU 1.  Before the
# runs every file is fetched from both servers and compared with the file.
# Environment: ROUNDS (5), DUR seconds per run (5), CONNS (64), FILES
# ("13 16k 1m"), SRV_PORT (18183), NGINX_PORT (18184).
set -u
. "$(dirname "$0")/lib.sh"
ROUNDS=${ROUNDS:-5}; DUR=${DUR:-5}; CONNS=${CONNS:-64}; FILES=${FILES:-"13 16k 1m"}
SRV_PORT=${SRV_PORT:-18183}; NGINX_PORT=${NGINX_PORT:-18184}
need wrk curl nginx cc meson ninja taskset cmp

build_srvc
build_srv "$BENCH_DIR/static.srv" static
# nginx's workers run as an unprivileged user: the tree must be readable.
chmod 755 "$OUT"
mkdir -p "$OUT/www"
printf 'Hello, World!' >"$OUT/www/plaintext"
printf 'Hello, World!' >"$OUT/www/13.txt"
head -c 16384 /dev/urandom >"$OUT/www/16k.bin"
head -c 1048576 /dev/urandom >"$OUT/www/1m.bin"
declare -A FILE=([13]=13.txt [16k]=16k.bin [1m]=1m.bin)

cd "$OUT" || exit 1  # static.srv's "www" is relative to the working directory
start srv 0 "$OUT/static" --host 127.0.0.1 --port "$SRV_PORT" --workers 1
start nginx 0 nginx -p "$(nginx_static_conf "$NGINX_PORT" 1 "$OUT/www")/" -c nginx.conf \
    -g 'daemon off;'
ready "$SRV_PORT" && ready "$NGINX_PORT" || exit 1
for f in $FILES; do
    for p in "$SRV_PORT" "$NGINX_PORT"; do
        curl -s "http://127.0.0.1:$p/${FILE[$f]}" | cmp -s - "$OUT/www/${FILE[$f]}" ||
            { echo "bench: port $p does not serve ${FILE[$f]} correctly" >&2; exit 1; }
    done
done

echo "# srv: bench/static.srv, cc -O2; nginx $(nginx -v 2>&1 | sed 's/.*\///'); wrk -t1 -c$CONNS keep-alive, ${DUR}s x $ROUNDS rounds, interleaved; 1 worker each"
printf '%-8s %12s %12s %10s\n' file "srv req/s" "nginx req/s" "srv/nginx"
export WRK_CPUS=1
for f in $FILES; do
    export WRK_PATH=/${FILE[$f]}
    : >"$OUT/$f.srv.rps"; : >"$OUT/$f.nginx.rps"
    for r in $(seq 1 "$ROUNDS"); do
        # alternate who goes first, so drift in the machine hits both
        if [ $((r % 2)) -eq 1 ]; then order="srv nginx"; else order="nginx srv"; fi
        for s in $order; do
            if [ "$s" = srv ]; then p=$SRV_PORT; else p=$NGINX_PORT; fi
            wrk_rps "$p" "$CONNS" "$DUR" >>"$OUT/$f.$s.rps"
        done
    done
    a=$(median <"$OUT/$f.srv.rps"); b=$(median <"$OUT/$f.nginx.rps")
    printf '%-8s %12s %12s %10s\n' "${FILE[$f]}" "$a" "$b" \
        "$(awk -v a="$a" -v b="$b" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')"
done
echo "(every round: $OUT/FILE.srv.rps, $OUT/FILE.nginx.rps)"
stop srv; stop nginx
