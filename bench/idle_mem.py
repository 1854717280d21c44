#!/usr/bin/env python3
"""idle_mem.py - memory a server holds per idle connection.

    bench/idle_mem.py 'CMD' PORT [N=10000] [PATH=/plaintext]

Starts CMD (a shell command serving 127.0.0.1:PORT in the foreground: one
process, or a master whose children are the workers), reads the RSS of the
serving processes, opens N connections, sends `GET PATH` on each and reads
the first bytes of the answer (for an event stream, its head), leaves them
open, reads the RSS again, and prints the growth per connection.  Raises its
own and CMD's descriptor limit to the hard limit.  Loopback only; stops what
it started, by PID."""
import re
import resource
import socket
import subprocess
import sys
import time

cmd, port = sys.argv[1], int(sys.argv[2])
n = int(sys.argv[3]) if len(sys.argv) > 3 else 10000
path = sys.argv[4] if len(sys.argv) > 4 else "/plaintext"
hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
if hard < n + 100:
    sys.exit("idle_mem: ulimit -Hn is %d, %d are needed" % (hard, n + 100))
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
proc = subprocess.Popen(["bash", "-c", "ulimit -n %d; exec %s" % (hard, cmd)],
                        start_new_session=True)


def rss_kib():
    with open("/proc/%d/task/%d/children" % (proc.pid, proc.pid)) as f:
        pids = [int(x) for x in f.read().split()] or [proc.pid]
    total = 0
    for pid in pids:
        with open("/proc/%d/status" % pid) as f:
            total += int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
    return total


def ready():
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit("idle_mem: the server exited (status %d)" % proc.returncode)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit("idle_mem: nothing listens on port %d" % port)


try:
    ready()
    before = rss_kib()
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode())
        socks.append(s)
    for s in socks:
        s.settimeout(10)
        if not s.recv(4096).startswith(b"HTTP/1.1 200"):
            sys.exit("idle_mem: a request failed")
    # The answers are read: every connection is idle (or a quiet stream).
    after = rss_kib()
    print("idle_mem: %d connections to %s, RSS %d -> %d KiB, %.0f bytes per idle connection"
          % (n, path, before, after, (after - before) * 1024.0 / n))
    for s in socks:
        s.close()
finally:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
