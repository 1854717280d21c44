#!/usr/bin/env python3
"""End-to-end tests of what handlers get from srv as a web framework
(issue 8), over real sockets against tests/e2e/forms.srv: urlencoded forms,
multipart uploads (binary data compared byte for byte, malformed bodies
answered 400 while the server keeps serving), JSON in and out, cookies,
signed cookies with secrets from the environment (tampering, rotation,
start-up refusal) and redirects."""

import base64
import hashlib
import hmac
import json
import os
import unittest

import srvtest
from srvtest import Server, check_date, connect, format_request, http, read_response

SECRET_A = "forms-secret-A-0123456789abcdefghijklmnop"
SECRET_B = "forms-secret-B-0123456789abcdefghijklmnop"
FORM = "application/x-www-form-urlencoded"


def forms_server(**env):
    full = {"FORMS_SECRET": SECRET_A}
    full.update(env)
    return Server(srvtest.test_program("forms"), env=full)


def multipart(parts, boundary="----srvtestBoundary7MA4YWxk"):
    """A multipart/form-data body from (name, filename, content_type, data),
    names and filenames sent as UTF-8 (as browsers do)."""
    out = b""
    for name, filename, ctype, data in parts:
        out += b"--" + boundary.encode() + b"\r\n"
        disp = 'Content-Disposition: form-data; name="%s"' % name
        if filename is not None:
            disp += '; filename="%s"' % filename
        out += disp.encode() + b"\r\n"
        if ctype is not None:
            out += b"Content-Type: " + ctype.encode() + b"\r\n"
        out += b"\r\n" + data + b"\r\n"
    out += b"--" + boundary.encode() + b"--\r\n"
    return out, "multipart/form-data; boundary=" + boundary


def sign(secret, name, value):
    mac = hmac.new(secret.encode(), ("%s=%s" % (name, value)).encode(), hashlib.sha256)
    return value + "." + base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()


class Checks(unittest.TestCase):
    def assertWellFormed(self, r):
        check_date(self, r)
        if r.status in (204, 304) or 100 <= r.status < 200:
            self.assertIsNone(r.get("Content-Length"), r)
        else:
            self.assertEqual(r.headers.get_all("Content-Length"), [str(len(r.body))], r)

    def request(self, method, path, body=b"", content_type=None, headers=()):
        hs = list(headers)
        if content_type is not None:
            hs.append(("Content-Type", content_type))
        r = http(self.server, method, path, headers=hs, body=body)
        self.assertWellFormed(r)
        return r


class FormTest(Checks):
    @classmethod
    def setUpClass(cls):
        cls.server = cls.enterClassContext(forms_server())

    def test_urlencoded_fields_are_decoded_in_order_with_repeats(self):
        r = self.request("POST", "/form", b"name=J%C3%BCrgen+K&tag=a&tag=b&empty=&flag&&x%26y=1%3D2",
                         FORM + "; charset=UTF-8")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.get("Content-Type"), "application/json")
        self.assertEqual(r.json(), [["name", "J\u00fcrgen K"], ["tag", "a"], ["tag", "b"],
                                    ["empty", ""], ["flag", ""], ["x&y", "1=2"]])

    def test_lookup_takes_the_first_occurrence_and_is_binary_safe(self):
        body = b"a=1&a=2&bin=%00%01%FF"
        self.assertEqual(self.request("POST", "/form/a", body, FORM).body, b"1")
        self.assertEqual(self.request("POST", "/form/bin", body, FORM).body, b"\x00\x01\xff")
        self.assertEqual(self.request("POST", "/form/b", body, FORM).status, 404)

    def test_other_media_types_are_not_forms(self):
        for ctype in [None, "text/plain", "application/x-www-form-urlencoded-x",
                      "multipart/form-data; boundary=x", "application/json"]:
            with self.subTest(ctype=ctype):
                r = self.request("POST", "/form", b"a=1", ctype)
                self.assertEqual((r.status, r.json()), (200, []))
        r = self.request("POST", "/form", b"a=1", "Application/X-WWW-Form-URLEncoded")
        self.assertEqual(r.json(), [["a", "1"]])


class UploadTest(Checks):
    @classmethod
    def setUpClass(cls):
        cls.server = cls.enterClassContext(forms_server())

    def test_binary_upload_with_nuls_arrives_byte_for_byte(self):
        data = bytes(range(256)) * 64 + b"\r\n--not-the-boundary\r\n\x00\x00"
        body, ctype = multipart([("title", None, None, b"holiday"),
                                 ("photo", "p\u00e9.bin", "application/octet-stream", data)])
        r = self.request("POST", "/upload", body, ctype)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), [
            {"name": "title", "filename": None, "content_type": "text/plain", "len": 7},
            {"name": "photo", "filename": "p\u00e9.bin", "content_type": "application/octet-stream",
             "len": len(data)},
        ])
        r = self.request("POST", "/upload/photo", body, ctype)
        self.assertEqual(r.status, 200)
        self.assertTrue(r.body == data, "uploaded bytes differ")
        self.assertEqual(self.request("POST", "/upload/title", body, ctype).body, b"holiday")
        self.assertEqual(self.request("POST", "/upload/none", body, ctype).status, 404)

    def test_chunked_upload_is_the_same(self):
        data = b"\x00" * 1000 + b"end"
        body, ctype = multipart([("f", "a", None, data)])
        chunked = b""
        for i in range(0, len(body), 300):
            piece = body[i:i + 300]
            chunked += b"%x\r\n" % len(piece) + piece + b"\r\n"
        chunked += b"0\r\n\r\n"
        with connect(self.server) as s:
            s.sendall(format_request(self.server, "POST", "/upload/f",
                                     headers=[("Content-Type", ctype),
                                              ("Transfer-Encoding", "chunked")])
                      + chunked)
            r = read_response(s)
        self.assertEqual((r.status, r.body), (200, data))

    def test_malformed_bodies_are_400_and_the_server_keeps_serving(self):
        good, ctype = multipart([("a", None, None, b"1")])
        bad_bodies = [
            good[:-len(b"--\r\n") - 10],                       # no final boundary
            good.replace(b"\r\n", b"\n"),                      # bare LF
            good.replace(b"form-data; ", b"attachment; "),     # not form-data
            good.replace(b'; name="a"', b""),                  # no name
            b"",                                               # empty
        ]
        with connect(self.server) as s:
            for body in bad_bodies:
                s.sendall(format_request(self.server, "POST", "/upload",
                                         headers=[("Content-Type", ctype)], body=body))
                r = read_response(s)
                self.assertWellFormed(r)
                self.assertEqual(r.status, 400, body)
                self.assertNotEqual(r.get("Connection", "").lower(), "close")
            # The same connection, then a fresh one, still work.
            s.sendall(format_request(self.server, "POST", "/upload",
                                     headers=[("Content-Type", ctype)], body=good))
            self.assertEqual(read_response(s).status, 200)
        self.assertEqual(self.request("POST", "/upload", good, ctype).status, 200)
        self.assertTrue(self.server.running())

    def test_wrong_type_is_415_and_too_many_parts_413(self):
        good, ctype = multipart([("a", None, None, b"1")])
        self.assertEqual(self.request("POST", "/upload", good, "text/plain").status, 415)
        self.assertEqual(self.request("POST", "/upload", good, None).status, 415)
        self.assertEqual(self.request("POST", "/upload", good, "multipart/form-data").status, 400)
        # The default limit is 128 parts.
        body, ctype = multipart([("p%d" % i, None, None, b"") for i in range(128)])
        self.assertEqual(self.request("POST", "/upload", body, ctype).status, 200)
        body, ctype = multipart([("p%d" % i, None, None, b"") for i in range(129)])
        self.assertEqual(self.request("POST", "/upload", body, ctype).status, 413)
        body, ctype = multipart([("a", None, "x/" + "y" * 9000, b"")])
        self.assertEqual(self.request("POST", "/upload", body, ctype).status, 413)


class JsonTest(Checks):
    @classmethod
    def setUpClass(cls):
        cls.server = cls.enterClassContext(forms_server())

    def test_documents_round_trip_through_jansson_and_the_writer(self):
        doc = {"name": "caf\u00e9 \U0001F600", "n": [1, -2, 2.5, 1e300, None, True, False],
               "nested": {"a": {"b": [[], {}]}}, "esc": "q\"\\\n\t\u0001\u0000",
               "big": 9223372036854775807, "neg": -9223372036854775808}
        r = self.request("POST", "/json", json.dumps(doc).encode(), "application/json")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.get("Content-Type"), "application/json")
        self.assertEqual(r.json(), doc)
        # Compact output, order kept.
        r = self.request("POST", "/json", b'{"b": 1, "a": [true]}', "application/json; charset=utf-8")
        self.assertEqual(r.body, b'{"b":1,"a":[true]}')

    def test_malformed_json_is_400_with_the_byte_offset(self):
        r = self.request("POST", "/json", b'{"a": [1, 2], "b": }', "application/json")
        self.assertEqual(r.status, 400)
        self.assertEqual(r.get("Content-Type"), "application/json")
        self.assertEqual(r.json(), {"error": "invalid JSON at byte 20: unexpected token near '}'",
                                    "offset": 20})
        for body in [b"", b"{", b'{"a":1,"a":2}', b'["\xff"]', b"[01]", b"[1] x"]:
            with self.subTest(body=body):
                r = self.request("POST", "/json", body, "application/json")
                self.assertEqual(r.status, 400)
                self.assertTrue(r.json()["error"].startswith("invalid JSON at byte "))
                self.assertIsInstance(r.json()["offset"], int)

    def test_other_content_types_are_415(self):
        for ctype in [None, "text/plain", "application/x-www-form-urlencoded"]:
            with self.subTest(ctype=ctype):
                r = self.request("POST", "/json", b"{}", ctype)
                self.assertEqual(r.status, 415)
                self.assertEqual(r.json(), {"error": "Content-Type must be application/json"})

    def test_writer_misuse_is_a_logged_500(self):
        before = len(self.server.stderr_lines())
        r = self.request("GET", "/json/misuse")
        self.assertEqual(r.status, 500)
        self.assertIsNotNone(self.server.wait_for_stderr(r"JSON writer", timeout=5, start=before))


class CookieTest(Checks):
    @classmethod
    def setUpClass(cls):
        cls.server = cls.enterClassContext(forms_server())

    def test_set_then_read_back(self):
        r = self.request("GET", "/cookie/set/theme/dark")
        self.assertEqual(r.headers.get_all("Set-Cookie"),
                         ["theme=dark; Path=/; Secure; HttpOnly; SameSite=Lax"])
        pair = r.get("Set-Cookie").split(";")[0]
        r = self.request("GET", "/cookie/theme", headers=[("Cookie", "other=1; " + pair)])
        self.assertEqual((r.status, r.body), (200, b"dark"))
        r = self.request("GET", "/cookie/theme", headers=[("Cookie", "a=1"), ("Cookie", 'theme="q"')])
        self.assertEqual(r.body, b"q")
        self.assertEqual(self.request("GET", "/cookie/theme").status, 404)

    def test_options_and_clearing(self):
        r = self.request("GET", "/cookie/dev/k/v")
        self.assertEqual(r.get("Set-Cookie"), "k=v; Path=/cookie; Max-Age=60; SameSite=Strict")
        r = self.request("GET", "/cookie/clear/k")
        self.assertEqual(r.get("Set-Cookie"), "k=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 "
                                              "00:00:00 GMT; Secure; HttpOnly; SameSite=Lax")

    def test_invalid_cookies_are_refused_loudly(self):
        before = len(self.server.stderr_lines())
        r = self.request("GET", "/cookie/none-insecure")
        self.assertEqual(r.status, 500)
        self.assertIsNone(r.get("Set-Cookie"))
        self.assertIsNotNone(self.server.wait_for_stderr(r"SameSite=None without Secure",
                                                         timeout=5, start=before))
        r = self.request("GET", "/cookie/set/sid/a%20b")   # a space in the value
        self.assertEqual(r.status, 500)
        self.assertIsNone(r.get("Set-Cookie"))


class SignedCookieTest(Checks):
    def signed_cookie(self):
        r = self.request("GET", "/signed/set/user.42")
        self.assertEqual(r.status, 200)
        line = r.get("Set-Cookie")
        self.assertTrue(line.endswith("; Path=/; Secure; HttpOnly; SameSite=Lax"), line)
        return line.split(";")[0].split("=", 1)[1]

    def read(self, value):
        return self.request("GET", "/signed", headers=[("Cookie", "sid=" + value)])

    def test_signed_cookie_reads_back_and_tampering_is_absent(self):
        with forms_server() as self.server:
            value = self.signed_cookie()
            self.assertEqual(value, sign(SECRET_A, "sid", "user.42"))
            self.assertEqual(self.read(value).body, b"user.42")
            for bad in [value.replace("user.42", "user.43"), value[:-1],
                        value[:-1] + ("A" if value[-1] != "A" else "B"), "user.42",
                        sign(SECRET_B, "sid", "user.42"), sign(SECRET_A, "other", "user.42")]:
                with self.subTest(bad=bad):
                    r = self.read(bad)
                    self.assertEqual((r.status, r.body), (401, b"absent"))
            self.assertEqual(self.server.stop(), 0)

    def test_rotation_keeps_old_cookies_until_the_old_secret_goes(self):
        with forms_server(FORMS_SECRET=SECRET_A) as self.server:
            by_a = self.signed_cookie()
        with forms_server(FORMS_SECRET=SECRET_B, FORMS_SECRET_OLD=SECRET_A) as self.server:
            self.assertEqual(self.read(by_a).body, b"user.42")
            by_b = self.signed_cookie()           # the new secret signs
            self.assertEqual(by_b, sign(SECRET_B, "sid", "user.42"))
            self.assertEqual(self.read(by_b).body, b"user.42")
        with forms_server(FORMS_SECRET=SECRET_B) as self.server:
            self.assertEqual(self.read(by_a).status, 401)
            self.assertEqual(self.read(by_b).body, b"user.42")

    def test_missing_or_short_secret_stops_the_start(self):
        exe = srvtest.test_program("forms")
        cases = [
            ({}, "forms: secret env FORMS_SECRET is not set"),
            ({"FORMS_SECRET": "twelve bytes"},
             "forms: secret env FORMS_SECRET is 12 bytes; at least 32 are needed"),
            ({"FORMS_SECRET": SECRET_A, "FORMS_SECRET_OLD": "short"},
             "forms: secret env FORMS_SECRET_OLD is 5 bytes; at least 32 are needed"),
        ]
        for env, line in cases:
            with self.subTest(env=env):
                clean = {k: v for k, v in os.environ.items() if not k.startswith("FORMS_SECRET")}
                clean.update(env)
                r = _run_with_env([exe, "--port", "0"], clean)
                self.assertEqual(r.returncode, 1, r.stderr)
                self.assertEqual(r.stderr.decode(), line + "\n")
                self.assertNotIn(b"listening", r.stderr)


def _run_with_env(cmd, env):
    """srvtest.run() with exactly ENV as the environment (srvtest.run only
    adds to ours, and FORMS_SECRET must be absent)."""
    saved = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update(env)
        return srvtest.run(cmd, timeout=30)
    finally:
        os.environ.clear()
        os.environ.update(saved)


class RedirectTest(Checks):
    @classmethod
    def setUpClass(cls):
        cls.server = cls.enterClassContext(forms_server())

    def test_each_redirect_status(self):
        for code in (301, 302, 303, 307, 308):
            with self.subTest(code=code):
                r = self.request("GET", "/redirect/%d" % code)
                self.assertEqual(r.status, code)
                self.assertEqual(r.get("Location"), "/target?from=redirect")
                self.assertEqual(r.body, ("%d %s\n" % (code, r.reason)).encode())

    def test_other_statuses_and_bad_locations_are_500(self):
        for path in ("/redirect/200", "/redirect/304", "/bad-redirect"):
            with self.subTest(path=path):
                r = self.request("GET", path)
                self.assertEqual(r.status, 500)
                self.assertIsNone(r.get("Location"))


if __name__ == "__main__":
    srvtest.main()
