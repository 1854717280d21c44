#!/usr/bin/env python3
"""End-to-end tests of Server-Sent Events (issue 9) against
tests/e2e/sse.srv, read with a client written from the WHATWG parsing rules
(lines end in CR, LF or CRLF; "data" lines joined with LF; comments
ignored): the stream's head, `open` with Last-Event-ID, multi-line data,
ticks and ":" keep-alives, streams exempt from the idle timeout, publishes
reaching subscribers (with no way for a message to inject a field), a slow
consumer closed at its queue limit while others are served, a stream ending
itself, `close` running for every reason, drains, and publishes reaching
subscribers on both workers."""

import re
import signal
import socket
import time
import unittest

import srvtest
from srvtest import Server, SseClient, connect, format_request, http, wait_until


def stats(server):
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", http(server, "GET", "/stats").text())}


class SseTest(unittest.TestCase):
    def setUp(self):
        self.server = self.enterContext(Server(srvtest.test_program("sse")))
        self.stopping = False

    def tearDown(self):
        if not self.stopping:
            self.assertTrue(self.server.running(), self.server.stderr_text())

    def test_the_head_says_event_stream(self):
        c = SseClient(self.server)
        self.assertEqual(c.status, 200)
        self.assertEqual(c.headers["content-type"], ["text/event-stream; charset=utf-8"])
        self.assertEqual(c.headers["cache-control"], ["no-cache"])
        self.assertNotIn("content-length", c.headers)
        self.assertNotIn("transfer-encoding", c.headers)
        c.close()

    def test_open_sends_multi_line_data_and_gets_last_event_id(self):
        c = SseClient(self.server)
        self.assertEqual(c.event(), ("hello", "worker 0\nline two\nline three", "none"))
        self.assertEqual(c.retry, 5000)
        c.close()
        c = SseClient(self.server, headers=[("Last-Event-ID", "42")])
        self.assertEqual(c.event()[2], "42")
        c.close()

    def test_ticks_and_keep_alive_comments(self):
        c = SseClient(self.server)
        c.event()
        self.assertEqual(c.event(timeout=3), ("tick", "2", "none"))
        self.assertEqual(c.event(timeout=3), ("tick", "4", "none"))
        # The ticks between sent nothing: the server sent ":" for them.
        self.assertGreaterEqual(c.comments, 2)
        c.close()

    def test_a_stream_outlives_the_idle_timeout(self):
        c = SseClient(self.server)
        start = time.monotonic()
        while time.monotonic() - start < 2.5:  # the idle timeout is 1 s
            self.assertIsNotNone(c.event(timeout=2), "stream closed after %.1fs"
                                 % (time.monotonic() - start))
        c.close()

    def test_a_publish_reaches_the_subscribers_as_events(self):
        clients = [SseClient(self.server) for _ in range(3)]
        for c in clients:
            c.event()
        r = http(self.server, "POST", "/publish/news", body=b"breaking")
        self.assertEqual(r.body, b"3\n")
        for c in clients:
            ev = c.event()
            while ev[0] == "tick":
                ev = c.event()
            self.assertEqual(ev[:2], ("news", "breaking"))
            c.close()

    def test_a_message_cannot_inject_fields(self):
        c = SseClient(self.server)
        c.event()
        evil = b"a\n\nevent: evil\ndata: x\r\nid: 666\rretry: 1"
        http(self.server, "POST", "/publish/plain", body=evil)
        ev = c.event()
        while ev[0] == "tick":
            ev = c.event()
        self.assertEqual(ev, ("message", "a\n\nevent: evil\ndata: x\nid: 666\nretry: 1", "none"))
        self.assertEqual(c.retry, 5000)
        c.close()

    def test_only_get_opens_a_stream(self):
        for method in ("HEAD", "POST"):
            r = http(self.server, method, "/events", body=b"")
            self.assertEqual(r.status, 405, method)
            self.assertEqual(r.get("Allow"), "GET")

    def test_a_before_block_can_refuse_the_stream(self):
        r = http(self.server, "GET", "/private/events")
        self.assertEqual((r.status, r.body), (401, b""))
        c = SseClient(self.server, "/private/events", headers=[("Authorization", "x")])
        self.assertEqual(c.event()[1], "private")
        c.close()

    def test_requests_pipelined_before_the_stream_are_answered_first(self):
        with connect(self.server) as s:
            s.sendall(format_request(self.server, "GET", "/plain")
                      + format_request(self.server, "GET", "/events"))
            got = b""
            while b"event: hello" not in got:
                got += s.recv(65536)
        self.assertTrue(got.startswith(b"HTTP/1.1 200 OK\r\n"))
        self.assertLess(got.index(b"plain\n"), got.index(b"text/event-stream"))

    def test_a_client_that_leaves_runs_close(self):
        before = stats(self.server)
        c = SseClient(self.server)
        c.event()
        c.close()
        self.assertTrue(wait_until(lambda: stats(self.server)["gone"] == before["gone"] + 1, 5))

    def test_a_slow_consumer_is_closed_at_its_limit_and_others_go_on(self):
        before = stats(self.server)
        s = connect(self.server)
        # A small receive window: the server's queue fills quickly.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(format_request(self.server, "GET", "/flood"))
        self.assertTrue(wait_until(lambda: stats(self.server)["slow"] == before["slow"] + 1, 10))
        c = SseClient(self.server)
        self.assertEqual(c.event()[0], "hello")
        c.close()
        s.close()

    def test_a_stream_can_end_itself(self):
        c = SseClient(self.server, "/short")
        self.assertEqual(c.event(timeout=3)[:2], ("bye", "ending"))
        self.assertIsNone(c.event(timeout=3))
        self.assertTrue(c.closed)
        self.assertTrue(wait_until(lambda: stats(self.server)["closed"] >= 1, 5))

    def test_a_drain_closes_streams_gracefully(self):
        c = SseClient(self.server)
        c.event()
        self.stopping = True
        self.server.send_signal(signal.SIGTERM)
        # Whatever it queued arrives, then the server closes the stream.
        while c.event(timeout=5) is not None:
            pass
        self.assertTrue(c.closed)
        self.assertEqual(self.server.wait(10), 0)


class SseWorkersTest(unittest.TestCase):
    def test_a_publish_reaches_subscribers_on_every_worker(self):
        with Server(srvtest.test_program("sse"), workers=2) as server:
            clients, seen = [], set()
            # SO_REUSEPORT spreads connections: open streams until both
            # workers hold some (each says which worker it is on).
            for _ in range(64):
                c = SseClient(server)
                seen.add(c.event()[1].split("\n")[0])
                clients.append(c)
                if len(seen) == 2 and len(clients) >= 4:
                    break
            self.assertEqual(seen, {"worker 0", "worker 1"})
            http(server, "POST", "/publish/news", body=b"everyone")
            for c in clients:
                ev = c.event()
                while ev[0] == "tick":
                    ev = c.event()
                self.assertEqual(ev[:2], ("news", "everyone"))
                c.close()


if __name__ == "__main__":
    srvtest.main()
