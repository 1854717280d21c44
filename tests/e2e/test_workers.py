#!/usr/bin/env python3
"""test_workers - the multi-process server (issue 3) with real processes.

Builds tests/e2e/workers_app.srv (and variants with another `workers`
setting) with srvc and cc, then checks the process model from outside:
which pids answer, what the master does when workers die or signals
arrive, and that nothing is left behind.  Every wait has a deadline; every
server is stopped by PID and its process group killed at the end.
"""

import concurrent.futures
import os
import re
import signal
import socket
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import srvtest  # noqa: E402
from srvtest import Server, children_of, http, pids_in_group, proc_stat, wait_until  # noqa: E402

APP_SRV = os.path.join(srvtest.SOURCE, "tests", "e2e", "workers_app.srv")
_tmp = tempfile.TemporaryDirectory(prefix="srv-test-workers-")
_built = {}


def program(workers="4"):
    """The test app compiled with `workers WORKERS;` (built once per value)."""
    if workers not in _built:
        with open(APP_SRV) as f:
            text = f.read()
        text, n = re.subn(r"\bworkers 4;", "workers %s;" % workers, text)
        assert n == 1, "workers_app.srv no longer says 'workers 4;'"
        name = "workers_" + workers
        path = os.path.join(_tmp.name, name + ".srv")
        with open(path, "w") as f:
            f.write(text)
        _built[workers] = srvtest.build_srv(path, _tmp.name, name=name)
    return _built[workers]


def who(server, path="/id"):
    """{'id', 'count', 'pid', 'ws', 'setup'} of the process that answered."""
    r = http(server, "GET", path)
    assert r.status == 200, r
    return {k: int(v) for k, v in re.findall(r"(\w+)=(-?\d+)", r.text())}


def keepalive_who(sock, server, path="/id"):
    """Like who(), on an open keep-alive connection SOCK."""
    sock.sendall(srvtest.format_request(server, "GET", path))
    r = srvtest.read_response(sock)
    assert r.status == 200, r
    return {k: int(v) for k, v in re.findall(r"(\w+)=(-?\d+)", r.text())}


def worker_pids(server, n, timeout=10):
    """The N worker pids of SERVER's master, once all N are running."""
    return set(srvtest.worker_pids(server, n, timeout))


def gone(pids):
    """True when none of PIDS is running (a zombie reparented to an init that
    does not reap counts as gone: it runs nothing and holds no socket)."""
    for p in pids:
        st = proc_stat(p)
        if st is not None and st["state"] != "Z":
            return False
    return True


def send_request(server, path):
    """A fresh connection with one request fully sent; read it later."""
    s = srvtest.connect(server, timeout=15)
    s.sendall(srvtest.format_request(server, "GET", path))
    return s


class FourWorkers(unittest.TestCase):
    def test_four_distinct_worker_pids_serve_concurrent_connections(self):
        with Server(program("4")) as s:
            self.assertIn("(4 workers)", s.stderr_text())
            kids = worker_pids(s, 4)
            with concurrent.futures.ThreadPoolExecutor(16) as pool:
                answers = list(pool.map(lambda _: who(s), range(200)))
            by_id = {}
            for a in answers:
                by_id.setdefault(a["id"], set()).add(a["pid"])
                self.assertEqual(a["count"], 4)
                self.assertEqual(a["ws"], a["pid"], "worker_setup ran in that worker")
                self.assertEqual(a["setup"], s.pid, "setup ran once, in the master")
            # Every worker got some of the 200 connections, each id is one pid,
            # and those are exactly the master's children.
            self.assertEqual(sorted(by_id), [0, 1, 2, 3])
            self.assertTrue(all(len(p) == 1 for p in by_id.values()), by_id)
            self.assertEqual(set().union(*by_id.values()), kids)
            self.assertEqual(s.stop(signal.SIGTERM, timeout=15), 0)


class OneProcess(unittest.TestCase):
    def check_single(self, binary, args=()):
        with Server(binary, args=args) as s:
            self.assertIn("(1 process)", s.stderr_text())
            for _ in range(5):
                a = who(s)
                self.assertEqual((a["id"], a["count"], a["pid"]), (0, 1, s.pid))
                self.assertEqual(a["ws"], s.pid, "worker_setup runs in the single process")
            self.assertEqual(children_of(s.pid), [])
            self.assertEqual(pids_in_group(s.pid), [s.pid])
            self.assertEqual(s.stop(signal.SIGTERM, timeout=15), 0)

    def test_workers_1_in_file_is_one_process(self):
        self.check_single(program("1"))

    def test_workers_0_in_file_is_one_process(self):
        self.check_single(program("0"))

    def test_workers_0_on_command_line_is_one_process(self):
        self.check_single(program("4"), args=("--workers", "0"))

    def test_workers_1_on_command_line_is_one_process(self):
        self.check_single(program("4"), args=("--workers", "1"))


class Shutdown(unittest.TestCase):
    def test_sigterm_under_load_answers_every_request_already_sent(self):
        with Server(program("4")) as s:
            kids = worker_pids(s, 4)
            # 16 slow requests in flight or queued, plus quick ones just sent.
            socks = [send_request(s, "/slow/300") for _ in range(16)]
            socks += [send_request(s, "/id") for _ in range(16)]
            s.send_signal(signal.SIGTERM)
            for sock in socks:
                with sock:
                    r = srvtest.read_response(sock)
                    self.assertEqual(r.status, 200)
                    self.assertRegex(r.text(), r"^id=\d count=4 pid=\d+ ws=\d+ setup=%d\n$" % s.pid)
            self.assertEqual(s.wait(timeout=10), 0, s.stderr_text())
            self.assertTrue(wait_until(lambda: gone(kids), 5), "workers left behind")
            self.assertEqual(pids_in_group(s.pid), [])
            self.assertRegex(s.stderr_text(), r"received SIGTERM; draining 4 worker\(s\)")
            self.assertNotIn("killed by signal", s.stderr_text())

    def test_sigint_to_whole_group_is_one_graceful_shutdown(self):
        # Ctrl-C: SIGINT reaches the master and every worker at once; the
        # master's own SIGTERM to the workers must not count as a second one.
        with Server(program("4")) as s:
            kids = worker_pids(s, 4)
            socks = [send_request(s, "/slow/300") for _ in range(8)]
            os.killpg(s.pid, signal.SIGINT)
            for sock in socks:
                with sock:
                    self.assertEqual(srvtest.read_response(sock).status, 200)
            self.assertEqual(s.wait(timeout=10), 0, s.stderr_text())
            self.assertTrue(wait_until(lambda: gone(kids), 5))

    def test_second_sigterm_during_drain_ends_everything_at_once(self):
        with Server(program("4")) as s:
            kids = worker_pids(s, 4)
            sock = send_request(s, "/slow/4000")
            with sock:
                # The request is being handled once some worker sleeps in it;
                # then the first signal starts a drain that would take seconds.
                s.send_signal(signal.SIGTERM)
                self.assertTrue(s.wait_for_stderr(r"received SIGTERM; draining", 5))
                t0 = time.monotonic()
                s.send_signal(signal.SIGTERM)
                self.assertEqual(s.wait(timeout=3), 1, s.stderr_text())
                self.assertLess(time.monotonic() - t0, 3)
            # Nothing runs any more.  (Not "no pid at all": under ASan a worker
            # SIGKILLed during its exit-time leak check orphans LSan's tracer
            # task, which an init that does not reap leaves as a zombie.)
            self.assertTrue(wait_until(lambda: gone(pids_in_group(s.pid)), 5),
                            [proc_stat(p) for p in pids_in_group(s.pid)])

    def test_drain_is_bounded_by_the_shutdown_timeout(self):
        # workers_app.srv says `shutdown 5s`; a client that never finishes its
        # request must not hold the server up longer than that.
        with Server(program("4")) as s:
            kids = worker_pids(s, 4)
            sock = srvtest.connect(s, timeout=15)
            with sock:
                sock.sendall(b"GET /id HTTP/1.1\r\nHost: x\r\n")
                # Accepted before the drain or by it: either way in flight.
                time_sent = time.monotonic()
                s.send_signal(signal.SIGTERM)
                self.assertEqual(s.wait(timeout=12), 0, s.stderr_text())
                elapsed = time.monotonic() - time_sent
            self.assertGreaterEqual(elapsed, 4.5)
            self.assertLess(elapsed, 9)
            self.assertRegex(s.stderr_text(), r"shutdown timeout \(5000 ms\) reached; "
                             r"closing 1 connection")
            self.assertTrue(wait_until(lambda: gone(kids), 5))

    def test_single_process_drains_then_second_signal_exits_at_once(self):
        with Server(program("1")) as s:
            sock = send_request(s, "/slow/300")
            with sock:
                s.send_signal(signal.SIGTERM)
                self.assertEqual(srvtest.read_response(sock).status, 200)
            self.assertEqual(s.wait(timeout=10), 0, s.stderr_text())
        with Server(program("1")) as s:
            # A request whose head is still arriving keeps the drain waiting,
            # while the event loop stays free to read the next signal.
            sock = srvtest.connect(s, timeout=15)
            with sock:
                sock.sendall(b"GET /id HTTP/1.1\r\nHost: x\r\n")
                s.send_signal(signal.SIGTERM)
                self.assertTrue(s.wait_for_stderr(r"received SIGTERM; draining", 5))
                t0 = time.monotonic()
                s.send_signal(signal.SIGINT)
                self.assertEqual(s.wait(timeout=5), 1, s.stderr_text())
                self.assertLess(time.monotonic() - t0, 5)


class Respawn(unittest.TestCase):
    def test_killed_worker_is_replaced_and_others_never_fail(self):
        with Server(program("4")) as s:
            worker_pids(s, 4)
            # One keep-alive connection pinned to each worker.
            pinned = {}
            deadline = time.monotonic() + 10
            while len(pinned) < 4 and time.monotonic() < deadline:
                sock = srvtest.connect(s)
                a = keepalive_who(sock, s)
                if a["id"] in pinned:
                    sock.close()
                else:
                    pinned[a["id"]] = (sock, a["pid"])
            self.assertEqual(sorted(pinned), [0, 1, 2, 3])
            victim_sock, victim = pinned.pop(2)
            victim_sock.close()

            # Fresh-connection load from 4 threads while the kill happens.
            stop = threading.Event()
            results = {"ok": 0, "failed": 0}
            lock = threading.Lock()

            def load():
                while not stop.is_set():
                    try:
                        who(s)
                        key = "ok"
                    except (OSError, AssertionError, ValueError, srvtest.Incomplete):
                        key = "failed"
                    with lock:
                        results[key] += 1
            threads = [threading.Thread(target=load) for _ in range(4)]
            for t in threads:
                t.start()
            try:
                os.kill(victim, signal.SIGKILL)
                # The others answer on their pinned connections throughout.
                t_end = time.monotonic() + 1.0
                while time.monotonic() < t_end:
                    for wid, (sock, pid) in pinned.items():
                        a = keepalive_who(sock, s)
                        self.assertEqual((a["id"], a["pid"]), (wid, pid))
                self.assertTrue(s.wait_for_stderr(
                    r"worker 2 \(pid %d\) killed by signal 9 \(Killed\)" % victim, 5),
                    s.stderr_text())
                kids = worker_pids(s, 4)
                self.assertNotIn(victim, kids)
                # Reaped by the master, not left as a zombie.
                self.assertTrue(wait_until(lambda: proc_stat(victim) is None, 5))
            finally:
                stop.set()
                for t in threads:
                    t.join(10)
            # Only requests the victim itself held when it died may fail: at
            # most one per load thread.
            self.assertLessEqual(results["failed"], 4, results)
            self.assertGreater(results["ok"], 0, results)

            # The replacement has the same id, a new pid, and ran worker_setup.
            deadline = time.monotonic() + 10
            a = None
            while time.monotonic() < deadline:
                a = who(s)
                if a["id"] == 2:
                    break
            self.assertEqual(a["id"], 2)
            self.assertNotEqual(a["pid"], victim)
            self.assertIn(a["pid"], kids)
            self.assertEqual(a["ws"], a["pid"])
            self.assertEqual(len(re.findall(r"worker_setup ran in worker 2\b",
                                            s.stderr_text())), 2)
            for sock, _ in pinned.values():
                sock.close()
            self.assertEqual(s.stop(signal.SIGTERM, timeout=15), 0)

    def test_worker_crashing_in_worker_setup_makes_master_give_up(self):
        t0 = time.monotonic()
        r = srvtest.run([program("4"), "--port", "0"], timeout=30,
                        env={"SRV_TEST_CRASH_IN_WORKER_SETUP": "1"})
        err = r.stderr.decode(errors="replace")
        self.assertEqual(r.returncode, 1, err)
        self.assertIn("giving up", err)
        self.assertRegex(err, r"worker \d \(pid \d+\) killed by signal 6 \(Aborted\)")
        # Not a spin: a handful of deaths, not hundreds, and quickly.
        self.assertLessEqual(err.count("killed by signal"), 12, err)
        self.assertLess(time.monotonic() - t0, 20)


class Boot(unittest.TestCase):
    def test_busy_port_fails_before_forking(self):
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            port = busy.getsockname()[1]
            binary = program("4")
            r = srvtest.run([binary, "--port", str(port)], timeout=10)
        err = r.stderr.decode(errors="replace")
        self.assertEqual(r.returncode, 1, err)
        self.assertEqual(err, "%s: bind 127.0.0.1:%d: Address already in use\n"
                         % (os.path.basename(binary), port))

    def test_second_copy_on_the_same_port_fails(self):
        # SO_REUSEPORT would let a second copy (same user) share the port.
        with Server(program("4")) as s:
            worker_pids(s, 4)
            r = srvtest.run([program("4"), "--port", str(s.port)], timeout=10)
            err = r.stderr.decode(errors="replace")
            self.assertEqual(r.returncode, 1, err)
            self.assertIn("bind 127.0.0.1:%d: Address already in use" % s.port, err)
            self.assertNotIn("worker_setup ran", err)

    def test_bad_usage_exits_2(self):
        for args in (["--workers", "lots"], ["--port", "70000"], ["--frobnicate"], ["--port"]):
            r = srvtest.run([program("4")] + args, timeout=10)
            err = r.stderr.decode(errors="replace")
            self.assertEqual(r.returncode, 2, (args, err))
            self.assertIn("--help", err)
            self.assertNotIn("listening", err)


class MasterDeath(unittest.TestCase):
    def test_sigkill_of_master_leaves_no_worker(self):
        with Server(program("4")) as s:
            kids = worker_pids(s, 4)
            os.kill(s.pid, signal.SIGKILL)
            s.wait(timeout=5)
            self.assertTrue(wait_until(lambda: gone(kids), 10),
                            [proc_stat(k) for k in kids])
            with self.assertRaises(ConnectionRefusedError):
                socket.create_connection((s.host, s.port), timeout=5).close()


def cgroup_cpu_limit():
    """A CPU quota visible at the usual cgroup files, or None.  Only to skip
    tests whose expectation a quota would change; tests/runtime/test_cpu.c
    covers the quota logic itself."""
    for path in ("/sys/fs/cgroup/cpu.max", "/sys/fs/cgroup/cpu/cpu.cfs_quota_us"):
        try:
            with open(path) as f:
                fields = f.read().split()
        except OSError:
            continue
        if fields and fields[0] not in ("max", "-1"):
            return fields
    return None


class Auto(unittest.TestCase):
    def start_auto_under_taskset(self, cpus):
        return Server("taskset", args=("-c", ",".join(map(str, cpus)), program("auto"),
                                       "--port", "0"), port=None)

    def test_auto_under_taskset_one_cpu_is_one_process(self):
        cpu = min(os.sched_getaffinity(0))
        with self.start_auto_under_taskset([cpu]) as s:
            self.assertIn("(1 process)", s.stderr_text())
            self.assertEqual(children_of(s.pid), [])
            self.assertEqual(who(s)["pid"], s.pid)

    def test_auto_under_taskset_two_cpus_starts_two_workers(self):
        cpus = sorted(os.sched_getaffinity(0))[:2]
        if len(cpus) < 2:
            self.skipTest("needs two usable CPUs")
        if cgroup_cpu_limit() is not None:
            self.skipTest("a cgroup CPU quota applies: %s" % cgroup_cpu_limit())
        with self.start_auto_under_taskset(cpus) as s:
            self.assertIn("(2 workers)", s.stderr_text())
            self.assertEqual(len(worker_pids(s, 2)), 2)

    def test_auto_without_taskset_uses_the_affinity_mask(self):
        if cgroup_cpu_limit() is not None:
            self.skipTest("a cgroup CPU quota applies: %s" % cgroup_cpu_limit())
        n = len(os.sched_getaffinity(0))
        with Server(program("auto")) as s:
            if n > 1:
                self.assertIn("(%d workers)" % n, s.stderr_text())
                self.assertEqual(len(worker_pids(s, n)), n)
            else:
                self.assertIn("(1 process)", s.stderr_text())


if __name__ == "__main__":
    srvtest.main()
