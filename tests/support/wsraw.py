"""wsraw - a WebSocket client (RFC 6455) on a raw socket, standard library
only, for the e2e tests: the opening handshake made and checked by hand,
client frames built as given (masked or not, any RSV bits, any length in
the header), server frames read as they come.  Written to break the
protocol on purpose, which a real client library will not do; the tests
drive real libraries too (test_websocket.py).

    ws = RawWs(server, "/echo")                 # ws.response: the handshake's answer
    ws.send(frame(TEXT, "hi"))
    fin, rsv, opcode, payload = ws.frame()      # None at end of file
"""

import base64
import hashlib
import os
import socket
import struct

import srvtest

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, BINARY, CLOSE, PING, PONG, CONT = 1, 2, 8, 9, 10, 0
RSV1, RSV2 = 0x40, 0x20


def accept_for(key):
    """The Sec-WebSocket-Accept a server must answer KEY (text) with."""
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def mask(payload, key):
    n = len(payload)
    if n == 0:
        return b""
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(k, "big")).to_bytes(n, "big")


def frame(opcode, payload=b"", fin=True, rsv=0, masked=True, length=None):
    """One client frame, by hand: LENGTH overrides the header's length (the
    payload is then sent as given, possibly not at all)."""
    if isinstance(payload, str):
        payload = payload.encode()
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | rsv | opcode])
    m = 0x80 if masked else 0
    if n < 126:
        head += bytes([m | n])
    elif n < 65536:
        head += bytes([m | 126]) + struct.pack("!H", n)
    else:
        head += bytes([m | 127]) + struct.pack("!Q", n)
    if not masked:
        return head + payload
    key = os.urandom(4)
    return head + key + mask(payload, key)


def close_payload(code, reason=b""):
    return struct.pack("!H", code) + reason


class RawWs:
    """A WebSocket connection to SERVER's PATH: the handshake (with extra
    HEADERS) is sent at once and its answer read into self.response - a 101
    whose Sec-WebSocket-Accept is checked, or an ordinary response with its
    body.  RCVBUF, if given, is set before connecting, so the window stays
    small (a client that reads slowly)."""

    def __init__(self, server, path="/echo", headers=(), timeout=5, rcvbuf=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((server.host, server.port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(srvtest.format_request(server, "GET", path, [
            ("Upgrade", "websocket"), ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", self.key), ("Sec-WebSocket-Version", "13")] + list(headers)))
        self.response = srvtest.read_response(self.sock)
        self.status = self.response.status
        self.buf = srvtest.pending_bytes(self.sock)
        self.eof = False
        if self.status == 101:
            assert self.response.get("Sec-WebSocket-Accept") == accept_for(self.key), \
                self.response

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        try:
            chunk = self.sock.recv(262144)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def _need(self, n):
        while len(self.buf) < n:
            if not self._fill():
                return False
        return True

    def frame(self):
        """The next frame as (fin, rsv, opcode, payload), or None at EOF.
        Server frames are never masked."""
        if not self._need(2):
            return None
        b0, b1 = self.buf[0], self.buf[1]
        assert not b1 & 0x80, "a server frame was masked"
        n, at = b1 & 0x7f, 2
        if n == 126:
            if not self._need(4):
                return None
            n, at = struct.unpack("!H", self.buf[2:4])[0], 4
        elif n == 127:
            if not self._need(10):
                return None
            n, at = struct.unpack("!Q", self.buf[2:10])[0], 10
        if not self._need(at + n):
            return None
        payload, self.buf = self.buf[at:at + n], self.buf[at + n:]
        return bool(b0 & 0x80), b0 & 0x70, b0 & 0x0f, payload

    def data_frame(self):
        """The next frame that is not a ping."""
        while True:
            f = self.frame()
            if f is None or f[2] != PING:
                return f

    def close_frame(self):
        """Skips data frames and pings up to the close frame: its (code,
        reason), (None, b"") for an empty one, or None at EOF first."""
        while True:
            f = self.frame()
            if f is None:
                return None
            if f[2] == CLOSE:
                p = f[3]
                return (struct.unpack("!H", p[:2])[0], p[2:]) if p else (None, b"")

    def closed(self):
        """Whether the server then closes the socket (EOF before timeout)."""
        try:
            while self._fill():
                pass
        except (socket.timeout, TimeoutError):
            return False
        except OSError:
            return True
        return True

    def close(self):
        self.sock.close()
