#!/usr/bin/env python3
"""ws_idle_mem.py - memory a server holds per idle WebSocket.

    bench/ws_idle_mem.py 'CMD' PORT [N=10000] [PATH=/echo]

Starts CMD (a shell command serving 127.0.0.1:PORT in the foreground: one
process, or a master whose children are the workers), waits until it
answers, reads the RSS of the serving processes, opens N WebSockets to
PATH (handshake, then one 16-byte binary message each, whose echo is read
and checked), leaves them open and quiet for a second, reads the RSS
again, and prints the growth per WebSocket.  The server must echo
(bench/ws_echo.srv, bench/ws_node/echo.js).  Raises its own and CMD's
descriptor limit to the hard limit.  Loopback only; stops what it
started, by PID, and fails loudly if anything goes wrong."""
import os
import re
import resource
import socket
import subprocess
import sys
import time

cmd, port = sys.argv[1], int(sys.argv[2])
n = int(sys.argv[3]) if len(sys.argv) > 3 else 10000
path = sys.argv[4] if len(sys.argv) > 4 else "/echo"
hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
if hard < n + 100:
    sys.exit("ws_idle_mem: ulimit -Hn is %d, %d are needed" % (hard, n + 100))
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
proc = subprocess.Popen(["bash", "-c", "ulimit -n %d; exec %s" % (hard, cmd)],
                        start_new_session=True)

KEY = b"dGhlIHNhbXBsZSBub25jZQ=="          # RFC 6455 1.3
ACCEPT = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
HANDSHAKE = (b"GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
             b"Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
             b"Sec-WebSocket-Version: 13\r\n\r\n" % (path.encode(), port, KEY))
PAYLOAD = b"idle-websocket!!"                 # 16 bytes


def masked_frame(payload):
    mask = os.urandom(4)
    body = bytes(b ^ mask[i & 3] for i, b in enumerate(payload))
    return bytes([0x82, 0x80 | len(payload)]) + mask + body


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
            sys.exit("ws_idle_mem: the server exited (status %d)" % proc.returncode)
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=1)
            s.sendall(b"GET /plaintext HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            if s.recv(4096).startswith(b"HTTP/1.1 200"):
                s.close()
                return
            s.close()
        except OSError:
            pass
        time.sleep(0.05)
    sys.exit("ws_idle_mem: nothing answers on port %d" % port)


def read_exactly(s, k):
    data = b""
    while len(data) < k:
        chunk = s.recv(k - len(data))
        if not chunk:
            sys.exit("ws_idle_mem: the server closed a WebSocket")
        data += chunk
    return data


def read_head(s):
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            sys.exit("ws_idle_mem: the server closed a connection during the handshake")
        head += chunk
    head, rest = head.split(b"\r\n\r\n", 1)
    if not head.startswith(b"HTTP/1.1 101") or ACCEPT not in head:
        sys.exit("ws_idle_mem: handshake refused: %r" % head.split(b"\r\n", 1)[0])
    return rest


try:
    ready()
    time.sleep(0.5)
    before = rss_kib()
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.settimeout(10)
        s.sendall(HANDSHAKE)
        socks.append(s)
    for s in socks:
        rest = read_head(s)
        s.sendall(masked_frame(PAYLOAD))
        echo = rest + read_exactly(s, 2 + len(PAYLOAD) - len(rest))
        if echo != bytes([0x82, len(PAYLOAD)]) + PAYLOAD:
            sys.exit("ws_idle_mem: a wrong echo: %r" % echo)
    # Every WebSocket has been answered and is idle; let the servers settle.
    time.sleep(1)
    after = rss_kib()
    print("ws_idle_mem: %d WebSockets to %s, RSS %d -> %d KiB, %.0f bytes per idle WebSocket"
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
