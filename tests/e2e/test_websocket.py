#!/usr/bin/env python3
"""End-to-end tests of WebSocket routes (issue 10) against
tests/e2e/ws_app.srv, driven by client libraries nobody here wrote -
python3-websockets (Debian's 10.4, asyncio client) and npm's ws
(tests/e2e/ws_node/client.js) - and, where the libraries would refuse to
break the protocol, by frames made by hand on a raw socket.

Covered: the opening handshake (Sec-WebSocket-Accept checked by the
library, subprotocols in the server's order of preference, 426/405/400, a
before block answering 401), echo of text and binary messages small,
large and fragmented, pings inside a fragmented message, the close rules
(codes echoed, invalid codes and broken frames 1002, bad UTF-8 1007 as
soon as it arrives, too large 1009 from the header alone, a queue that
overflows 1008), permessage-deflate both ways and a zip bomb, a dead peer
found by pings, a drain sending 1001, 1,000 connections on one worker,
and a room published to across both workers.

The server writes "ws-close ROUTE CODE REASON" to stderr from every
`close` block; tests wait for those lines for what only the server sees.
"""

import asyncio
import json
import os
import resource
import signal
import socket
import subprocess
import unittest
import zlib

import srvtest
from srvtest import Server, connect, format_request, http, read_response
from wsraw import (BINARY, CLOSE, CONT, PING, PONG, RSV1, RSV2, TEXT, RawWs, close_payload,
                   frame)

try:
    import websockets
    import websockets.exceptions
except ImportError:  # the test must fail, not skip: scripts/setup installs it
    raise SystemExit("test_websocket.py needs python3-websockets (scripts/setup installs it); "
                     "run it with /usr/bin/python3")

WS_MESSAGE = 64 * 1024  # limits { ws_message } in ws_app.srv


def run(coro, timeout=15):
    """Run CORO on a fresh event loop, failing after TIMEOUT seconds."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


def url(server, path):
    return "ws://%s:%d%s" % (server.host, server.port, path)


class WsTestCase(unittest.TestCase):
    workers = None

    def setUp(self):
        self.server = self.enterContext(Server(srvtest.test_program("ws_app"),
                                               workers=self.workers))
        self.stopping = False

    def tearDown(self):
        # Whatever a client did, the server is still there (unless stopped).
        if not self.stopping:
            self.assertTrue(self.server.running(), self.server.stderr_text())

    def raw(self, path="/echo", **kw):
        ws = RawWs(self.server, path, **kw)
        self.addCleanup(ws.close)
        return ws

    def expect_fail(self, data, code, path="/echo"):
        """Sends DATA after the handshake; the server must answer with a
        close frame carrying CODE and then close the socket (it fails the
        connection: RFC 6455 7.1.7)."""
        ws = self.raw(path)
        self.assertEqual(ws.response.status, 101)
        ws.send(data)
        got = ws.close_frame()
        self.assertIsNotNone(got, "no close frame for %r" % data[:40])
        self.assertEqual(got[0], code, data[:40])
        self.assertTrue(ws.closed(), "socket left open after close %d" % code)
        self.assertTrue(self.server.wait_for_stderr(r"ws-close \w+ %d" % code, 5),
                        self.server.stderr_text())

    def wait_close_line(self, route, code, reason=None):
        pattern = r"^ws-close %s %d %s" % (route, code, reason or "")
        m = self.server.wait_for_stderr(pattern, 5)
        self.assertIsNotNone(m, "no %r in\n%s" % (pattern, self.server.stderr_text()))


# ---------------------------------------------------------------------------
# The opening handshake


class HandshakeTest(WsTestCase):
    def test_the_library_accepts_the_handshake(self):
        async def go():
            async with websockets.connect(url(self.server, "/echo"), compression=None) as ws:
                # websockets checked Sec-WebSocket-Accept against its key.
                self.assertEqual(ws.response_headers["Upgrade"].lower(), "websocket")
                self.assertNotIn("Sec-WebSocket-Extensions", ws.response_headers)
                await ws.send("hello")
                return await ws.recv()
        self.assertEqual(run(go()), "hello")

    def test_the_accept_of_the_rfc_sample_key(self):
        with connect(self.server) as s:
            s.sendall(format_request(self.server, "GET", "/echo", [
                ("Upgrade", "websocket"), ("Connection", "keep-alive, Upgrade"),
                ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
                ("Sec-WebSocket-Version", "13")]))
            r = read_response(s)
        self.assertEqual(r.status, 101)
        self.assertEqual(r.get("Sec-WebSocket-Accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")

    def test_subprotocols_in_the_servers_order_of_preference(self):
        async def chosen(offer):
            async with websockets.connect(url(self.server, "/chat"), subprotocols=offer) as ws:
                return ws.subprotocol, await ws.recv()
        self.assertEqual(run(chosen(["chat.v1", "chat.v2"])), ("chat.v2", "chat.v2"))
        self.assertEqual(run(chosen(["x", "chat.v1"])), ("chat.v1", "chat.v1"))

    def test_no_acceptable_subprotocol_opens_without_one(self):
        async def go():
            async with websockets.connect(url(self.server, "/chat"), subprotocols=["v9"]) as ws:
                self.assertNotIn("Sec-WebSocket-Protocol", ws.response_headers)
                return ws.subprotocol, await ws.recv()
        self.assertEqual(run(go()), (None, "(none)"))

    def test_a_plain_get_is_told_to_upgrade(self):
        r = http(self.server, "GET", "/echo")
        self.assertEqual(r.status, 426)
        self.assertEqual(r.get("Sec-WebSocket-Version"), "13")
        self.assertEqual(r.get("Upgrade"), "websocket")

    def test_another_version_is_426(self):
        with connect(self.server) as s:
            s.sendall(format_request(self.server, "GET", "/echo", [
                ("Upgrade", "websocket"), ("Connection", "Upgrade"),
                ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
                ("Sec-WebSocket-Version", "8")]))
            r = read_response(s)
        self.assertEqual(r.status, 426)
        self.assertEqual(r.get("Sec-WebSocket-Version"), "13")

    def test_another_method_is_405(self):
        r = http(self.server, "POST", "/echo", [("Upgrade", "websocket"),
                                                ("Connection", "Upgrade")])
        self.assertEqual(r.status, 405)
        self.assertEqual(r.get("Allow"), "GET")

    def test_a_bad_key_is_400(self):
        for key in ("abc", "dGhlIHNhbXBsZSBub25jZQ", "dGhlIHNhbXBsZSBub25jZQ==x",
                    "AAAAAAAAAAAAAAAAAAAAAAAA=="):
            with connect(self.server) as s:
                s.sendall(format_request(self.server, "GET", "/echo", [
                    ("Upgrade", "websocket"), ("Connection", "Upgrade"),
                    ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", "13")]))
                self.assertEqual(read_response(s).status, 400, key)

    def test_a_before_block_refuses_the_upgrade(self):
        async def refused():
            try:
                async with websockets.connect(url(self.server, "/private/ws")):
                    return "opened"
            except websockets.exceptions.InvalidStatusCode as e:
                return e.status_code

        async def allowed():
            async with websockets.connect(url(self.server, "/private/ws"),
                                          extra_headers={"Authorization": "x"}) as ws:
                return await ws.recv()
        self.assertEqual(run(refused()), 401)
        self.assertEqual(run(allowed()), "private")

    def test_http_routes_beside_websocket_ones(self):
        r = http(self.server, "GET", "/hello")
        self.assertEqual((r.status, r.body), (200, b"hello\n"))


# ---------------------------------------------------------------------------
# Messages


class EchoTest(WsTestCase):
    def echo_all(self, compression):
        big_text = "".join(chr(0x20 + i % 0x5e) for i in range(16384)) + "é✓"
        big_bin = os.urandom(16384)
        # The largest messages are as large as ws_queue too: the echo of
        # one is queued inside the `message` block, and that must not count
        # as a client too slow to take it (1008).  Random bytes compressed
        # come out larger than the limit: that must not be 1009.
        messages = ["hi", b"\x00\xff\x01", "", b"", big_text, big_bin, "x" * WS_MESSAGE,
                    os.urandom(WS_MESSAGE)]

        async def go():
            async with websockets.connect(url(self.server, "/echo"),
                                          compression=compression) as ws:
                got = []
                for m in messages:
                    await ws.send(m)
                    got.append(await ws.recv())
                # Fragmented: websockets sends each item of an iterator as a frame.
                await ws.send(iter(["frag", "men", "ted ✓"]))
                got.append(await ws.recv())
                await ws.send(iter([b"\x01" * 5000, b"\x02" * 5000, b"\x03"]))
                got.append(await ws.recv())
                return [e.name for e in ws.extensions], got
        ext, got = run(go())
        self.assertEqual(ext, ["permessage-deflate"] if compression else [])
        self.assertEqual(got[:len(messages)], messages)
        self.assertEqual(got[len(messages)], "fragmented ✓")
        self.assertEqual(got[len(messages) + 1], b"\x01" * 5000 + b"\x02" * 5000 + b"\x03")

    def test_echo_without_compression(self):
        self.echo_all(None)

    def test_echo_with_permessage_deflate(self):
        self.echo_all("deflate")

    def test_pong_payload_matches_the_ping(self):
        async def go():
            async with websockets.connect(url(self.server, "/echo")) as ws:
                # websockets resolves the waiter only for a pong with this payload.
                await asyncio.wait_for(await ws.ping(b"are you there?"), 5)
        run(go())
        ws = self.raw()
        payload = bytes(range(125))
        ws.send(frame(PING, payload))
        self.assertEqual(ws.data_frame(), (True, 0, PONG, payload))

    def test_a_ping_inside_a_fragmented_message(self):
        ws = self.raw()
        ws.send(frame(TEXT, "Hel", fin=False) + frame(PING, "p1") + frame(CONT, "l", fin=False))
        self.assertEqual(ws.data_frame(), (True, 0, PONG, b"p1"))
        ws.send(frame(PING, b"") + frame(CONT, "o!"))
        self.assertEqual(ws.data_frame(), (True, 0, PONG, b""))
        self.assertEqual(ws.data_frame(), (True, 0, TEXT, b"Hello!"))

    def test_frames_cut_anywhere_still_make_the_message(self):
        ws = self.raw()
        data = frame(BINARY, b"ab", fin=False) + frame(CONT, b"cd" * 200)
        for i in range(0, len(data), 7):
            ws.send(data[i:i + 7])
        self.assertEqual(ws.data_frame(), (True, 0, BINARY, b"ab" + b"cd" * 200))


# ---------------------------------------------------------------------------
# Closing and the protocol's rules


class CloseTest(WsTestCase):
    def test_a_valid_close_code_is_echoed(self):
        async def go(code, reason):
            ws = await websockets.connect(url(self.server, "/echo"))
            await ws.close(code, reason)
            return ws.close_code
        for code in (1000, 1001, 3000, 4999):
            self.assertEqual(run(go(code, "done")), code)
            self.wait_close_line("echo", code, "done")

    def test_an_empty_close_is_answered_empty(self):
        ws = self.raw()
        ws.send(frame(CLOSE))
        self.assertEqual(ws.close_frame(), (None, b""))
        self.assertTrue(ws.closed())
        self.wait_close_line("echo", 1005)

    def test_invalid_close_codes_are_1002(self):
        for code in (0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000):
            self.expect_fail(frame(CLOSE, close_payload(code)), 1002)

    def test_a_one_byte_close_is_1002(self):
        self.expect_fail(frame(CLOSE, b"\x03"), 1002)

    def test_a_close_reason_that_is_not_utf8_is_1007(self):
        self.expect_fail(frame(CLOSE, close_payload(1000, b"bad \xc3\x28")), 1007)

    def test_an_unmasked_frame_is_1002(self):
        self.expect_fail(frame(TEXT, "hi", masked=False), 1002)

    def test_reserved_opcodes_are_1002(self):
        for op in (3, 7, 0xB, 0xF):
            self.expect_fail(frame(op, "x"), 1002)

    def test_rsv_bits_without_an_extension_are_1002(self):
        self.expect_fail(frame(TEXT, "hi", rsv=RSV1), 1002)
        self.expect_fail(frame(TEXT, "hi", rsv=RSV2), 1002)
        self.expect_fail(frame(PING, "", rsv=0x10), 1002)

    def test_oversized_or_fragmented_control_frames_are_1002(self):
        self.expect_fail(frame(PING, b"p" * 126), 1002)
        self.expect_fail(frame(PING, b"p", fin=False), 1002)

    def test_a_continuation_without_a_start_is_1002(self):
        self.expect_fail(frame(CONT, "orphan"), 1002)

    def test_a_new_message_inside_a_fragmented_one_is_1002(self):
        self.expect_fail(frame(TEXT, "a", fin=False) + frame(TEXT, "b"), 1002)

    def test_a_length_not_in_its_shortest_form_is_1002(self):
        self.expect_fail(b"\x82\xfe\x00\x05" + b"\x00" * 4 + b"hello", 1002)

    def test_invalid_utf8_text_is_1007(self):
        self.expect_fail(frame(TEXT, b"caf\xc3"), 1007)           # ends inside a character
        self.expect_fail(frame(TEXT, b"\xed\xa0\x80"), 1007)      # a surrogate
        self.expect_fail(frame(TEXT, b"\xc0\xaf"), 1007)          # overlong

    def test_bad_utf8_in_an_unfinished_message_is_1007_at_once(self):
        # The first fragment has a byte that cannot start or continue any
        # character; the message is never finished: the close comes anyway.
        ws = self.raw()
        ws.send(frame(TEXT, b"fine so far \xff", fin=False))
        self.assertEqual(ws.close_frame()[0], 1007)
        self.assertTrue(ws.closed())

    def test_a_message_over_the_limit_is_1009_from_its_header(self):
        # Only the header of a 1 TiB frame: the answer cannot wait for it.
        ws = self.raw()
        ws.send(frame(BINARY, b"", length=1 << 40))
        self.assertEqual(ws.close_frame()[0], 1009)
        self.assertTrue(ws.closed())
        # Just over the limit, in one frame and across fragments.
        self.expect_fail(frame(BINARY, b"", length=WS_MESSAGE + 1), 1009)
        self.expect_fail(frame(TEXT, "a" * 40000, fin=False)
                         + frame(CONT, b"", length=WS_MESSAGE - 40000 + 1), 1009)

    def test_the_library_sees_1009_for_a_message_too_large(self):
        async def go():
            async with websockets.connect(url(self.server, "/echo"), compression=None) as ws:
                await ws.send(b"x" * (WS_MESSAGE + 1))
                try:
                    await ws.recv()
                except websockets.exceptions.ConnectionClosedError as e:
                    return e.rcvd.code
        self.assertEqual(run(go()), 1009)

    def test_the_server_closes_with_its_code(self):
        async def go(code):
            async with websockets.connect(url(self.server, "/close/%d" % code)) as ws:
                await ws.wait_closed()
                return ws.close_code, ws.close_reason
        self.assertEqual(run(go(4000)), (4000, "server says bye"))
        self.assertEqual(run(go(1001)), (1001, "server says bye"))
        # Not a code an endpoint may send: the server closes normally instead.
        self.assertEqual(run(go(1005)), (1000, ""))
        self.wait_close_line("close", 4000, "server says bye")

    def test_a_client_that_does_not_read_is_closed_with_1008(self):
        ws = self.raw("/flood", rcvbuf=4096, timeout=15)
        self.wait_close_line("flood", 1008, "too slow")
        # What was queued arrives, then the close frame; other clients go on.
        self.assertEqual(ws.close_frame(), (1008, b"too slow"))
        ws.send(frame(CLOSE, close_payload(1008)))
        self.assertTrue(ws.closed())
        other = self.raw()
        other.send(frame(TEXT, "still here"))
        self.assertEqual(other.data_frame(), (True, 0, TEXT, b"still here"))


# ---------------------------------------------------------------------------
# permessage-deflate


def deflate(data):
    """A message compressed as RFC 7692 says: raw DEFLATE, sync-flushed,
    without the final 00 00 ff ff."""
    c = zlib.compressobj(wbits=-15)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


def inflate(data):
    return zlib.decompressobj(wbits=-15).decompress(data + b"\x00\x00\xff\xff")


class DeflateTest(WsTestCase):
    PMD = [("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")]

    def test_large_compressible_messages_both_ways(self):
        text = ("the quick brown fox jumps over the lazy dog " * 1400)[:WS_MESSAGE]
        async def go():
            async with websockets.connect(url(self.server, "/echo"),
                                          max_size=WS_MESSAGE) as ws:
                out = []
                for m in (text, text.encode(), text[:1000]):
                    await ws.send(m)
                    out.append(await ws.recv())
                return ws.response_headers.get("Sec-WebSocket-Extensions"), out
        ext, out = run(go())
        self.assertTrue(ext.startswith("permessage-deflate"), ext)
        self.assertEqual(out, [text, text.encode(), text[:1000]])

    def test_the_server_compresses_what_it_sends(self):
        ws = self.raw(headers=self.PMD)
        self.assertIn("permessage-deflate", ws.response.get("Sec-WebSocket-Extensions"))
        text = b"abcabcabc " * 6000
        ws.send(frame(TEXT, deflate(text), rsv=RSV1))
        fin, rsv, op, payload = ws.data_frame()
        self.assertEqual((fin, rsv, op), (True, RSV1, TEXT))
        self.assertLess(len(payload), len(text) // 10)
        self.assertEqual(inflate(payload), text)

    def test_no_offer_no_extension(self):
        ws = self.raw()
        self.assertIsNone(ws.response.get("Sec-WebSocket-Extensions"))
        ws = self.raw("/chat", headers=self.PMD)  # a route without `deflate`
        self.assertIsNone(ws.response.get("Sec-WebSocket-Extensions"))

    def test_a_zip_bomb_is_1009(self):
        bomb = deflate(b"\0" * (16 << 20))  # 16 MiB of zeros in ~16 KiB
        self.assertLess(len(bomb), WS_MESSAGE)
        ws = self.raw(headers=self.PMD)
        ws.send(frame(BINARY, bomb, rsv=RSV1))
        self.assertEqual(ws.close_frame()[0], 1009)
        self.assertTrue(ws.closed())
        self.wait_close_line("echo", 1009)

    def test_compressed_invalid_utf8_is_1007(self):
        ws = self.raw(headers=self.PMD)
        ws.send(frame(TEXT, deflate(b"ok " * 100 + b"\xff"), rsv=RSV1))
        self.assertEqual(ws.close_frame()[0], 1007)

    def test_rsv1_on_a_continuation_is_1002(self):
        ws = self.raw(headers=self.PMD)
        ws.send(frame(TEXT, deflate(b"a"), rsv=RSV1, fin=False) + frame(CONT, b"", rsv=RSV1))
        self.assertEqual(ws.close_frame()[0], 1002)


# ---------------------------------------------------------------------------
# Life of the connection


class LifeTest(WsTestCase):
    def test_a_dead_peer_is_found_by_pings(self):
        # A client that never reads nor answers the server's pings.
        ws = self.raw()
        line = self.server.wait_for_stderr(r"^ws-close echo 1006 no answer to ping", 8)
        self.assertIsNotNone(line, self.server.stderr_text())
        # The server closed the socket without a close frame (1006 is never sent).
        self.assertEqual([f[2] for f in iter(ws.frame, None)], [PING])
        self.assertTrue(ws.eof)

    def test_a_peer_that_vanishes_is_1006(self):
        ws = self.raw()
        ws.send(frame(TEXT, "x"))
        ws.data_frame()
        ws.sock.shutdown(socket.SHUT_RDWR)
        self.wait_close_line("echo", 1006)

    def test_a_drain_sends_1001(self):
        async def go():
            clients = [await websockets.connect(url(self.server, "/room/r")) for _ in range(8)]
            for c in clients:
                await c.recv()  # open has run
            self.stopping = True
            self.server.send_signal(signal.SIGTERM)
            codes = []
            for c in clients:
                await c.wait_closed()
                codes.append((c.close_code, c.close_reason))
            return codes
        codes = run(go())
        self.assertEqual(codes, [(1001, "server shutting down")] * 8)
        self.assertEqual(self.server.wait(10), 0, self.server.stderr_text())
        self.assertEqual(self.server.stderr_text().count("ws-close room 1001"), 8)


class ManyTest(WsTestCase):
    workers = 1
    N = 1000

    def setUp(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = 2 * self.N + 200  # ours and the server's, which inherits it
        if soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
        super().setUp()

    def test_a_thousand_connections_on_one_worker(self):
        async def one(i, gate):
            async with gate:
                ws = await websockets.connect(url(self.server, "/echo"), compression=None,
                                              ping_interval=None)
            return ws

        async def go():
            gate = asyncio.Semaphore(100)
            clients = await asyncio.gather(*(one(i, gate) for i in range(self.N)))
            # All open at once; each echoes its own message.
            await asyncio.gather(*(c.send("client %d" % i) for i, c in enumerate(clients)))
            got = await asyncio.gather(*(c.recv() for c in clients))
            await asyncio.gather(*(c.close() for c in clients))
            return got
        got = run(go(), timeout=40)
        self.assertEqual(got, ["client %d" % i for i in range(self.N)])


class RoomTest(WsTestCase):
    workers = 2

    def test_a_room_message_reaches_members_on_both_workers(self):
        async def go():
            clients, seen = [], set()
            # SO_REUSEPORT spreads connections: open until both workers hold some.
            for _ in range(64):
                c = await websockets.connect(url(self.server, "/room/lobby"))
                seen.add(await c.recv())
                clients.append(c)
                if len(seen) == 2 and len(clients) >= 4:
                    break
            self.assertEqual(seen, {"worker 0", "worker 1"})
            other = await websockets.connect(url(self.server, "/room/other"))
            await other.recv()
            await clients[0].send("hello, room")
            got = [await asyncio.wait_for(c.recv(), 5) for c in clients]
            # From HTTP too.
            r = http(self.server, "POST", "/publish/lobby", body=b"from http")
            self.assertRegex(r.text(), r"^\d+\n$")
            got2 = [await asyncio.wait_for(c.recv(), 5) for c in clients]
            # The other room heard nothing.
            with self.assertRaises(asyncio.TimeoutError):
                await asyncio.wait_for(other.recv(), 0.3)
            for c in clients + [other]:
                await c.close()
            return got, got2, len(clients)
        got, got2, n = run(go())
        self.assertEqual(got, ["hello, room"] * n)
        self.assertEqual(got2, ["from http"] * n)


# ---------------------------------------------------------------------------
# npm's ws


NODE_DIR = os.path.join(srvtest.SOURCE, "tests", "e2e", "ws_node")


class NodeClientTest(WsTestCase):
    def test_npm_ws_client(self):
        self.assertTrue(os.path.isdir(os.path.join(NODE_DIR, "node_modules", "ws")),
                        "npm's ws is not installed: run scripts/setup")
        r = subprocess.run(["node", os.path.join(NODE_DIR, "client.js"),
                            "ws://%s:%d" % self.server.addr],
                           capture_output=True, timeout=20)
        self.assertEqual(r.returncode, 0, r.stderr.decode(errors="replace"))
        res = json.loads(r.stdout)
        for mode, ext in (("echo_deflate", "permessage-deflate"), ("echo_plain", "")):
            self.assertEqual(res[mode]["extensions"], ext, res[mode])
            self.assertEqual(res[mode]["ok"], [True] * 5, res[mode])
            self.assertEqual(res[mode]["close"]["code"], 1000)
        self.assertEqual(res["fragmented"], "fragmented")
        cc = res["close_codes"]
        self.assertEqual(cc["server_4000"], {"code": 4000, "reason": "server says bye"})
        self.assertEqual(cc["server_1001"], {"code": 1001, "reason": "server says bye"})
        self.assertEqual(cc["server_1005"], {"code": 1000, "reason": ""})
        self.assertEqual(cc["client_4321"]["code"], 4321)
        self.assertEqual(res["subprotocol"], {"protocol": "chat.v2", "said": "chat.v2"})
        self.assertEqual(res["refused"], "HTTP 401")
        self.wait_close_line("echo", 4321, "client bye")


if __name__ == "__main__":
    srvtest.main()
