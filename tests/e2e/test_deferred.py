#!/usr/bin/env python3
"""End-to-end tests of deferred responses (issue 9) against
tests/e2e/deferred.srv: a response finished from a timer, or from another
request's handler; requests pipelined behind a deferred one answered after it
and in order; a client that goes away cancelling the owner; the response
deadline answering 503 (through the error block); after blocks running when
the response is finished; a drain waiting for deferred responses, and cutting
them with 503 when its time is up."""

import re
import signal
import socket
import time
import unittest

import srvtest
from srvtest import (Server, connect, format_request, http, parse_responses, read_response,
                     read_until_closed, wait_until)


def stats(server):
    body = http(server, "GET", "/stats").text()
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", body)}


class DeferredTest(unittest.TestCase):
    def setUp(self):
        self.server = self.enterContext(Server(srvtest.test_program("deferred")))
        self.stopping = False

    def tearDown(self):
        if not self.stopping:
            self.assertTrue(self.server.running(), self.server.stderr_text())

    def deferred(self, n=1):
        """Wait until N responses are deferred in the server."""
        self.assertTrue(wait_until(lambda: stats(self.server)["pending"] == n, 5))

    def test_a_timer_finishes_the_response(self):
        start = time.monotonic()
        r = http(self.server, "GET", "/later/200")
        self.assertEqual((r.status, r.body), (200, b"done after 200 ms\n"))
        self.assertGreaterEqual(time.monotonic() - start, 0.19)

    def test_finishing_before_the_handler_returns_is_an_ordinary_answer(self):
        r = http(self.server, "GET", "/at-once")
        self.assertEqual((r.status, r.body), (200, b"at once\n"))

    def test_other_connections_are_served_meanwhile(self):
        with connect(self.server) as slow:
            slow.sendall(format_request(self.server, "GET", "/later/500"))
            start = time.monotonic()
            for _ in range(20):
                self.assertEqual(http(self.server, "GET", "/now").body, b"now\n")
            self.assertLess(time.monotonic() - start, 0.5)
            self.assertEqual(read_response(slow).body, b"done after 500 ms\n")

    def test_requests_pipelined_behind_a_deferred_one_wait_their_turn(self):
        with connect(self.server) as s:
            s.sendall(format_request(self.server, "GET", "/now")
                      + format_request(self.server, "GET", "/later/150")
                      + format_request(self.server, "GET", "/now")
                      + format_request(self.server, "GET", "/later/50"))
            bodies = [read_response(s).body for _ in range(4)]
        self.assertEqual(bodies, [b"now\n", b"done after 150 ms\n", b"now\n",
                                  b"done after 50 ms\n"])

    def test_another_request_can_finish_it(self):
        with connect(self.server) as waiter:
            waiter.sendall(format_request(self.server, "GET", "/wait/k1"))
            self.deferred()
            self.assertEqual(http(self.server, "POST", "/wake/k1", body=b"the waker").body,
                             b"woke 1\n")
            r = read_response(waiter)
        self.assertEqual((r.status, r.body), (200, b"woken by the waker\n"))

    def test_a_client_that_goes_away_cancels_the_owner(self):
        before = stats(self.server)["cancels"]
        s = connect(self.server)
        s.sendall(format_request(self.server, "GET", "/later/2000"))
        self.deferred()
        s.close()
        self.assertTrue(wait_until(lambda: stats(self.server)["cancels"] == before + 1, 5))
        # The timer was stopped by the cancel: it never finishes.
        self.assertFalse(wait_until(lambda: stats(self.server)["finished"] > 0, 2.5))

    def test_the_deadline_answers_503_through_the_error_block(self):
        before = stats(self.server)["cancels"]
        start = time.monotonic()
        with connect(self.server) as s:
            s.sendall(format_request(self.server, "GET", "/slow/never")
                      + format_request(self.server, "GET", "/now"))
            r = read_response(s)
            after = read_response(s)
        self.assertEqual((r.status, r.body), (503, b"error page 503\n"))
        self.assertGreaterEqual(time.monotonic() - start, 0.29)
        self.assertLess(time.monotonic() - start, 2.5)
        # The connection goes on: the request was whole.
        self.assertEqual(after.body, b"now\n")
        self.assertEqual(stats(self.server)["cancels"], before + 1)
        self.assertTrue(self.server.wait_for_stderr(r"GET /slow/never: no response within the deadline", 5))

    def test_after_blocks_run_when_the_response_is_finished(self):
        r = http(self.server, "GET", "/slow/later/50")
        self.assertEqual((r.body, r.get("X-After")), (b"done after 50 ms\n", "ran"))

    def test_the_server_deadline_applies_outside_groups(self):
        start = time.monotonic()
        r = http(self.server, "GET", "/wait/forever", timeout=10)
        self.assertEqual(r.status, 503)
        self.assertGreaterEqual(time.monotonic() - start, 2.9)

    def test_a_drain_waits_for_deferred_responses(self):
        with connect(self.server) as s:
            s.sendall(format_request(self.server, "GET", "/later/400"))
            self.deferred()
            self.stopping = True
            self.server.send_signal(signal.SIGTERM)
            r = read_response(s)
            self.assertEqual(r.body, b"done after 400 ms\n")
            self.assertEqual(r.get("Connection"), "close")
        self.assertEqual(self.server.wait(10), 0)

    def test_a_drain_out_of_time_answers_503_and_closes(self):
        with connect(self.server) as s:
            s.sendall(format_request(self.server, "GET", "/wait/drained"))
            self.deferred()
            self.stopping = True
            self.server.send_signal(signal.SIGTERM)
            got, closed = read_until_closed(s, 10)
        (r,) = parse_responses(got)
        self.assertEqual((r.status, r.body), (503, b"error page 503\n"))
        self.assertTrue(closed)
        self.assertEqual(self.server.wait(10), 0)


if __name__ == "__main__":
    srvtest.main()
