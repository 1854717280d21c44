#!/usr/bin/env python3
"""End-to-end tests of the user's path (issue 2): srvc's command line, its
diagnostics and output-file discipline, the README's two commands
(`srvc examples/hello.srv -o hello.c`, then `cc -O2 hello.c
$(pkg-config --cflags --libs srv)`) against the uninstalled pkg-config file,
C errors in handlers reported at the .srv line, and a 10,000-route file."""

import os
import random
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import unittest

import srvtest
from srvtest import BUILD, SOURCE, SRVC, TEST_CFLAGS, Server, http


def srvc(*args, cwd=None, timeout=60):
    return subprocess.run([SRVC] + list(args), cwd=cwd, capture_output=True,
                          stdin=subprocess.DEVNULL, timeout=timeout)


def cc_command():
    return shlex.split(os.environ.get("CC", "cc")) + TEST_CFLAGS


class TempDirTest(unittest.TestCase):
    def setUp(self):
        self.dir = self.enterContext(tempfile.TemporaryDirectory(prefix="srv-e2e-"))

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w" if isinstance(text, str) else "wb") as f:
            f.write(text)
        return path

    def assertNoSanitizer(self, stderr):
        text = stderr.decode(errors="replace") if isinstance(stderr, bytes) else stderr
        for marker in srvtest.SANITIZER_MARKERS:
            self.assertNotIn(marker, text)


class ReadmePathTest(TempDirTest):
    def test_readme_commands_build_a_working_server(self):
        os.makedirs(os.path.join(self.dir, "examples"))
        shutil.copy(os.path.join(SOURCE, "examples", "hello.srv"),
                    os.path.join(self.dir, "examples"))
        env = dict(os.environ,
                   PATH=os.path.join(BUILD, "compiler") + os.pathsep + os.environ["PATH"],
                   PKG_CONFIG_PATH=os.path.join(BUILD, "meson-uninstalled"),
                   CC=" ".join(cc_command()))
        # The README's commands, word for word but for $CC (the sanitizer
        # flags of this build, if any).
        script = ("set -e\n"
                  "srvc examples/hello.srv -o hello.c\n"
                  "$CC -O2 hello.c $(pkg-config --cflags --libs srv) -o hello\n")
        r = subprocess.run(["sh", "-c", script], cwd=self.dir, env=env,
                           capture_output=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr.decode(errors="replace"))
        # pkg-config resolved to the shared library in the build tree.
        with Server(os.path.join(self.dir, "hello"),
                    env={"LD_LIBRARY_PATH": os.path.join(BUILD, "runtime")}) as s:
            r = http(s, "GET", "/plaintext")
            self.assertEqual((r.status, r.body), (200, b"Hello, World!"))
            self.assertEqual(s.stop(), 0)

    def test_uninstalled_pkg_config_points_into_the_trees(self):
        env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(BUILD, "meson-uninstalled"))
        r = subprocess.run(["pkg-config", "--cflags", "--libs", "srv"], env=env,
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("-I" + os.path.join(SOURCE, "runtime"), r.stdout.split())
        self.assertIn("-lsrv", r.stdout.split())
        r = subprocess.run(["pkg-config", "--modversion", "srv"], env=env,
                           capture_output=True, text=True, timeout=30)
        self.assertRegex(r.stdout.strip(), r"^\d+\.\d+\.\d+$")


class SrvcCommandLineTest(TempDirTest):
    def test_version_and_help(self):
        r = srvc("--version")
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout.decode(), r"\d+\.\d+\.\d+")
        r = srvc("--help")
        self.assertEqual(r.returncode, 0)
        self.assertIn("-o", r.stdout.decode())

    def test_without_o_writes_c_to_stdout_deterministically(self):
        src = os.path.join(SOURCE, "examples", "hello.srv")
        first, second = srvc(src), srvc(src)
        self.assertEqual(first.returncode, 0, first.stderr)
        self.assertEqual(first.stdout, second.stdout)
        text = first.stdout.decode()
        self.assertTrue(text.startswith("/*"), text[:200])
        self.assertIn("do not edit", text.split("*/")[0])
        self.assertIn('#include "srv.h"', text)
        self.assertIn("#line", text)
        self.assertIn("srv_main(", text)
        self.assertEqual(os.listdir(self.dir), [])

    def test_o_writes_the_file_and_nothing_else(self):
        self.write("app.srv", 'server "127.0.0.1" 0 { GET "/" { } }\n')
        r = srvc("app.srv", "-o", "app.c", cwd=self.dir)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, b"")
        self.assertEqual(sorted(os.listdir(self.dir)), ["app.c", "app.srv"])
        self.assertTrue(os.path.getsize(os.path.join(self.dir, "app.c")) > 0)

    def test_missing_input_is_an_error(self):
        r = srvc("no-such-file.srv", "-o", "out.c", cwd=self.dir)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no-such-file.srv", r.stderr.decode())
        self.assertEqual(os.listdir(self.dir), [])

    def test_syntax_error_exits_1_with_gcc_style_diagnostic_and_no_output(self):
        self.write("bad.srv", 'server "127.0.0.1" 8080 {\n'
                              '    GET "/" { srv_response_text(res, "x"); }\n'
                              '    GET "/a" oops oops;\n'
                              '}\n')
        r = srvc("bad.srv", "-o", "out.c", cwd=self.dir)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, b"")
        self.assertRegex(r.stderr.decode(), r"(?m)^bad\.srv:3:\d+: error: ")
        self.assertEqual(os.listdir(self.dir), ["bad.srv"])  # no output, no temporary

    def test_failure_leaves_an_existing_output_untouched(self):
        self.write("bad.srv", 'server "127.0.0.1" 8080 {\n    GET "/" {\n}\n')
        out = self.write("out.c", "/* precious */\n")
        r = srvc("bad.srv", "-o", "out.c", cwd=self.dir)
        self.assertEqual(r.returncode, 1)
        with open(out) as f:
            self.assertEqual(f.read(), "/* precious */\n")
        self.assertEqual(sorted(os.listdir(self.dir)), ["bad.srv", "out.c"])

    def test_unterminated_block_points_where_it_opened(self):
        self.write("open.srv", 'server "127.0.0.1" 8080 {\n'
                               '    GET "/" {\n'
                               '        srv_response_text(res, "}");\n')
        r = srvc("open.srv", cwd=self.dir)
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr.decode(), r"(?m)^open\.srv:2:\d+: error: ")

    def test_several_errors_are_reported_in_one_run(self):
        self.write("many.srv", 'server "127.0.0.1" 8080 {\n'
                               '    GET "/a" { }\n'
                               '    GET "/a" { }\n'
                               '    POST "/b/:id" { }\n'
                               '    POST "/b/:other" { }\n'
                               '}\n')
        r = srvc("many.srv", "-o", "many.c", cwd=self.dir)
        err = r.stderr.decode()
        self.assertEqual(r.returncode, 1)
        self.assertRegex(err, r"(?m)^many\.srv:3:\d+: error: ")   # duplicate...
        self.assertRegex(err, r"(?m)^many\.srv:2:\d+: note: ")    # ...first here
        self.assertRegex(err, r"(?m)^many\.srv:5:\d+: error: ")   # same shape
        self.assertRegex(err, r"(?m)^many\.srv:4:\d+: note: ")
        self.assertEqual(sorted(os.listdir(self.dir)), ["many.srv"])

    def test_bad_values_are_reported(self):
        for text, line in [('server "127.0.0.1" 70000 { GET "/" { } }\n', 1),
                           ('server "127.0.0.1" 80 {\n    workers many;\n    GET "/" { }\n}\n', 2),
                           ('server "127.0.0.1" 80 {\n    GET "/a/*/b" { }\n}\n', 2),
                           ('server "127.0.0.1" 80 {\n    GET "/a/:x/:x" { }\n}\n', 2),
                           ('server "127.0.0.1" 80 {\n    GET "a" { }\n}\n', 2),
                           ('server "127.0.0.1" 80 {\n    FETCH "/a" { }\n}\n', 2)]:
            with self.subTest(text=text):
                self.write("v.srv", text)
                r = srvc("v.srv", cwd=self.dir)
                self.assertEqual(r.returncode, 1)
                self.assertRegex(r.stderr.decode(), r"(?m)^v\.srv:%d:\d+: error: " % line)

    def test_srvc_does_not_crash_on_cut_or_random_input(self):
        with open(os.path.join(SOURCE, "examples", "api.srv"), "rb") as f:
            text = f.read()
        inputs = [b"", b"%{", b"%%", b"server", b"\x00\xff" * 8]
        inputs += [text[:n] for n in range(0, len(text), max(1, len(text) // 150))]
        rnd = random.Random(4)
        inputs += [bytes(rnd.randrange(256) for _ in range(200)) for _ in range(20)]
        inputs += [bytes(rnd.choice(b'{}"%/*\\\n :GETserver;') for _ in range(200))
                   for _ in range(20)]
        path, out = os.path.join(self.dir, "in.srv"), os.path.join(self.dir, "in.c")
        for data in inputs:
            with open(path, "wb") as f:
                f.write(data)
            if os.path.exists(out):
                os.unlink(out)
            r = srvc(path, "-o", out)
            self.assertIn(r.returncode, (0, 1), data[:100])
            self.assertNoSanitizer(r.stderr)
            if r.returncode == 1:
                self.assertFalse(os.path.exists(out), data[:100])
                self.assertIn(b"error", r.stderr, data[:100])


class CErrorLocationTest(TempDirTest):
    def compile_c(self, name):
        return subprocess.run(cc_command() + ["-std=c11", "-c", name + ".c", "-I",
                                              os.path.join(SOURCE, "runtime"), "-o", name + ".o"],
                              cwd=self.dir, capture_output=True, timeout=60)

    def test_c_errors_in_inline_handlers_point_at_the_srv_line(self):
        self.write("app.srv", 'server "127.0.0.1" 8080 {\n'        # 1
                              '    GET "/" {\n'                       # 2
                              '        srv_response_text(res, "fine");\n'  # 3
                              '    }\n'                               # 4
                              '    GET "/user/:name" {\n'             # 5
                              '        srv_response_text(res, nmae);\n'    # 6: misspelt parameter
                              '    }\n'                               # 7
                              '    POST "/x" {\n'                     # 8
                              '        int broken = ;\n'              # 9
                              '    }\n'
                              '}\n')
        r = srvc("app.srv", "-o", "app.c", cwd=self.dir)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.compile_c("app")
        err = r.stderr.decode()
        self.assertNotEqual(r.returncode, 0)
        self.assertRegex(err, r"(?m)^app\.srv:6:\d+: error: .*nmae")
        self.assertRegex(err, r"(?m)^app\.srv:9:\d+: error: ")
        self.assertNotRegex(err, r"(?m)^app\.c:\d+:\d+: error: ")

    def test_prologue_and_epilogue_errors_point_at_the_srv_line(self):
        self.write("app.srv", '%{\n'                                  # 1
                              'static int x = "not an int";\n'        # 2
                              '%}\n'
                              'server "127.0.0.1" 8080 { GET "/" { } }\n'
                              '%%\n'
                              'static void f(void) { undefined_fn(); }\n')  # 6
        r = srvc("app.srv", "-o", "app.c", cwd=self.dir)
        self.assertEqual(r.returncode, 0, r.stderr)
        err = self.compile_c("app").stderr.decode()
        self.assertRegex(err, r"(?m)^app\.srv:2:\d+: (error|warning): ")
        self.assertRegex(err, r"(?m)^app\.srv:6:\d+: (error|warning): .*undefined_fn")


class ManyRoutesTest(TempDirTest):
    def test_ten_thousand_routes_compile_build_and_answer(self):
        gen = os.path.join(SOURCE, "bench", "gen_routes.py")
        r = subprocess.run([sys.executable, gen, "10000"], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        first = re.search(r"(?m)^// first: (\S+)$", r.stdout).group(1)
        last = re.search(r"(?m)^// last: (\S+)$", r.stdout).group(1)
        srv = self.write("routes.srv", r.stdout)
        # Generous, but bounded: the whole compiler process group is killed
        # past it, and the test fails naming the step.
        exe = srvtest.build_srv(srv, self.dir, cflags=["-O2"], timeout=400)
        with Server(exe) as s:
            for path in (first, last):
                with self.subTest(path=path):
                    n = re.search(r"resource(\d+)/", path).group(1)
                    resp = http(s, "GET", path)
                    self.assertEqual((resp.status, resp.body), (200, ("%s 42" % n).encode()))
            self.assertEqual(http(s, "GET", "/plaintext").body, b"Hello, World!")
            self.assertEqual(http(s, "GET", "/api/v1/resource10000/items/42").status, 404)
            self.assertEqual(http(s, "POST", last, body=b"x").status, 405)


if __name__ == "__main__":
    srvtest.main()
