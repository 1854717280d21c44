#!/usr/bin/env python3
"""The installed copy (issue 11): `meson install --destdir` of this build into
a scratch directory, then everything a user does with an installed srv,
using only what was installed and plain pkg-config:

- srvc, srv.h, libsrv.a, libsrv.so, srv.pc and the three manual pages are
  where they belong;
- PKG_CONFIG_PATH names the installed pkgconfig directory and
  PKG_CONFIG_SYSROOT_DIR the scratch directory (pkg-config's own way to use
  a staged install: every -I and -L it prints is moved under it);
- the installed srvc compiles examples/hello.srv, and cc builds it twice:
  with `pkg-config --cflags --libs srv` against libsrv.so, and with
  `pkg-config --static --cflags --libs srv` against libsrv.a (so srv.pc's
  Requires.private must name every library libsrv.a needs);
- each program starts on port 0, answers GET /plaintext, and is stopped by
  PID (srvtest.Server);
- `man -l` renders every installed page, and the installed srvc's tool
  modes work.

The scratch directory is removed afterwards, whatever happens."""

import os
import shlex
import shutil
import subprocess
import tempfile
import unittest

import srvtest
from srvtest import BUILD, SOURCE, TEST_CFLAGS, Server, http


def run(cmd, env=None, timeout=300):
    return srvtest.run_checked(cmd, timeout=timeout, env=env)


class InstallTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="srv-install-")
        cls.dest = os.path.join(cls.tmp.name, "dest")
        cls.work = os.path.join(cls.tmp.name, "work")
        os.mkdir(cls.work)
        try:
            run(["meson", "install", "-C", BUILD, "--no-rebuild", "--quiet",
                 "--destdir", cls.dest])
            cls.files = {}
            for root, _, names in os.walk(cls.dest):
                for name in names:
                    cls.files.setdefault(name, os.path.join(root, name))
        except BaseException:
            cls.tmp.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def installed(self, name):
        path = self.files.get(name)
        self.assertIsNotNone(path, "%s is not installed (found: %s)" % (name, sorted(self.files)))
        return path

    def env(self):
        pcdir = os.path.dirname(self.installed("srv.pc"))
        return dict(os.environ, PKG_CONFIG_PATH=pcdir, PKG_CONFIG_SYSROOT_DIR=self.dest,
                    PATH=os.path.dirname(self.installed("srvc")) + os.pathsep
                    + os.environ["PATH"])

    def pkg_config(self, *args):
        r = run(["pkg-config"] + list(args) + ["srv"], env=self.env())
        return shlex.split(r.stdout.decode())

    def build_hello(self, name, static):
        """hello.srv built the README's way, from the installed copy only."""
        env = self.env()
        srv = os.path.join(self.work, "hello.srv")
        shutil.copy(os.path.join(SOURCE, "examples", "hello.srv"), srv)
        c = os.path.join(self.work, name + ".c")
        run(["srvc", srv, "-o", c], env=env)
        flags = self.pkg_config("--cflags", "--libs", *(["--static"] if static else []))
        if static:
            # The archive by name: libsrv.so sits beside it, and -lsrv would
            # pick that; everything else is what pkg-config --static said.
            self.assertIn("-lsrv", flags)
            flags = ["-l:libsrv.a" if f == "-lsrv" else f for f in flags]
        exe = os.path.join(self.work, name)
        cc = shlex.split(os.environ.get("CC", "cc"))
        run(cc + ["-std=gnu17", "-O2", "-Wall", "-Werror"] + TEST_CFLAGS + [c] + flags
            + ["-o", exe], env=env)
        return exe

    def serve_plaintext(self, exe, env=None):
        with Server(exe, workers=1, env=env) as server:
            r = http(server, "GET", "/plaintext")
            self.assertEqual(r.status, 200)
            self.assertEqual(r.body, b"Hello, World!")
        self.assertFalse(server.running())

    def test_every_file_is_installed_in_its_place(self):
        rel = lambda name: os.path.relpath(self.installed(name), self.dest)
        self.assertTrue(rel("srvc").endswith(os.path.join("bin", "srvc")))
        self.assertTrue(rel("srv.h").endswith(os.path.join("include", "srv.h")))
        self.assertTrue(rel("srv.pc").endswith(os.path.join("pkgconfig", "srv.pc")))
        for lib in ("libsrv.a", "libsrv.so"):
            self.assertEqual(os.path.dirname(rel(lib)),
                             os.path.dirname(os.path.dirname(rel("srv.pc"))))
        for page, section in (("srvc.1", "man1"), ("libsrv.3", "man3"), ("srv.5", "man5")):
            self.assertTrue(rel(page).endswith(os.path.join("share", "man", section, page)))
        self.assertTrue(os.access(self.installed("srvc"), os.X_OK))

    def test_pkg_config_names_the_installed_header_and_library(self):
        cflags = self.pkg_config("--cflags")
        self.assertIn("-I" + os.path.dirname(self.installed("srv.h")), cflags)
        libs = self.pkg_config("--libs")
        self.assertIn("-L" + os.path.dirname(self.installed("libsrv.so")), libs)
        self.assertIn("-lsrv", libs)
        static = self.pkg_config("--static", "--libs")
        for lib in ("-ljansson", "-lnettle", "-lhiredis"):
            self.assertIn(lib, static)

    def test_hello_against_the_shared_library(self):
        exe = self.build_hello("hello_shared", static=False)
        libdir = os.path.dirname(self.installed("libsrv.so"))
        self.serve_plaintext(exe, env={"LD_LIBRARY_PATH": libdir})

    def test_hello_against_the_static_library(self):
        exe = self.build_hello("hello_static", static=True)
        # Nothing of the install is needed at run time.
        if shutil.which("readelf"):
            dyn = run(["readelf", "-d", exe]).stdout.decode()
            self.assertNotIn("libsrv", dyn)
        self.serve_plaintext(exe)

    def test_man_renders_every_installed_page(self):
        for page, title in (("srvc.1", "SRVC"), ("srv.5", "SRV"), ("libsrv.3", "LIBSRV")):
            with self.subTest(page=page):
                r = run(["man", "-l", self.installed(page)],
                        env=dict(os.environ, MANPAGER="cat", PAGER="cat", MANWIDTH="80"))
                text = r.stdout.decode()
                self.assertIn(title, text)
                self.assertIn("NAME", text)
                self.assertIn("SEE ALSO", text)
                self.assertEqual(r.stderr.decode().strip(), "")

    def test_installed_srvc_checks_lists_and_matches(self):
        env = self.env()
        hello = os.path.join(SOURCE, "examples", "hello.srv")
        self.assertEqual(run(["srvc", "--version"], env=env).stdout.decode().strip(),
                         "srvc 0.1.0")
        run(["srvc", "--check", hello], env=env)
        routes = run(["srvc", "--routes", hello], env=env).stdout.decode()
        self.assertIn("/hello/:name", routes)
        out = run(["srvc", "--match", "GET /hello/J%C3%BCrgen", hello], env=env).stdout.decode()
        self.assertIn('name = "Jürgen"', out)


if __name__ == "__main__":
    srvtest.main()
