#!/usr/bin/env python3
"""test_reload - zero-downtime reload and binary upgrade on SIGHUP (issue 11).

Builds tests/e2e/reload_app.srv in several worker counts, runs it from a
path the tests replace (as an upgrade would), and reloads it under a steady
load (tests/support/loadgen.py) whose counts are asserted: no refused, reset
or failed request, no keep-alive request that crossed a close.  Failed new
generations (setup exits, the binary cannot run, workers crash-loop, setup
too slow) must leave the old generation serving, with one log line.

A reload makes the old master exit and its child, the new master, live on.
This process becomes a child subreaper (PR_SET_CHILD_SUBREAPER) so that the
new masters become its children when their parents exit: each generation is
then reaped here and its exit status checked.  Every server is stopped by
PID; its process group (all generations share it) is killed at the end.
"""

import ctypes
import os
import re
import shutil
import signal
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import srvtest  # noqa: E402
from loadgen import Load, wait_gone  # noqa: E402
from srvtest import Server, http, pids_in_group, wait_until  # noqa: E402

APP_SRV = os.path.join(srvtest.SOURCE, "tests", "e2e", "reload_app.srv")
PR_SET_CHILD_SUBREAPER = 36
_tmp = tempfile.TemporaryDirectory(prefix="srv-test-reload-")
_built = {}


def program(workers):
    """reload_app.srv compiled with `workers WORKERS;` (once per value)."""
    if workers not in _built:
        with open(APP_SRV) as f:
            text = f.read()
        text, n = re.subn(r"\bworkers 2;", "workers %d;" % workers, text)
        assert n == 1, "reload_app.srv no longer says 'workers 2;'"
        name = "reload_%d" % workers
        path = os.path.join(_tmp.name, name + ".srv")
        with open(path, "w") as f:
            f.write(text)
        _built[workers] = srvtest.build_srv(path, _tmp.name, name=name)
    return _built[workers]


def install(src, dst):
    """Put SRC at DST the way an upgrade does: a new file renamed over the
    old name, so the running binary keeps its (now unlinked) inode."""
    tmp = dst + ".new"
    shutil.copy2(src, tmp)
    os.replace(tmp, dst)


def reap(pid, timeout=20):
    """Wait for PID (our child or, as subreaper, orphaned to us) to exit;
    returns its exit status, or None after TIMEOUT seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            got, st = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return None
        if got == pid:
            return os.waitstatus_to_exitcode(st)
        time.sleep(0.01)
    return None


def ident(addr, path="/id"):
    r = http(addr, "GET", path)
    assert r.status == 200, r
    return {k: int(v) for k, v in re.findall(r"(\w+)=(-?\d+)", r.text())}


class Addr:
    def __init__(self, host, port):
        self.host, self.port = host, port


class ReloadTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
            raise unittest.SkipTest("cannot become a child subreaper")

    def setUp(self):
        self.dir = tempfile.mkdtemp(dir=_tmp.name)
        self.ctl = os.path.join(self.dir, "ctl")
        os.mkdir(self.ctl)
        self.exe = os.path.join(self.dir, "app")
        self.masters = []  # every generation's master pid, oldest first

    def tearDown(self):
        # Stop whatever generation is left, by PID, then reap it.
        for pid in reversed(self.masters):
            st = srvtest.proc_stat(pid)
            if st is not None and st["state"] != "Z":
                os.kill(pid, signal.SIGTERM)
        for pid in self.masters[1:]:
            reap(pid, 15)

    def start(self, workers):
        """Starts the app with WORKERS workers and waits until every worker
        is ready (the sd_notify READY=1 a master sends only then)."""
        install(program(workers), self.exe)
        self.notify = srvtest.NotifySocket(self.dir)
        self.addCleanup(self.notify.close)
        s = Server(self.exe, env=dict(RELOAD_CTL=self.ctl, **self.notify.env()))
        self.addCleanup(s._cleanup)
        self.masters.append(s.pid)
        self.addr = Addr(s.host, s.port)
        ready = self.notify.wait_for("MAINPID=%d" % s.pid, 10)
        self.assertIsNotNone(ready, s.stderr_text())
        self.assertEqual(ready.get("READY"), "1")
        return s

    def reload(self, server, expect_ok=True, timeout=20):
        """SIGHUP the current master; with EXPECT_OK wait until the next
        generation serves and the old master has exited 0; returns the new
        master's pid (or, without EXPECT_OK, the stderr index to search
        from)."""
        old = self.masters[-1]
        start = len(server.stderr_lines())
        nstart = self.notify.count()
        os.kill(old, signal.SIGHUP)
        if not expect_ok:
            return start
        m = server.wait_for_stderr(r"reload: generation \d+ \(pid (\d+)\) is serving",
                                   timeout, start)
        self.assertIsNotNone(m, server.stderr_text())
        new = int(m.group(1))
        # systemd hears the reload begin, then the new main pid ready.
        self.assertIsNotNone(self.notify.wait_for("RELOADING=1", 5, nstart))
        ready = self.notify.wait_for("MAINPID=%d" % new, 5, nstart)
        self.assertIsNotNone(ready)
        self.assertEqual(ready.get("READY"), "1")
        if old == server.pid:
            status = server.wait(timeout)
        else:
            status = reap(old, timeout)
        self.assertEqual(status, 0, "old master %d: %s\n%s" % (old, status, server.stderr_text()))
        self.masters.append(new)
        return new

    def stop_last(self, server):
        pid = self.masters[-1]
        os.kill(pid, signal.SIGTERM)
        status = server.wait(15) if pid == server.pid else reap(pid, 15)
        self.assertEqual(status, 0, server.stderr_text())
        self.assertTrue(wait_until(lambda: not pids_in_group(server.pid), 10),
                        "left behind: %s" % pids_in_group(server.pid))

    def assertClean(self, load, server):
        self.assertEqual(load.failures, [], load.summary() + "\n" + server.stderr_text())
        self.assertEqual(load.retried, 0, load.summary())
        self.assertGreater(load.ok, 100, load.summary())

    # -- successful reloads -------------------------------------------------

    def test_reload_under_load_twice(self):
        s = self.start(2)
        with Load(self.addr.host, self.addr.port) as load:
            self.assertTrue(load.wait_for(200))
            first = self.reload(s)
            self.assertTrue(load.wait_for(200))
            second = self.reload(s)
            self.assertTrue(load.wait_for(200))
        self.assertClean(load, s)
        who = ident(self.addr)
        self.assertEqual(who["master"], second)
        self.assertEqual(who["count"], 2)
        self.assertNotEqual(first, second)
        metrics = http(self.addr, "GET", "/metrics").text()
        self.assertRegex(metrics, r"(?m)^srv_reloads_total 2$")
        self.assertEqual(len(srvtest.children_of(second)), 2)
        self.stop_last(s)

    def test_single_process_reload_under_load(self):
        s = self.start(1)
        with Load(self.addr.host, self.addr.port) as load:
            self.assertTrue(load.wait_for(200))
            new = self.reload(s)
            self.assertTrue(load.wait_for(200))
        self.assertClean(load, s)
        self.assertEqual(ident(self.addr)["pid"], new)
        self.stop_last(s)

    def test_upgrade_changes_worker_count_under_load(self):
        s = self.start(1)
        with Load(self.addr.host, self.addr.port, keepalive=3, fresh=3) as load:
            self.assertTrue(load.wait_for(200))
            install(program(3), self.exe)
            three = self.reload(s)
            self.assertTrue(load.wait_for(300))
            install(program(2), self.exe)
            two = self.reload(s)
            self.assertTrue(load.wait_for(300))
        self.assertClean(load, s)
        text = s.stderr_text()
        # 1 socket grew to 3 (one per worker); 2 workers keep all 3.
        self.assertRegex(text, r"\(3 workers; generation 1, 1 socket handed over\)")
        self.assertRegex(text, r"\(2 workers; generation 2, 3 sockets handed over\)")
        pids = {ident(self.addr)["pid"] for _ in range(40)}
        self.assertEqual(pids, set(srvtest.children_of(two)), text)
        self.assertEqual(len(pids), 2)
        self.assertNotEqual(three, two)
        self.stop_last(s)

    def test_request_in_flight_finishes_on_the_old_generation(self):
        s = self.start(2)
        old_master = s.pid
        conn = srvtest.connect(self.addr, timeout=10)
        conn.sendall(srvtest.format_request(self.addr, "GET", "/slow/1500"))
        self.assertIsNotNone(s.wait_for_stderr(r"slow request for 1500 ms started", 5))
        start = len(s.stderr_lines())
        os.kill(old_master, signal.SIGHUP)
        self.assertIsNotNone(s.wait_for_stderr(r"is serving", 15, start), s.stderr_text())
        r = srvtest.read_response(conn)
        conn.close()
        self.assertEqual(r.status, 200)
        self.assertIn("master=%d" % old_master, r.text())
        self.assertIn("slept=1500", r.text())
        self.assertEqual(s.wait(15), 0)
        m = s.wait_for_stderr(r"generation 1 \(pid (\d+)\) is serving", 1, start)
        self.masters.append(int(m.group(1)))
        self.assertEqual(ident(self.addr)["master"], self.masters[-1])
        self.stop_last(s)

    # -- failed reloads: the old generation keeps serving ------------------

    def assertStillServing(self, s, load):
        self.assertTrue(load.wait_for(100))
        self.assertEqual(ident(self.addr)["master"], s.pid)
        self.assertTrue(s.running())

    def test_setup_exits(self):
        s = self.start(2)
        open(os.path.join(self.ctl, "setup-fails"), "w").close()
        with Load(self.addr.host, self.addr.port) as load:
            self.assertTrue(load.wait_for(100))
            start = self.reload(s, expect_ok=False)
            m = s.wait_for_stderr(r"reload failed: generation 1 \(pid (\d+)\) exited with "
                                  r"status 1 before it was ready; still serving", 15, start)
            self.assertIsNotNone(m, s.stderr_text())
            self.assertTrue(wait_gone(int(m.group(1)), 5))
            self.assertStillServing(s, load)
            # Fixed: the next SIGHUP works.
            os.unlink(os.path.join(self.ctl, "setup-fails"))
            self.reload(s)
            self.assertTrue(load.wait_for(100))
        self.assertClean(load, s)
        failed = [ln for ln in s.stderr_lines() if "reload failed" in ln]
        self.assertEqual(len(failed), 1, failed)
        self.stop_last(s)

    def test_binary_cannot_run(self):
        s = self.start(2)
        with open(self.exe + ".new", "w") as f:
            f.write("this is not a program\n")
        os.chmod(self.exe + ".new", 0o755)
        os.replace(self.exe + ".new", self.exe)
        start = self.reload(s, expect_ok=False)
        self.assertIsNotNone(s.wait_for_stderr(
            r"reload failed: cannot execute .*/app: Exec format error; still serving",
            15, start), s.stderr_text())
        os.unlink(self.exe)
        start = self.reload(s, expect_ok=False)
        self.assertIsNotNone(s.wait_for_stderr(
            r"reload failed: cannot execute .*/app: No such file or directory; still serving",
            15, start), s.stderr_text())
        self.assertEqual(ident(self.addr)["master"], s.pid)
        self.assertEqual(srvtest.zombies_among(srvtest.children_of(s.pid)), [])
        self.stop_last(s)

    def test_workers_crash_loop(self):
        s = self.start(2)
        open(os.path.join(self.ctl, "worker-crash"), "w").close()
        with Load(self.addr.host, self.addr.port) as load:
            self.assertTrue(load.wait_for(100))
            start = self.reload(s, expect_ok=False)
            self.assertIsNotNone(s.wait_for_stderr(
                r"reload failed: generation 1 \(pid \d+\) exited with status 1 before it "
                r"was ready; still serving", 30, start), s.stderr_text())
            self.assertStillServing(s, load)
        self.assertClean(load, s)
        self.stop_last(s)

    def test_slow_setup_times_out_and_second_sighup_is_ignored(self):
        s = self.start(2)
        with open(os.path.join(self.ctl, "setup-slow"), "w") as f:
            f.write("8000\n")
        start = self.reload(s, expect_ok=False)
        m = s.wait_for_stderr(r"reload: starting generation 1 \(pid (\d+)\)", 10, start)
        self.assertIsNotNone(m, s.stderr_text())
        os.kill(s.pid, signal.SIGHUP)
        self.assertIsNotNone(s.wait_for_stderr(
            r"received SIGHUP; a reload is already under way \(pid %s\); ignored" % m.group(1),
            10, start), s.stderr_text())
        # reload_app.srv says `reload 3s`.
        self.assertIsNotNone(s.wait_for_stderr(
            r"reload failed: generation 1 \(pid %s\) was not ready after 3000 ms and was "
            r"stopped; still serving" % m.group(1), 15, start), s.stderr_text())
        self.assertTrue(wait_gone(int(m.group(1)), 10))
        self.assertEqual(ident(self.addr)["master"], s.pid)
        self.assertEqual(len([ln for ln in s.stderr_lines() if "starting generation" in ln]), 1)
        self.stop_last(s)

    def test_reload_refused_while_previous_generation_drains(self):
        s = self.start(2)
        conn = srvtest.connect(self.addr, timeout=10)
        conn.sendall(srvtest.format_request(self.addr, "GET", "/slow/2500"))
        self.assertIsNotNone(s.wait_for_stderr(r"slow request for 2500 ms started", 5))
        new = self.reload(s, expect_ok=False)
        m = s.wait_for_stderr(r"generation 1 \(pid (\d+)\) is serving", 15, new)
        self.assertIsNotNone(m, s.stderr_text())
        new = int(m.group(1))
        self.masters.append(new)
        self.assertTrue(s.running())  # still draining the slow request
        start = len(s.stderr_lines())
        os.kill(new, signal.SIGHUP)
        self.assertIsNotNone(s.wait_for_stderr(
            r"received SIGHUP; the previous generation \(pid %d\) is still draining; ignored"
            % s.pid, 10, start), s.stderr_text())
        self.assertEqual(srvtest.read_response(conn).status, 200)
        conn.close()
        self.assertEqual(s.wait(15), 0)
        # Now it may.
        self.reload(s)
        self.stop_last(s)

    def test_stop_while_a_generation_starts(self):
        s = self.start(2)
        with open(os.path.join(self.ctl, "setup-slow"), "w") as f:
            f.write("8000\n")
        start = self.reload(s, expect_ok=False)
        m = s.wait_for_stderr(r"reload: starting generation 1 \(pid (\d+)\)", 10, start)
        self.assertIsNotNone(m, s.stderr_text())
        self.assertEqual(s.stop(signal.SIGTERM, 15), 0)
        self.assertTrue(wait_gone(int(m.group(1)), 10), "the starting generation lives on")
        reap(int(m.group(1)), 5)
        self.assertIsNotNone(s.wait_for_stderr(r"was stopped by the shutdown", 1, start))
        self.assertTrue(wait_until(lambda: not pids_in_group(s.pid), 10),
                        "left behind: %s" % pids_in_group(s.pid))


if __name__ == "__main__":
    srvtest.main()
