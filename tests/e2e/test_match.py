#!/usr/bin/env python3
"""End-to-end test of `srvc --match` (issue 11): it must answer what the
running server answers.  tests/e2e/match.srv is built into a server whose
routes all name themselves in X-Route and X-Params; each request below is
sent to it over loopback and asked of `srvc --match` in one run, and the
two must agree on the route and its decoded parameters, or on the status
(404, 405 with its Allow, and what the parser refuses before routing: 400,
414, 501).  Also: --routes lists the file, and --match cleans up after
itself and says so clearly when there is no C compiler."""

import os
import re
import subprocess
import tempfile
import unittest
import urllib.parse

import srvtest
from srvtest import SOURCE, SRVC, Server, http

SRV = os.path.join(SOURCE, "tests", "e2e", "match.srv")

# (method, request-target): literal/param/star precedence and
# backtracking, HEAD on GET routes, ANY, 405s, mounts and their slash
# redirect, group parameters, SSE (GET only), percent-decoding and
# dot-segments, absolute-form, and what the parser refuses.
REQUESTS = [
    ("GET", "/"), ("GET", "/users"), ("POST", "/users"), ("HEAD", "/users"),
    ("DELETE", "/users"), ("OPTIONS", "/users"),
    ("GET", "/users/new"), ("POST", "/users/new"), ("PUT", "/users/new"),
    ("GET", "/users/42"), ("HEAD", "/users/42"), ("PATCH", "/users/42"),
    ("POST", "/users/new/edit"), ("GET", "/users/new/edit"),
    ("GET", "/users/7/posts/9"), ("GET", "/users/7/posts/"), ("GET", "/users//posts/9"),
    ("GET", "/a/b/d"), ("GET", "/a/b/c"), ("GET", "/a/zz/c"), ("GET", "/a/b"),
    ("GET", "/any"), ("PUT", "/any"), ("DELETE", "/any"), ("HEAD", "/any"),
    ("HEAD", "/head"), ("GET", "/head"), ("POST", "/head"),
    ("GET", "/files/special/x"), ("GET", "/files/special/y"), ("GET", "/files/"),
    ("GET", "/files"), ("GET", "/files/a/b/c"), ("POST", "/files/a"),
    ("GET", "/slash/"), ("GET", "/slash"),
    ("GET", "/caf%C3%A9"), ("GET", "/caf%c3%a9/"),
    ("OPTIONS", "/opt"), ("GET", "/opt"),
    ("GET", "/assets/hello.txt"), ("HEAD", "/assets/missing"), ("GET", "/assets"),
    ("POST", "/assets/hello.txt"),
    ("GET", "/api/v1/items/3"), ("GET", "/api/v2"), ("GET", "/api/v2/"),
    ("GET", "/api/v1/docs/hello.txt"), ("GET", "/api/v1/docs"),
    ("HEAD", "/events"), ("POST", "/events"),
    ("GET", "/files/a/%2e%2e/b%20c"), ("GET", "/users/%34%32"), ("GET", "/users/a%2Fb"),
    ("GET", "/files/%C3%A9%FF%0A"), ("GET", "/./users/./new"), ("GET", "/files/x/../../users"),
    ("GET", "/users?x=1"), ("GET", "/users/9?a=b&c"),
    ("GET", "http://example.com/users/new"),
    ("GET", "/../etc"), ("GET", "/a/%00"), ("GET", "/%zz"),
    ("FOO", "/users"), ("GET", "/" + "x" * 300), ("OPTIONS", "*"),
]

_PARAM_RE = re.compile(r'(\S+) = "((?:[^"\\]|\\.)*)"')


def unescape(s):
    """The bytes of a value as srvc --match shows it (UTF-8 as is, \\xHH,
    \\" and \\\\)."""
    out = bytearray()
    b = s.encode("utf-8")
    i = 0
    while i < len(b):
        if b[i] == 0x5c:
            if b[i + 1] == ord("x"):
                out.append(int(b[i + 2:i + 4], 16))
                i += 4
            else:
                out.append(b[i + 1])
                i += 2
        else:
            out.append(b[i])
            i += 1
    return bytes(out)


def parse_match_output(text):
    """srvc --match's blocks, one per request: (status, pattern, params,
    allow) with status 200 when a route takes it."""
    answers = []
    for block in text.split("\n\n"):
        lines = block.strip("\n").split("\n")
        route = params = allow = None
        status = 200
        for line in lines[1:]:
            line = line.strip()
            if line.startswith("route:"):
                route = line.split()[2]
            elif line.startswith("params:"):
                params = {k: unescape(v) for k, v in _PARAM_RE.findall(line)}
            elif line.startswith("Allow:"):
                allow = line.split(None, 1)[1]
            elif re.match(r"\d{3} ", line):
                status = int(line[:3])
        answers.append((status, route, params or {}, allow))
    return answers


class MatchTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="srv-e2e-match-")
        d = cls.tmp.name
        os.mkdir(os.path.join(d, "assets"))
        with open(os.path.join(d, "assets", "hello.txt"), "w") as f:
            f.write("hello\n")
        cls.binary = srvtest.build_srv(SRV, d)
        cls.dir = d

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def match(self, requests, env=None):
        args = [SRVC]
        for method, target in requests:
            args += ["--match", "%s %s" % (method, target)]
        args.append(SRV)
        return subprocess.run(args, capture_output=True, stdin=subprocess.DEVNULL,
                              timeout=120, env=env)

    def test_match_agrees_with_the_server(self):
        r = self.match(REQUESTS)
        self.assertIn(r.returncode, (0, 2), r.stderr.decode())
        self.assertEqual(r.stderr, b"")
        answers = parse_match_output(r.stdout.decode("utf-8"))
        self.assertEqual(len(answers), len(REQUESTS))
        with Server(self.binary, workers=1, cwd=self.dir) as srv:
            for (method, target), (status, route, params, allow) in zip(REQUESTS, answers):
                with self.subTest(request="%s %s" % (method, target)):
                    res = http(srv, method, target)
                    got_route = res.get("x-route")
                    if got_route is not None:
                        got_route = got_route.encode("latin-1").decode("utf-8")
                        self.assertEqual(route, got_route)
                        got = {}
                        for item in filter(None, res.get("x-params", "").split(";")):
                            k, v = item.split("=", 1)
                            got[k] = urllib.parse.unquote_to_bytes(v)
                        self.assertEqual(params, got)
                        self.assertEqual(status, 200)
                    else:
                        self.assertIsNone(route, res)
                        self.assertEqual(status, res.status)
                        if status == 405:
                            self.assertEqual(allow, res.get("allow"))
        self.assertEqual(r.returncode, 2)  # some requests reach no route

    def test_exit_status_is_zero_when_every_request_is_routed(self):
        r = self.match([("GET", "/users/1"), ("HEAD", "/")])
        self.assertEqual(r.returncode, 0, r.stderr.decode())

    def test_match_removes_its_temporary_directory(self):
        with tempfile.TemporaryDirectory(prefix="srv-e2e-tmp-") as tmp:
            r = self.match([("GET", "/users/1")], env=dict(os.environ, TMPDIR=tmp))
            self.assertEqual(r.returncode, 0, r.stderr.decode())
            self.assertEqual(os.listdir(tmp), [])

    def test_match_without_a_compiler_says_so(self):
        with tempfile.TemporaryDirectory(prefix="srv-e2e-tmp-") as tmp:
            r = self.match([("GET", "/users/1")],
                           env=dict(os.environ, TMPDIR=tmp, CC="/nonexistent/cc"))
            self.assertEqual(r.returncode, 1)
            self.assertIn(b"'/nonexistent/cc' could not be run (set CC to one)", r.stderr)
            self.assertEqual(r.stdout, b"")
            self.assertEqual(os.listdir(tmp), [])

    def test_requests_refused_before_routing_need_no_compiler(self):
        r = self.match([("GET", "/../x"), ("FOO", "/"), ("GET", "/a\r\nX: y")],
                       env=dict(os.environ, CC="/nonexistent"))
        self.assertEqual(r.returncode, 2, r.stderr.decode())
        blocks = r.stdout.decode().split("\n\n")
        self.assertIn("400 Bad Request", blocks[0])
        self.assertIn("501 Not Implemented", blocks[1])
        # A control character is shown escaped, and is a 400 as for the server.
        self.assertTrue(blocks[2].startswith("GET /a\\x0d\\x0aX: y\n  400 Bad Request"), blocks[2])

    def test_routes_lists_every_route_in_match_order(self):
        r = subprocess.run([SRVC, "--routes", SRV], capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        rows = [line.split()[:2] for line in r.stdout.decode("utf-8").splitlines()]
        self.assertEqual(rows[0], ["METHOD", "PATTERN"])
        patterns = [p for _, p in rows[1:]]
        # Literal before :param before *, backtracking order.
        self.assertLess(patterns.index("/users/new"), patterns.index("/users/:id"))
        self.assertLess(patterns.index("/files/special/x"), patterns.index("/files/*"))
        self.assertLess(patterns.index("/a/b/d"), patterns.index("/a/:x/c"))
        self.assertIn("/assets/*", patterns)
        self.assertIn("/api/:v/docs/*", patterns)
        # 20 routes, 2 mounts and their slash routes, 2 routes in the group, SSE.
        self.assertEqual(len(rows) - 1, 27)


if __name__ == "__main__":
    srvtest.main()
