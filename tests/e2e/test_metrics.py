#!/usr/bin/env python3
"""End-to-end tests of issue 11, "Metrics" (tests/e2e/metered.srv: two
workers, `metrics "/metrics";` behind a before hook that wants a token).

The Prometheus text is parsed back by a strict reader of the exposition
format 0.0.4 (HELP and TYPE once per family and before its samples,
families not interleaved, valid names, labels and values, counters ending
in _total, histograms with ascending cumulative buckets ending in +Inf that
equals _count, and _sum).  The counts must add up exactly to what the test
sent, over both workers, and survive a worker killed and replaced."""

import math
import os
import re
import signal
import socket
import time
import unittest

import srvtest
from srvtest import Server, connect, format_request, read_response, wait_until

AUTH = [("Authorization", "Bearer s3cret")]
CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")

# ---------------------------------------------------------------------------
# A strict reader of the Prometheus text format, version 0.0.4

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"'
SAMPLE = re.compile(r"^(%s)(?:\{((?:%s)(?:,(?:%s))*)?\})? (\S+)$" % (NAME, LABEL, LABEL))
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


class Metrics:
    """The families of one scrape: {name: {"help", "type", "samples": [(name, labels, value)]}}."""

    def __init__(self, text):
        assert text.endswith("\n"), "the text must end with a line feed"
        self.families = {}
        current = None
        for line in text[:-1].split("\n"):
            if line.startswith("# HELP "):
                name, _, help_text = line[7:].partition(" ")
                assert re.fullmatch(NAME, name), line
                assert name not in self.families, "family %s twice" % name
                assert help_text and "\\" not in help_text.replace("\\\\", "").replace("\\n", "")
                current = self.families[name] = {"help": help_text, "type": None, "samples": []}
                current["name"] = name
                continue
            if line.startswith("# TYPE "):
                name, _, kind = line[7:].partition(" ")
                assert current is not None and name == current["name"], line
                assert current["type"] is None and not current["samples"], line
                assert kind in TYPES, line
                current["type"] = kind
                continue
            assert not line.startswith("#"), line
            m = SAMPLE.match(line)
            assert m, "not a sample: %r" % line
            assert current is not None and current["type"] is not None, line
            name = m.group(1)
            labels = dict(re.findall(LABEL, m.group(2) or ""))
            value = m.group(m.lastindex)
            assert re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?|[+-]Inf|NaN", value), line
            fam, kind = current["name"], current["type"]
            if kind == "histogram":
                assert name in (fam + "_bucket", fam + "_sum", fam + "_count"), line
                assert (name == fam + "_bucket") == ("le" in labels), line
            else:
                assert name == fam, "sample %s in family %s" % (name, fam)
            if kind == "counter":
                assert fam.endswith("_total"), fam
            series = (name, tuple(sorted(labels.items())))
            assert series not in [(s[0], tuple(sorted(s[1].items()))) for s in current["samples"]], \
                "series twice: %s" % line
            current["samples"].append((name, labels, float(value)))
        for fam in self.families.values():
            assert fam["type"] is not None, fam["name"]
            if fam["type"] == "histogram":
                self._check_histogram(fam)

    def _check_histogram(self, fam):
        groups = {}
        for name, labels, value in fam["samples"]:
            key = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
            groups.setdefault(key, []).append((name, labels, value))
        for key, samples in groups.items():
            buckets = [(s[1]["le"], s[2]) for s in samples if s[0].endswith("_bucket")]
            les = [math.inf if le == "+Inf" else float(le) for le, _ in buckets]
            assert les == sorted(les) and len(set(les)) == len(les), les
            assert les[-1] == math.inf, "no +Inf bucket"
            counts = [v for _, v in buckets]
            assert counts == sorted(counts), "buckets not cumulative: %s" % counts
            total = [s[2] for s in samples if s[0].endswith("_count")]
            sums = [s[2] for s in samples if s[0].endswith("_sum")]
            assert total == [counts[-1]], (key, total, counts)
            assert len(sums) == 1 and sums[0] >= 0, key

    def value(self, name, **labels):
        """The value of the sample NAME with exactly LABELS."""
        for fam in self.families.values():
            for n, ls, v in fam["samples"]:
                if n == name and ls == labels:
                    return v
        raise AssertionError("no sample %s%s" % (name, labels))

    def requests(self):
        return {c: int(self.value("srv_http_requests_total", **{"class": c})) for c in CLASSES}

    def bucket(self, cls, le):
        return int(self.value("srv_http_request_duration_seconds_bucket",
                              **{"class": cls, "le": le}))


# ---------------------------------------------------------------------------


class Client:
    """Requests on fresh connections, counting the bytes each way and the
    answers by status class, as the server should count them."""

    def __init__(self, server):
        self.server = server
        self.sent = self.received = 0          # every exchange so far
        self.last_sent = self.last_received = 0  # the latest one alone
        self.classes = dict.fromkeys(CLASSES, 0)

    def request(self, method, path, headers=(), body=b"", sock=None):
        data = format_request(self.server, method, path, headers, body)
        own = sock is None
        s = sock or connect(self.server)
        try:
            s.sendall(data)
            r = read_response(s, head_only=(method == "HEAD"))
        finally:
            if own:
                s.close()
        self.last_sent, self.last_received = len(data), len(r.raw_head) + len(r.body)
        self.sent += self.last_sent
        self.received += self.last_received
        self.classes["%dxx" % (r.status // 100)] += 1
        return r

    def scrape(self):
        """The metrics, which count everything before this request (not
        this one: it is counted once its answer is queued)."""
        r = self.request("GET", "/metrics", AUTH)
        assert r.status == 200, r
        assert r.get("Content-Type") == "text/plain; version=0.0.4; charset=utf-8", r
        return Metrics(r.body.decode("utf-8"))


def worker_of(r):
    wid, pid = r.text().split()
    return int(wid), int(pid)


class MetricsTest(unittest.TestCase):
    def setUp(self):
        self.server = self.enterContext(Server(srvtest.test_program("metered")))
        self.client = Client(self.server)

    def tearDown(self):
        self.assertEqual(self.server.stop(), 0)

    def test_the_text_is_well_formed_with_every_family(self):
        m = self.client.scrape()
        self.assertEqual(sorted(m.families), sorted([
            "srv_info", "srv_workers", "srv_http_requests_total",
            "srv_http_request_duration_seconds", "srv_connections_open",
            "srv_received_bytes_total", "srv_sent_bytes_total", "srv_worker_restarts_total",
            "srv_reloads_total"]))
        self.assertEqual(m.families["srv_http_request_duration_seconds"]["type"], "histogram")
        self.assertEqual(m.families["srv_connections_open"]["type"], "gauge")
        self.assertEqual(m.value("srv_info", version="0.1.0"), 1)
        self.assertEqual(m.value("srv_workers"), 2)
        self.assertEqual(m.requests(), dict.fromkeys(CLASSES, 0))
        self.assertEqual(m.value("srv_worker_restarts_total"), 0)
        self.assertEqual(m.value("srv_reloads_total"), 0)
        # HEAD answers the same head without the body.
        r = self.client.request("HEAD", "/metrics", AUTH)
        self.assertEqual((r.status, r.body), (200, b""))

    def test_counts_add_up_exactly_over_both_workers(self):
        c = self.client
        seen = {}
        for _ in range(200):
            wid, pid = worker_of(c.request("GET", "/id"))
            seen[wid] = seen.get(wid, 0) + 1
            if len(seen) == 2 and min(seen.values()) >= 5 and sum(seen.values()) >= 30:
                break
        self.assertEqual(sorted(seen), [0, 1], "requests spread over both workers")
        for path, status in (("/status/301", 301), ("/status/304", 304), ("/status/404", 404),
                             ("/nope", 404), ("/status/500", 500), ("/status/503", 503),
                             ("/metrics", 401)):
            self.assertEqual(c.request("GET", path).status, status)
        self.assertEqual(c.request("POST", "/id").status, 405)
        self.assertEqual(c.request("GET", "/metrics", [("Authorization", "Bearer no")]).status, 401)
        self.assertEqual(c.request("POST", "/echo", body=b"x" * 5000).body, b"x" * 5000)

        expected = dict(c.classes)
        sent, received = c.sent, c.received
        m = c.scrape()
        self.assertEqual(m.requests(), expected)
        self.assertEqual(expected, {"1xx": 0, "2xx": sum(seen.values()) + 1, "3xx": 2,
                                    "4xx": 5, "5xx": 2})
        for cls in CLASSES:
            self.assertEqual(m.value("srv_http_request_duration_seconds_count", **{"class": cls}),
                             expected[cls])
        self.assertEqual(m.value("srv_received_bytes_total"), sent)
        self.assertEqual(m.value("srv_sent_bytes_total"), received)
        # The next scrape counts the first one too.
        m2 = c.scrape()
        self.assertEqual(m2.requests()["2xx"], expected["2xx"] + 1)
        self.assertEqual(m2.value("srv_sent_bytes_total"), c.received - c.last_received)

    def test_the_latency_histogram_places_a_slow_request(self):
        c = self.client
        for _ in range(10):
            c.request("GET", "/id")
        c.request("GET", "/slow/120")
        m = c.scrape()
        count = m.requests()["2xx"]
        self.assertEqual(count, 11)
        self.assertEqual(m.bucket("2xx", "0.1"), 10)  # fast ones: well under 100 ms
        self.assertEqual(m.bucket("2xx", "0.25"), 11)
        self.assertEqual(m.bucket("2xx", "+Inf"), 11)
        total = m.value("srv_http_request_duration_seconds_sum", **{"class": "2xx"})
        self.assertGreaterEqual(total, 0.12)
        self.assertLess(total, 0.25 + 10 * 0.1)

    def test_the_route_is_guarded_by_the_before_hook(self):
        c = self.client
        self.assertEqual(c.request("GET", "/metrics").status, 401)
        r = c.request("GET", "/metrics", [("Authorization", "Bearer wrong")])
        self.assertEqual((r.status, b"srv_info" in r.body), (401, False))
        m = c.scrape()
        self.assertEqual(m.requests()["4xx"], 2)

    def test_a_route_of_ones_own_serves_the_same_text_behind_a_group(self):
        c = self.client
        self.assertEqual(c.request("GET", "/ops/metrics").status, 403)
        r = c.request("GET", "/ops/metrics", [("X-Ops", "1")])
        self.assertEqual(r.status, 200)
        m = Metrics(r.body.decode("utf-8"))
        self.assertEqual(m.requests()["4xx"], 1)
        self.assertEqual(sorted(m.families), sorted(c.scrape().families))

    def test_the_open_connections_gauge(self):
        c = self.client
        held = []
        for _ in range(5):
            s = connect(self.server)
            c.request("GET", "/id", sock=s)  # accepted (TCP_DEFER_ACCEPT waits for data)
            held.append(s)
        # The scrape's own connection is open too; closed ones go as soon as
        # their worker reads the end.
        self.assertTrue(wait_until(lambda: c.scrape().value("srv_connections_open") == 6, 5))
        for s in held[:3]:
            s.close()
        self.assertTrue(wait_until(lambda: c.scrape().value("srv_connections_open") == 3, 5))
        for s in held[3:]:
            s.close()

    def test_a_killed_worker_is_replaced_and_its_counts_stay(self):
        c = self.client
        with connect(self.server) as pinned:
            victim_id, victim = worker_of(c.request("GET", "/id", sock=pinned))
            for _ in range(24):
                self.assertEqual(worker_of(c.request("GET", "/id", sock=pinned)),
                                 (victim_id, victim))
            before = c.scrape()
            self.assertEqual(before.requests()["2xx"], 25)
            os.kill(victim, signal.SIGKILL)
            got, closed = srvtest.read_until_closed(pinned, 5)
            self.assertTrue(closed)
        self.assertTrue(self.server.wait_for_stderr(
            r"worker %d \(pid %d\) killed by signal 9" % (victim_id, victim), 5),
            self.server.stderr_text())
        # The replacement answers for its id (same slot, new process).
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            wid, pid = worker_of(c.request("GET", "/id"))
            if wid == victim_id and pid != victim:
                break
        self.assertEqual(wid, victim_id)
        self.assertNotEqual(pid, victim)
        expected = dict(c.classes)
        m = c.scrape()
        # Everything, the dead worker's 25 included (plus the first scrape).
        self.assertEqual(m.requests(), expected)
        self.assertEqual(m.value("srv_worker_restarts_total"), 1)
        self.assertEqual(m.value("srv_received_bytes_total"), c.sent - c.last_sent)


class SingleProcessTest(unittest.TestCase):
    def test_metrics_in_a_single_process(self):
        with Server(srvtest.test_program("metered"), workers=1) as s:
            c = Client(s)
            for _ in range(7):
                c.request("GET", "/id")
            c.request("GET", "/status/404")
            m = c.scrape()
            self.assertEqual(m.value("srv_workers"), 1)
            self.assertEqual(m.requests(), {"1xx": 0, "2xx": 7, "3xx": 0, "4xx": 1, "5xx": 0})
            self.assertEqual(m.value("srv_received_bytes_total"), c.sent - c.last_sent)
            self.assertEqual(s.stop(), 0)


if __name__ == "__main__":
    srvtest.main()
