#!/usr/bin/env python3
"""End-to-end tests of static files over real sockets, against
tests/e2e/static_site.srv started in a temporary tree:

    TMP/secret.txt                      outside every mount
    TMP/public/   (/assets/ and /hooked/files/)
        hello.txt  big.bin (1 MiB)  huge.bin (8 MiB)  app.js  UPPER.HTML
        site.css + .gz (real gzip) .br .zst     special.css (a route wins)
        sub/index.html  noindex/  "with space/index.html"  img/logo.png
        .env  .git/config  .well-known/security.txt  fifo  noread.txt (mode 0)
        etc -> /etc   passwd-link -> /etc/passwd   up -> ../secret.txt
        alias.txt -> hello.txt
    TMP/images/photo.jpg                (/assets/img/)
    TMP/root/index.html robots.txt docs/ (/)

Covers what is served and how (types, validators, HEAD, directories,
dotfiles, precompressed siblings), every way out of the tree we know of,
preconditions (304, 412), ranges (206, multipart, 416, If-Range), routes
and mounts sharing one tree, hooks and error blocks, pipelining behind a
large file, a slow reader, a file changed on disk, several workers, and a
missing directory at start-up."""

import email.utils
import gzip
import hashlib
import os
import re
import shutil
import socket
import tempfile
import time
import unittest

import srvtest
from srvtest import Server, connect, http, read_response, wait_until

SECRET = b"TOP SECRET\n"
HELLO = b"Hello, World!"
CSS = b"body { color: rebeccapurple }\n" * 20


def make_tree(top):
    def put(path, data, mode=0o644):
        full = os.path.join(top, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as f:
            f.write(data)
        os.chmod(full, mode)

    os.chmod(top, 0o755)
    put("secret.txt", SECRET)
    put("public/hello.txt", HELLO)
    put("public/big.bin", os.urandom(1 << 20))
    put("public/huge.bin", os.urandom(8 << 20))
    put("public/app.js", b"console.log(1);\n")
    put("public/UPPER.HTML", b"<p>upper</p>\n")
    put("public/site.css", CSS)
    put("public/site.css.gz", gzip.compress(CSS))
    put("public/site.css.br", b"BROTLI-BYTES")
    put("public/site.css.zst", b"ZSTD-BYTES")
    put("public/special.css", b"from the file\n")
    put("public/sub/index.html", b"<h1>sub</h1>\n")
    os.makedirs(os.path.join(top, "public/noindex"))
    put("public/with space/index.html", b"spaced\n")
    put("public/img/logo.png", b"PNG in public/img\n")
    put("public/.env", b"PASSWORD=1\n")
    put("public/.git/config", b"[core]\n")
    put("public/.well-known/security.txt", b"Contact: me\n")
    put("public/noread.txt", b"unreadable\n", 0o000)
    put("public/changing.txt", b"version 1\n")
    os.mkfifo(os.path.join(top, "public/fifo"))
    os.symlink("/etc", os.path.join(top, "public/etc"))
    os.symlink("/etc/passwd", os.path.join(top, "public/passwd-link"))
    os.symlink("../secret.txt", os.path.join(top, "public/up"))
    os.symlink("hello.txt", os.path.join(top, "public/alias.txt"))
    put("images/photo.jpg", b"\xff\xd8JPEG")
    put("root/index.html", b"<h1>root</h1>\n")
    put("root/robots.txt", b"User-agent: *\n")
    os.makedirs(os.path.join(top, "root/docs"))


def file_bytes(top, path):
    with open(os.path.join(top, path), "rb") as f:
        return f.read()


class StaticTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.top = tempfile.mkdtemp(prefix="srv-e2e-static-")
        cls.addClassCleanup(shutil.rmtree, cls.top, ignore_errors=True)
        make_tree(cls.top)
        cls.binary = srvtest.test_program("static_site")
        cls.server = cls.enterClassContext(Server(cls.binary, cwd=cls.top))

    def tearDown(self):
        # Whatever a test did, the server still answers.
        self.assertTrue(self.server.running(), self.server.stderr_text())
        r = http(self.server, "GET", "/plaintext", timeout=3)
        self.assertEqual((r.status, r.body), (200, HELLO))

    def get(self, path, headers=(), method="GET"):
        return http(self.server, method, path, headers, timeout=10)

    # -- what is served ------------------------------------------------------

    def test_a_file_comes_with_type_length_and_validators(self):
        r = self.get("/assets/hello.txt")
        self.assertEqual((r.status, r.body), (200, HELLO))
        self.assertEqual(r.get("Content-Type"), "text/plain; charset=utf-8")
        self.assertEqual(r.get("Content-Length"), "13")
        self.assertEqual(r.get("Accept-Ranges"), "bytes")
        self.assertRegex(r.get("ETag"), r'^"[0-9a-f]+-d-[0-9a-f]+"$')
        mtime = os.stat(os.path.join(self.top, "public/hello.txt")).st_mtime
        lm = email.utils.parsedate_to_datetime(r.get("Last-Modified")).timestamp()
        self.assertEqual(int(lm), int(mtime))
        self.assertRegex(r.get("Last-Modified"), srvtest.HTTP_DATE_RE)
        srvtest.check_date(self, r)
        self.assertIsNone(r.get("Vary"))

    def test_large_files_arrive_whole(self):
        for name in ("big.bin", "huge.bin"):
            r = self.get("/assets/" + name)
            self.assertEqual(r.status, 200)
            self.assertEqual(r.body, file_bytes(self.top, "public/" + name))
            self.assertEqual(r.get("Content-Type"), "application/octet-stream")

    def test_content_types_follow_the_extension(self):
        cases = {"/assets/app.js": "text/javascript; charset=utf-8",
                 "/assets/UPPER.HTML": "text/html; charset=utf-8",
                 "/assets/img/photo.jpg": "image/jpeg",
                 "/assets/site.css": "text/css; charset=utf-8",
                 "/robots.txt": "text/plain; charset=utf-8"}
        for path, ctype in cases.items():
            self.assertEqual(self.get(path).get("Content-Type"), ctype, path)

    def test_head_has_the_get_headers_and_no_body(self):
        with connect(self.server) as s:
            s.sendall(srvtest.format_request(self.server, "HEAD", "/assets/big.bin"))
            r = read_response(s, head_only=True)
            s.sendall(srvtest.format_request(self.server, "GET", "/assets/hello.txt"))
            r2 = read_response(s)
            self.assertEqual(srvtest.pending_bytes(s), b"")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.get("Content-Length"), str(1 << 20))
        self.assertEqual(r.get("ETag"), self.get("/assets/big.bin").get("ETag"))
        self.assertEqual(r2.body, HELLO)

    def test_a_symlink_inside_the_tree_is_followed(self):
        r = self.get("/assets/alias.txt")
        self.assertEqual((r.status, r.body), (200, HELLO))

    # -- directories ---------------------------------------------------------

    def test_a_directory_serves_its_index(self):
        r = self.get("/assets/sub/")
        self.assertEqual((r.status, r.body), (200, b"<h1>sub</h1>\n"))
        self.assertEqual(r.get("Content-Type"), "text/html; charset=utf-8")
        self.assertEqual(self.get("/").body, b"<h1>root</h1>\n")
        self.assertEqual(self.get("/assets/noindex/").status, 404)

    def test_a_directory_without_its_slash_is_redirected(self):
        r = self.get("/assets/sub")
        self.assertEqual(r.status, 301)
        self.assertEqual(r.get("Location"), "/assets/sub/")
        r = self.get("/assets/sub?page=2&q=a%20b")
        self.assertEqual(r.get("Location"), "/assets/sub/?page=2&q=a%20b")
        r = self.get("/assets/with%20space")
        self.assertEqual((r.status, r.get("Location")), (301, "/assets/with%20space/"))
        self.assertEqual(self.get("/assets/with%20space/").body, b"spaced\n")
        # Never a scheme-relative "//host/" Location.
        r = self.get("//docs")
        self.assertEqual((r.status, r.get("Location")), (301, "/docs/"))
        self.assertEqual(self.get("/assets/hello.txt/").status, 404)

    def test_a_mount_prefix_without_its_slash_is_redirected(self):
        # "/assets" is not under "/assets/"; without this route the "/"
        # mount would look for a file named "assets".
        for path, loc in (("/assets", "/assets/"), ("/assets/img", "/assets/img/"),
                          ("/hooked/files?x=1", "/hooked/files/?x=1")):
            with self.subTest(path=path):
                r = self.get(path)
                self.assertEqual((r.status, r.get("Location")), (301, loc))
        r = http(self.server, "HEAD", "/assets")
        self.assertEqual((r.status, r.get("Location")), (301, "/assets/"))
        # The group's hooks run for it as for the mount.
        r = self.get("/hooked/files")
        self.assertEqual(r.get("X-After"), "301 memory 22")

    # -- what is not served --------------------------------------------------

    def test_dotfiles_are_404_except_well_known(self):
        for path in ("/assets/.env", "/assets/.git/config", "/assets/%2eenv",
                     "/assets/.git/", "/assets/sub/.hidden"):
            self.assertEqual(self.get(path).status, 404, path)
        r = self.get("/assets/.well-known/security.txt")
        self.assertEqual((r.status, r.body), (200, b"Contact: me\n"))

    def test_no_request_leaves_the_tree(self):
        attempts = [
            "/assets/../secret.txt", "/assets/%2e%2e/secret.txt", "/assets/%2E%2E/secret.txt",
            "/assets/..%2fsecret.txt", "/assets/%2e%2e%2fsecret.txt", "/assets/.%2e/secret.txt",
            "/assets/..%2f..%2fsecret.txt", "/assets/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
            "/assets/../../../../etc/passwd", "/assets//etc/passwd", "//etc/passwd",
            "///etc/passwd", "/assets/etc/passwd", "/assets/passwd-link", "/assets/up",
            "/assets/..\\secret.txt", "/assets/%5c..%5csecret.txt", "/assets/%00secret.txt",
            "/assets/hello.txt%00.png", "http://x/assets/../../secret.txt",
            "/hooked/files/../../secret.txt", "/assets/img/../../secret.txt",
        ]
        for target in attempts:
            r = self.get(target)
            self.assertIn(r.status, (400, 404), target)
            self.assertNotIn(SECRET, r.body, target)
            self.assertNotIn(b"root:", r.body, target)

    def test_special_files_are_404_and_do_not_block(self):
        start = time.monotonic()
        self.assertEqual(self.get("/assets/fifo").status, 404)
        self.assertLess(time.monotonic() - start, 3)

    def test_an_unreadable_file_is_403(self):
        if os.geteuid() != 0:
            self.assertEqual(self.get("/assets/noread.txt").status, 403)
            return
        # Root reads anything: the same server as nobody.
        with Server(self.binary, cwd=self.top, uid=65534) as s:
            r = http(s, "GET", "/assets/noread.txt")
            self.assertEqual(r.status, 403)
            self.assertEqual(http(s, "GET", "/assets/hello.txt").body, HELLO)

    def test_other_methods_are_405(self):
        r = self.get("/assets/hello.txt", method="POST")
        self.assertEqual(r.status, 405)
        self.assertEqual(r.get("Allow"), "GET, HEAD")

    # -- preconditions -------------------------------------------------------

    def test_if_none_match_gives_304_with_validators_only(self):
        r = self.get("/assets/site.css")
        etag, lm = r.get("ETag"), r.get("Last-Modified")
        for inm in (etag, "W/" + etag, '"nope", ' + etag, "*"):
            n = self.get("/assets/site.css", {"If-None-Match": inm})
            self.assertEqual(n.status, 304, inm)
            self.assertEqual(n.body, b"")
            self.assertIsNone(n.get("Content-Length"))
            self.assertIsNone(n.get("Content-Type"))
            self.assertEqual((n.get("ETag"), n.get("Last-Modified"), n.get("Vary")),
                             (etag, lm, "Accept-Encoding"))
        self.assertEqual(self.get("/assets/site.css", {"If-None-Match": '"nope"'}).status, 200)

    def test_if_modified_since_in_all_three_date_formats(self):
        r = self.get("/assets/hello.txt")
        lm = email.utils.parsedate_to_datetime(r.get("Last-Modified"))
        forms = [r.get("Last-Modified"),
                 lm.strftime("%A, %d-%b-%y %H:%M:%S GMT"),
                 lm.strftime("%a %b ") + ("%2d" % lm.day) + lm.strftime(" %H:%M:%S %Y")]
        for ims in forms:
            self.assertEqual(self.get("/assets/hello.txt", {"If-Modified-Since": ims}).status,
                             304, ims)
        for ims in ("Sun, 06 Nov 1994 08:49:37 GMT", "not a date", ""):
            self.assertEqual(self.get("/assets/hello.txt", {"If-Modified-Since": ims}).status,
                             200, ims)
        # If-None-Match wins over If-Modified-Since.
        self.assertEqual(self.get("/assets/hello.txt", {"If-None-Match": '"other"',
                                                        "If-Modified-Since": forms[0]}).status,
                         200)

    def test_failed_if_match_or_if_unmodified_since_give_412(self):
        etag = self.get("/assets/hello.txt").get("ETag")
        self.assertEqual(self.get("/assets/hello.txt", {"If-Match": etag}).status, 200)
        self.assertEqual(self.get("/assets/hello.txt", {"If-Match": "*"}).status, 200)
        self.assertEqual(self.get("/assets/hello.txt", {"If-Match": '"other"'}).status, 412)
        self.assertEqual(self.get("/assets/hello.txt", {"If-Match": "W/" + etag}).status, 412)
        self.assertEqual(self.get("/assets/hello.txt", {
            "If-Unmodified-Since": "Sun, 06 Nov 1994 08:49:37 GMT"}).status, 412)
        self.assertEqual(self.get("/assets/hello.txt", {
            "If-Unmodified-Since": "Fri, 31 Dec 9999 23:59:59 GMT"}).status, 200)

    # -- ranges --------------------------------------------------------------

    def test_single_ranges_give_206(self):
        cases = {"bytes=0-4": (b"Hello", "bytes 0-4/13"), "bytes=-6": (b"World!", "bytes 7-12/13"),
                 "bytes=7-": (b"World!", "bytes 7-12/13"), "bytes=0-999": (HELLO, "bytes 0-12/13")}
        for rng, (body, cr) in cases.items():
            r = self.get("/assets/hello.txt", {"Range": rng})
            self.assertEqual((r.status, r.body, r.get("Content-Range")), (206, body, cr), rng)
            self.assertEqual(r.get("Content-Type"), "text/plain; charset=utf-8")
        huge = file_bytes(self.top, "public/huge.bin")
        r = self.get("/assets/huge.bin", {"Range": "bytes=5000000-5999999"})
        self.assertEqual((r.status, r.body), (206, huge[5000000:6000000]))

    def test_unsatisfiable_gives_416_and_invalid_is_ignored(self):
        r = self.get("/assets/hello.txt", {"Range": "bytes=13-20"})
        self.assertEqual((r.status, r.get("Content-Range")), (416, "bytes */13"))
        for rng in ("bytes=5-1", "lines=0-1", "bytes=a-b", "bytes=\xc2\xb9-2", "bytes 0-1"):
            r = self.get("/assets/hello.txt", {"Range": rng})
            self.assertEqual((r.status, r.body), (200, HELLO), rng)
        r = self.get("/assets/hello.txt", {"Range": "bytes=0-1"}, method="HEAD")
        self.assertEqual(r.status, 200)

    def test_if_range_lets_the_range_apply_only_when_it_matches(self):
        r = self.get("/assets/hello.txt")
        etag = r.get("ETag")
        self.assertEqual(self.get("/assets/hello.txt", {"Range": "bytes=0-4",
                                                        "If-Range": etag}).status, 206)
        r = self.get("/assets/hello.txt", {"Range": "bytes=0-4", "If-Range": '"stale"'})
        self.assertEqual((r.status, r.body), (200, HELLO))

    def parse_multipart(self, r, whole):
        m = re.match(r"multipart/byteranges; boundary=(\S+)$", r.get("Content-Type"))
        self.assertIsNotNone(m, r.get("Content-Type"))
        self.assertEqual(int(r.get("Content-Length")), len(r.body))
        delim = b"\r\n--" + m.group(1).encode()
        self.assertTrue(r.body.startswith(delim))
        self.assertTrue(r.body.endswith(delim + b"--\r\n"))
        parts = []
        for chunk in r.body[:-len(delim) - 4].split(delim)[1:]:
            head, _, data = chunk.partition(b"\r\n\r\n")
            fields = dict(line.split(b": ", 1) for line in head.split(b"\r\n")[1:])
            first, last, size = map(int, re.match(rb"bytes (\d+)-(\d+)/(\d+)$",
                                                  fields[b"Content-Range"]).groups())
            self.assertEqual(size, len(whole))
            self.assertEqual(data, whole[first:last + 1])
            parts.append((first, last, fields[b"Content-Type"]))
        return parts

    def test_several_ranges_give_multipart_byteranges(self):
        big = file_bytes(self.top, "public/big.bin")
        r = self.get("/assets/big.bin", {"Range": "bytes=0-99,1000-1999,-100"})
        self.assertEqual(r.status, 206)
        self.assertEqual(self.parse_multipart(r, big),
                         [(0, 99, b"application/octet-stream"), (1000, 1999, b"application/octet-stream"),
                          (len(big) - 100, len(big) - 1, b"application/octet-stream")])
        r = self.get("/assets/site.css", {"Range": "bytes=0-9,500-509"})
        self.assertEqual(self.parse_multipart(r, CSS),
                         [(0, 9, b"text/css; charset=utf-8"), (500, 509, b"text/css; charset=utf-8")])

    def test_range_abuse_is_bounded(self):
        size = 1 << 20
        r = self.get("/assets/big.bin", {"Range": "bytes=" + ",".join(["0-"] * 60)})
        self.assertEqual((r.status, r.get("Content-Range"), len(r.body)),
                         (206, "bytes 0-%d/%d" % (size - 1, size), size))
        many = ",".join("%d-%d" % (i * 1000, i * 1000) for i in range(65))
        r = self.get("/assets/big.bin", {"Range": "bytes=" + many})
        self.assertEqual((r.status, len(r.body)), (200, size))

    # -- precompressed siblings ----------------------------------------------

    def test_precompressed_siblings_follow_accept_encoding(self):
        cases = [("gzip, deflate, br, zstd", "br", b"BROTLI-BYTES"),
                 ("gzip, zstd", "zstd", b"ZSTD-BYTES"),
                 ("GZIP", "gzip", None),
                 ("gzip;q=0.9, br;q=0.1", "gzip", None),
                 ("br;q=0, *", "zstd", b"ZSTD-BYTES"),
                 ("identity;q=0, gzip", "gzip", None)]
        for ae, coding, body in cases:
            r = self.get("/assets/site.css", {"Accept-Encoding": ae})
            self.assertEqual((r.status, r.get("Content-Encoding")), (200, coding), ae)
            self.assertEqual(r.get("Vary"), "Accept-Encoding")
            self.assertEqual(r.get("Content-Type"), "text/css; charset=utf-8")
            self.assertEqual(gzip.decompress(r.body) if coding == "gzip" else r.body,
                             CSS if coding == "gzip" else body)
        for ae in (None, "", "deflate", "br;q=0, zstd;q=0, gzip;q=0"):
            r = self.get("/assets/site.css", {"Accept-Encoding": ae} if ae is not None else {})
            self.assertEqual((r.status, r.get("Content-Encoding"), r.body), (200, None, CSS), ae)
            self.assertEqual(r.get("Vary"), "Accept-Encoding")
        r = self.get("/assets/site.css", {"Accept-Encoding": "deflate, identity;q=0"})
        self.assertEqual((r.status, r.get("Vary")), (406, "Accept-Encoding"))
        # A file without siblings is sent as it is, without Vary.
        r = self.get("/assets/app.js", {"Accept-Encoding": "gzip, br"})
        self.assertEqual((r.get("Content-Encoding"), r.get("Vary")), (None, None))

    def test_validators_and_ranges_belong_to_the_variant(self):
        gz = file_bytes(self.top, "public/site.css.gz")
        plain = self.get("/assets/site.css")
        r = self.get("/assets/site.css", {"Accept-Encoding": "gzip"})
        self.assertNotEqual(r.get("ETag"), plain.get("ETag"))
        self.assertEqual(self.get("/assets/site.css", {"Accept-Encoding": "gzip",
                                                       "If-None-Match": r.get("ETag")}).status, 304)
        self.assertEqual(self.get("/assets/site.css", {"If-None-Match": r.get("ETag")}).status, 200)
        r = self.get("/assets/site.css", {"Accept-Encoding": "gzip", "Range": "bytes=0-9"})
        self.assertEqual((r.status, r.body), (206, gz[:10]))
        self.assertEqual(r.get("Content-Range"), "bytes 0-9/%d" % len(gz))

    # -- routes, mounts, hooks -----------------------------------------------

    def test_routes_and_mounts_share_one_tree(self):
        self.assertEqual(self.get("/assets/special.css").body, b"from a route\n")
        self.assertEqual(self.get("/assets/img/photo.jpg").body, b"\xff\xd8JPEG")
        # The deeper mount takes its whole prefix: no falling back to public/img/.
        self.assertEqual(self.get("/assets/img/logo.png").status, 404)
        self.assertEqual(self.get("/robots.txt").body, b"User-agent: *\n")
        self.assertEqual(self.get("/plaintext").body, HELLO)

    def test_after_blocks_see_a_file_body_and_can_replace_it(self):
        r = self.get("/hooked/files/hello.txt")
        self.assertEqual((r.status, r.body, r.get("X-After")), (200, HELLO, "200 file 13"))
        r = self.get("/hooked/files/hello.txt", {"If-None-Match": r.get("ETag")})
        self.assertEqual((r.status, r.get("X-After")), (304, "304 memory 0"))
        r = self.get("/hooked/files/huge.bin?replace=1")
        self.assertEqual((r.status, r.body), (200, b"replaced by the after block\n"))
        self.assertEqual(r.get("X-After"), "200 file %d" % (8 << 20))
        self.assertEqual(r.get("Content-Length"), str(len(r.body)))

    def test_error_blocks_make_the_error_pages(self):
        r = self.get("/hooked/files/missing.txt")
        self.assertEqual((r.status, r.body), (404, b"custom 404 Not Found\n"))
        r = self.get("/hooked/files/hello.txt", {"Range": "bytes=99-"})
        self.assertEqual((r.status, r.body), (416, b"custom 416 Range Not Satisfiable\n"))
        self.assertEqual(r.get("Content-Range"), "bytes */13")

    # -- the connection ------------------------------------------------------

    def test_pipelined_requests_wait_behind_a_large_file(self):
        big = file_bytes(self.top, "public/big.bin")
        reqs = b"".join(srvtest.format_request(self.server, "GET", p)
                        for p in ("/assets/big.bin", "/assets/hello.txt", "/plaintext",
                                  "/assets/big.bin", "/assets/missing"))
        with connect(self.server, timeout=10) as s:
            s.sendall(reqs)
            rs = [read_response(s) for _ in range(5)]
        self.assertEqual([r.status for r in rs], [200, 200, 200, 200, 404])
        self.assertEqual(rs[0].body, big)
        self.assertEqual(rs[1].body, HELLO)
        self.assertEqual(rs[3].body, big)

    def test_a_slow_reader_does_not_hold_the_server(self):
        huge = file_bytes(self.top, "public/huge.bin")
        # A small receive window (set before connecting: shrinking it on an
        # open connection makes the sender back off for seconds), so the
        # server's send buffer fills and it must wait for the reader.
        slow = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        slow.settimeout(10)
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.connect(self.server.addr)
        try:
            slow.sendall(srvtest.format_request(self.server, "GET", "/assets/huge.bin"))
            # It reads nothing yet; others are served meanwhile.
            for _ in range(20):
                r = http(self.server, "GET", "/assets/big.bin", timeout=5)
                self.assertEqual(r.status, 200)
            got = bytearray()
            while True:
                chunk = slow.recv(1 << 20)
                if not chunk:
                    break
                got += chunk
                if b"\r\n\r\n" in got:
                    head, _, body = bytes(got).partition(b"\r\n\r\n")
                    if len(body) >= len(huge):
                        break
            self.assertIn(b"Content-Length: %d\r\n" % len(huge), head)
            self.assertEqual(hashlib.sha256(body).digest(), hashlib.sha256(huge).digest())
        finally:
            slow.close()

    def test_many_requests_on_one_connection(self):
        paths = ["/assets/hello.txt", "/assets/site.css", "/assets/sub/", "/assets/nope",
                 "/assets/big.bin"] * 20
        with connect(self.server, timeout=10) as s:
            for p in paths:
                s.sendall(srvtest.format_request(self.server, "GET", p))
                r = read_response(s)
                self.assertEqual(r.status, 404 if p == "/assets/nope" else 200, p)

    # -- the file system changing -------------------------------------------

    def test_a_changed_file_is_picked_up(self):
        path = os.path.join(self.top, "public/changing.txt")
        self.assertEqual(self.get("/assets/changing.txt").body, b"version 1\n")
        with open(path, "wb") as f:
            f.write(b"version 2, longer\n")
        self.assertTrue(wait_until(lambda: self.get("/assets/changing.txt").body
                                   == b"version 2, longer\n", 5, interval=0.05))
        # A deploy that renames a new file over the old one.
        tmp = path + ".new"
        with open(tmp, "wb") as f:
            f.write(b"version 3\n")
        os.rename(tmp, path)
        self.assertTrue(wait_until(lambda: self.get("/assets/changing.txt").body
                                   == b"version 3\n", 5, interval=0.05))
        # A file that appears, and one that goes.
        self.assertEqual(self.get("/assets/later.txt").status, 404)
        with open(os.path.join(self.top, "public/later.txt"), "wb") as f:
            f.write(b"here\n")
        self.assertTrue(wait_until(lambda: self.get("/assets/later.txt").status == 200, 5,
                                   interval=0.05))
        os.unlink(os.path.join(self.top, "public/later.txt"))
        self.assertTrue(wait_until(lambda: self.get("/assets/later.txt").status == 404, 5,
                                   interval=0.05))


class StartupTest(unittest.TestCase):
    def test_a_missing_directory_stops_start_up(self):
        empty = tempfile.mkdtemp(prefix="srv-e2e-static-empty-")
        self.addCleanup(shutil.rmtree, empty, ignore_errors=True)
        r = srvtest.run([srvtest.test_program("static_site"), "--port", "0"], cwd=empty,
                        timeout=10)
        self.assertEqual(r.returncode, 1)
        lines = r.stderr.decode().splitlines()
        self.assertEqual(len(lines), 1, lines)
        self.assertRegex(lines[0], r'^static_site: static "/assets/" \(\S*static_site\.srv:12:5\): '
                                   r'cannot open directory "public": No such file or directory$')

    def test_workers_share_the_mounts(self):
        top = tempfile.mkdtemp(prefix="srv-e2e-static-w-")
        self.addCleanup(shutil.rmtree, top, ignore_errors=True)
        make_tree(top)
        big = file_bytes(top, "public/big.bin")
        with Server(srvtest.test_program("static_site"), cwd=top, workers=2) as s:
            for _ in range(20):
                with connect(s, timeout=10) as c:
                    c.sendall(srvtest.format_request(s, "GET", "/assets/big.bin")
                              + srvtest.format_request(s, "GET", "/assets/hello.txt"))
                    self.assertEqual(read_response(c).body, big)
                    self.assertEqual(read_response(c).body, HELLO)


if __name__ == "__main__":
    srvtest.main()
