#!/usr/bin/env python3
"""End-to-end tests of issue 11, "Behind a load balancer": trust_proxy
(tests/e2e/proxied.srv) and the PROXY protocol (tests/e2e/proxy_protocol.srv),
over real sockets.

- trust_proxy: X-Forwarded-For chains (the rightmost untrusted hop),
  Forwarded with IPv6 and proto=, X-Forwarded-Proto, malformed values
  ignored, the same headers from an untrusted peer (127.0.0.2) ignored, an
  IPv6 listener, and the access log naming the client the handler saw;
- PROXY protocol: hand-built v1 (TCP4, TCP6, UNKNOWN) and v2 (TCP4, TCP6
  with TLVs, LOCAL) headers, trust_proxy on top of the address a header
  names, keep-alive after a header, a header trickled byte by byte, and
  connections closed without an answer: no header, garbage, a header that
  stops (the header timeout, 1 s here)."""

import os
import re
import select
import shutil
import socket
import struct
import tempfile
import time
import unittest

import srvtest
from srvtest import (Server, format_request, read_response, read_until_closed, wait_until)


def lines_of(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


def open_socket(server, source=None, timeout=5):
    """A connection to SERVER, from the address SOURCE when given."""
    family = socket.AF_INET6 if ":" in server.host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(timeout)
    if source is not None:
        s.bind((source, 0))
    s.connect((server.host, server.port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def whoami(server, headers=(), source=None, prefix=b""):
    """GET /whoami (after PREFIX bytes): the body's two words, the client
    address and the scheme the server saw."""
    headers = list(headers)
    if ":" in server.host:
        headers.append(("Host", "[%s]:%d" % (server.host, server.port)))
    with open_socket(server, source) as s:
        s.sendall(prefix + format_request(server, "GET", "/whoami", headers))
        r = read_response(s)
    assert r.status == 200, r
    peer, scheme = r.text().split()
    return peer, scheme


# PROXY protocol headers, built by hand from the specification.
V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v1(proto, src, dst, sport=56324, dport=443):
    return ("PROXY %s %s %s %d %d\r\n" % (proto, src, dst, sport, dport)).encode()


def v2(command, family, block=b"", tlvs=b""):
    body = block + tlvs
    return V2_SIG + bytes([0x20 | command, family]) + struct.pack("!H", len(body)) + body


def v2_inet(src, dst, sport=56324, dport=443, tlvs=b""):
    block = socket.inet_pton(socket.AF_INET, src) + socket.inet_pton(socket.AF_INET, dst)
    return v2(1, 0x11, block + struct.pack("!HH", sport, dport), tlvs)


def v2_inet6(src, dst, sport=56324, dport=443, tlvs=b""):
    block = socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst)
    return v2(1, 0x21, block + struct.pack("!HH", sport, dport), tlvs)


def tlv(kind, value):
    return bytes([kind]) + struct.pack("!H", len(value)) + value


class TrustProxyTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="srv-proxy-")
        self.log = os.path.join(self.dir, "access.log")
        self.server = self.enterContext(Server(srvtest.test_program("proxied"), cwd=self.dir))

    def tearDown(self):
        self.assertEqual(self.server.stop(), 0)
        shutil.rmtree(self.dir, ignore_errors=True)

    def test_without_headers_the_peer_is_the_socket(self):
        self.assertEqual(whoami(self.server), ("127.0.0.1", "http"))

    def test_x_forwarded_for_names_the_rightmost_untrusted_hop(self):
        xff = lambda v: whoami(self.server, [("X-Forwarded-For", v)])[0]
        self.assertEqual(xff("203.0.113.7"), "203.0.113.7")
        self.assertEqual(xff("198.51.100.1, 203.0.113.7, 10.0.0.2"), "203.0.113.7")
        # What a client forged before the proxy appended: left of the hop.
        self.assertEqual(xff("1.1.1.1, 10.9.9.9, 203.0.113.7"), "203.0.113.7")
        self.assertEqual(xff("10.0.0.5, 10.0.0.6"), "10.0.0.5")  # all trusted: leftmost
        self.assertEqual(xff("[2001:db8::5]:443"), "2001:db8::5")
        # Lines are one list.
        self.assertEqual(whoami(self.server, [("X-Forwarded-For", "198.51.100.3"),
                                              ("X-Forwarded-For", "10.1.1.1")])[0],
                         "198.51.100.3")

    def test_forwarded_with_ipv6_and_proto(self):
        fwd = lambda v: whoami(self.server, [("Forwarded", v)])
        self.assertEqual(fwd('for="[2001:db8:cafe::17]:4711";proto=https'),
                         ("2001:db8:cafe::17", "https"))
        self.assertEqual(fwd("for=192.0.2.43, for=198.51.100.17;proto=https, for=10.0.0.3"),
                         ("198.51.100.17", "https"))
        self.assertEqual(fwd("for=1.2.3.4;proto=https, for=198.51.100.17;proto=http"),
                         ("198.51.100.17", "http"))
        # An unknown client names no address: the peer stays the socket's.
        self.assertEqual(fwd("for=unknown;proto=https"), ("127.0.0.1", "https"))
        # Forwarded is the only source when present: X-Forwarded-For is not read.
        self.assertEqual(whoami(self.server, [("X-Forwarded-For", "203.0.113.1"),
                                              ("Forwarded", "for=198.51.100.2")])[0],
                         "198.51.100.2")

    def test_x_forwarded_proto_sets_the_scheme(self):
        self.assertEqual(whoami(self.server, [("X-Forwarded-Proto", "https")]),
                         ("127.0.0.1", "https"))
        self.assertEqual(whoami(self.server, [("X-Forwarded-For", "203.0.113.7"),
                                              ("X-Forwarded-Proto", "HTTPS")]),
                         ("203.0.113.7", "https"))
        # One entry per hop: a forged leftmost "https" is not the client's hop.
        self.assertEqual(whoami(self.server, [("X-Forwarded-For", "1.1.1.1, 203.0.113.7"),
                                              ("X-Forwarded-Proto", "https, http")]),
                         ("203.0.113.7", "http"))

    def test_malformed_headers_are_ignored(self):
        for headers in ([("X-Forwarded-For", "203.0.113.7, not-an-address")],
                        [("X-Forwarded-For", "unknown")],
                        [("Forwarded", 'for="[2001:db8::1]')],
                        [("Forwarded", "for=1.2.3.4;for=5.6.7.8")],
                        [("Forwarded", "for=[::1]"), ("X-Forwarded-For", "203.0.113.7")]):
            self.assertEqual(whoami(self.server, headers), ("127.0.0.1", "http"), headers)

    def test_an_untrusted_peer_cannot_spoof(self):
        spoof = [("X-Forwarded-For", "203.0.113.66"), ("X-Forwarded-Proto", "https"),
                 ("Forwarded", "for=203.0.113.66;proto=https")]
        self.assertEqual(whoami(self.server, spoof, source="127.0.0.2"), ("127.0.0.2", "http"))
        self.assertEqual(whoami(self.server, [("X-Forwarded-For", "10.0.0.1")],
                                source="127.0.0.2"), ("127.0.0.2", "http"))

    def test_the_access_log_names_the_client(self):
        whoami(self.server, [("X-Forwarded-For", "203.0.113.7, 10.0.0.2")])
        whoami(self.server, [("Forwarded", 'for="[2001:db8::9]"')])
        whoami(self.server, [("X-Forwarded-For", "203.0.113.66")], source="127.0.0.2")
        whoami(self.server)
        # Flushed at least once a second.
        self.assertTrue(wait_until(lambda: len(lines_of(self.log)) >= 4, 5), lines_of(self.log))
        peers = [line.split(" ", 1)[0] for line in lines_of(self.log)]
        self.assertEqual(peers, ["203.0.113.7", "2001:db8::9", "127.0.0.2", "127.0.0.1"])
        for line in lines_of(self.log):
            self.assertRegex(line, r'"GET /whoami HTTP/1\.1" 200 ')


class TrustProxyIpv6Test(unittest.TestCase):
    def test_an_ipv6_peer_is_trusted_by_its_range(self):
        d = tempfile.mkdtemp(prefix="srv-proxy6-")
        try:
            with Server(srvtest.test_program("proxied"), host="::1", cwd=d) as s:
                self.assertEqual(whoami(s), ("::1", "http"))
                self.assertEqual(whoami(s, [("X-Forwarded-For", "203.0.113.7"),
                                            ("X-Forwarded-Proto", "https")]),
                                 ("203.0.113.7", "https"))
                self.assertEqual(s.stop(), 0)
        finally:
            shutil.rmtree(d, ignore_errors=True)


class ProxyProtocolTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="srv-pp-")
        self.log = os.path.join(self.dir, "access.log")
        self.server = self.enterContext(Server(srvtest.test_program("proxy_protocol"),
                                               cwd=self.dir))

    def tearDown(self):
        self.assertEqual(self.server.stop(), 0)
        shutil.rmtree(self.dir, ignore_errors=True)

    def assertClosedWithoutAnswer(self, data, within=0.9):
        """DATA on a fresh connection is answered by a close, with no byte
        (and before the header timeout, 1 s, could have done it)."""
        with open_socket(self.server, timeout=10) as s:
            t0 = time.monotonic()
            try:
                s.sendall(data)
            except (BrokenPipeError, ConnectionResetError):
                pass
            got, closed = read_until_closed(s, 5)
            elapsed = time.monotonic() - t0
        self.assertTrue(closed, data)
        self.assertEqual(got, b"", data)
        self.assertLess(elapsed, within, data)

    def test_v1_tcp4_and_tcp6(self):
        self.assertEqual(whoami(self.server, prefix=v1("TCP4", "198.51.100.7", "192.0.2.9")),
                         ("198.51.100.7", "http"))
        self.assertEqual(whoami(self.server, prefix=v1("TCP6", "2001:db8::7", "2001:db8::1")),
                         ("2001:db8::7", "http"))

    def test_v1_unknown_keeps_the_socket_peer(self):
        self.assertEqual(whoami(self.server, prefix=b"PROXY UNKNOWN\r\n")[0], "127.0.0.1")
        self.assertEqual(whoami(self.server, prefix=b"PROXY UNKNOWN whatever 1 2\r\n")[0],
                         "127.0.0.1")

    def test_v2_tcp4_tcp6_and_local(self):
        self.assertEqual(whoami(self.server, prefix=v2_inet("198.51.100.8", "192.0.2.9"))[0],
                         "198.51.100.8")
        tlvs = tlv(0x01, b"h2") + tlv(0x02, b"example.com") + tlv(0xEA, b"\x01vpce-0abc")
        self.assertEqual(whoami(self.server, prefix=v2_inet6("2001:db8::8", "2001:db8::1",
                                                             tlvs=tlvs))[0], "2001:db8::8")
        # LOCAL: the balancer's own health check; the socket's peer stands.
        self.assertEqual(whoami(self.server, prefix=v2(0, 0x00))[0], "127.0.0.1")
        self.assertEqual(whoami(self.server, prefix=v2(1, 0x00))[0], "127.0.0.1")

    def test_the_header_holds_for_every_request_of_the_connection(self):
        with open_socket(self.server) as s:
            s.sendall(v1("TCP4", "198.51.100.9", "192.0.2.9"))
            for _ in range(3):
                s.sendall(format_request(self.server, "GET", "/whoami"))
                self.assertEqual(read_response(s).text(), "198.51.100.9 http\n")

    def test_trust_proxy_applies_to_the_address_the_header_names(self):
        xff = [("X-Forwarded-For", "203.0.113.9"), ("X-Forwarded-Proto", "https")]
        # The header names a trusted balancer: its forwarding headers count.
        self.assertEqual(whoami(self.server, xff, prefix=v1("TCP4", "192.0.2.1", "192.0.2.9")),
                         ("203.0.113.9", "https"))
        # Anyone else: they do not.
        self.assertEqual(whoami(self.server, xff, prefix=v1("TCP4", "198.51.100.7", "192.0.2.9")),
                         ("198.51.100.7", "http"))

    def test_a_header_trickled_byte_by_byte(self):
        for hdr in (v1("TCP4", "198.51.100.10", "192.0.2.9"),
                    v2_inet("198.51.100.10", "192.0.2.9", tlvs=tlv(0x04, b"\0" * 40))):
            with open_socket(self.server) as s:
                for i in range(len(hdr)):
                    s.sendall(hdr[i:i + 1])
                    # Nothing may come back (or close) before the header is whole.
                    readable, _, _ = select.select([s], [], [], 0.005)
                    self.assertEqual(readable, [], "answered after %d bytes" % (i + 1))
                s.sendall(format_request(self.server, "GET", "/whoami"))
                self.assertEqual(read_response(s).text(), "198.51.100.10 http\n")

    def test_a_connection_without_a_header_is_closed_without_an_answer(self):
        self.assertClosedWithoutAnswer(format_request(self.server, "GET", "/whoami"))
        self.assertClosedWithoutAnswer(format_request(self.server, "POST", "/whoami"))
        self.assertClosedWithoutAnswer(b"PROXY TCP4 198.51.100.7 192.0.2.9 1 2\n")

    def test_garbage_is_closed_without_an_answer(self):
        self.assertClosedWithoutAnswer(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
        self.assertClosedWithoutAnswer(b"PROXY TCP4 198.51.100.7 192.0.2.9 1 99999\r\n")
        self.assertClosedWithoutAnswer(b"PROXY TCP5 198.51.100.7 192.0.2.9 1 2\r\n")
        self.assertClosedWithoutAnswer(V2_SIG + b"\x31\x11\x00\x0c")   # version 3
        self.assertClosedWithoutAnswer(V2_SIG + b"\x21\x41\x00\x0c")   # family 4
        self.assertClosedWithoutAnswer(V2_SIG + b"\x21\x11\x00\x0b" + b"\x00" * 11)
        self.assertClosedWithoutAnswer(V2_SIG + b"\x21\x11\xff\xff")   # past 4 KiB

    def test_a_header_that_stops_is_cut_off_by_the_header_timeout(self):
        for partial in (b"PROXY TCP4 198.51.100.7 19", V2_SIG[:7], v2_inet("1.2.3.4", "5.6.7.8")[:20]):
            with open_socket(self.server, timeout=10) as s:
                t0 = time.monotonic()
                s.sendall(partial)
                got, closed = read_until_closed(s, 6)
                elapsed = time.monotonic() - t0
            self.assertTrue(closed, partial)
            self.assertEqual(got, b"", partial)
            self.assertGreaterEqual(elapsed, 0.5, partial)
            self.assertLessEqual(elapsed, 3.5, partial)

    def test_the_access_log_names_the_client_from_the_header(self):
        whoami(self.server, prefix=v1("TCP6", "2001:db8::42", "2001:db8::1"))
        whoami(self.server, prefix=v2_inet("198.51.100.42", "192.0.2.9"))
        self.assertTrue(wait_until(lambda: len(lines_of(self.log)) >= 2, 5), lines_of(self.log))
        peers = [line.split(" ", 1)[0] for line in lines_of(self.log)]
        self.assertEqual(peers, ["2001:db8::42", "198.51.100.42"])
        # Closed connections are not requests: nothing else is logged.
        self.assertClosedWithoutAnswer(b"GET / HTTP/1.1\r\n\r\n")
        whoami(self.server, prefix=b"PROXY UNKNOWN\r\n")
        self.assertTrue(wait_until(lambda: len(lines_of(self.log)) >= 3, 5))
        self.assertEqual([l.split(" ", 1)[0] for l in lines_of(self.log)][2:], ["127.0.0.1"])


if __name__ == "__main__":
    srvtest.main()
