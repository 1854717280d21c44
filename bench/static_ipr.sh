#!/usr/bin/env bash
# static_ipr.sh - user-space instructions (and syscalls) per request for a
# static file: srv (bench/static.srv) against nginx (bench/nginx-static.conf)
# serving the same file.
#
#   bench/static_ipr.sh                    # the 13-byte file, ~1 min
#   FILE=16k bench/static_ipr.sh           # 13, 16k or 1m
#   TOOLS="callgrind strace" bench/static_ipr.sh
#
# Why this method: a VM often exposes no hardware counters, so instructions
# are counted by valgrind --tool=callgrind (Ir: user-space instructions
# executed; the kernel's work inside syscalls is NOT included) and syscalls
# by strace -f -c.  Differential, so start-up, the readiness probe and
# shutdown cancel out:
#   for N in N1 N2: start the server (one process, pinned to CPU 0) under the
#   tool, wait for GET /plaintext, run bench/fixload (exactly N keep-alive
#   GETs of the file over CONNS connections, pinned to CPU 1), then SIGTERM
#   the server so the tool writes its totals;
#   per request = (total(N2) - total(N1)) / (N2 - N1).
# nginx runs with master_process off, so its one process does the work.
# Environment: FILE (13), N1 (2000), N2 (22000), CONNS (16), TOOLS
# (callgrind), SRV_PORT (18185), NGINX_PORT (18186).
set -u
. "$(dirname "$0")/lib.sh"
FILE=${FILE:-13}; N1=${N1:-2000}; N2=${N2:-22000}; CONNS=${CONNS:-16}
TOOLS=${TOOLS:-callgrind}
SRV_PORT=${SRV_PORT:-18185}; NGINX_PORT=${NGINX_PORT:-18186}
need curl nginx cc meson ninja taskset valgrind
case " $TOOLS " in *" strace "*) need strace ;; esac

build_srvc
build_srv "$BENCH_DIR/static.srv" static
cc -O2 -o "$OUT/fixload" "$BENCH_DIR/fixload.c" || exit 1
# nginx's workers run as an unprivileged user: the tree must be readable.
chmod 755 "$OUT"
mkdir -p "$OUT/www"
printf 'Hello, World!' >"$OUT/www/plaintext"
printf 'Hello, World!' >"$OUT/www/13.txt"
head -c 16384 /dev/urandom >"$OUT/www/16k.bin"
head -c 1048576 /dev/urandom >"$OUT/www/1m.bin"
case $FILE in 13) path=/13.txt ;; 16k) path=/16k.bin ;; 1m) path=/1m.bin ;;
    *) echo "FILE is 13, 16k or 1m" >&2; exit 2 ;; esac
cd "$OUT" || exit 1
STOP_WAIT=600 # valgrind writes its totals at exit

# one_run SERVER TOOL N: sets TOTAL to the tool's total for N requests.  Runs
# in the main shell (not in $(...)), so the EXIT trap knows the server.
one_run() {
    local s=$1 tool=$2 n=$3 port tag="$1.$2.$3"
    local -a wrap cmd
    case $tool in
        callgrind) mkdir -p "$OUT/cg.$tag"
                   wrap=(valgrind --tool=callgrind "--callgrind-out-file=$OUT/cg.$tag/out.%p") ;;
        strace) wrap=(strace -f -c -o "$OUT/st.$tag.txt") ;;
    esac
    if [ "$s" = srv ]; then
        port=$SRV_PORT; cmd=("$OUT/static" --host 127.0.0.1 --port "$port" --workers 1)
    else
        port=$NGINX_PORT
        cmd=(nginx -p "$(nginx_static_conf "$port" 1 "$OUT/www" 'master_process off;')/"
             -c nginx.conf -g 'daemon off;')
    fi
    start "$s" 0 "${wrap[@]}" "${cmd[@]}"
    local i
    for i in $(seq 1 300); do
        [ "$(curl -s -m 2 "http://127.0.0.1:$port/plaintext")" = "Hello, World!" ] && break
        [ "$i" = 300 ] && { echo "bench: $s did not start (log: $OUT/$s.log)" >&2; stop "$s"; exit 1; }
        sleep 0.1
    done
    taskset -c 1 "$OUT/fixload" "$port" "$n" "$CONNS" 1 "$path" >"$OUT/load.$tag" 2>&1 ||
        { echo "bench: fixload failed: $(cat "$OUT/load.$tag")" >&2; stop "$s"; exit 1; }
    stop "$s"
    case $tool in
        callgrind) TOTAL=$(cat "$OUT/cg.$tag"/out.* | awk '/^totals:/ {t += $2} END {print t}') ;;
        strace) TOTAL=$(awk '$NF == "total" {print $4}' "$OUT/st.$tag.txt") ;;
    esac
}

echo "# GET $path ($(stat -c %s "$OUT/www${path}") bytes), keep-alive, $CONNS connections, N=$N1..$N2, one process each"
printf '%-10s %-10s %14s\n' server tool "per request"
for tool in $TOOLS; do
    for s in srv nginx; do
        one_run "$s" "$tool" "$N1"; a=$TOTAL
        one_run "$s" "$tool" "$N2"; b=$TOTAL
        # A run whose server did not exit cleanly has a short total.
        [ -n "$a" ] && [ -n "$b" ] && [ "$b" -gt "$a" ] ||
            { echo "bench: $s $tool: totals $a and $b make no sense; details in $OUT" >&2; exit 1; }
        per=$(awk -v a="$a" -v b="$b" -v n1="$N1" -v n2="$N2" 'BEGIN { printf "%.1f", (b - a) / (n2 - n1) }')
        printf '%-10s %-10s %14s\n' "$s" "$tool" "$per"
        echo "$per" >"$OUT/$s.$tool.per"
    done
    awk -v a="$(cat "$OUT/srv.$tool.per")" -v b="$(cat "$OUT/nginx.$tool.per")" -v t="$tool" \
        'BEGIN { printf "srv/nginx  %-10s %14.2f\n", t, a / b }'
done
echo "(callgrind: user-space instructions only; strace: syscalls; both (N2-N1) differential)"
