#!/usr/bin/env python3
"""test_systemd - socket activation and the shipped unit files (issue 11).

systemd-socket-activate (Debian's systemd package) plays systemd: it opens
the sockets, waits for the first connection, then executes the server with
LISTEN_PID/LISTEN_FDS/LISTEN_FDNAMES, in the same process - so the PID the
test started is the server's, and it is stopped by it.  No init system is
involved.  examples/systemd/*.service and *.socket must pass
`systemd-analyze verify`.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import srvtest  # noqa: E402
from srvtest import Server, http, wait_until  # noqa: E402

ACTIVATE = shutil.which("systemd-socket-activate")
ANALYZE = shutil.which("systemd-analyze")
UNITS = os.path.join(srvtest.SOURCE, "examples", "systemd")
_tmp = tempfile.TemporaryDirectory(prefix="srv-test-systemd-")


class Addr:
    def __init__(self, port, host="127.0.0.1"):
        self.host, self.port = host, port


def ident(addr, path="/id"):
    r = http(addr, "GET", path, timeout=10)
    assert r.status == 200, r
    return {k: int(v) for k, v in re.findall(r"(\w+)=(-?\d+)", r.text())}


@unittest.skipUnless(ACTIVATE, "systemd-socket-activate not installed (scripts/setup installs it)")
class SocketActivationTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.app = srvtest.test_program("reload_app")

    def activate(self, ports, names, workers=2):
        """The app under systemd-socket-activate on PORTS (named NAMES);
        returns the Server once the activator listens (the app itself
        starts on the first connection)."""
        args = []
        for p in ports:
            args += ["-l", "127.0.0.1:%d" % p]
        args += ["--fdname=" + ":".join(names), self.app, "--workers", str(workers)]
        s = Server(ACTIVATE, args=args, port=None, wait_ready=False)
        self.addCleanup(s._cleanup)
        for p in ports:
            self.assertIsNotNone(s.wait_for_stderr(r"Listening on 127\.0\.0\.1:%d as \d+" % p, 10),
                                 s.stderr_text())
        return s

    def test_one_socket_every_worker_accepts(self):
        port = srvtest.free_port()
        s = self.activate([port], ["web"])
        addr = Addr(port)
        # The first connection starts the server, and is served by it.
        first = ident(addr)
        self.assertEqual(first["count"], 2)
        self.assertIsNotNone(s.wait_for_stderr(
            r'listening on http://127\.0\.0\.1:%d \(2 workers; 1 socket from systemd: "web"\)'
            % port, 5), s.stderr_text())
        self.assertEqual(first["master"], s.pid)  # executed in place: same PID
        # While one worker is busy in a handler, the other takes the socket.
        slow = {}
        t = threading.Thread(target=lambda: slow.update(ident(addr, "/slow/1500")))
        t.start()
        self.assertIsNotNone(s.wait_for_stderr(r"slow request for 1500 ms started", 5))
        other = ident(addr)
        t.join(10)
        self.assertEqual(slow.get("slept"), 1500)
        self.assertNotEqual(other["pid"], slow["pid"])
        self.assertEqual(s.stop(signal.SIGTERM), 0)

    def test_two_sockets_one_per_worker(self):
        p1, p2 = srvtest.free_port(), srvtest.free_port()
        while p2 == p1:
            p2 = srvtest.free_port()
        s = self.activate([p1, p2], ["public", "admin"])
        a, b = ident(Addr(p1)), ident(Addr(p2))
        self.assertIsNotNone(s.wait_for_stderr(
            r'\(2 workers; 2 sockets from systemd: "public", "admin"\)', 5), s.stderr_text())
        self.assertEqual(a["master"], b["master"])
        # Socket i belongs to worker i mod 2: each port has its own worker.
        self.assertNotEqual(a["pid"], b["pid"])
        self.assertEqual({ident(Addr(p1))["id"] for _ in range(10)}, {a["id"]})
        self.assertEqual(s.stop(signal.SIGTERM), 0)

    def test_reload_keeps_the_passed_socket(self):
        port = srvtest.free_port()
        s = self.activate([port], ["web"])
        addr = Addr(port)
        old = ident(addr)["master"]
        self.assertIsNotNone(s.wait_for_stderr(r"listening on", 5))
        # (A SIGHUP before every worker is ready waits until they are.)
        start = len(s.stderr_lines())
        os.kill(s.pid, signal.SIGHUP)
        m = s.wait_for_stderr(r"reload: generation 1 \(pid (\d+)\) is serving", 15, start)
        self.assertIsNotNone(m, s.stderr_text())
        new = int(m.group(1))
        self.assertIsNotNone(s.wait_for_stderr(
            r"\(2 workers; generation 1, 1 socket handed over\)", 5, start))
        self.assertEqual(s.wait(15), 0)
        self.assertEqual(ident(addr)["master"], new)
        self.assertNotEqual(new, old)
        os.kill(new, signal.SIGTERM)
        self.assertTrue(wait_until(lambda: not srvtest.pids_in_group(s.pid), 15),
                        srvtest.pids_in_group(s.pid))

    def test_unix_socket(self):
        path = os.path.join(tempfile.mkdtemp(dir=_tmp.name), "app.sock")
        s = Server(ACTIVATE, args=["-l", path, self.app, "--workers", "1"], port=None,
                   wait_ready=False)
        self.addCleanup(s._cleanup)
        self.assertIsNotNone(s.wait_for_stderr(r"Listening on .*app\.sock", 10), s.stderr_text())
        for _ in range(3):  # keep-alive aside, each on its own connection
            with socket.socket(socket.AF_UNIX) as c:
                c.settimeout(10)
                c.connect(path)
                c.sendall(b"GET /id HTTP/1.1\r\nHost: x\r\n\r\n")
                r = srvtest.read_response(c)
                self.assertEqual(r.status, 200)
                self.assertIn("master=%d" % s.pid, r.text())
        self.assertIsNotNone(s.wait_for_stderr(
            r"listening on unix:%s \(1 process; 1 socket from systemd" % re.escape(path), 5))
        self.assertEqual(s.stop(signal.SIGTERM), 0)

    def test_variables_for_another_process_are_ignored(self):
        # LISTEN_PID names someone else: bind as usual (port 0), and do not
        # pass the variables on.
        with Server(self.app, env={"LISTEN_PID": "1", "LISTEN_FDS": "1",
                                   "LISTEN_FDNAMES": "x"}) as s:
            self.assertNotIn("systemd", s.stderr_text())
            self.assertEqual(ident(s)["master"], s.pid)

    def run_with_fd3(self, listen_fds, fd3="3</dev/null"):
        """The app with LISTEN_PID set to its own pid (sh execs it) and
        descriptor 3 as FD3 redirects it."""
        cmd = 'LISTEN_PID=$$ LISTEN_FDS=%s exec "$0" --workers 2 %s' % (listen_fds, fd3)
        return subprocess.run(["sh", "-c", cmd, self.app], capture_output=True, timeout=20)

    def test_a_passed_descriptor_that_is_not_a_listening_socket(self):
        r = self.run_with_fd3("1")
        self.assertEqual(r.returncode, 1, r)
        self.assertEqual(r.stderr.decode().strip(),
                         "reload_app: descriptor 3 from systemd (\"unknown\") is not a "
                         "listening stream socket")

    def test_a_bad_count(self):
        r = self.run_with_fd3("lots")
        self.assertEqual(r.returncode, 1, r)
        self.assertIn('LISTEN_FDS="lots": not a number of sockets', r.stderr.decode())


@unittest.skipUnless(ANALYZE, "systemd-analyze not installed (scripts/setup installs it)")
class UnitFilesTest(unittest.TestCase):
    def test_units_verify(self):
        units = sorted(f for f in os.listdir(UNITS) if f.endswith((".service", ".socket")))
        self.assertIn("hello.service", units)
        self.assertIn("hello.socket", units)
        d = tempfile.mkdtemp(dir=_tmp.name)
        paths = []
        for name in units:
            with open(os.path.join(UNITS, name)) as f:
                text = f.read()
            # The binary the unit names, built here, so verify can check it.
            text, n = re.subn(r"^ExecStart=/usr/local/bin/(\w+)",
                              lambda m: "ExecStart=" + srvtest.example(m.group(1)),
                              text, flags=re.M)
            if name.endswith(".service"):
                self.assertEqual(n, 1, name)
            path = os.path.join(d, name)
            with open(path, "w") as f:
                f.write(text)
            paths.append(path)
        r = subprocess.run([ANALYZE, "verify", "--man=no"] + paths, capture_output=True,
                           timeout=60, cwd=d)
        out = (r.stdout + r.stderr).decode()
        self.assertEqual(r.returncode, 0, out)
        self.assertEqual(out.strip(), "", out)  # warnings are failures too


if __name__ == "__main__":
    srvtest.main()
