#!/usr/bin/env python3
"""test_privileges - the `user` directive (issue 11) with real processes.

Builds variants of tests/e2e/privileges_app.srv with srvc and cc and checks
from outside what the processes are: /proc/PID/status of the master and
each worker (real, effective, saved and filesystem ids, supplementary
groups, NoNewPrivs), what a handler sees (getuid(), whether setuid(0)
fails, the uid `setup` and `worker_setup` ran with), the start-up errors
(an unknown user or group: exit 1, one line, nothing bound; not root and
another user: refused), the warning of a root server without `user` (once,
not once per worker, and not in a re-executed generation), and the access
log handed to the user (still written after SIGUSR1, and after a rotation).

The switching cases need root (the tests run as root in CI) and are
skipped otherwise.  Servers bind port 0 and are stopped by PID; every wait
has a deadline.
"""

import grp
import os
import pwd
import re
import signal
import socket
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import srvtest  # noqa: E402
from srvtest import Server, http, run, wait_until, worker_pids  # noqa: E402

APP_SRV = os.path.join(srvtest.SOURCE, "tests", "e2e", "privileges_app.srv")
IS_ROOT = os.geteuid() == 0
NEEDS_ROOT = "switching users needs root"

_tmp = tempfile.TemporaryDirectory(prefix="srv-test-privileges-")
# The binaries are run by other users too (the not-root cases).
os.chmod(_tmp.name, 0o755)
_built = {}

NOBODY = pwd.getpwnam("nobody")
WARNING = re.compile(r"^\w+: warning: running as root: setup and every handler run as root; "
                     r"add user \"NAME\"; to the server block", re.M)


def program(user='user "nobody";', workers="2", log=None):
    """The test app with USER as its `user` line ("" for none), WORKERS,
    and an optional `log` line (built once per variant)."""
    key = (user, workers, log)
    if key not in _built:
        with open(APP_SRV) as f:
            text = f.read()
        text, n = re.subn(r'^    user "nobody";$', "    " + user, text, flags=re.M)
        assert n == 1, "privileges_app.srv no longer says 'user \"nobody\";'"
        text, n = re.subn(r"^    workers 2;$", "    workers %s;" % workers, text, flags=re.M)
        assert n == 1, "privileges_app.srv no longer says 'workers 2;'"
        if log:
            text = text.replace("    timeouts {", "    %s\n    timeouts {" % log, 1)
        name = "privileges_%d" % len(_built)
        path = os.path.join(_tmp.name, name + ".srv")
        with open(path, "w") as f:
            f.write(text)
        _built[key] = srvtest.build_srv(path, _tmp.name, name=name)
    return _built[key]


def status(pid):
    """{'Uid': [r, e, s, fs], 'Gid': [...], 'Groups': [...], 'NoNewPrivs': n}
    from /proc/PID/status."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("Uid", "Gid", "Groups"):
                out[key] = [int(x) for x in value.split()]
            elif key == "NoNewPrivs":
                out[key] = int(value)
    return out


def who(server):
    """The /id answer as a dict of ints."""
    r = http(server, "GET", "/id")
    assert r.status == 200, r
    return {k: int(v) for k, v in re.findall(r"(\w+)=(-?\d+)", r.text())}


def refused(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def lines_of(path):
    try:
        with open(path) as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


@unittest.skipUnless(IS_ROOT, NEEDS_ROOT)
class Drop(unittest.TestCase):
    def assert_dropped(self, pid, uid, gid, user="nobody"):
        st = status(pid)
        self.assertEqual(st["Uid"], [uid] * 4, st)
        self.assertEqual(st["Gid"], [gid] * 4, st)
        self.assertEqual(sorted(st["Groups"]), sorted(set(os.getgrouplist(user, gid))), st)
        self.assertEqual(st["NoNewPrivs"], 1, st)

    def test_master_and_workers_run_as_the_user(self):
        with Server(program()) as s:
            self.assertIn("(2 workers)", s.stderr_text())
            kids = worker_pids(s, 2)
            for pid in [s.pid] + kids:
                self.assert_dropped(pid, NOBODY.pw_uid, NOBODY.pw_gid)
            for _ in range(10):
                a = who(s)
                self.assertIn(a["pid"], kids)
                self.assertEqual((a["uid"], a["euid"], a["gid"]),
                                 (NOBODY.pw_uid, NOBODY.pw_uid, NOBODY.pw_gid))
                # setup ran after the drop, in the master; so did worker_setup.
                self.assertEqual((a["setup"], a["worker_setup"]), (NOBODY.pw_uid, NOBODY.pw_uid))
                self.assertEqual((a["setuid0"], a["errno"]), (-1, 1))  # EPERM
            self.assertIsNone(WARNING.search(s.stderr_text()), s.stderr_text())
            self.assertEqual(s.stop(signal.SIGTERM), 0, s.stderr_text())

    def test_single_process_drops_too(self):
        with Server(program(workers="1")) as s:
            self.assertIn("(1 process)", s.stderr_text())
            self.assert_dropped(s.pid, NOBODY.pw_uid, NOBODY.pw_gid)
            a = who(s)
            self.assertEqual((a["pid"], a["uid"], a["setup"], a["setuid0"]),
                             (s.pid, NOBODY.pw_uid, NOBODY.pw_uid, -1))
            self.assertEqual(s.stop(signal.SIGTERM), 0, s.stderr_text())

    def test_a_named_group_is_the_gid(self):
        for group in ("nogroup", "daemon"):
            with self.subTest(group=group):
                gid = grp.getgrnam(group).gr_gid
                with Server(program('user "nobody" "%s";' % group)) as s:
                    for pid in [s.pid] + worker_pids(s, 2):
                        self.assert_dropped(pid, NOBODY.pw_uid, gid)
                    self.assertEqual(who(s)["gid"], gid)
                    self.assertEqual(s.stop(signal.SIGTERM), 0, s.stderr_text())

    def test_unknown_user_or_group_stops_the_start_up_before_binding(self):
        for line, message in (('user "srv-no-such-user";', 'user "srv-no-such-user": no such user'),
                              ('user "nobody" "srv-no-such-group";',
                               'group "srv-no-such-group": no such group')):
            with self.subTest(line=line):
                binary = program(line)
                port = srvtest.free_port()
                r = run([binary, "--port", str(port)], timeout=30)
                err = r.stderr.decode()
                self.assertEqual(r.returncode, 1, err)
                self.assertEqual(err, "%s: %s\n" % (os.path.basename(binary), message))
                self.assertTrue(refused(port), "something listens on %d" % port)

    def test_root_without_user_warns_once(self):
        for workers in ("2", "1"):
            with self.subTest(workers=workers):
                with Server(program("", workers=workers)) as s:
                    if workers == "2":
                        worker_pids(s, 2)
                    for _ in range(4):
                        self.assertEqual(who(s)["uid"], 0)
                    self.assertEqual(s.stop(signal.SIGTERM), 0, s.stderr_text())
                    self.assertEqual(len(WARNING.findall(s.stderr_text())), 1, s.stderr_text())
                    # Said before the server says it is listening.
                    text = s.stderr_text()
                    self.assertLess(WARNING.search(text).start(), text.index("listening on"))

    def test_a_reloaded_generation_does_not_warn_again(self):
        with Server(program("", workers="2"), env={"SRV_RELOADS": "1"}) as s:
            worker_pids(s, 2)
            self.assertEqual(who(s)["uid"], 0)
            self.assertEqual(s.stop(signal.SIGTERM), 0, s.stderr_text())
            self.assertIsNone(WARNING.search(s.stderr_text()), s.stderr_text())


@unittest.skipUnless(IS_ROOT, NEEDS_ROOT)
class AccessLog(unittest.TestCase):
    # One process: once the second SIGUSR1 has visibly been handled, so has
    # the first (a process handles its signals in order).
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="srv-privileges-log-")
        os.chmod(self.dir, 0o755)  # root's, like /var/log; the user may look up names
        self.log = os.path.join(self.dir, "access.log")

    def tearDown(self):
        for name in os.listdir(self.dir):
            os.unlink(os.path.join(self.dir, name))
        os.rmdir(self.dir)

    def test_log_belongs_to_the_user_and_survives_reopen_and_rotation(self):
        binary = program(workers="1", log='log "access.log" combined;')
        with Server(binary, cwd=self.dir) as s:
            st = os.stat(self.log)
            self.assertEqual(st.st_uid, NOBODY.pw_uid)
            http(s, "GET", "/hello/before")
            self.assertTrue(wait_until(lambda: any("/hello/before " in l
                                                   for l in lines_of(self.log)), 5))
            # A reopen of the same file: as the user, it needs the file to be
            # the user's.
            s.send_signal(signal.SIGUSR1)
            http(s, "GET", "/hello/reopened")
            # logrotate: rename, create a new file for the user, signal.
            old = self.log + ".1"
            os.rename(self.log, old)
            fd = os.open(self.log, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
            os.fchown(fd, NOBODY.pw_uid, 0)
            os.close(fd)
            s.send_signal(signal.SIGUSR1)
            sent = []

            def new_file_has_a_mark():
                sent.append(len(sent))
                http(s, "GET", "/hello/after%d" % sent[-1])
                return any("/hello/after" in l for l in lines_of(self.log))

            self.assertTrue(wait_until(new_file_has_a_mark, 10, interval=0.05))
            self.assertTrue(wait_until(lambda: any("/hello/reopened " in l
                                                   for l in lines_of(old)), 5))
            self.assertTrue(any("/hello/before " in l for l in lines_of(old)))
            self.assertEqual(s.stop(signal.SIGTERM), 0, s.stderr_text())
            self.assertNotIn("reopening log", s.stderr_text())

    def test_with_workers_the_log_is_the_users_too(self):
        binary = program(log='log "access.log" combined;')
        with Server(binary, cwd=self.dir) as s:
            worker_pids(s, 2)
            self.assertEqual(os.stat(self.log).st_uid, NOBODY.pw_uid)
            http(s, "GET", "/hello/w")
            self.assertTrue(wait_until(lambda: any("/hello/w " in l
                                                   for l in lines_of(self.log)), 5))
            self.assertEqual(s.stop(signal.SIGTERM), 0, s.stderr_text())


@unittest.skipUnless(IS_ROOT, "starting a server as another user needs root")
class NotRoot(unittest.TestCase):
    def test_already_the_user_serves_without_switching(self):
        # What a generation re-executed by a reload sees: it runs as the user.
        with Server(program(), uid=NOBODY.pw_uid) as s:
            kids = worker_pids(s, 2)
            st = status(s.pid)
            self.assertEqual(st["Uid"], [NOBODY.pw_uid] * 4)
            self.assertEqual(st["NoNewPrivs"], 0, "nothing was done")
            a = who(s)
            self.assertIn(a["pid"], kids)
            self.assertEqual((a["uid"], a["setuid0"]), (NOBODY.pw_uid, -1))
            self.assertIsNone(WARNING.search(s.stderr_text()))
            self.assertEqual(s.stop(signal.SIGTERM), 0, s.stderr_text())

    def test_another_user_is_refused(self):
        daemon = pwd.getpwnam("daemon")
        binary = program()
        r = run([binary, "--port", "0"], timeout=30, user=daemon.pw_uid, group=daemon.pw_gid,
                extra_groups=[])
        err = r.stderr.decode()
        self.assertEqual(r.returncode, 1, err)
        self.assertEqual(err, '%s: user "nobody": cannot switch from uid %d (not running as root)\n'
                         % (os.path.basename(binary), daemon.pw_uid))


if __name__ == "__main__":
    srvtest.main()
