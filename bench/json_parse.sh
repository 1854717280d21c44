#!/bin/sh
# json_parse.sh - parse speed and error reports of cJSON, jansson and json-c
# (bench/json_parse.c, built once per library) on a 1 KiB and a 1 MiB
# document.  Needs the three -dev packages (SRV_BENCH=1 scripts/setup).
# Each run is pinned to CPU 0; about 20 s in all.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(mktemp -d /tmp/srv-json-bench.XXXXXX)
trap 'rm -rf "$out"' EXIT
for lib in cjson:libcjson jansson:jansson jsonc:json-c; do
    name=${lib%%:*}
    cc -O2 -std=c11 -Wall -Wextra -Werror -DLIB_$(echo "$name" | tr a-z A-Z) \
        "$root/bench/json_parse.c" -o "$out/$name" $(pkg-config --cflags --libs "${lib#*:}")
done
"$out/cjson" --header
for name in cjson jansson jsonc; do
    taskset -c 0 "$out/$name" --errors
done
