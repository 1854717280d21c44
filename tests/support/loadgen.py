"""loadgen - steady HTTP load that counts every way a request can fail.

Tests that change a server under traffic (a reload, a rolling upgrade
behind a proxy) run a Load around the change and then assert on its
counts.  Each client thread sends GET PATH in a loop until stopped:

- keep-alive clients reuse one connection and open a new one when a
  response says `Connection: close`;
- fresh clients open a connection per request (what reaches a listen
  backlog at the moment of a switch).

A request counts as failed when its connection is refused or reset, or
closes before a whole response, or the status is not 200 - with one
exception that HTTP itself allows: a request on a reused keep-alive
connection that the server closed before any byte of the answer (RFC 9112,
9.3.1: clients retry those; the server cannot tell it crossed the close).
Those are retried once on a new connection and counted in `retried`, so a
test can hold them to its own bound.  Nothing here sleeps.
"""

import errno
import socket
import threading

import srvtest


class Load:
    def __init__(self, host, port, path="/id", keepalive=3, fresh=2, host_header=None,
                 timeout=5, source=None):
        """SOURCE: the local address to connect from (another loopback
        address, say, to tell this client from others in a log)."""
        self.host, self.port, self.path = host, port, path
        self.source = (source, 0) if source else None
        self.timeout = timeout
        hh = host_header or "%s:%d" % (host, port)
        self.request = ("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (path, hh)).encode()
        self.lock = threading.Lock()
        self.ok = 0
        self.retried = 0
        self.failures = []      # (kind, detail), kind: refused/reset/closed/status/timeout
        self.bodies = {}        # body -> count (who answered)
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._keepalive, daemon=True)
                         for _ in range(keepalive)]
        self._threads += [threading.Thread(target=self._fresh, daemon=True)
                          for _ in range(fresh)]

    # -- bookkeeping ---------------------------------------------------------

    def _record(self, resp):
        with self.lock:
            if resp.status == 200:
                self.ok += 1
                body = resp.text()
                self.bodies[body] = self.bodies.get(body, 0) + 1
            else:
                self.failures.append(("status", "%d %s" % (resp.status, resp.text()[:100])))

    def _fail(self, kind, detail):
        with self.lock:
            self.failures.append((kind, str(detail)))

    @staticmethod
    def _kind(exc):
        if isinstance(exc, socket.timeout):
            return "timeout"
        if isinstance(exc, ConnectionRefusedError):
            return "refused"
        if isinstance(exc, ConnectionResetError) or getattr(exc, "errno", None) == errno.ECONNRESET:
            return "reset"
        return "closed"

    def _connect(self):
        s = socket.create_connection((self.host, self.port), timeout=self.timeout,
                                     source_address=self.source)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def _exchange(self, s):
        s.sendall(self.request)
        return srvtest.read_response(s)

    # -- clients -------------------------------------------------------------

    def _keepalive(self):
        s, used = None, 0
        while not self._stop.is_set():
            try:
                if s is None:
                    s, used = self._connect(), 0
                try:
                    resp = self._exchange(s)
                except (ConnectionError, OSError) as e:
                    got_nothing = not srvtest.pending_bytes(s) and not isinstance(e, socket.timeout)
                    s.close()
                    s = None
                    if used == 0 or not got_nothing:
                        raise
                    with self.lock:
                        self.retried += 1
                    s, used = self._connect(), 0
                    resp = self._exchange(s)
                used += 1
                self._record(resp)
                if (resp.get("Connection") or "").lower() == "close":
                    s.close()
                    s = None
            except (ConnectionError, OSError) as e:
                self._fail(self._kind(e), e)
                if s is not None:
                    s.close()
                s = None
        if s is not None:
            s.close()

    def _fresh(self):
        while not self._stop.is_set():
            try:
                with self._connect() as s:
                    self._record(self._exchange(s))
            except (ConnectionError, OSError) as e:
                self._fail(self._kind(e), e)

    # -- control -------------------------------------------------------------

    def __enter__(self):
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(self.timeout + 5)

    def total(self):
        with self.lock:
            return self.ok + len(self.failures)

    def wait_for(self, n, timeout=10):
        """Wait until N more requests have completed (or failed)."""
        target = self.total() + n
        return srvtest.wait_until(lambda: self.total() >= target, timeout)

    def summary(self):
        with self.lock:
            kinds = {}
            for k, _ in self.failures:
                kinds[k] = kinds.get(k, 0) + 1
            return "ok=%d failed=%d %s retried=%d first failures: %s" % (
                self.ok, len(self.failures), kinds, self.retried, self.failures[:5])


def wait_gone(pid, timeout):
    """Wait until PID is no more (a zombie counts as gone)."""
    def gone():
        st = srvtest.proc_stat(pid)
        return st is None or st["state"] == "Z"
    return srvtest.wait_until(gone, timeout)

