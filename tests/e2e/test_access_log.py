#!/usr/bin/env python3
"""End-to-end tests of the access log (issue 8): `log "access.log" combined;`
from two workers (tests/e2e/logged.srv) and `log json;` on standard error
(tests/e2e/logged_json.srv).  Lines are parsed back field by field; many
concurrent requests from both workers leave only whole lines; SIGUSR1 after
a rename (what logrotate does) moves the log to a new file without losing a
line; a log that cannot be opened stops the start-up."""

import json
import os
import re
import shutil
import signal
import tempfile
import threading
import unittest

import srvtest
from srvtest import Server, connect, format_request, http, read_response, run, wait_until

COMBINED = re.compile(
    r'^(?P<peer>\S+) - - \[(?P<time>\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000)\] '
    r'"(?P<method>\S+) (?P<target>\S+) (?P<version>HTTP/1\.[01])" (?P<status>\d{3}) '
    r'(?P<bytes>\d+|-) "(?P<referer>[^"]*)" "(?P<agent>[^"]*)"$')


def lines_of(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


class CombinedLogTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="srv-log-")
        self.log = os.path.join(self.dir, "access.log")
        self.server = self.enterContext(Server(srvtest.test_program("logged"), cwd=self.dir))

    def tearDown(self):
        self.server.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def wait_lines(self, pred, path=None, timeout=5):
        """Lines of the log once PRED(lines) holds (the log is flushed at
        least once a second)."""
        path = path or self.log
        found = wait_until(lambda: pred(lines_of(path)) and lines_of(path), timeout)
        self.assertTrue(found, "log %s: %r" % (path, lines_of(path)))
        return found

    def test_a_line_has_every_field(self):
        r = http(self.server, "GET", "/hello/w%C3%B6rld?x=1&y=2",
                 headers=[("Referer", "http://example.com/page"), ("User-Agent", "tester/1.0")])
        self.assertEqual(r.status, 200)
        (line,) = self.wait_lines(lambda ls: len(ls) >= 1)
        m = COMBINED.match(line)
        self.assertIsNotNone(m, line)
        self.assertEqual(m["peer"], "127.0.0.1")
        self.assertEqual(m["method"], "GET")
        # The decoded path, its bytes beyond ASCII escaped, and the raw query.
        self.assertEqual(m["target"], "/hello/w\\xc3\\xb6rld?x=1&y=2")
        self.assertEqual((m["status"], m["bytes"]), ("200", str(len(r.body))))
        self.assertEqual((m["referer"], m["agent"]), ("http://example.com/page", "tester/1.0"))

    def test_errors_and_empty_bodies_are_logged(self):
        http(self.server, "GET", "/empty")
        http(self.server, "POST", "/hello/x", body=b"")
        srvtest.raw(self.server, b"\x16\x03\x01garbage", timeout=3)
        lines = self.wait_lines(lambda ls: len(ls) >= 3)
        got = sorted((COMBINED.match(l)["status"], COMBINED.match(l)["bytes"],
                      COMBINED.match(l)["method"]) for l in lines)
        self.assertEqual(got, [("204", "-", "GET"), ("400", str(len(b"400 Bad Request\n")), "-"),
                               ("405", str(len(b"405 Method Not Allowed\n")), "POST")])

    def test_two_workers_under_load_leave_only_whole_lines(self):
        per, threads = 100, 8

        def client(k):
            with connect(self.server) as s:
                for i in range(per):
                    s.sendall(format_request(self.server, "GET", "/hello/c%dr%d" % (k, i),
                                             headers=[("User-Agent", "x" * (50 + k * 37))]))
                    self.assertEqual(read_response(s).status, 200)

        ts = [threading.Thread(target=client, args=(k,)) for k in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        lines = self.wait_lines(lambda ls: len(ls) >= per * threads)
        self.assertEqual(len(lines), per * threads)
        targets = set()
        for line in lines:
            m = COMBINED.match(line)
            self.assertIsNotNone(m, line)
            targets.add(m["target"])
        self.assertEqual(len(targets), per * threads)

    def test_sigusr1_after_a_rename_moves_to_a_new_file_without_losing_lines(self):
        http(self.server, "GET", "/hello/before")
        self.wait_lines(lambda ls: any("/hello/before" in l for l in ls))
        old = self.log + ".1"
        os.rename(self.log, old)
        self.server.send_signal(signal.SIGUSR1)
        sent = []

        def new_file_has_a_mark():
            n = len(sent)
            sent.append(n)
            http(self.server, "GET", "/hello/after%d" % n)
            return any("/hello/after" in l for l in lines_of(self.log))

        self.assertTrue(wait_until(new_file_has_a_mark, 10, interval=0.05))
        # Flushes come within a second: every mark lands in one file, once.
        def all_marks():
            both = lines_of(old) + lines_of(self.log)
            return all(sum("/hello/after%d " % n in l for l in both) == 1 for n in sent)
        self.assertTrue(wait_until(all_marks, 5))
        self.assertTrue(any("/hello/before" in l for l in lines_of(old)))
        self.assertFalse(any("/hello/before" in l for l in lines_of(self.log)))


class JsonLogTest(unittest.TestCase):
    def test_json_lines_on_stderr(self):
        with Server(srvtest.test_program("logged_json")) as server:
            r = http(server, "GET", '/hello/%22q%22?a=%22', headers=[("User-Agent", "ua\\1")])
            self.assertEqual(r.status, 200)

            def line():
                for l in server.stderr_lines():
                    if l.startswith("{"):
                        return l
                return None
            text = wait_until(line, 5)
            self.assertTrue(text, server.stderr_text())
            rec = json.loads(text)
            self.assertEqual(rec["method"], "GET")
            self.assertEqual(rec["path"], '/hello/"q"')
            self.assertEqual(rec["query"], "a=%22")
            self.assertEqual((rec["status"], rec["bytes"]), (200, len(r.body)))
            self.assertEqual(rec["user_agent"], "ua\\1")
            self.assertEqual(rec["peer"], "127.0.0.1")
            self.assertEqual(rec["worker"], 0)
            self.assertIsInstance(rec["duration_us"], int)
            self.assertLess(rec["duration_us"], 250000)
            self.assertRegex(rec["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

    def test_duration_is_the_time_the_request_took(self):
        with Server(srvtest.test_program("logged_json")) as server:
            self.assertEqual(http(server, "GET", "/slow").status, 200)

            def record():
                for l in server.stderr_lines():
                    if l.startswith("{") and '"/slow"' in l:
                        return json.loads(l)
                return None
            rec = wait_until(record, 5)
            self.assertTrue(rec, server.stderr_text())
            # 250 ms of sleep, measured in CPU ticks converted to µs: a tick
            # mismeasured would be off by orders of magnitude.
            self.assertGreaterEqual(rec["duration_us"], 250000)
            self.assertLess(rec["duration_us"], 2000000)


class StartupTest(unittest.TestCase):
    def test_a_log_that_cannot_be_opened_stops_the_start_up(self):
        with tempfile.TemporaryDirectory() as d:
            os.mkdir(os.path.join(d, "access.log"))  # a directory where the file should be
            r = run([srvtest.test_program("logged"), "--port", "0"], cwd=d, timeout=10)
            self.assertEqual(r.returncode, 1)
            self.assertIn('logged: log "access.log": Is a directory', r.stderr.decode())


if __name__ == "__main__":
    srvtest.main()
