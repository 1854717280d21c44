"""srvtest - shared support for srv's end-to-end tests (stdlib only).

The e2e tests build servers with the fresh srvc and libsrv, start them on
127.0.0.1 with `--port 0`, wait for the start-up line
`PROG: listening on http://HOST:PORT (...)` and drive them over loopback.
This module holds everything those tests share:

- where things are: BUILD and SOURCE (from meson's environment), example(),
  build_srv() for tests that must go through the user's own `cc` path;
- Server: starts a program in its own session (so its process group holds
  it and any workers), captures its output on background threads so the
  pipes never fill, and always stops it by PID, then kills whatever is left
  in its process group.  Sanitizer reports on stderr fail the test;
- a small HTTP/1.1 client: http() for one request on a fresh connection,
  raw() for exact bytes, read_response()/parse_response() for reading
  responses (pipelined ones included) off a socket or out of a byte string;
- /proc helpers for leftover and zombie checks: proc_stat(),
  pids_in_group(), children_of(), worker_pids();
- main(): unittest with verbosity 2, non-zero exit status on any failure.

Nothing here sleeps to synchronise: waits are for a condition with a
deadline (wait_until()).
"""

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest
import weakref

_HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.abspath(os.environ.get("SRV_SOURCE_ROOT")
                         or os.path.join(_HERE, "..", ".."))
BUILD = os.path.abspath(os.environ.get("SRV_BUILD_ROOT")
                        or os.path.join(SOURCE, "build"))
SRVC = os.path.join(BUILD, "compiler", "srvc")

# Extra C flags for programs the tests compile themselves: meson passes the
# sanitizers the build uses, because a sanitized libsrv.a only links into a
# program built with the same -fsanitize flags.
TEST_CFLAGS = shlex.split(os.environ.get("SRV_TEST_CFLAGS", ""))

SANITIZER_MARKERS = ("AddressSanitizer", "LeakSanitizer", "runtime error:",
                     "ThreadSanitizer", "MemorySanitizer")

# What a program linked with libsrv.a needs besides it (srv.pc's
# Requires.private): jansson for JSON bodies, nettle for signed cookies,
# hiredis for the Redis transport of pubsub, zlib for WebSocket compression.
LIBSRV_PRIVATE_LIBS = ["-ljansson", "-lnettle", "-lhiredis", "-lz"]

_READY_RE = re.compile(r"listening on http://(\[[^\]]+\]|[^\s:/]+):(\d+)")


def example(name):
    """Path of the example binary meson built from examples/NAME.srv."""
    path = os.path.join(BUILD, "examples", name)
    if not os.access(path, os.X_OK):
        raise AssertionError("example %r not built: %s" % (name, path))
    return path


def test_program(name):
    """Path of a test server meson built from tests/e2e/NAME.srv."""
    path = os.path.join(BUILD, "tests", "e2e", name)
    if not os.access(path, os.X_OK):
        raise AssertionError("test program %r not built: %s" % (name, path))
    return path


def build_srv(srv_path, tmpdir, extra_c=(), cflags=(), name=None, timeout=120):
    """Compile SRV_PATH to a program the way a user would, in TMPDIR.

    srvc writes NAME.c, then $CC (default cc) compiles it with the project's
    warning flags against SOURCE/runtime/srv.h and BUILD/runtime/libsrv.a
    (with the libraries libsrv links, as `pkg-config --static` lists them).
    Returns the binary's path; raises AssertionError with the tools' output
    when either step fails or runs past TIMEOUT seconds (the compiler's whole
    process group is killed then).
    """
    name = name or os.path.splitext(os.path.basename(srv_path))[0]
    c_path = os.path.join(tmpdir, name + ".c")
    exe = os.path.join(tmpdir, name)
    run_checked([SRVC, srv_path, "-o", c_path], what="srvc", timeout=timeout)
    cc = shlex.split(os.environ.get("CC", "cc"))
    cmd = (cc + ["-std=c11", "-Wall", "-Wextra", "-Werror"] + TEST_CFLAGS
           + list(cflags) + ["-I", os.path.join(SOURCE, "runtime"), c_path]
           + list(extra_c)
           + [os.path.join(BUILD, "runtime", "libsrv.a")] + LIBSRV_PRIVATE_LIBS + ["-o", exe])
    run_checked(cmd, what="cc", timeout=timeout)
    return exe


def run_checked(cmd, what=None, timeout=120, **kw):
    """Run CMD to completion (see run()); AssertionError with its output
    unless it exits 0 within TIMEOUT seconds."""
    r = run(cmd, timeout=timeout, **kw)
    if r.returncode != 0:
        raise AssertionError("%s failed (exit %d): %s\n--- stdout\n%s\n--- stderr\n%s"
                             % (what or cmd[0], r.returncode, shlex.join(map(str, cmd)),
                                r.stdout.decode(errors="replace"),
                                r.stderr.decode(errors="replace")))
    return r


def free_port(host="127.0.0.1"):
    """A TCP port nothing listens on right now, for programs that cannot be
    given port 0 (redis-server, systemd-socket-activate, nginx)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_until(cond, timeout, interval=0.01):
    """Poll COND until it returns a true value or TIMEOUT seconds pass.

    Returns COND's last value.  For conditions no event announces (a process
    disappearing from /proc); the poll interval is not a synchronisation
    guess, the deadline is the bound.
    """
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


# ---------------------------------------------------------------------------
# Processes


class Server:
    """A server program under test, started on port 0 in its own session.

        with Server(example("hello")) as s:
            r = http(s, "GET", "/")

    Starts `BINARY --port 0 [--workers N] ARGS...` (ENV is merged into the
    environment; CWD is its working directory; UID, when given, is the user
    it runs as, which needs root), and waits until its start-up line names
    the port.  If the program exits or READY_TIMEOUT passes first, raises
    AssertionError with what it wrote to stderr.  The process is a session
    (and process group) leader, so pgid == pid and every worker it forks can
    be found and killed.
    """

    def __init__(self, binary, args=(), env=None, workers=None, ready_timeout=10,
                 port=0, host=None, wait_ready=True, cwd=None, uid=None):
        self.binary = binary
        argv = [binary]
        if host is not None:
            argv += ["--host", host]
        if port is not None:
            argv += ["--port", str(port)]
        if workers is not None:
            argv += ["--workers", str(workers)]
        argv += list(args)
        self.argv = argv
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        self.host = None
        self.port = None
        self._lines = []          # stderr lines, decoded
        self._out = []            # stdout chunks
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=full_env, start_new_session=True, cwd=cwd,
                                     user=uid, group=uid, extra_groups=[] if uid else None)
        self.pid = self.proc.pid
        self._threads = [
            threading.Thread(target=self._read_stderr, daemon=True),
            threading.Thread(target=self._read_stdout, daemon=True),
        ]
        for t in self._threads:
            t.start()
        if wait_ready:
            try:
                self.wait_ready(ready_timeout)
            except BaseException:
                self._cleanup()
                raise

    # -- output capture -----------------------------------------------------

    def _read_stderr(self):
        for raw_line in iter(self.proc.stderr.readline, b""):
            line = raw_line.decode("utf-8", errors="replace")
            with self._lock:
                self._lines.append(line)
            if not self._ready.is_set():
                m = _READY_RE.search(line)
                if m:
                    host = m.group(1)
                    self.host = host[1:-1] if host.startswith("[") else host
                    self.port = int(m.group(2))
                    self._ready.set()
        self.proc.stderr.close()

    def _read_stdout(self):
        for chunk in iter(lambda: self.proc.stdout.read1(65536), b""):
            with self._lock:
                self._out.append(chunk)
        self.proc.stdout.close()

    def stderr_text(self):
        """Everything the program (and its workers) wrote to stderr so far."""
        with self._lock:
            return "".join(self._lines)

    def stdout_bytes(self):
        with self._lock:
            return b"".join(self._out)

    def stderr_lines(self):
        with self._lock:
            return list(self._lines)

    def wait_for_stderr(self, pattern, timeout=10, start=0):
        """Wait until a stderr line (from index START on) matches regex PATTERN.

        Returns the match object, or None after TIMEOUT seconds.
        """
        rx = re.compile(pattern)

        def find():
            for line in self.stderr_lines()[start:]:
                m = rx.search(line)
                if m:
                    return m
            return None
        return wait_until(find, timeout)

    # -- life cycle ---------------------------------------------------------

    def wait_ready(self, timeout=10):
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.02):
            if self.proc.poll() is not None:
                # The reader may still be draining the last lines.
                for t in self._threads:
                    t.join(2)
                if self._ready.is_set():
                    break
                raise AssertionError("%s exited with status %s before it was ready; stderr:\n%s"
                                     % (self.binary, self.proc.returncode, self.stderr_text()))
            if time.monotonic() >= deadline:
                raise AssertionError("%s not ready after %ss (no 'listening on' line); stderr:\n%s"
                                     % (self.binary, timeout, self.stderr_text()))

    @property
    def url(self):
        return "http://%s:%d" % (self.host, self.port)

    @property
    def addr(self):
        return (self.host, self.port)

    def running(self):
        return self.proc.poll() is None

    def send_signal(self, sig):
        """Send SIG to the program's own PID (never to a name)."""
        if self.proc.poll() is None:
            os.kill(self.pid, sig)

    def wait(self, timeout):
        """Wait up to TIMEOUT for exit; returns the status, or None if still running.
        Once it has exited, what it wrote last is in stderr_text() too."""
        try:
            status = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        self._join_readers()
        return status

    def _join_readers(self, timeout=5):
        """Wait for the output readers to reach end of file: the pipes close
        when the last process holding them (the master, its workers) has
        exited, and until then the last lines may still be on their way."""
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))

    def stop(self, sig=signal.SIGTERM, timeout=15):
        """Send SIG to the program and wait for it to exit; returns its status
        (negative: killed by that signal, as subprocess reports it).

        If it has not exited after TIMEOUT seconds, the whole process group is
        SIGKILLed and AssertionError is raised: a server that ignores a
        shutdown request is a failure.
        """
        if self.proc.poll() is not None:
            self._join_readers()
            return self.proc.returncode
        try:
            os.kill(self.pid, sig)
        except ProcessLookupError:
            pass
        try:
            status = self.proc.wait(timeout)
            self._join_readers()
            return status
        except subprocess.TimeoutExpired:
            self._kill_group()
            self.proc.wait(5)
            raise AssertionError("%s did not exit within %ss of signal %d; stderr:\n%s"
                                 % (self.binary, timeout, sig, self.stderr_text()))

    def _kill_group(self):
        # pgid == pid (start_new_session).  Only signal the group while it
        # still has members, so a recycled PID is never hit.
        if pids_in_group(self.pid):
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def _cleanup(self):
        if self.proc.poll() is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        self._kill_group()
        # Workers may still hold the pipes; once the group is dead they close.
        wait_until(lambda: not pids_in_group(self.pid), 5)
        for t in self._threads:
            t.join(5)

    def sanitizer_report(self):
        """The stderr text if it contains a sanitizer report, else None."""
        text = self.stderr_text()
        if any(m in text for m in SANITIZER_MARKERS):
            return text
        return None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        # Give a still-running server the graceful path first: under ASan a
        # SIGKILL would hide leak reports.  Failing here is not the point;
        # tests that care call stop() themselves and check the status.
        if self.proc.poll() is None:
            try:
                self.stop(signal.SIGTERM, timeout=15)
            except AssertionError:
                if exc_type is None:
                    self._cleanup()
                    raise
        self._cleanup()
        report = self.sanitizer_report()
        if report is not None and exc_type is None:
            raise AssertionError("sanitizer report from %s:\n%s" % (self.binary, report))
        if exc_type is not None and report is not None:
            sys.stderr.write("sanitizer report from %s:\n%s\n" % (self.binary, report))
        return False


def run(cmd, timeout=30, env=None, **kw):
    """Run CMD in its own session with output captured; on TIMEOUT kill its
    whole process group and raise AssertionError.  For programs expected to
    exit by themselves (a busy port, --help, a crash loop)."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=full_env,
                         start_new_session=True, **kw)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        if pids_in_group(p.pid):
            os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        raise AssertionError("%s still running after %ss; stderr:\n%s"
                             % (shlex.join(map(str, cmd)), timeout,
                                err.decode(errors="replace")))
    finally:
        if pids_in_group(p.pid):
            os.killpg(p.pid, signal.SIGKILL)
    return subprocess.CompletedProcess(cmd, p.returncode, out, err)


def proc_stat(pid):
    """{'pid', 'state', 'ppid', 'pgrp', 'comm'} from /proc/PID/stat, or None
    if there is no such process.  state 'Z' is a zombie."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            data = f.read().decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return None
    # comm is in parentheses and may itself contain ')' or spaces.
    lpar, rpar = data.index("("), data.rindex(")")
    fields = data[rpar + 2:].split()
    return {"pid": pid, "comm": data[lpar + 1:rpar], "state": fields[0],
            "ppid": int(fields[1]), "pgrp": int(fields[2])}


def _all_stats():
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = proc_stat(int(entry))
            if st is not None:
                yield st


def pids_in_group(pgid):
    """PIDs of every process (zombies included) in process group PGID."""
    return sorted(st["pid"] for st in _all_stats() if st["pgrp"] == pgid)


def children_of(pid):
    """PIDs of every process (zombies included) whose parent is PID."""
    return sorted(st["pid"] for st in _all_stats() if st["ppid"] == pid)


def worker_pids(server, n, timeout=10):
    """The N worker pids of SERVER's master, once all N are running."""
    kids = wait_until(lambda: (lambda k: k if len(k) == n else None)(children_of(server.pid)),
                      timeout)
    assert kids, "expected %d workers, found %s" % (n, children_of(server.pid))
    return kids


def zombies_among(pids):
    """The subset of PIDS that are zombies right now."""
    out = []
    for p in pids:
        st = proc_stat(p)
        if st is not None and st["state"] == "Z":
            out.append(p)
    return out


class NotifySocket:
    """A stand-in for systemd's notification socket (sd_notify(3)): pass
    env=notify.env() to a Server and wait for what it reports, e.g.
    notify.wait_for("READY=1").  Messages are kept as dicts of their
    KEY=VALUE lines, in arrival order."""

    def __init__(self, directory):
        self.path = os.path.join(directory, "notify-%d.sock" % id(self))
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.05)
        self.messages = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def env(self):
        return {"NOTIFY_SOCKET": self.path}

    def _read(self):
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            fields = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
            with self._lock:
                self.messages.append(fields)

    def count(self):
        with self._lock:
            return len(self.messages)

    def wait_for(self, key_value, timeout=10, start=0):
        """The first message from index START on that has KEY=VALUE (a
        string "KEY=VALUE"), or None after TIMEOUT seconds."""
        key, value = key_value.split("=", 1)

        def find():
            with self._lock:
                for m in self.messages[start:]:
                    if m.get(key) == value:
                        return m
            return None
        return wait_until(find, timeout)

    def close(self):
        self._stop.set()
        self._thread.join(2)
        self.sock.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


# ---------------------------------------------------------------------------
# HTTP client


class Headers(list):
    """A list of (name, value) pairs, in order, with case-insensitive lookup."""

    def get(self, name, default=None):
        low = name.lower()
        for k, v in self:
            if k.lower() == low:
                return v
        return default

    def get_all(self, name):
        low = name.lower()
        return [v for k, v in self if k.lower() == low]

    def count(self, name):  # noqa: A003 - mirrors get_all, by name
        return len(self.get_all(name))


class Response:
    """One parsed HTTP response."""

    def __init__(self, version, status, reason, headers, body, raw_head=b""):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body
        self.raw_head = raw_head

    def get(self, name, default=None):
        return self.headers.get(name, default)

    def text(self):
        return self.body.decode("utf-8")

    def json(self):
        import json
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "<Response %s %d %s %r body=%r>" % (
            self.version, self.status, self.reason, list(self.headers), self.body[:200])


class Incomplete(Exception):
    """parse_response() needs more bytes."""


def _no_body(status, head_only):
    return head_only or 100 <= status < 200 or status in (204, 304)


def parse_response(data, pos=0, head_only=False, eof=False):
    """Parse one response from DATA[POS:].  Returns (Response, next_pos).

    Raises Incomplete when more bytes are needed (a response without
    Content-Length or chunking runs to EOF, so pass EOF=True once the peer has
    closed).  HEAD_ONLY: the response to a HEAD request (no body whatever its
    headers say).  1xx, 204 and 304 never have a body.
    """
    end = data.find(b"\r\n\r\n", pos)
    if end < 0:
        if eof and pos < len(data):
            raise ValueError("truncated response head: %r" % data[pos:pos + 200])
        raise Incomplete()
    head = data[pos:end]
    lines = head.split(b"\r\n")
    m = re.match(rb"(HTTP/\d\.\d) (\d{3}) ?(.*)$", lines[0])
    if not m:
        raise ValueError("bad status line: %r" % lines[0])
    version, status, reason = m.group(1).decode(), int(m.group(2)), m.group(3).decode("latin-1")
    headers = Headers()
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep or not name or name != name.strip():
            raise ValueError("bad header line: %r" % line)
        headers.append((name.decode("latin-1"), value.strip(b" \t").decode("latin-1")))
    body_start = end + 4
    raw_head = data[pos:body_start]
    if _no_body(status, head_only):
        return Response(version, status, reason, headers, b"", raw_head), body_start
    te = headers.get("Transfer-Encoding")
    if te is not None and te.lower().endswith("chunked"):
        body, nxt = _parse_chunked(data, body_start)
        return Response(version, status, reason, headers, body, raw_head), nxt
    cls = headers.get_all("Content-Length")
    if cls:
        if len(set(cls)) != 1 or not cls[0].isdigit():
            raise ValueError("bad Content-Length: %r" % cls)
        n = int(cls[0])
        if len(data) - body_start < n:
            if eof:
                raise ValueError("body truncated: %d of %d bytes" % (len(data) - body_start, n))
            raise Incomplete()
        return (Response(version, status, reason, headers, data[body_start:body_start + n],
                         raw_head), body_start + n)
    if not eof:
        raise Incomplete()
    return Response(version, status, reason, headers, data[body_start:], raw_head), len(data)


def _parse_chunked(data, pos):
    body = []
    while True:
        eol = data.find(b"\r\n", pos)
        if eol < 0:
            raise Incomplete()
        size = int(data[pos:eol].split(b";")[0], 16)
        pos = eol + 2
        if size == 0:
            # Trailers end with an empty line.
            while True:
                eol = data.find(b"\r\n", pos)
                if eol < 0:
                    raise Incomplete()
                line, pos = data[pos:eol], eol + 2
                if not line:
                    return b"".join(body), pos
        if len(data) < pos + size + 2:
            raise Incomplete()
        body.append(data[pos:pos + size])
        pos += size + 2


def parse_responses(data, head_only=False):
    """Every complete response in DATA (e.g. everything raw() returned), in
    order; the bytes after the last complete one must be empty."""
    out, pos = [], 0
    while pos < len(data):
        r, pos = parse_response(data, pos, head_only=head_only, eof=True)
        out.append(r)
    return out


# Bytes read past the end of one response belong to the next one on the same
# socket (pipelining); they wait here until read_response() is called again.
_leftover = weakref.WeakKeyDictionary()


def read_response(sock, head_only=False):
    """Read exactly one response from SOCK (bytes beyond it are kept for the
    next call on the same socket).  Uses the socket's own timeout; raises
    socket.timeout, or ConnectionError if the peer closes mid-response.
    A 100 Continue is returned like any other response."""
    buf = _leftover.pop(sock, b"")
    eof = False
    while True:
        if buf:
            try:
                r, used = parse_response(buf, 0, head_only=head_only, eof=eof)
                if buf[used:]:
                    _leftover[sock] = buf[used:]
                return r
            except Incomplete:
                pass
        if eof:
            raise ConnectionError("connection closed before a complete response (%d bytes: %r)"
                                  % (len(buf), buf[:200]))
        chunk = sock.recv(65536)
        if not chunk:
            eof = True
        buf += chunk


def pending_bytes(sock):
    """Bytes already read from SOCK beyond the responses returned so far."""
    return _leftover.get(sock, b"")


def connect(server, timeout=5):
    """A fresh TCP connection to SERVER (anything with .host and .port)."""
    s = socket.create_connection((server.host, server.port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def format_request(server, method, path, headers=(), body=b"", version="HTTP/1.1"):
    """The bytes of a request.  Adds Host (unless given) and Content-Length
    (when there is a body or the method usually carries one, unless a
    Content-Length or Transfer-Encoding is given)."""
    if isinstance(headers, dict):
        headers = list(headers.items())
    if isinstance(body, str):
        body = body.encode()
    names = {k.lower() for k, _ in headers}
    lines = ["%s %s %s" % (method, path, version)]
    if "host" not in names:
        lines.append("Host: %s:%d" % (server.host, server.port))
    lines += ["%s: %s" % (k, v) for k, v in headers]
    if ("content-length" not in names and "transfer-encoding" not in names
            and (body or method in ("POST", "PUT", "PATCH"))):
        lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def http(server, method, path, headers=(), body=b"", timeout=5):
    """Send one request on a fresh connection and return its Response."""
    with connect(server, timeout) as s:
        s.sendall(format_request(server, method, path, headers, body))
        return read_response(s, head_only=(method == "HEAD"))


def raw(server, data, timeout=5, shut_wr=False):
    """Send DATA on a fresh connection; return every byte received until the
    server closes or TIMEOUT seconds (in total) pass.  SHUT_WR half-closes
    our side after sending."""
    deadline = time.monotonic() + timeout
    out = []
    with connect(server, timeout) as s:
        s.sendall(data)
        if shut_wr:
            s.shutdown(socket.SHUT_WR)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            s.settimeout(left)
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                break
            if not chunk:
                break
            out.append(chunk)
    return b"".join(out)


def read_until_closed(sock, timeout):
    """Read SOCK until EOF (returns (bytes, True)) or TIMEOUT seconds pass
    (returns (bytes, False)).  A reset counts as closed."""
    deadline = time.monotonic() + timeout
    out = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return b"".join(out), False
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return b"".join(out), False
        except ConnectionResetError:
            return b"".join(out), True
        if not chunk:
            return b"".join(out), True
        out.append(chunk)


# ---------------------------------------------------------------------------
# Server-Sent Events


class SseClient:
    """One event stream: the response head, then events as the WHATWG
    parser would dispatch them, plus the comments it ignores."""

    def __init__(self, server, path="/events", headers=(), timeout=5):
        self.sock = connect(server, timeout)
        self.sock.sendall(format_request(server, "GET", path, headers))
        self.buf = b""
        self.closed = False
        head = self._until(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {}
        for line in lines[1:]:
            k, v = line.split(":", 1)
            self.headers.setdefault(k.strip().lower(), []).append(v.strip())
        self.comments = 0
        self.retry = None
        self.last_id = None

    def _fill(self, timeout):
        self.sock.settimeout(timeout)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return False
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.closed = True
            return False
        self.buf += chunk
        return True

    def _until(self, sep, timeout=5):
        deadline = time.monotonic() + timeout
        while sep not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not self._fill(left):
                raise AssertionError("no %r in %r" % (sep, self.buf[:300]))
        i = self.buf.index(sep)
        out, self.buf = self.buf[:i], self.buf[i + len(sep):]
        return out

    def _line(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            m = re.search(rb"\r\n|\r(?=[^\n])|\n", self.buf)
            if m and not (m.group() == b"\r" and m.end() == len(self.buf)):
                line, self.buf = self.buf[:m.start()], self.buf[m.end():]
                return line.decode("utf-8")
            left = deadline - time.monotonic()
            if left <= 0 or not self._fill(left):
                return None

    def event(self, timeout=5):
        """The next dispatched event as (type, data, id), or None if the
        stream closed or TIMEOUT passed."""
        etype, data = "", []
        while True:
            line = self._line(timeout)
            if line is None:
                return None
            if line == "":
                if data:
                    return (etype or "message", "\n".join(data), self.last_id)
                etype = ""
                continue
            if line.startswith(":"):
                self.comments += 1
                continue
            field, _, value = line.partition(":")
            if value.startswith(" "):
                value = value[1:]
            if field == "event":
                etype = value
            elif field == "data":
                data.append(value)
            elif field == "id":
                self.last_id = value
            elif field == "retry":
                self.retry = int(value)

    def close(self):
        self.sock.close()



# ---------------------------------------------------------------------------
# Assertions shared by several test files

HTTP_DATE_RE = re.compile(
    r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$")


def check_date(testcase, response):
    """The response has exactly one Date in IMF-fixdate form, close to now."""
    import email.utils
    dates = response.headers.get_all("Date")
    testcase.assertEqual(len(dates), 1, response)
    testcase.assertRegex(dates[0], HTTP_DATE_RE)
    when = email.utils.parsedate_to_datetime(dates[0]).timestamp()
    testcase.assertLess(abs(when - time.time()), 5, dates[0])


def main():
    """Run the calling module's tests; exit status 1 on any failure."""
    prog = unittest.main(module="__main__", verbosity=2, exit=False)
    sys.exit(0 if prog.result.wasSuccessful() else 1)
