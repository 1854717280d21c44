#!/usr/bin/env python3
"""End-to-end tests of `cors { ... }` blocks (issue 8) against
tests/e2e/cors.srv: a preflight shaped exactly as a desktop browser sends
it gets 204 and the policy before any user route runs; real requests from an
allowed origin get the origin echoed with Vary: Origin; a disallowed origin
gets no CORS headers and is otherwise served as a same-origin request; a
wildcard policy answers "*" without Vary."""

import unittest

import srvtest
from srvtest import Server, http

# What Chromium sends for fetch(url, {method: "POST", credentials: "include",
# headers: {"Content-Type": "application/json", "Authorization": "..."}}).
BROWSER_PREFLIGHT = [
    ("Accept", "*/*"),
    ("Access-Control-Request-Method", "POST"),
    ("Access-Control-Request-Headers", "authorization,content-type"),
    ("Origin", "https://app.example.com"),
    ("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                   "Chrome/131.0.0.0 Safari/537.36"),
    ("Sec-Fetch-Mode", "cors"),
    ("Sec-Fetch-Site", "cross-site"),
    ("Sec-Fetch-Dest", "empty"),
    ("Referer", "https://app.example.com/"),
    ("Accept-Encoding", "gzip, deflate, br, zstd"),
    ("Accept-Language", "en-US,en;q=0.9"),
]


def vary(r):
    return {v.strip().lower() for line in r.headers.get_all("Vary") for v in line.split(",")}


class CorsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = cls.enterClassContext(Server(srvtest.test_program("cors")))

    def tearDown(self):
        self.assertTrue(self.server.running(), self.server.stderr_text())

    def req(self, method, path, headers=(), body=b""):
        return http(self.server, method, path, headers=list(headers), body=body)

    def test_a_browser_preflight_gets_204_and_the_policy(self):
        r = self.req("OPTIONS", "/api/items", BROWSER_PREFLIGHT)
        self.assertEqual((r.status, r.body), (204, b""))
        self.assertEqual(r.get("Access-Control-Allow-Origin"), "https://app.example.com")
        self.assertEqual(r.get("Access-Control-Allow-Credentials"), "true")
        self.assertEqual(r.get("Access-Control-Allow-Methods"), "GET, POST, DELETE")
        self.assertEqual(r.get("Access-Control-Allow-Headers"), "Content-Type, Authorization")
        self.assertEqual(r.get("Access-Control-Max-Age"), "600")
        self.assertIn("origin", vary(r))
        self.assertIsNone(r.get("Content-Length"))
        # Answered before any user route: the OPTIONS handler did not run.
        self.assertIsNone(r.get("X-User-Options"))

    def test_a_preflight_answers_even_where_a_before_block_would_refuse(self):
        r = self.req("OPTIONS", "/api/items?deny=1", BROWSER_PREFLIGHT)
        self.assertEqual(r.status, 204)

    def test_a_plain_options_request_reaches_the_user_route(self):
        r = self.req("OPTIONS", "/api/items", [("Origin", "https://app.example.com")])
        self.assertEqual(r.status, 200)
        self.assertEqual(r.get("X-User-Options"), "ran")
        self.assertEqual(r.get("Access-Control-Allow-Origin"), "https://app.example.com")

    def test_a_preflight_from_a_disallowed_origin_is_routed_as_usual(self):
        headers = [(k, "https://evil.example.net" if k == "Origin" else v)
                   for k, v in BROWSER_PREFLIGHT]
        r = self.req("OPTIONS", "/api/items", headers)
        self.assertEqual(r.get("X-User-Options"), "ran")
        self.assertIsNone(r.get("Access-Control-Allow-Origin"))
        self.assertIsNone(r.get("Access-Control-Allow-Methods"))

    def test_a_preflight_for_a_path_without_a_route_is_a_404(self):
        r = self.req("OPTIONS", "/api/nothing", BROWSER_PREFLIGHT)
        self.assertEqual(r.status, 404)
        self.assertIsNone(r.get("Access-Control-Allow-Origin"))

    def test_an_allowed_origin_is_echoed_with_vary(self):
        for origin in ("https://app.example.com", "https://admin.example.com"):
            with self.subTest(origin=origin):
                r = self.req("GET", "/api/items", [("Origin", origin)])
                self.assertEqual((r.status, r.body), (200, b"items\n"))
                self.assertEqual(r.get("Access-Control-Allow-Origin"), origin)
                self.assertEqual(r.get("Access-Control-Allow-Credentials"), "true")
                self.assertEqual(r.get("Access-Control-Expose-Headers"), "X-Request-Id")
                self.assertIn("origin", vary(r))

    def test_a_disallowed_origin_gets_no_cors_headers_but_is_served(self):
        for origin in ("https://evil.example.net", "https://app.example.com.evil.net",
                       "http://app.example.com", "null"):
            with self.subTest(origin=origin):
                r = self.req("POST", "/api/items", [("Origin", origin)])
                self.assertEqual((r.status, r.body), (201, b"made\n"))
                self.assertIsNone(r.get("Access-Control-Allow-Origin"))
                self.assertIsNone(r.get("Access-Control-Allow-Credentials"))
                self.assertIn("origin", vary(r))

    def test_without_origin_only_vary_is_added(self):
        r = self.req("GET", "/api/items")
        self.assertIsNone(r.get("Access-Control-Allow-Origin"))
        self.assertIn("origin", vary(r))

    def test_a_refusal_by_a_before_block_still_carries_cors_headers(self):
        r = self.req("GET", "/api/items?deny=1", [("Origin", "https://app.example.com")])
        self.assertEqual(r.status, 401)
        self.assertEqual(r.get("Access-Control-Allow-Origin"), "https://app.example.com")

    def test_a_wildcard_policy_answers_star_without_vary(self):
        r = self.req("GET", "/pub/data", [("Origin", "https://anyone.example.org")])
        self.assertEqual(r.get("Access-Control-Allow-Origin"), "*")
        self.assertEqual(r.get("Access-Control-Expose-Headers"), "X-Count")
        self.assertIsNone(r.get("Access-Control-Allow-Credentials"))
        self.assertNotIn("origin", vary(r))
        pre = self.req("OPTIONS", "/pub/data", [("Origin", "https://anyone.example.org"),
                                                ("Access-Control-Request-Method", "GET")])
        self.assertEqual(pre.status, 204)
        self.assertEqual(pre.get("Access-Control-Allow-Origin"), "*")
        self.assertEqual(pre.get("Access-Control-Allow-Methods"), "GET, HEAD, POST")

    def test_routes_outside_a_policy_get_nothing(self):
        r = self.req("GET", "/plain", [("Origin", "https://app.example.com")])
        self.assertEqual(r.status, 200)
        self.assertIsNone(r.get("Access-Control-Allow-Origin"))
        self.assertNotIn("origin", vary(r))
        pre = self.req("OPTIONS", "/plain", [("Origin", "https://app.example.com"),
                                             ("Access-Control-Request-Method", "GET")])
        self.assertEqual(pre.status, 405)


if __name__ == "__main__":
    srvtest.main()
