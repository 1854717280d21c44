#!/usr/bin/env python3
"""End-to-end tests of the examples (issue 2): every example meson built with
the fresh srvc and libsrv, started on 127.0.0.1 port 0 and driven over
loopback, with assertions on status, headers and body.  tests/e2e/echo.srv
covers the request side of the C API the examples do not reach (header
lookup, query strings, limits, a 4 MiB response)."""

import json
import os
import socket
import struct
import subprocess
import time
import unittest

import srvtest
from srvtest import Server, check_date, connect, example, format_request, http, read_response
from wsraw import BINARY, CLOSE, PING, PONG, TEXT, RawWs, frame


def allow_set(response):
    return {m.strip() for m in response.get("Allow", "").split(",") if m.strip()}


class WsClient(RawWs):
    """The chat's client, message by message, on wsraw's raw socket (no
    extension offered): text out, whole messages in, pings answered.

        c = WsClient(server, "/ws/lobby", protocols=["chat.v1"])
        c.send_text("hi"); op, payload = c.recv()
    """

    def __init__(self, server, path, protocols=(), timeout=5):
        headers = [("Sec-WebSocket-Protocol", ", ".join(protocols))] if protocols else []
        super().__init__(server, path, headers=headers, timeout=timeout)

    @property
    def protocol(self):
        return self.response.get("Sec-WebSocket-Protocol")

    def send_frame(self, opcode, payload, fin=True):
        self.send(frame(opcode, payload, fin=fin))

    def send_text(self, text):
        self.send_frame(TEXT, text.encode())

    def recv(self):
        """The next message or close frame: (opcode, payload)."""
        message, opcode = b"", None
        while True:
            f = self.frame()
            if f is None:
                raise EOFError("connection closed")
            fin, rsv, op, payload = f
            assert rsv == 0, f  # no extension was offered
            if op == PING:
                self.send_frame(PONG, payload)
                continue
            if op == PONG:
                continue
            if op == CLOSE:
                return op, payload
            message += payload
            opcode = opcode if op == 0 else op
            if fin:
                return opcode, message

    def recv_json(self):
        op, payload = self.recv()
        if op != TEXT:
            raise AssertionError("expected a text message, got opcode %d %r" % (op, payload))
        return json.loads(payload)

    def recv_close(self):
        """The close frame's (code, reason), after echoing it; then the
        server must close the connection."""
        op, payload = self.recv()
        if op != CLOSE:
            raise AssertionError("expected a close frame, got opcode %d %r" % (op, payload))
        code = struct.unpack("!H", payload[:2])[0] if payload else None
        try:
            self.send_frame(CLOSE, payload[:2])
        except OSError:
            pass
        return code, payload[2:].decode()

    def closed_by_server(self):
        """Whether the server closes the TCP connection (within the
        socket's timeout) with nothing more sent."""
        before = len(self.buf)
        return self.closed() and len(self.buf) == before

    def close(self, code=1000):
        try:
            self.send_frame(CLOSE, struct.pack("!H", code))
        except OSError:
            pass
        self.sock.close()


class ResponseChecks(unittest.TestCase):
    """Assertions every response the tests read must pass."""

    def assertWellFormed(self, r):
        check_date(self, r)
        if r.status in (204, 304) or 100 <= r.status < 200:
            self.assertIsNone(r.get("Content-Length"), r)
        else:
            self.assertEqual(r.headers.get_all("Content-Length"), [str(len(r.body))], r)
        self.assertIsNone(r.get("Transfer-Encoding"), r)

    def get(self, path, **kw):
        r = http(self.server, "GET", path, **kw)
        self.assertWellFormed(r)
        return r


class HelloTest(ResponseChecks):
    @classmethod
    def setUpClass(cls):
        cls.server = cls.enterClassContext(Server(example("hello")))

    def test_startup_line_names_the_real_port_and_one_process(self):
        self.assertIn("hello: listening on http://127.0.0.1:%d (1 process)" % self.server.port,
                      self.server.stderr_text())

    def test_root_and_plaintext_answer_hello_world(self):
        for path in ("/", "/plaintext"):
            with self.subTest(path=path):
                r = self.get(path)
                self.assertEqual(r.status, 200)
                self.assertEqual(r.body, b"Hello, World!")
                self.assertEqual(r.get("Content-Length"), "13")
                self.assertTrue(r.get("content-type", "").startswith("text/plain"), r)

    def test_path_parameter_arrives_url_decoded(self):
        r = self.get("/hello/J%C3%BCrgen%20Klopp")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body.decode("utf-8"), "Hello, Jürgen Klopp!\n")

    def test_head_has_get_content_length_and_no_body(self):
        with connect(self.server) as s:
            # A body after the HEAD response would be read as the start of
            # the next response and break its parse.
            s.sendall(format_request(self.server, "HEAD", "/plaintext")
                      + format_request(self.server, "GET", "/plaintext"))
            head = read_response(s, head_only=True)
            get = read_response(s)
        self.assertEqual(head.status, 200)
        self.assertEqual(head.get("Content-Length"), "13")
        self.assertEqual(head.body, b"")
        self.assertEqual((get.status, get.body), (200, b"Hello, World!"))

    def test_unknown_path_is_404(self):
        r = self.get("/no/such/page")
        self.assertEqual(r.status, 404)

    def test_wrong_method_is_405_with_allow(self):
        r = http(self.server, "POST", "/plaintext", body=b"x")
        self.assertWellFormed(r)
        self.assertEqual(r.status, 405)
        self.assertIn("GET", allow_set(r))
        self.assertIn("HEAD", allow_set(r))
        self.assertNotIn("POST", allow_set(r))

    def test_keep_alive_serves_two_requests_on_one_connection(self):
        with connect(self.server) as s:
            s.sendall(format_request(self.server, "GET", "/"))
            first = read_response(s)
            s.sendall(format_request(self.server, "GET", "/hello/again"))
            second = read_response(s)
        self.assertEqual((first.status, first.body), (200, b"Hello, World!"))
        self.assertNotEqual(first.get("Connection", "").lower(), "close")
        self.assertEqual((second.status, second.body), (200, b"Hello, again!\n"))


class HelloLifecycleTest(unittest.TestCase):
    def test_sigterm_exits_zero(self):
        with Server(example("hello")) as s:
            self.assertEqual(http(s, "GET", "/").status, 200)
            self.assertEqual(s.stop(), 0, s.stderr_text())
            self.assertEqual(srvtest.pids_in_group(s.pid), [])

    def test_host_and_port_flags_override_the_file(self):
        with Server(example("hello"), host="127.0.0.1") as s:
            self.assertEqual(s.host, "127.0.0.1")
            self.assertNotEqual(s.port, 8080)
            self.assertEqual(http(s, "GET", "/").status, 200)


class ApiTest(ResponseChecks):
    """A fresh server per test: the store is the process's memory."""

    def setUp(self):
        self.server = self.enterContext(Server(example("api")))

    def call(self, method, path, body=None, raw_body=None, from_router=False):
        if raw_body is None and body is not None:
            raw_body = json.dumps(body).encode()
        r = http(self.server, method, path, body=raw_body or b"",
                 headers=[("Content-Type", "application/json")] if raw_body else ())
        self.assertWellFormed(r)
        # The router's own 404/405 are not the API's JSON.
        if r.body and not from_router:
            self.assertEqual(r.get("Content-Type"), "application/json", r)
        return r

    def test_create_get_list_delete(self):
        r = self.call("GET", "/items")
        self.assertEqual((r.status, r.json()), (200, []))

        r = self.call("POST", "/items", {"name": "apple"})
        self.assertEqual(r.status, 201)
        self.assertEqual(r.json(), {"id": 1, "name": "apple"})
        self.assertEqual(r.get("Location"), "/items/1")
        r = self.call("POST", "/items", {"name": "pear", "price": [1, 2.5, None]})
        self.assertEqual((r.status, r.get("Location")), (201, "/items/2"))

        r = self.call("GET", "/items/1")
        self.assertEqual((r.status, r.json()), (200, {"id": 1, "name": "apple"}))
        r = self.call("GET", "/items")
        self.assertEqual(r.json(), [{"id": 1, "name": "apple"}, {"id": 2, "name": "pear"}])

        r = self.call("DELETE", "/items/1")
        self.assertEqual((r.status, r.body), (204, b""))
        self.assertEqual(self.call("GET", "/items/1").status, 404)
        self.assertEqual(self.call("DELETE", "/items/1").status, 404)
        self.assertEqual(self.call("GET", "/items").json(), [{"id": 2, "name": "pear"}])

        # Ids are never reused.
        r = self.call("POST", "/items", {"name": "plum"})
        self.assertEqual(r.json(), {"id": 3, "name": "plum"})

    def test_head_on_an_item_has_its_length_and_no_body(self):
        self.call("POST", "/items", {"name": "apple"})
        get = self.call("GET", "/items/1")
        head = http(self.server, "HEAD", "/items/1")
        self.assertEqual(head.status, 200)
        self.assertEqual(head.get("Content-Length"), str(len(get.body)))
        self.assertEqual(head.body, b"")

    def test_names_round_trip_through_json_escapes(self):
        for name in ['say "hi"', "back\\slash", "caf\u00e9 \U0001F600", "tab\there\u0001"]:
            with self.subTest(name=name):
                r = self.call("POST", "/items", {"name": name})
                self.assertEqual(r.status, 201, r)
                self.assertEqual(self.call("GET", r.get("Location")).json()["name"], name)

    def test_bad_bodies_are_400_and_store_nothing(self):
        # Malformed JSON is answered by srv_request_json() itself, with the
        # byte offset of the error; invalid UTF-8 is malformed JSON.
        cases = {
            b"": "invalid JSON at byte",
            b"{": "invalid JSON at byte 1",
            b"{\"name\": \"a\",}": "invalid JSON at byte 14",
            b"{\"name\": \"a\"} trailing": "invalid JSON at byte 22",
            b"{\"name\": \"\\ud800\"}": "invalid JSON",
            b"{\"name\": \"\xff\"}": "invalid JSON",
            b"{\"name\": \"a\", \"name\": \"b\"}": "invalid JSON",
            b"[\"name\"]": "JSON object",
            b"{}": "missing field",
            b"{\"title\": \"a\"}": "missing field",
            b"{\"name\": 5}": "must be a string",
            b"{\"name\": null}": "must be a string",
            b"{\"name\": \"\"}": "1 to 64 bytes",
            b"{\"name\": \"" + b"x" * 65 + b"\"}": "1 to 64 bytes",
            b"{\"name\": \"a\\u0000b\"}": "1 to 64 bytes",
        }
        for body, message in cases.items():
            with self.subTest(body=body):
                r = self.call("POST", "/items", raw_body=body or b" ")
                self.assertEqual(r.status, 400, r)
                self.assertIn(message, r.json()["error"])
        self.assertEqual(self.call("GET", "/items").json(), [])

    def test_body_not_sent_as_json_is_415(self):
        # curl -d sends application/x-www-form-urlencoded: a cross-site form
        # could too, so the API refuses it.
        for ctype in ("application/x-www-form-urlencoded", "text/plain"):
            with self.subTest(ctype=ctype):
                r = http(self.server, "POST", "/items", body=b'{"name": "apple"}',
                         headers=[("Content-Type", ctype)])
                self.assertWellFormed(r)
                self.assertEqual(r.status, 415)
                self.assertEqual(r.json(), {"error": "Content-Type must be application/json"})
        self.assertEqual(self.call("GET", "/items").json(), [])

    def test_unknown_items_are_404(self):
        self.call("POST", "/items", {"name": "apple"})
        for path in ["/items/2", "/items/abc", "/items/-1", "/items/1x", "/items/99999999999999999999"]:
            with self.subTest(path=path):
                r = self.call("GET", path)
                self.assertEqual(r.status, 404)
                self.assertEqual(r.json(), {"error": "no such item"})

    def test_wrong_methods_are_405_with_allow(self):
        r = self.call("PUT", "/items/1", {"name": "x"}, from_router=True)
        self.assertEqual(r.status, 405)
        self.assertTrue({"GET", "DELETE"} <= allow_set(r), r)
        self.assertNotIn("PUT", allow_set(r))
        r = self.call("PATCH", "/items", {"name": "x"}, from_router=True)
        self.assertEqual(r.status, 405)
        self.assertTrue({"GET", "POST"} <= allow_set(r), r)
        self.assertEqual(self.call("GET", "/nothing", from_router=True).status, 404)

    def test_body_past_the_limit_is_413(self):
        # Only the head is sent: the 413 must come before the body is read.
        with connect(self.server) as s:
            s.sendall(format_request(self.server, "POST", "/items",
                                     headers=[("Content-Length", str(16 * 1024 + 1))]))
            r = read_response(s)
        self.assertWellFormed(r)
        self.assertEqual(r.status, 413)
        self.assertEqual(self.call("GET", "/items").json(), [])


LOGIN_SECRET = "login-example-secret-0123456789abcdefgh"


class LoginTest(ResponseChecks):
    """examples/login.srv: a form and a signed session cookie."""

    @classmethod
    def setUpClass(cls):
        cls.server = cls.enterClassContext(Server(example("login"),
                                                  env={"LOGIN_SECRET": LOGIN_SECRET}))

    def login(self, user="ada", password="lovelace"):
        body = ("user=%s&password=%s" % (user, password)).encode()
        r = http(self.server, "POST", "/login", body=body,
                 headers=[("Content-Type", "application/x-www-form-urlencoded")])
        self.assertWellFormed(r)
        return r

    def home(self, cookie=None):
        return self.get("/", headers=[("Cookie", cookie)] if cookie else [])

    def test_without_a_session_home_redirects_to_the_form(self):
        r = self.home()
        self.assertEqual((r.status, r.get("Location")), (303, "/login"))
        r = self.get("/login")
        self.assertEqual(r.status, 200)
        self.assertIn(b"<form method=post action=/login>", r.body)

    def test_login_sets_a_signed_session_that_home_accepts(self):
        r = self.login()
        self.assertEqual((r.status, r.get("Location")), (303, "/"))
        line = r.get("Set-Cookie")
        self.assertRegex(line, r"^session=ada\.\d+\.[A-Za-z0-9_-]{43}; Path=/; Max-Age=3600; "
                               r"Secure; HttpOnly; SameSite=Lax$")
        cookie = line.split(";")[0]
        r = self.home(cookie)
        self.assertEqual(r.status, 200)
        self.assertIn(b"Hello, ada!", r.body)
        self.assertEqual(self.get("/login", headers=[("Cookie", cookie)]).status, 303)

    def test_changed_or_forged_sessions_are_no_session(self):
        cookie = self.login().get("Set-Cookie").split(";")[0]
        name, value = cookie.split("=", 1)
        user, end, sig = value.split(".")
        for bad in ["session=eve.%s.%s" % (end, sig),            # another user
                    "session=ada.%d.%s" % (int(end) + 1, sig),    # a longer session
                    "session=ada.%s" % end,                       # no signature
                    cookie[:-1]]:                                 # cut
            with self.subTest(cookie=bad):
                r = self.home(bad)
                self.assertEqual((r.status, r.get("Location")), (303, "/login"))

    def test_wrong_password_is_401_and_sets_nothing(self):
        for user, password in [("ada", "wrong"), ("eve", "lovelace"), ("", "")]:
            with self.subTest(user=user):
                r = self.login(user, password)
                self.assertEqual(r.status, 401)
                self.assertIsNone(r.get("Set-Cookie"))
                self.assertIn(b"Wrong user or password", r.body)

    def test_logout_clears_the_cookie(self):
        r = http(self.server, "POST", "/logout")
        self.assertWellFormed(r)
        self.assertEqual((r.status, r.get("Location")), (303, "/login"))
        self.assertTrue(r.get("Set-Cookie").startswith("session=; Path=/; Max-Age=0; Expires=Thu, "
                                                       "01 Jan 1970 00:00:00 GMT"))

    def test_no_secret_no_server(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("LOGIN_SECRET")}
        p = subprocess.run([example("login"), "--port", "0"], env=env, capture_output=True,
                           timeout=30)
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stderr, b"login: secret env LOGIN_SECRET is not set\n")


class SplitTest(ResponseChecks):
    @classmethod
    def setUpClass(cls):
        cls.server = cls.enterClassContext(Server(example("split")))

    def test_named_handlers_in_a_separate_file(self):
        self.assertEqual(self.get("/").status, 200)
        r = self.get("/greet/ann")
        self.assertEqual((r.status, r.body), (200, b"Hello, ann!\n"))
        r = self.get("/greet/ann?greeting=Good%20morning")
        self.assertEqual(r.body, b"Good morning, ann!\n")

    def test_echo_returns_binary_body(self):
        body = bytes(range(256)) * 4
        r = http(self.server, "POST", "/echo", body=body)
        self.assertWellFormed(r)
        self.assertEqual((r.status, r.body), (200, body))

    def test_wildcard_captures_the_rest(self):
        self.assertEqual(self.get("/files/docs/a.txt").body, b"docs/a.txt")
        self.assertEqual(self.get("/files/").body, b"")
        self.assertEqual(self.get("/files").status, 404)

    def test_any_takes_every_method(self):
        for method in ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]:
            with self.subTest(method=method):
                r = http(self.server, method, "/ping")
                self.assertWellFormed(r)
                self.assertEqual((r.status, r.body), (200, b"pong %s\n" % method.encode()))
        r = http(self.server, "HEAD", "/ping")
        self.assertEqual((r.status, r.body), (200, b""))


class SiteTest(ResponseChecks):
    """examples/site.srv, run from examples/ as scripts/serve runs it."""

    AUTH = [("Authorization", "Basic bWVtYmVyOnNlY3JldA==")]  # member:secret

    @classmethod
    def setUpClass(cls):
        cls.server = cls.enterClassContext(
            Server(example("site"), cwd=os.path.join(srvtest.SOURCE, "examples")))

    def test_the_start_page_and_its_stylesheet_are_files(self):
        r = self.get("/")
        self.assertEqual(r.status, 200)
        with open(os.path.join(srvtest.SOURCE, "examples/site/public/index.html"), "rb") as f:
            self.assertEqual(r.body, f.read())
        self.assertEqual(r.get("Content-Type"), "text/html; charset=utf-8")
        css = self.get("/style.css")
        self.assertEqual(css.get("Content-Type"), "text/css; charset=utf-8")
        # The server's after block runs for files too.
        self.assertEqual(css.get("X-Content-Type-Options"), "nosniff")
        self.assertIsNotNone(css.get("ETag"))

    def test_a_directory_without_its_slash_is_redirected_to_its_index(self):
        r = self.get("/about")
        self.assertEqual((r.status, r.get("Location")), (301, "/about/"))
        self.assertIn(b"<h1>About</h1>", self.get("/about/").body)

    def test_error_pages_are_the_sites_own(self):
        r = self.get("/nowhere")
        self.assertEqual(r.status, 404)
        self.assertEqual(r.get("Content-Type"), "text/html; charset=utf-8")
        self.assertIn(b"<h1>404</h1>", r.body)
        self.assertIn(b"Not Found", r.body)
        r = http(self.server, "POST", "/", body=b"")
        self.assertEqual((r.status, r.get("Allow")), (405, "GET, HEAD"))
        self.assertIn(b"<h1>405</h1>", r.body)

    def test_the_members_area_asks_for_a_password(self):
        for path in ("/members/whoami", "/members/files/report.txt", "/members/files"):
            with self.subTest(path=path):
                r = self.get(path)
                self.assertEqual((r.status, r.body), (401, b"members only\n"))
                self.assertEqual(r.get("WWW-Authenticate"), 'Basic realm="members", charset="UTF-8"')
                self.assertEqual(r.get("Cache-Control"), "private, no-store")
                self.assertEqual(r.get("X-Content-Type-Options"), "nosniff")
        wrong = self.get("/members/whoami", headers=[("Authorization", "Basic bWVtYmVyOnNlY3JldB==")])
        self.assertEqual(wrong.status, 401)

    def test_members_get_in(self):
        r = self.get("/members/whoami", headers=self.AUTH)
        self.assertEqual((r.status, r.body), (200, b"member\n"))
        self.assertEqual(r.get("Cache-Control"), "private, no-store")
        r = self.get("/members/files/report.txt", headers=self.AUTH)
        self.assertEqual((r.status, r.body), (200, b"Quarterly numbers for members only.\n"))
        r = self.get("/members/files", headers=self.AUTH)
        self.assertEqual((r.status, r.get("Location")), (301, "/members/files/"))


class DashboardTest(ResponseChecks):
    """examples/dashboard.srv: an event stream per browser, a form that
    publishes to every stream on both workers."""

    @classmethod
    def setUpClass(cls):
        cls.server = cls.enterClassContext(
            Server(example("dashboard"), cwd=os.path.join(srvtest.SOURCE, "examples")))

    def test_the_page_is_served(self):
        r = self.get("/")
        self.assertEqual(r.status, 200)
        self.assertIn(b'new EventSource("/events")', r.body)

    def test_a_post_reaches_every_stream_on_both_workers(self):
        clients, workers = [], set()
        for _ in range(64):
            c = srvtest.SseClient(self.server)
            ev = c.event()
            self.assertEqual(ev[0], "status")
            workers.add(ev[1].split(",")[0])
            clients.append(c)
            if len(workers) == 2 and len(clients) >= 4:
                break
        self.assertEqual(workers, {"connected to worker 0", "connected to worker 1"})
        r = http(self.server, "POST", "/post", headers=[("Content-Type", "application/x-www-form-urlencoded")],
                 body=b"text=deploy+done")
        self.assertEqual(r.status, 200)
        for c in clients:
            ev = c.event()
            self.assertEqual(ev[0], "post")
            self.assertRegex(ev[1], r"^\d+-[01] deploy done$")
            c.close()

    def test_an_empty_post_is_refused(self):
        r = http(self.server, "POST", "/post", headers=[("Content-Type", "application/x-www-form-urlencoded")],
                 body=b"text=")
        self.assertEqual(r.status, 400)

    def test_last_event_id_is_seen(self):
        c = srvtest.SseClient(self.server, headers=[("Last-Event-ID", "7-1")])
        self.assertRegex(c.event()[1], r"last saw 7-1$")
        c.close()


class ChatTest(ResponseChecks):
    """examples/chat.srv: WebSocket rooms over pub/sub, two workers."""

    @classmethod
    def setUpClass(cls):
        cls.server = cls.enterClassContext(
            Server(example("chat"), cwd=os.path.join(srvtest.SOURCE, "examples")))

    def client(self, room="lobby", nick=None, protocols=("chat.v1",)):
        path = "/ws/" + room + ("?nick=" + nick if nick is not None else "")
        c = WsClient(self.server, path, protocols=protocols)
        self.addCleanup(c.sock.close)
        return c

    def joined(self, room, worker=None, nick=None):
        """A client in ROOM (on WORKER, when given: connections are opened
        until one lands there), its welcome read.  With NICK it joins by
        its first message and reads its own join notice."""
        for _ in range(64):
            c = self.client(room)
            self.assertEqual((c.status, c.protocol), (101, "chat.v1"), c.response)
            welcome = c.recv_json()
            self.assertEqual((welcome["type"], welcome["room"]), ("welcome", room))
            if worker is None or welcome["worker"] == worker:
                break
            c.close()  # never joined: the room hears nothing of it
        else:
            self.fail("no connection reached worker %d" % worker)
        c.worker = welcome["worker"]
        if nick is not None:
            c.send_text(nick)
            self.assertEqual(c.recv_json(), {"type": "join", "nick": nick})
        return c

    def test_the_page_is_served(self):
        r = self.get("/")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.get("Content-Type"), "text/html; charset=utf-8")
        self.assertIn(b'new WebSocket(', r.body)
        self.assertIn(b'"chat.v1"', r.body)

    def test_a_room_hears_itself_on_both_workers_and_no_other_room_does(self):
        ann = self.joined("lobby", worker=0, nick="ann")
        bob = self.joined("lobby", worker=1, nick="bob")
        self.assertEqual(ann.recv_json(), {"type": "join", "nick": "bob"})
        # Another room, joined by the query string.
        cat = self.client("kitchen", nick="cat")
        self.assertEqual(cat.recv_json()["type"], "welcome")
        self.assertEqual(cat.recv_json(), {"type": "join", "nick": "cat"})

        ann.send_text('hello "bob" \\ \u00e9\n')
        said = {"type": "message", "nick": "ann", "text": 'hello "bob" \\ \u00e9\n'}
        self.assertEqual(ann.recv_json(), said)
        self.assertEqual(bob.recv_json(), said)
        bob.send_text("hi ann")
        said = {"type": "message", "nick": "bob", "text": "hi ann"}
        self.assertEqual(bob.recv_json(), said)
        self.assertEqual(ann.recv_json(), said)

        # Both workers have delivered the lobby's messages by now, so had the
        # kitchen been subscribed to them they would come before its own.
        cat.send_text("anyone?")
        self.assertEqual(cat.recv_json(), {"type": "message", "nick": "cat", "text": "anyone?"})

        ann.close()
        self.assertEqual(bob.recv_json(), {"type": "leave", "nick": "ann"})
        bob.close()
        cat.close()

    def test_bad_nicknames_are_closed_with_1008_and_a_reason(self):
        reason = "nickname must be 1 to 24 letters, digits, '-', '_' or '.'"
        for nick in ["a%20b", "x" * 25, "%3Cscript%3E", "", "caf%C3%A9"]:
            with self.subTest(query=nick):
                c = self.client("nicks", nick=nick)
                self.assertEqual(c.status, 101)
                self.assertEqual(c.recv_json()["type"], "welcome")
                self.assertEqual(c.recv_close(), (1008, reason))
                self.assertTrue(c.closed_by_server())
        for nick in ["", "two words", "y" * 25, "tab\t"]:
            with self.subTest(message=nick):
                c = self.joined("nicks")
                c.send_text(nick)
                self.assertEqual(c.recv_close(), (1008, reason))
                self.assertTrue(c.closed_by_server())
        # The longest and the odd-looking but allowed ones pass.
        c = self.client("nicks", nick="z" * 24)
        c.recv_json()
        self.assertEqual(c.recv_json(), {"type": "join", "nick": "z" * 24})
        c.close()

    def test_what_the_chat_refuses(self):
        # Each case in a room of its own: a client that leaves is announced
        # to the room.
        # A room name the before block refuses: no upgrade at all.
        c = self.client(room="no%20spaces", nick="ann")
        self.assertEqual(c.status, 404)
        self.assertIn(b"a room name is", c.response.body)
        # Without the subprotocol: upgraded (the server has nothing to
        # agree on), then closed by `open`.
        c = self.client("refused", nick="ann", protocols=())
        self.assertEqual((c.status, c.protocol), (101, None))
        self.assertEqual(c.recv_close(), (1008, "subprotocol chat.v1 required"))
        # A binary message.
        c = self.joined("binary", nick="ann")
        c.send_frame(BINARY, b"\x00\x01")
        self.assertEqual(c.recv_close(), (1003, "text messages only"))
        # Past limits { ws_message 4K; }: the runtime's own 1009.
        c = self.joined("big", nick="ann")
        c.send_text("x" * 4097)
        self.assertEqual(c.recv_close(), (1009, ""))
        # Not a WebSocket request at all.
        r = self.get("/ws/lobby")
        self.assertEqual((r.status, r.get("Upgrade")), (426, "websocket"))


class RequestApiTest(ResponseChecks):
    """tests/e2e/echo.srv: what a handler sees of the request."""

    @classmethod
    def setUpClass(cls):
        cls.server = cls.enterClassContext(Server(srvtest.test_program("echo")))

    def test_setup_and_worker_setup_ran_once(self):
        self.assertEqual(self.get("/setup").body, b"setup=1 worker_setup=1")

    def test_header_lookup_is_case_insensitive_and_trimmed(self):
        headers = [("X-Test-HEADER", "  some value \t"), ("x-test-header", "second")]
        for name in ["x-test-header", "X-TEST-HEADER", "X-Test-Header"]:
            with self.subTest(name=name):
                r = self.get("/header/" + name, headers=headers)
                self.assertEqual((r.status, r.body), (200, b"some value"))
        self.assertEqual(self.get("/header/x-absent", headers=headers).status, 404)

    def test_query_string_raw_and_decoded(self):
        q = "?a=1&b=x%20y+z&flag&a=2"
        self.assertEqual(self.get("/query" + q).body, q[1:].encode())
        self.assertEqual(self.get("/query/a" + q).body, b"1")
        self.assertEqual(self.get("/query/b" + q).body, b"x y z")
        self.assertEqual(self.get("/query/flag" + q).body, b"")
        self.assertEqual(self.get("/query/c" + q).status, 404)
        self.assertEqual(self.get("/query").status, 404)

    def test_path_parameters_are_url_decoded(self):
        r = self.get("/param/h%C3%A9llo/x%20y")
        self.assertEqual(r.body.decode("utf-8"), "a=h\u00e9llo|b=x y|path=/param/h\u00e9llo/x y")
        self.assertEqual(self.get("/rest/a/b%20c/d").body, b"rest=a/b c/d")

    def test_body_is_echoed_with_its_length(self):
        body = b"\x00binary\r\n" * 100
        r = http(self.server, "POST", "/echo", body=body)
        self.assertWellFormed(r)
        self.assertEqual((r.status, r.body, r.get("X-Body-Length")), (200, body, str(len(body))))

    def test_body_at_the_limit_passes_and_past_it_is_413(self):
        r = http(self.server, "POST", "/echo", body=b"x" * 65536)
        self.assertEqual((r.status, len(r.body)), (200, 65536))
        # Only the head is sent: the 413 must come before the body is read.
        with connect(self.server) as s:
            s.sendall(format_request(self.server, "POST", "/echo",
                                     headers=[("Content-Length", "65537")]))
            r = read_response(s)
        self.assertWellFormed(r)
        self.assertEqual(r.status, 413)

    def test_repeated_response_headers_are_all_sent(self):
        r = self.get("/cookies")
        self.assertEqual(r.headers.get_all("Set-Cookie"), ["a=1", "b=2"])

    def test_204_and_304_carry_no_length_and_no_body(self):
        for code in (204, 304):
            with self.subTest(code=code), connect(self.server) as s:
                s.sendall(format_request(self.server, "GET", "/status/%d" % code)
                          + format_request(self.server, "GET", "/small"))
                r = read_response(s)
                after = read_response(s)
                self.assertWellFormed(r)
                self.assertEqual(r.status, code)
                self.assertEqual((after.status, after.body), (200, b"small"))

    def test_large_response_does_not_stall_other_connections(self):
        size = 4 << 20
        expected = (b"abcdefghijklmnopqrstuvwxyz" * (size // 26 + 1))[:size]
        with connect(self.server, timeout=20) as big:
            # Nobody reads this response yet, so the server must park it
            # until the socket is writable again and serve others meanwhile.
            big.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
            big.sendall(format_request(self.server, "GET", "/big"))
            started = time.monotonic()
            for i in range(5):
                r = self.get("/small")
                self.assertEqual((r.status, r.body), (200, b"small"))
            self.assertLess(time.monotonic() - started, 5)
            r = read_response(big)
        self.assertWellFormed(r)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.get("Content-Length"), str(size))
        self.assertTrue(r.body == expected, "4 MiB body differs")

    def test_cr_lf_in_a_handler_header_is_logged_and_answered_500(self):
        for kind in ("value", "name"):
            with self.subTest(kind=kind):
                before = len(self.server.stderr_lines())
                r = self.get("/bad-header/" + kind)
                self.assertEqual(r.status, 500)
                self.assertNotIn(b"Injected", r.raw_head)
                self.assertNotIn(b"must not be sent", r.body)
                self.assertIsNotNone(self.server.wait_for_stderr(r"(?i)header", timeout=5,
                                                                 start=before),
                                     self.server.stderr_text())

    def test_server_errors_are_well_formed(self):
        self.assertEqual(self.get("/no-such-route").status, 404)
        r = http(self.server, "DELETE", "/small")
        self.assertWellFormed(r)
        self.assertEqual(r.status, 405)


if __name__ == "__main__":
    srvtest.main()
