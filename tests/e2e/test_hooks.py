#!/usr/bin/env python3
"""End-to-end tests of before/after hooks, groups and error blocks (issue 7),
against tests/e2e/hooks.srv, whose hooks append their names to X-Trace.

Covers: the order hooks run in across nested groups (before outer first,
after inner first, several per scope in source order), a before block that
answers (no later before and no handler runs, every after still does),
headers from a before block that does not answer, after blocks that rewrite
status, headers and body, group parameters seen by hooks, and error blocks
chosen by scope for 404, 405 (Allow kept), 413 and 500, their fixed status,
the built-in page when a block sets no body, and a misbehaving error block."""

import unittest

import srvtest
from srvtest import Server, connect, http, read_response, read_until_closed, parse_responses


class HooksTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = cls.enterClassContext(Server(srvtest.test_program("hooks")))

    def tearDown(self):
        self.assertTrue(self.server.running(), self.server.stderr_text())

    def get(self, path, method="GET", **kw):
        return http(self.server, method, path, **kw)

    # -- order -----------------------------------------------------------------

    def test_server_hooks_wrap_a_top_level_route(self):
        r = self.get("/plain")
        self.assertEqual((r.status, r.body), (200, b"plain\n"))
        self.assertEqual(r.get("X-Trace"), "s1,s2,handler,sa")

    def test_nested_groups_run_before_outer_first_and_after_inner_first(self):
        r = self.get("/g/h/42/y")
        self.assertEqual((r.status, r.body), (200, b"y of 42\n"))
        self.assertEqual(r.get("X-Trace"), "s1,s2,g,h,handler,ha,ga,sa")

    def test_group_hooks_apply_to_the_group_path_itself(self):
        r = self.get("/g/h/7")
        self.assertEqual((r.status, r.body), (200, b"h 7\n"))
        self.assertEqual(r.get("X-Trace"), "s1,s2,g,h,handler,ha,ga,sa")

    def test_hooks_of_other_groups_do_not_run(self):
        r = self.get("/g/x")
        self.assertEqual(r.get("X-Trace"), "s1,s2,g,handler,ga,sa")

    def test_a_before_block_sees_its_groups_parameters(self):
        r = self.get("/g/h/abc%20d/y")
        self.assertEqual(r.get("X-Id"), "abc d")

    # -- answering -------------------------------------------------------------

    def test_a_before_block_that_answers_skips_later_befores_and_the_handler(self):
        r = self.get("/g/h/42/y?deny=nope")
        self.assertEqual((r.status, r.body), (403, b"denied by g: nope\n"))
        # h (a later before) and the handler did not run; every after did.
        self.assertEqual(r.get("X-Trace"), "s1,s2,g,ha,ga,sa")
        self.assertIsNone(r.get("X-Id"))

    def test_headers_alone_do_not_answer(self):
        r = self.get("/g/h/5/y")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.get("X-Id"), "5")
        self.assertIn("handler", r.get("X-Trace"))

    def test_answering_on_a_keep_alive_connection_leaves_the_next_request_alone(self):
        with connect(self.server) as s:
            s.sendall(srvtest.format_request(self.server, "GET", "/g/x?deny=1")
                      + srvtest.format_request(self.server, "GET", "/g/x"))
            first = read_response(s)
            second = read_response(s)
        self.assertEqual(first.status, 403)
        self.assertEqual((second.status, second.body), (200, b"x\n"))
        self.assertEqual(second.get("X-Trace"), "s1,s2,g,handler,ga,sa")

    # -- after blocks ----------------------------------------------------------

    def test_an_after_block_rewrites_status_headers_and_body(self):
        r = self.get("/wrap/it")
        self.assertEqual((r.status, r.body), (203, b"[body]"))
        self.assertEqual(r.get("X-Original-Length"), "4")
        self.assertEqual(r.headers.count("X-Secret"), 0)
        self.assertEqual(r.get("Content-Length"), "6")

    def test_an_after_block_sees_the_status_the_handler_set(self):
        r = self.get("/wrap/empty")
        self.assertEqual((r.status, r.body), (204, b""))
        self.assertIsNone(r.get("X-Original-Length"))

    def test_head_gets_the_rewritten_length_and_no_body(self):
        r = self.get("/wrap/it", method="HEAD")
        self.assertEqual((r.status, r.body), (203, b""))
        self.assertEqual(r.get("Content-Length"), "6")

    # -- error blocks ----------------------------------------------------------

    def test_server_error_block_builds_the_404(self):
        r = self.get("/nothing/here")
        self.assertEqual(r.status, 404)
        self.assertEqual(r.body, b"<h1>server page: 404 Not Found</h1>\n")
        self.assertEqual(r.get("Content-Type"), "text/html; charset=utf-8")
        self.assertEqual(r.get("X-Error-Scope"), "server")
        # Hooks belong to routes: a path no route takes runs none of them.
        self.assertIsNone(r.get("X-Trace"))

    def test_a_groups_error_block_answers_for_paths_under_its_prefix(self):
        for path in ("/g/nothing", "/g/h/1/nothing", "/g"):
            with self.subTest(path=path):
                r = self.get(path)
                self.assertEqual((r.status, r.body), (404, b"group page 404\n"))
                self.assertEqual(r.get("X-Error-Scope"), "g")
        # A path that only shares the prefix's letters is not in the group.
        r = self.get("/gx")
        self.assertEqual(r.get("X-Error-Scope"), "server")

    def test_405_keeps_allow_through_the_error_block(self):
        r = self.get("/g/x", method="POST", body=b"")
        self.assertEqual((r.status, r.body), (405, b"group page 405\n"))
        self.assertEqual(r.get("Allow"), "GET, HEAD")
        self.assertEqual(r.headers.count("Allow"), 1)

    def test_an_error_block_cannot_change_the_status(self):
        r = self.get("/missing")
        self.assertEqual(r.status, 404)

    def test_head_of_an_error_page_has_its_length_and_no_body(self):
        full = self.get("/missing")
        r = self.get("/missing", method="HEAD")
        self.assertEqual((r.status, r.body), (404, b""))
        self.assertEqual(r.get("Content-Length"), str(len(full.body)))

    def test_a_handler_that_misuses_the_api_gets_the_error_page_500(self):
        r = self.get("/misuse")
        self.assertEqual(r.status, 500)
        self.assertEqual(r.body, b"<h1>server page: 500 Internal Server Error</h1>\n")
        self.assertTrue(self.server.wait_for_stderr(r"handler for GET /misuse: invalid header name", 5))

    def test_413_goes_through_the_error_block(self):
        with connect(self.server) as s:
            s.sendall(srvtest.format_request(self.server, "POST", "/upload",
                                             headers=[("Content-Length", "5000")]))
            got, closed = read_until_closed(s, 5)
        (r,) = parse_responses(got)
        self.assertEqual(r.status, 413)
        self.assertEqual(r.body, b"<h1>server page: 413 Content Too Large</h1>\n")
        self.assertTrue(closed)

    def refused(self, data, timeout=5):
        """DATA gets exactly one response and a close."""
        with connect(self.server) as s:
            s.sendall(data)
            got, closed = read_until_closed(s, timeout)
        (r,) = parse_responses(got)
        self.assertTrue(closed)
        return r

    def test_errors_before_routing_use_the_scope_of_the_request_line(self):
        cases = [
            # A bad field line after a good request line.
            (b"GET /g/x HTTP/1.1\r\nHost: t\r\nBad Name: x\r\n\r\n", 400, "g"),
            (b"GET /x HTTP/1.1\r\nHost: t\r\nBad Name: x\r\n\r\n", 400, "server"),
            # An unknown method, a version we do not speak, an expectation.
            (b"BREW /g/x HTTP/1.1\r\nHost: t\r\n\r\n", 501, "g"),
            (b"GET /g/x HTTP/2.0\r\nHost: t\r\n\r\n", 505, "g"),
            (b"GET /x HTTP/1.1\r\nHost: t\r\nExpect: tea\r\n\r\n", 417, "server"),
            # Too many header bytes after a readable request line.
            (b"GET /g/x HTTP/1.1\r\nHost: t\r\nX: " + b"a" * 3000 + b"\r\n\r\n", 431, "g"),
            # A request line too long to read: the server's page.
            (b"GET /g/" + b"a" * 2000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414, "server"),
        ]
        for data, status, scope in cases:
            with self.subTest(status=status, scope=scope):
                r = self.refused(data)
                self.assertEqual(r.status, status)
                self.assertEqual(r.get("X-Error-Scope"), scope)

    def test_a_head_timeout_after_the_request_line_gets_the_error_page(self):
        r = self.refused(b"GET /g/x HTTP/1.1\r\nHost: t\r\n", timeout=5)
        self.assertEqual((r.status, r.body), (408, b"group page 408\n"))

    def test_garbage_gets_the_built_in_400(self):
        r = self.refused(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
        self.assertEqual((r.status, r.body), (400, b"400 Bad Request\n"))
        self.assertIsNone(r.get("X-Error-Scope"))

    def test_an_error_block_without_a_body_keeps_the_built_in_page(self):
        r = self.get("/plainerr/missing")
        self.assertEqual((r.status, r.body), (404, b"404 Not Found\n"))
        self.assertEqual(r.get("Content-Type"), "text/plain; charset=utf-8")
        self.assertEqual(r.get("X-Plain-Error"), "1")

    def test_a_misbehaving_error_block_falls_back_to_the_built_in_page(self):
        r = self.get("/brokenerr/missing")
        self.assertEqual((r.status, r.body), (404, b"404 Not Found\n"))
        self.assertIsNone(r.get("X-Bad"))
        self.assertTrue(self.server.wait_for_stderr(r"error block for 404 \(GET /brokenerr/missing\)", 5))


if __name__ == "__main__":
    srvtest.main()
