#!/usr/bin/env python3
"""test_pubsub - timers, fd watches and publish/subscribe in real servers.

Drives tests/e2e/pubsub.srv (built by meson) with `workers 2`: every worker
subscribes to "news" in worker_setup, so a publish made on one worker must
show up in the per-worker counts of both (the test holds a keep-alive
connection to each worker to read them).  Then the same server built with
`pubsub redis "127.0.0.1" PORT;` against a redis-server started here on a
free loopback port (no persistence, in a temporary directory, stopped by
PID): two servers sharing channels, a Redis restart, a worker killed.
Every wait is for a condition with a deadline.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import srvtest  # noqa: E402
from srvtest import Server, children_of, wait_until  # noqa: E402

SRV = os.path.join(srvtest.SOURCE, "tests", "e2e", "pubsub.srv")
_tmp = tempfile.TemporaryDirectory(prefix="srv-test-pubsub-")
_built = {}


def bus_program():
    return srvtest.test_program("pubsub")


def redis_program(port):
    """pubsub.srv with `pubsub redis "127.0.0.1" PORT;`, built the user's way."""
    if port not in _built:
        with open(SRV) as f:
            text = f.read()
        text, n = re.subn(r"^    workers 2;",
                          '    workers 2;\n    pubsub redis "127.0.0.1" %d;' % port, text,
                          flags=re.M)
        assert n == 1, "pubsub.srv no longer says 'workers 2;'"
        name = "pubsub_redis_%d" % port
        path = os.path.join(_tmp.name, name + ".srv")
        with open(path, "w") as f:
            f.write(text)
        _built[port] = srvtest.build_srv(path, _tmp.name, name=name)
    return _built[port]


def parse(text):
    out = {}
    for k, v in re.findall(r"(\w+)=(\S*)", text):
        out[k] = int(v) if re.fullmatch(r"-?\d+", v) else v
    return out


class Worker:
    """A keep-alive connection that is known to reach one worker."""

    def __init__(self, server, sock, info):
        self.server, self.sock, self.id, self.pid = server, sock, info["worker"], info["pid"]

    def request(self, method, path, body=b""):
        self.sock.sendall(srvtest.format_request(self.server, method, path, body=body))
        r = srvtest.read_response(self.sock)
        assert r.status == 200, r
        return parse(r.text())

    def stats(self):
        return self.request("GET", "/stats")

    def close(self):
        self.sock.close()


def reach_workers(server, n=2, tries=400):
    """{worker id: Worker} with one connection to each of N workers (the
    kernel spreads connections over the workers' sockets by hash, so new
    connections are opened until every worker has answered one)."""
    found, spare = {}, []
    for _ in range(tries):
        s = srvtest.connect(server, timeout=10)
        s.sendall(srvtest.format_request(server, "GET", "/whoami"))
        info = parse(srvtest.read_response(s).text())
        if info["worker"] in found:
            spare.append(s)
        else:
            found[info["worker"]] = Worker(server, s, info)
            if len(found) == n:
                break
    for s in spare:
        s.close()
    assert len(found) == n, "reached workers %s only" % sorted(found)
    return found


def close_all(workers):
    for w in workers.values():
        w.close()


class Bus(unittest.TestCase):
    """Two workers of one server, the shared-memory bus between them."""

    def setUp(self):
        self.s = Server(bus_program())
        self.w = reach_workers(self.s)

    def tearDown(self):
        close_all(self.w)
        self.s.__exit__(None, None, None)  # graceful stop, sanitizer check
        self.assertEqual(self.s.proc.returncode, 0, self.s.stderr_text())

    def wait_stats(self, worker, cond, timeout=10):
        got = wait_until(lambda: (lambda st: st if cond(st) else None)(worker.stats()), timeout)
        self.assertTrue(got, "condition never held; last stats %s" % worker.stats())
        return got

    def test_timers_started_in_worker_setup_run_in_every_worker(self):
        for w in self.w.values():
            st = self.wait_stats(w, lambda st: st["ticks"] >= 3 and st["once"] == 1)
            self.assertEqual(st["once"], 1, "a one-shot timer fires once")

    def test_setup_in_the_master_gets_clean_failures(self):
        for w in self.w.values():
            self.assertEqual(w.stats()["setup"], 15)

    def test_an_fd_watch_from_worker_setup_sees_its_pipe(self):
        w = self.w[1]
        before = w.stats()["pokes"]
        w.sock.sendall(srvtest.format_request(self.s, "POST", "/poke"))
        self.assertEqual(srvtest.read_response(w.sock).text(), "poked\n")
        self.wait_stats(w, lambda st: st["pokes"] == before + 1)

    def test_a_publish_reaches_the_subscribers_of_both_workers(self):
        for src in (0, 1):
            base = {i: w.stats()["received"] for i, w in self.w.items()}
            msg = "hello-from-%d" % src
            r = self.w[src].request("POST", "/publish/news", msg.encode())
            self.assertEqual(r["reached"], 1, "the publisher's own subscriber, at once")
            for i, w in self.w.items():
                st = self.wait_stats(w, lambda st, i=i: st["received"] >= base[i] + 1)
                self.assertEqual(st["received"], base[i] + 1)
                self.assertEqual(st["last"], msg)

    def test_one_publishers_messages_arrive_in_order(self):
        base = self.w[1].stats()["received"]
        r = self.w[0].request("POST", "/publish_seq/2000")
        self.assertEqual(r["rc"], 1)
        st = self.wait_stats(self.w[1], lambda st: st["received"] >= base + 2000)
        self.assertEqual(st["received"], base + 2000, "no loss below the ring's size")
        self.assertEqual(st["order_errors"], 0)
        self.assertEqual(st["last"], "seq-1999-0")

    def test_a_worker_too_far_behind_loses_messages_and_the_publisher_says_so(self):
        slow, fast = self.w[0], self.w[1]
        base = slow.stats()["received"]
        # Worker 0 sleeps in a handler; worker 1 publishes 40 x 60000 bytes,
        # more than the 1 MiB ring from 1 to 0 holds.
        slow.sock.sendall(srvtest.format_request(self.s, "GET", "/block/1500"))
        # Wait until worker 0 is really inside the handler: its answer to a
        # request on another connection would not come, so look at its
        # state in /proc instead (sleeping, not in epoll_wait).
        self.assertTrue(wait_until(lambda: _wchan(slow.pid) not in ("", "ep_poll", "do_epoll_wait"), 5))
        r = fast.request("POST", "/flood/40")
        self.assertEqual(r, {})
        self.assertTrue(self.s.wait_for_stderr(r"pubsub: worker 0 is more than 1024 KiB behind", 5),
                        self.s.stderr_text())
        self.assertEqual(srvtest.read_response(slow.sock).text(), "unblocked\n")
        st = self.wait_stats(slow, lambda st: st["received"] > base)
        got = st["received"] - base
        self.assertLess(got, 40)
        self.assertGreaterEqual(got, 15, "what fitted in the ring was delivered")
        # And the bus works as before afterwards.
        fast.request("POST", "/publish/news", b"after")
        self.wait_stats(slow, lambda st: st["last"] == "after")

    def test_a_respawned_worker_has_working_channels(self):
        old = self.w[1]
        os.kill(old.pid, signal.SIGKILL)
        self.assertTrue(wait_until(lambda: old.pid not in children_of(self.s.pid)
                                   and len(children_of(self.s.pid)) == 2, 10))
        old.close()
        self.w[0].close()
        self.w = reach_workers(self.s)
        self.assertNotEqual(self.w[1].pid, old.pid)
        for src, dst in ((0, 1), (1, 0)):
            base = self.w[dst].stats()["received"]
            self.w[src].request("POST", "/publish/news", b"after-respawn-%d" % src)
            st = self.wait_stats(self.w[dst], lambda st: st["received"] > base)
            self.assertEqual(st["last"], "after-respawn-%d" % src)
        self.assertIn("killed by signal 9", self.s.stderr_text())


def _wchan(pid):
    try:
        with open("/proc/%d/wchan" % pid) as f:
            return f.read().strip()
    except OSError:
        return ""


class OneProcess(unittest.TestCase):
    def test_without_workers_there_is_no_bus_and_local_delivery_works(self):
        with Server(bus_program(), workers=1) as s:
            w = reach_workers(s, 1)[0]
            self.assertEqual(w.request("POST", "/publish/news", b"solo")["reached"], 1)
            st = w.stats()
            self.assertEqual((st["last"], st["setup"]), ("solo", 15))
            w.close()
            self.assertEqual(s.stop(signal.SIGTERM, timeout=15), 0)


# ---------------------------------------------------------------------------
# Redis


class RedisServer:
    """redis-server on 127.0.0.1:PORT in a temporary directory, no
    persistence; ready once it answers PING; stopped by PID."""

    def __init__(self, port):
        self.port = port
        self.dir = tempfile.mkdtemp(prefix="srv-test-redis-")
        self.proc = None
        self.start()

    def start(self):
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir, "--daemonize", "no"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        if not wait_until(self.ping, 10):
            self.stop()
            raise AssertionError("redis-server on port %d not ready" % self.port)

    def ping(self):
        if self.proc.poll() is not None:
            raise AssertionError("redis-server exited with status %s" % self.proc.returncode)
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def command(self, *args):
        """One command; the raw reply."""
        parts = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(b"".join(parts))
            return s.recv(65536)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class Redis(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        port = srvtest.free_port()
        cls.binary = redis_program(port)
        cls.redis = RedisServer(port)

    @classmethod
    def tearDownClass(cls):
        cls.redis.close()

    def wait_stats(self, worker, cond, timeout=10):
        got = wait_until(lambda: (lambda st: st if cond(st) else None)(worker.stats()), timeout)
        self.assertTrue(got, "condition never held; last stats %s" % worker.stats())
        return got

    def wait_subscribed(self, n):
        """Until Redis counts N subscribers of news (every worker's link is up)."""
        ok = wait_until(lambda: self.redis.command("PUBSUB", "NUMSUB", "news")
                        .endswith(b":%d\r\n" % n), 10)
        self.assertTrue(ok, self.redis.command("PUBSUB", "NUMSUB", "news"))

    def test_two_servers_share_channels_and_each_message_arrives_once(self):
        with Server(self.binary) as a, Server(self.binary) as b:
            wa, wb = reach_workers(a), reach_workers(b)
            everyone = [wa[0], wa[1], wb[0], wb[1]]
            self.wait_subscribed(4)
            base = [w.stats()["received"] for w in everyone]
            self.assertEqual(wa[0].request("POST", "/publish/news", b"one")["reached"], 1)
            wb[1].request("POST", "/publish/news", b"two")
            for w, n in zip(everyone, base):
                st = self.wait_stats(w, lambda st, n=n: st["received"] >= n + 2)
                self.assertEqual(st["received"], n + 2, "no double delivery")
            # Messages published by another client have no origin tag.
            self.redis.command("PUBLISH", "news", "from-redis-cli")
            for w, n in zip(everyone, base):
                self.wait_stats(w, lambda st: st["last"] == "from-redis-cli")
            # Per-publisher order through Redis.
            base1 = wb[0].stats()["received"]
            wa[1].request("POST", "/publish_seq/500")
            st = self.wait_stats(wb[0], lambda st: st["received"] >= base1 + 500)
            self.assertEqual(st["order_errors"], 0)
            close_all(wa)
            close_all(wb)
            self.assertEqual(a.stop(signal.SIGTERM, timeout=15), 0)
            self.assertEqual(b.stop(signal.SIGTERM, timeout=15), 0)

    def test_a_channel_is_subscribed_on_the_first_subscriber_and_left_after_the_last(self):
        with Server(self.binary) as a, Server(self.binary) as b:
            wa, wb = reach_workers(a), reach_workers(b)
            self.wait_subscribed(4)
            numsub = lambda: self.redis.command("PUBSUB", "NUMSUB", "dyn")  # noqa: E731
            self.assertTrue(numsub().endswith(b":0\r\n"))
            wa[0].request("POST", "/sub/dyn")
            self.assertTrue(wait_until(lambda: numsub().endswith(b":1\r\n"), 10))
            wb[1].request("POST", "/publish/dyn", b"x")
            self.wait_stats(wa[0], lambda st: st["dyn"] == 1)
            # Leave and come back at once: the UNSUBSCRIBE may still be in
            # flight when the second SUBSCRIBE is wanted.
            wa[0].request("POST", "/unsub")
            wa[0].request("POST", "/sub/dyn")
            self.assertTrue(wait_until(lambda: numsub().endswith(b":1\r\n"), 10))
            wb[1].request("POST", "/publish/dyn", b"y")
            self.wait_stats(wa[0], lambda st: st["dyn"] == 2)
            wa[0].request("POST", "/unsub")
            self.assertTrue(wait_until(lambda: numsub().endswith(b":0\r\n"), 10))
            close_all(wa)
            close_all(wb)

    def test_a_redis_restart_is_survived_and_channels_come_back(self):
        with Server(self.binary) as a:
            w = reach_workers(a)
            self.wait_subscribed(2)
            mark = len(a.stderr_lines())
            self.redis.stop()
            self.assertTrue(a.wait_for_stderr(r"connection lost", 10, start=mark))
            # Publishing meanwhile: local subscribers only, and it is said.
            self.assertEqual(w[0].request("POST", "/publish/news", b"while-down")["reached"], 1)
            self.assertTrue(a.wait_for_stderr(r"not connected; 1 message\(s\) reached only", 10,
                                              start=mark))
            self.redis.start()
            self.assertTrue(wait_until(
                lambda: len([ln for ln in a.stderr_lines()[mark:] if "connected again" in ln]) == 2,
                15), a.stderr_text())
            self.wait_subscribed(2)
            base = w[1].stats()["received"]
            w[0].request("POST", "/publish/news", b"after-restart")
            st = self.wait_stats(w[1], lambda st: st["received"] > base)
            self.assertEqual(st["last"], "after-restart")
            self.assertTrue(a.running())
            close_all(w)
            self.assertEqual(a.stop(signal.SIGTERM, timeout=15), 0)

    def test_a_handler_talks_to_redis_through_an_attached_hiredis_context(self):
        with Server(bus_program(), env={"SRV_TEST_REDIS_PORT": str(self.redis.port)}) as s:
            w = reach_workers(s)
            self.redis.command("DEL", "hits")
            for n in (1, 2, 3):
                w[n % 2].sock.sendall(srvtest.format_request(s, "POST", "/redis/incr/hits"))
                self.assertEqual(srvtest.read_response(w[n % 2].sock).text(), "sent\n")
                self.wait_stats(w[n % 2], lambda st, n=n: st["incr"] == n)
            self.assertEqual(self.redis.command("GET", "hits"), b"$1\r\n3\r\n")
            self.assertNotIn("test redis client", s.stderr_text())
            close_all(w)

    def test_a_killed_worker_comes_back_subscribed(self):
        with Server(self.binary) as a:
            w = reach_workers(a)
            self.wait_subscribed(2)
            os.kill(w[0].pid, signal.SIGKILL)
            self.assertTrue(wait_until(lambda: w[0].pid not in children_of(a.pid)
                                       and len(children_of(a.pid)) == 2, 10))
            close_all(w)
            w = reach_workers(a)
            # Redis may still count the dead worker's connection for a
            # moment: publish until the replacement has one.
            base = w[0].stats()["received"]

            def delivered():
                w[1].request("POST", "/publish/news", b"to-the-new-one")
                return w[0].stats()["received"] > base
            self.assertTrue(wait_until(delivered, 10, interval=0.05))
            self.assertEqual(w[0].stats()["last"], "to-the-new-one")
            close_all(w)


class RedisCounterExample(unittest.TestCase):
    """examples/redis_counter.srv: deferred responses finished from hiredis
    replies, a client that leaves before its reply, Redis going away."""

    def test_counts_through_redis_without_blocking(self):
        path = os.path.join(srvtest.BUILD, "examples", "redis_counter")
        if not os.access(path, os.X_OK):
            self.skipTest("examples/redis_counter is not built until srv_response_defer "
                          "exists (examples/meson.build)")
        redis = RedisServer(srvtest.free_port())
        try:
            with Server(path, env={"REDIS_PORT": str(redis.port)}) as s:
                # Each worker connects in worker_setup; until then it answers 503.
                self.assertTrue(wait_until(
                    lambda: all(srvtest.http(s, "POST", "/hits/warm").status == 200
                                for _ in range(8)), 10))
                self.assertEqual(srvtest.http(s, "GET", "/hits/none").text(), "none=0\n")
                for n in range(1, 6):
                    self.assertEqual(srvtest.http(s, "POST", "/hits/home").text(), "home=%d\n" % n)
                self.assertEqual(srvtest.http(s, "GET", "/hits/home").text(), "home=5\n")
                # Many requests waiting on Redis at once, on every worker.
                import concurrent.futures
                with concurrent.futures.ThreadPoolExecutor(16) as pool:
                    got = list(pool.map(lambda _: srvtest.http(s, "POST", "/hits/many").text(),
                                        range(64)))
                self.assertEqual(sorted(int(t.split("=")[1]) for t in got), list(range(1, 65)))
                # A client that leaves while Redis holds its command: the
                # request is cancelled, the late reply touches nothing.
                redis.command("CLIENT", "PAUSE", "300")
                c = srvtest.connect(s)
                c.sendall(srvtest.format_request(s, "POST", "/hits/gone"))
                c.close()
                # Whether the first INCR went out depends on whether the
                # server read the request before it saw the close (both
                # arrive together); either way nothing answers it, and the
                # counting goes on from where Redis is.
                # Workers have their own Redis connections, so after the
                # pause Redis may run the INCRs in any order.  Two answered
                # requests, in order, and at most one more INCR.
                first = int(srvtest.http(s, "POST", "/hits/gone", timeout=10).text()[5:])
                second = int(srvtest.http(s, "POST", "/hits/gone", timeout=10).text()[5:])
                self.assertIn(first, (1, 2))
                self.assertIn(second, (first + 1, first + 2))
                self.assertLessEqual(second, 3)
                # Redis away: answers 503 instead of hanging; back: counting again.
                redis.stop()
                self.assertTrue(wait_until(
                    lambda: srvtest.http(s, "GET", "/hits/home").status == 503, 10))
                redis.start()
                self.assertTrue(wait_until(
                    lambda: srvtest.http(s, "POST", "/hits/again").status == 200, 10))
                self.assertTrue(s.running())
                self.assertEqual(s.stop(signal.SIGTERM, timeout=15), 0)
        finally:
            redis.close()


if __name__ == "__main__":
    srvtest.main()
