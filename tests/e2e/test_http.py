#!/usr/bin/env python3
"""End-to-end HTTP/1.1 tests over raw sockets (issue 4), against
tests/e2e/strict.srv: request line 1 KiB, header block 4 KiB or 20 fields,
body 1 KiB, header/body/idle timeouts of one second.

Covers pipelining (in order, one write per read batch), 100-continue,
slow-loris and idle timeouts, every limit status, the request-smuggling
variants, chunked bodies, HTTP/1.0 and Connection handling, Host rules, and
that the server keeps serving well-behaved clients throughout: after every
test a fresh connection must still get its answer."""

import select
import socket
import time
import unittest

import srvtest
from srvtest import (Server, connect, parse_response, parse_responses, pending_bytes,
                     read_response, read_until_closed)

HOST = b"Host: test\r\n"


def req(method=b"GET", target=b"/", headers=HOST, body=b"", version=b"HTTP/1.1"):
    return method + b" " + target + b" " + version + b"\r\n" + headers + b"\r\n" + body


def get(n, extra=b""):
    return req(target=b"/n/%d" % n, headers=HOST + extra)


class HttpTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = cls.enterClassContext(Server(srvtest.test_program("strict")))

    def tearDown(self):
        # Whatever a test did to its own connections, others are still served.
        self.assertTrue(self.server.running(), self.server.stderr_text())
        r = srvtest.http(self.server, "GET", "/n/0", timeout=3)
        self.assertEqual((r.status, r.body), (200, b"0"))

    # -- helpers -------------------------------------------------------------

    def exchange(self, data, timeout=4):
        """Send DATA; return (responses, closed) once the server closed or
        TIMEOUT passed."""
        with connect(self.server, timeout) as s:
            s.sendall(data)
            got, closed = read_until_closed(s, timeout)
        return parse_responses(got), closed

    def assertRejected(self, data, statuses, follow_up=True):
        """DATA gets exactly one response, with a status in STATUSES, and the
        connection is closed: a valid request pipelined behind it is never
        answered (it could be a smuggled one)."""
        if isinstance(statuses, int):
            statuses = (statuses,)
        responses, closed = self.exchange(data + (get(99) if follow_up else b""))
        self.assertEqual(len(responses), 1, responses)
        self.assertIn(responses[0].status, statuses, responses[0])
        self.assertTrue(closed, "connection left open after %d" % responses[0].status)
        self.assertIsNone(responses[0].get("Transfer-Encoding"))
        return responses[0]

    def assertAnswered(self, data, status=200, body=None):
        with connect(self.server) as s:
            s.sendall(data)
            r = read_response(s)
        self.assertEqual(r.status, status, r)
        if body is not None:
            self.assertEqual(r.body, body)
        return r

    def trickle(self, sock, pieces, interval=0.1, limit=6.0):
        """Send PIECES one by one, INTERVAL apart, until the server closes.
        Returns (seconds until closed, bytes received); fails after LIMIT."""
        start = time.monotonic()
        got = b""
        for piece in pieces:
            readable, _, _ = select.select([sock], [], [], interval)
            if readable:
                try:
                    chunk = sock.recv(65536)
                except ConnectionResetError:
                    chunk = b""
                if not chunk:
                    return time.monotonic() - start, got
                got += chunk
            if time.monotonic() - start > limit:
                self.fail("still open after %.1fs of trickling" % limit)
            try:
                sock.sendall(piece)
            except (BrokenPipeError, ConnectionResetError):
                rest, _ = read_until_closed(sock, 1)
                return time.monotonic() - start, got + rest
        self.fail("ran out of bytes to trickle")

    def assertTimedOut(self, got, elapsed, low=0.5, high=3.5):
        self.assertGreaterEqual(elapsed, low, "closed too early")
        self.assertLessEqual(elapsed, high, "closed too late")
        if got:
            self.assertEqual(parse_responses(got)[0].status, 408, got)

    # -- pipelining ----------------------------------------------------------

    def test_pipelined_requests_are_answered_in_order(self):
        n = 100
        with connect(self.server) as s:
            s.sendall(b"".join(get(i) for i in range(n)))
            bodies = [read_response(s).body for _ in range(n)]
        self.assertEqual(bodies, [b"%d" % i for i in range(n)])

    def test_responses_to_one_read_arrive_in_one_write(self):
        n = 8
        with connect(self.server) as s:
            s.sendall(b"".join(get(i) for i in range(n)))
            # One recv: the server read all eight requests at once, so its
            # eight responses must have left in one write.
            select.select([s], [], [], 3)
            data = s.recv(1 << 20)
        rs, pos = [], 0
        while pos < len(data):
            r, pos = parse_response(data, pos)
            rs.append(r)
        self.assertEqual([r.body for r in rs], [b"%d" % i for i in range(n)])

    def test_pipelined_bodies_are_framed_exactly(self):
        chunked = (b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"3\r\nabc\r\n0\r\n\r\n")
        data = (req(b"POST", b"/echo", HOST + b"Content-Length: 5\r\n", b"GET /")
                + get(1) + chunked + req(b"HEAD", b"/n/2") + get(3))
        with connect(self.server) as s:
            s.sendall(data)
            rs = [read_response(s) for _ in range(3)]
            rs.append(read_response(s, head_only=True))
            rs.append(read_response(s))
        self.assertEqual([(r.status, r.body) for r in rs],
                         [(200, b"GET /"), (200, b"1"), (200, b"abc"), (200, b""), (200, b"3")])
        self.assertEqual(rs[3].get("Content-Length"), "1")

    # -- 100-continue --------------------------------------------------------

    def test_100_continue_is_sent_once_then_the_final_response(self):
        with connect(self.server) as s:
            s.sendall(req(b"POST", b"/echo",
                          HOST + b"Content-Length: 5\r\nExpect: 100-continue\r\n"))
            interim = read_response(s)
            self.assertEqual(interim.status, 100)
            self.assertEqual(interim.raw_head, b"HTTP/1.1 100 Continue\r\n\r\n")
            self.assertEqual(pending_bytes(s), b"")
            s.sendall(b"hello")
            final = read_response(s)
            self.assertEqual((final.status, final.body), (200, b"hello"))
            s.sendall(get(7))
            after = read_response(s)  # not a second 100
            self.assertEqual((after.status, after.body), (200, b"7"))

    def test_no_100_continue_when_the_request_is_rejected(self):
        r = self.assertRejected(
            req(b"POST", b"/echo", HOST + b"Content-Length: 2000\r\nExpect: 100-continue\r\n"),
            413, follow_up=False)
        self.assertEqual(r.status, 413)

    def test_unknown_expectation_is_417(self):
        responses, _ = self.exchange(req(b"POST", b"/echo",
                                         HOST + b"Content-Length: 2\r\nExpect: teapot\r\n"))
        self.assertEqual(responses[0].status, 417)

    # -- timeouts ------------------------------------------------------------

    def test_trickling_header_is_cut_off_by_the_header_timeout(self):
        with connect(self.server, timeout=10) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow: ")
            elapsed, got = self.trickle(s, (b"a" for _ in range(1000)))
        self.assertTimedOut(got, elapsed)

    def test_idle_keep_alive_connection_is_closed_cleanly(self):
        with connect(self.server, timeout=10) as s:
            s.sendall(get(1))
            self.assertEqual(read_response(s).body, b"1")
            start = time.monotonic()
            got, closed = read_until_closed(s, 5)
            elapsed = time.monotonic() - start
        self.assertTrue(closed)
        self.assertEqual(got, b"")
        self.assertTimedOut(got, elapsed)

    def test_connection_that_never_sends_is_closed(self):
        # The listener defers accept (TCP_DEFER_ACCEPT, about 3 s as the
        # kernel rounds it) before the idle timeout starts: bound both.
        with connect(self.server, timeout=10) as s:
            start = time.monotonic()
            got, closed = read_until_closed(s, 9)
            elapsed = time.monotonic() - start
        self.assertTrue(closed)
        self.assertTimedOut(got, elapsed, high=8)

    def test_stalled_body_is_cut_off_by_the_body_timeout(self):
        with connect(self.server, timeout=10) as s:
            s.sendall(req(b"POST", b"/echo", HOST + b"Content-Length: 100\r\n", b"x" * 10))
            start = time.monotonic()
            got, closed = read_until_closed(s, 5)
            elapsed = time.monotonic() - start
        self.assertTrue(closed)
        self.assertTimedOut(got, elapsed)

    def test_others_are_served_while_slow_loris_clients_hang_on(self):
        lorises = [connect(self.server, timeout=10) for _ in range(4)]
        try:
            for s in lorises:
                s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n")
            start = time.monotonic()
            for i in range(20):
                t = time.monotonic()
                r = srvtest.http(self.server, "GET", "/n/%d" % i, timeout=2)
                self.assertEqual(r.body, b"%d" % i)
                self.assertLess(time.monotonic() - t, 1.0)
            for s in lorises:
                got, closed = read_until_closed(s, max(0.1, start + 3.5 - time.monotonic()))
                self.assertTrue(closed, "slow-loris connection still open")
        finally:
            for s in lorises:
                s.close()

    # -- limits --------------------------------------------------------------

    def test_request_line_past_the_limit_is_414(self):
        self.assertRejected(req(target=b"/n/" + b"1" * 2000), 414)
        self.assertAnswered(req(target=b"/path/" + b"a" * 900), 200)

    def test_414_comes_before_the_line_ends(self):
        with connect(self.server) as s:
            s.sendall(b"GET /" + b"a" * 2000)
            r = read_response(s)
        self.assertEqual(r.status, 414)

    def test_header_block_past_the_limit_is_431(self):
        self.assertRejected(req(headers=HOST + b"X-Big: " + b"b" * 5000 + b"\r\n"), 431)
        self.assertAnswered(req(headers=HOST + b"X-Big: " + b"b" * 3000 + b"\r\n"), 200)

    def test_too_many_header_fields_is_431(self):
        many = b"".join(b"X-H%d: v\r\n" % i for i in range(25))
        self.assertRejected(req(headers=HOST + many), 431)
        few = b"".join(b"X-H%d: v\r\n" % i for i in range(15))
        self.assertAnswered(req(headers=HOST + few), 200)

    def test_body_past_the_limit_is_413_before_it_is_read(self):
        self.assertRejected(req(b"POST", b"/echo", HOST + b"Content-Length: 1025\r\n"), 413,
                            follow_up=False)
        self.assertAnswered(req(b"POST", b"/echo", HOST + b"Content-Length: 1024\r\n", b"z" * 1024),
                            200, b"z" * 1024)

    def test_chunked_body_past_the_limit_is_413(self):
        body = b"258\r\n" + b"a" * 600 + b"\r\n258\r\n" + b"b" * 600 + b"\r\n0\r\n\r\n"
        self.assertRejected(req(b"POST", b"/echo", HOST + b"Transfer-Encoding: chunked\r\n", body),
                            413)

    # -- request line, versions, methods -------------------------------------

    def test_malformed_request_lines_are_400(self):
        for line in [b"GET\r\n", b"GET /\r\n", b"GET  / HTTP/1.1\r\n", b"GET / HTTP/1.1 x\r\n",
                     b"GET / http/1.1\r\n", b"G@T / HTTP/1.1\r\n", b"GET nopath HTTP/1.1\r\n",
                     b"GET / HTTP/1.1 \r\n"]:
            with self.subTest(line=line):
                self.assertRejected(line + HOST + b"\r\n", 400)

    def test_unknown_method_is_501(self):
        responses, _ = self.exchange(req(b"BREW"))
        self.assertEqual(responses[0].status, 501)

    def test_other_versions_are_505(self):
        for version in (b"HTTP/2.0", b"HTTP/3.0", b"HTTP/0.9", b"HTTP/3.1"):
            with self.subTest(version=version):
                responses, _ = self.exchange(req(version=version))
                self.assertEqual(responses[0].status, 505)

    def test_higher_minor_versions_are_read_as_1_1(self):
        # RFC 9110 2.5: HTTP/1.5 is processed as HTTP/1.1, the highest we
        # implement: keep-alive by default, Host required.
        with connect(self.server) as s:
            s.sendall(get(1).replace(b"HTTP/1.1", b"HTTP/1.5"))
            r = read_response(s)
            self.assertEqual((r.version, r.status, r.body), ("HTTP/1.1", 200, b"1"))
            s.sendall(get(2).replace(b"HTTP/1.1", b"HTTP/1.9"))
            self.assertEqual(read_response(s).body, b"2")
        self.assertRejected(req(headers=b"", version=b"HTTP/1.5"), 400)

    def test_absolute_form_and_dot_segments(self):
        self.assertAnswered(req(target=b"http://example.com/path/x%20y?q=1",
                                headers=b"Host: example.com\r\n"), 200, b"/path/x y")
        self.assertAnswered(req(target=b"/path/a/./b/../c"), 200, b"/path/a/c")

    # -- fields --------------------------------------------------------------

    def test_host_rules(self):
        self.assertRejected(req(headers=b""), 400)
        self.assertRejected(req(headers=b"Host: a\r\nHost: b\r\n"), 400)
        self.assertAnswered(req(headers=b"", version=b"HTTP/1.0"), 200, b"ok")

    def test_malformed_fields_are_400_and_close(self):
        cases = {
            "space before colon": b"X-A : 1\r\n",
            "obs-fold": b"X-A: 1\r\n  folded\r\n",
            "control character": b"X-A: a\x01b\r\n",
            "NUL": b"X-A: a\x00b\r\n",
            "bare CR": b"X-A: a\rb\r\n",
            "no colon": b"X-A\r\n",
            "empty name": b": v\r\n",
        }
        for name, line in cases.items():
            with self.subTest(name):
                self.assertRejected(req(headers=HOST + line), 400)

    def test_bad_percent_escapes_and_encoded_nul_are_400(self):
        for target in (b"/path/%zz", b"/path/%2", b"/path/a%00b"):
            with self.subTest(target=target):
                self.assertRejected(req(target=target), 400)

    # -- smuggling -----------------------------------------------------------

    def post(self, framing, body):
        return req(b"POST", b"/echo", HOST + framing, body)

    def test_content_length_with_transfer_encoding_is_rejected(self):
        self.assertRejected(self.post(b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
                                      b"0\r\n\r\n"), 400)
        self.assertRejected(self.post(b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
                                      b"0\r\n\r\n"), 400)

    def test_differing_or_malformed_content_lengths_are_rejected(self):
        for framing in [b"Content-Length: 5\r\nContent-Length: 6\r\n",
                        b"Content-Length: 5, 6\r\n",
                        b"Content-Length: 5x\r\n", b"Content-Length: -1\r\n",
                        b"Content-Length: +5\r\n", b"Content-Length: 0x5\r\n",
                        b"Content-Length: \r\n", b"Content-Length: 99999999999999999999999\r\n"]:
            with self.subTest(framing=framing):
                self.assertRejected(self.post(framing, b"hello"), (400, 413))

    def test_transfer_codings_other_than_final_chunked_are_rejected(self):
        # RFC 9112 6.3: when chunked is not the final coding, the length of
        # the body cannot be known: 400 and close.
        for te in [b"gzip", b"identity", b"xchunked", b"chunked, gzip", b"gzip, deflate"]:
            with self.subTest(te=te):
                self.assertRejected(self.post(b"Transfer-Encoding: " + te + b"\r\n", b"hello"), 400)
        self.assertRejected(self.post(b"Transfer-Encoding: chunked, chunked\r\n", b"0\r\n\r\n"),
                            400)
        self.assertRejected(self.post(b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
                                      b"0\r\n\r\n"), 400)
        # Framed correctly, but in a coding we do not decode.
        self.assertRejected(self.post(b"Transfer-Encoding: gzip, chunked\r\n", b"0\r\n\r\n"), 501)

    def test_bad_chunk_sizes_are_400(self):
        for body in [b"ffffffffffffffffffff\r\n", b"g\r\nx\r\n0\r\n\r\n",
                     b"3\r\nabcX\r\n0\r\n\r\n", b"-1\r\n"]:
            with self.subTest(body=body):
                self.assertRejected(self.post(b"Transfer-Encoding: chunked\r\n", body), 400)

    # -- chunked bodies ------------------------------------------------------

    def test_chunked_body_is_decoded_for_the_handler(self):
        body = (b"5;ext=1;name=\"v\"\r\nhello\r\n7\r\n, world\r\n"
                b"0\r\nX-Trailer: dropped\r\n\r\n")
        with connect(self.server) as s:
            s.sendall(self.post(b"Transfer-Encoding: chunked\r\n", body) + get(4))
            r = read_response(s)
            after = read_response(s)
        self.assertEqual((r.status, r.body), (200, b"hello, world"))
        self.assertEqual(r.get("X-Seen-Content-Length"), "12")
        self.assertEqual(r.get("X-Seen-Transfer-Encoding"), "-")
        self.assertEqual(after.body, b"4")

    def test_chunked_body_arriving_byte_by_byte(self):
        body = b"a\r\n0123456789\r\n1\r\n!\r\n0\r\n\r\n"
        with connect(self.server) as s:
            s.sendall(self.post(b"Transfer-Encoding: chunked\r\n", b""))
            for i in range(len(body)):
                s.sendall(body[i:i + 1])
            r = read_response(s)
        self.assertEqual((r.status, r.body), (200, b"0123456789!"))

    # -- connection management -----------------------------------------------

    def test_http10_closes_unless_keep_alive_was_asked(self):
        responses, closed = self.exchange(get(1).replace(b"HTTP/1.1", b"HTTP/1.0") +
                                          get(2).replace(b"HTTP/1.1", b"HTTP/1.0"))
        self.assertEqual([r.body for r in responses], [b"1"])
        self.assertTrue(closed)

        ka = b"Connection: keep-alive\r\n"
        responses, closed = self.exchange(get(1, ka).replace(b"HTTP/1.1", b"HTTP/1.0") +
                                          get(2).replace(b"HTTP/1.1", b"HTTP/1.0") + get(3))
        self.assertEqual([r.body for r in responses], [b"1", b"2"])
        self.assertTrue(closed)

    def test_connection_close_is_a_token_list_over_every_line(self):
        for extra in [b"Connection: close\r\n", b"Connection: foo, CLOSE\r\n",
                      b"Connection: foo\r\nConnection: Close\r\n"]:
            with self.subTest(extra=extra):
                responses, closed = self.exchange(get(1, extra) + get(2))
                self.assertEqual([r.body for r in responses], [b"1"])
                self.assertTrue(closed)
        responses, _ = self.exchange(get(1, b"Connection: closed, keep-alive\r\n") + get(2),
                                     timeout=0.5)
        self.assertEqual([r.body for r in responses], [b"1", b"2"])


# The start of a TLS ClientHello (what a browser sends to an https:// URL
# that points at this port), with no LF in it, and the same with one.
CLIENT_HELLO = bytes.fromhex(
    "160301020001000001fc03035e9a1b2c3d4e5f60718293a4b5c6d7e8f9201b2c3d4e5f"
    "60718293a4b5c6d7e8f9201b2c3d4e5f6071001c130113021303c02bc02fc02cc030cca9"
    "cca8c013c014009c009d002f0035010001970000000e000c0000096c6f63616c686f7374")
CLIENT_HELLO_LF = CLIENT_HELLO[:40] + b"\n" + CLIENT_HELLO[41:]


class GarbageTest(unittest.TestCase):
    """Bytes that can never become a request are answered with 400 and a
    close as soon as they arrive: against tests/e2e/echo.srv, whose header
    timeout is the default 15 s, an answer within a second cannot be the
    timeout's."""

    @classmethod
    def setUpClass(cls):
        cls.server = cls.enterClassContext(Server(srvtest.test_program("echo")))

    def tearDown(self):
        self.assertTrue(self.server.running(), self.server.stderr_text())
        r = srvtest.http(self.server, "GET", "/small", timeout=3)
        self.assertEqual((r.status, r.body), (200, b"small"))

    def assertAnsweredAtOnce(self, *pieces):
        """PIECES, sent one after another, get one 400 and a close within a
        second."""
        with connect(self.server, timeout=1) as s:
            for piece in pieces:
                try:
                    s.sendall(piece)
                except (BrokenPipeError, ConnectionResetError):
                    break  # already answered and closed
            got, closed = read_until_closed(s, 1.0)
        self.assertTrue(closed, "still open after a second: %r" % got)
        self.assertTrue(got.startswith(b"HTTP/1.1 400 "), got)
        self.assertEqual([r.status for r in parse_responses(got)], [400])

    def test_tls_client_hello_gets_400_at_once(self):
        self.assertNotIn(b"\n", CLIENT_HELLO)
        self.assertAnsweredAtOnce(CLIENT_HELLO)
        self.assertAnsweredAtOnce(CLIENT_HELLO_LF)

    def test_binary_garbage_gets_400_at_once(self):
        for data in (b"\x00", b"\xff\xfe\x00\x01", b"\x01\x02\x03" * 100, b"GET /\x00",
                     b"GET /\x7f", b"GET /a%zz", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b"):
            with self.subTest(data=data):
                self.assertAnsweredAtOnce(data)

    def test_garbage_after_a_good_start_gets_400_at_once(self):
        start = b"GET /small HTTP/1.1\r\nHost: a\r\nX-Slow: abc"
        self.assertAnsweredAtOnce(start, b"def", b"\x01")
        self.assertAnsweredAtOnce(b"GET /sm", b"all", b" HTTP/1.1 \r\n")

    def test_a_request_trickled_byte_by_byte_still_works(self):
        data = (b"GET /small HTTP/1.1\r\nHost: a\r\nUser-Agent: trickle/1.0\r\n"
                b"Accept: */*\r\n\r\n")
        with connect(self.server, timeout=5) as s:
            for i in range(len(data)):
                s.sendall(data[i:i + 1])
            r = read_response(s)
        self.assertEqual((r.status, r.body), (200, b"small"))


if __name__ == "__main__":
    srvtest.main()
