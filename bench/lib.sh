# lib.sh - helpers for srv's benchmarks (sourced by the scripts beside it).
#
# Every server runs in its own process group, started with setsid, and is
# stopped by that group's id; only 127.0.0.1 is contacted; every wrk run is
# bounded by its duration.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
OUT=${OUT:-$(mktemp -d /tmp/srv-bench.XXXXXX)}
declare -A BENCH_PGID=()

need() { # need CMD...: fail early, naming the package that provides a command
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || [ -x "/usr/sbin/$c" ] || {
            echo "bench: '$c' is missing: run SRV_BENCH=1 scripts/setup" >&2; exit 1; }
    done
}

# build_srvc: a release build of srvc and libsrv in $ROOT/build-bench
build_srvc() {
    [ -f "$ROOT/build-bench/build.ninja" ] ||
        meson setup "$ROOT/build-bench" "$ROOT" --buildtype=release -Doptimization=2 \
            -Dtests=false >"$OUT/meson.log" 2>&1 || { cat "$OUT/meson.log"; exit 1; }
    ninja -C "$ROOT/build-bench" compiler/srvc runtime/libsrv.a >"$OUT/ninja.log" 2>&1 ||
        { cat "$OUT/ninja.log"; exit 1; }
}

# build_srv FILE.srv NAME: srvc + cc -O2, as a user builds; binary at $OUT/NAME
build_srv() {
    "$ROOT/build-bench/compiler/srvc" "$1" -o "$OUT/$2.c" || exit 1
    cc -O2 "$OUT/$2.c" -I "$ROOT/runtime" "$ROOT/build-bench/runtime/libsrv.a" \
        $(pkg-config --libs jansson nettle hiredis zlib) -o "$OUT/$2" || exit 1
}

# start NAME CPUS CMD...: run CMD pinned to CPUS (or unpinned if "-") in a
# new process group; its output goes to $OUT/NAME.log
start() {
    local name=$1 cpus=$2; shift 2
    if [ "$cpus" = - ]; then
        setsid "$@" >"$OUT/$name.log" 2>&1 </dev/null &
    else
        setsid taskset -c "$cpus" "$@" >"$OUT/$name.log" 2>&1 </dev/null &
    fi
    BENCH_PGID[$name]=$!
}

# ready PORT: wait (at most 10 s) until GET /plaintext answers Hello, World!
ready() {
    local i
    for i in $(seq 1 100); do
        [ "$(curl -s -m 1 "http://127.0.0.1:$1/plaintext" 2>/dev/null)" = "Hello, World!" ] && return 0
        sleep 0.1
    done
    echo "bench: nothing answers on port $1" >&2; return 1
}

# stop NAME: SIGTERM to its process group, SIGKILL after STOP_WAIT tenths
# of a second (50; a server under valgrind needs longer to write its output)
stop() {
    local pg=${BENCH_PGID[$1]:-} i
    [ -n "$pg" ] || return 0
    kill -TERM -- "-$pg" 2>/dev/null
    for i in $(seq 1 "${STOP_WAIT:-50}"); do pgrep -g "$pg" >/dev/null || break; sleep 0.1; done
    pgrep -g "$pg" >/dev/null && kill -KILL -- "-$pg" 2>/dev/null
    wait "$pg" 2>/dev/null
    unset "BENCH_PGID[$1]"
}
stop_all() { local n; for n in "${!BENCH_PGID[@]}"; do stop "$n"; done; }
trap 'stop_all' EXIT
trap 'stop_all; exit 130' INT TERM

# nginx_static_conf PORT WORKERS ROOT [EXTRA]: an nginx serving ROOT like
# bench/static.srv (EXTRA: more main-context directives)
nginx_static_conf() {
    mkdir -p "$OUT/nginx-$1/tmp"
    sed -e "s/@PORT@/$1/" -e "s/@WORKERS@/$2/" -e "s|@ROOT@|$3|" -e "s/@EXTRA@/${4:-}/" \
        "$BENCH_DIR/nginx-static.conf" >"$OUT/nginx-$1/nginx.conf"
    echo "$OUT/nginx-$1"
}

# nginx_conf PORT WORKERS: an nginx answering Hello, World! like hello.srv
nginx_conf() {
    mkdir -p "$OUT/nginx-$1/tmp"
    sed -e "s/@PORT@/$1/" -e "s/@WORKERS@/$2/" "$BENCH_DIR/nginx.conf" >"$OUT/nginx-$1/nginx.conf"
    echo "$OUT/nginx-$1"
}

# wrk_rps PORT CONNS DURATION [DEPTH]: prints requests/s (pipelined if DEPTH > 1)
# for GET $WRK_PATH (/plaintext)
wrk_rps() {
    local port=$1 conns=$2 dur=$3 depth=${4:-1} cpus=${WRK_CPUS:-1} path=${WRK_PATH:-/plaintext}
    local args=(-t1 -c"$conns" -d"${dur}s" --latency)
    [ "$depth" -gt 1 ] && args+=(-s "$BENCH_DIR/pipeline.lua" -- "$depth")
    if [ "$cpus" = - ]; then
        wrk "${args[@]:0:4}" "http://127.0.0.1:$port$path" "${args[@]:4}"
    else
        taskset -c "$cpus" wrk "${args[@]:0:4}" "http://127.0.0.1:$port$path" "${args[@]:4}"
    fi >"$OUT/wrk.last" 2>&1
    awk '/^Requests\/sec:/ {print int($2)}' "$OUT/wrk.last"
    if grep -q 'Non-2xx\|Socket errors' "$OUT/wrk.last"; then
        grep 'Non-2xx\|Socket errors' "$OUT/wrk.last" | sed 's/^/    wrk: /' >&2
    fi
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'; }
