#!/usr/bin/env python3
"""gen_routes.py N - print a .srv file with N routes, for bench/routes.sh.

The routes mix literal and parameter segments the way a large API does, and
share prefixes, so the generated matcher must branch on many siblings.  The
paths of the first and the last route are printed as '// first:' and
'// last:' comment lines for the benchmark to read.
"""
import sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
print("// %d generated routes" % n)
print("// first: /api/v1/resource0/items/42")
print("// last: /api/v1/resource%d/items/42" % (n - 2))
print('server "127.0.0.1" 8080 {')
print("    workers 1;")
print('    GET "/plaintext" { srv_response_text(res, "Hello, World!"); }')
for i in range(n - 1):
    print('    GET "/api/v1/resource%d/items/:id" { srv_response_printf(res, "%d %%s", id); }' % (i, i))
print("}")
