#!/usr/bin/env python3
"""test_deployment - three srv instances behind nginx, upgraded one by one
under load (issue 11).

examples/behind_nginx/app.srv runs three times, each instance in its own
network namespace joined to this one by a veth pair (10.213.N.2, this side
10.213.N.1) where the machine allows it (root, `ip netns`), else on
127.0.0.2-4.  Debian's nginx, with examples/behind_nginx/nginx.conf (only
the listen port and the upstream addresses replaced), balances over them.
A steady load from 127.0.0.5 goes through nginx while every instance in
turn gets SIGHUP and replaces itself; the load must see no failed, refused
or reset request.  The instances' access logs must name the real client,
127.0.0.5 (trust_proxy believes nginx's X-Forwarded-For), never nginx.

Everything is started here and stopped by PID (nginx with SIGQUIT, its
graceful stop); the namespaces are deleted at the end, whatever happened.
"""

import ctypes
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import srvtest  # noqa: E402
from loadgen import Load  # noqa: E402
from srvtest import Server, wait_until  # noqa: E402

EXAMPLE = os.path.join(srvtest.SOURCE, "examples", "behind_nginx")
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK)
                                  else None)
IP = shutil.which("ip") or ("/usr/sbin/ip" if os.access("/usr/sbin/ip", os.X_OK) else None)
CLIENT = "127.0.0.5"
PR_SET_CHILD_SUBREAPER = 36


def run(*cmd):
    return subprocess.run(list(cmd), capture_output=True, timeout=20)


class Namespaces:
    """N network namespaces, each with a veth pair to this one; `hosts`
    are the instances' addresses, `peers` this side's."""

    def __init__(self, n):
        self.tag = "%d" % (os.getpid() % 100000)
        self.names, self.hosts, self.peers = [], [], []
        try:
            for i in range(1, n + 1):
                ns, here, there = "srvdep%s-%d" % (self.tag, i), "sd%sh%d" % (self.tag, i), \
                    "sd%sn%d" % (self.tag, i)
                self._ok(IP, "netns", "add", ns)
                self.names.append(ns)
                self._ok(IP, "link", "add", here, "type", "veth", "peer", "name", there)
                self._ok(IP, "link", "set", there, "netns", ns)
                self._ok(IP, "addr", "add", "10.213.%d.1/24" % i, "dev", here)
                self._ok(IP, "link", "set", here, "up")
                self._ok(IP, "-n", ns, "addr", "add", "10.213.%d.2/24" % i, "dev", there)
                self._ok(IP, "-n", ns, "link", "set", there, "up")
                self._ok(IP, "-n", ns, "link", "set", "lo", "up")
                self.hosts.append("10.213.%d.2" % i)
                self.peers.append("10.213.%d.1" % i)
        except BaseException:
            self.close()
            raise

    @staticmethod
    def _ok(*cmd):
        r = run(*cmd)
        if r.returncode != 0:
            raise OSError("%s: %s" % (" ".join(cmd), r.stderr.decode().strip()))

    def prefix(self, i):
        return [IP, "netns", "exec", self.names[i]]

    def close(self):
        # Deleting a namespace deletes the veth pair with it.
        for ns in self.names:
            run(IP, "netns", "del", ns)
        self.names = []


def usable_netns():
    if os.geteuid() != 0 or IP is None:
        return False
    probe = "srvprobe%d" % (os.getpid() % 100000)
    if run(IP, "netns", "add", probe).returncode != 0:
        return False
    run(IP, "netns", "del", probe)
    return True


def loopback_aliases_work():
    import socket
    try:
        with socket.socket() as s:
            s.bind(("127.0.0.2", 0))
        return True
    except OSError:
        return False


@unittest.skipUnless(NGINX, "nginx not installed (scripts/setup installs nginx-light)")
class DeploymentTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="srv-test-deployment-")
        cls.app = srvtest.example("behind_nginx")
        # New masters outlive their parents: adopt and reap them here.
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.netns = None
        if usable_netns():
            self.netns = Namespaces(3)
            self.addCleanup(self.netns.close)
            self.hosts = self.netns.hosts
        elif loopback_aliases_work():
            self.hosts = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
        else:
            self.skipTest("neither network namespaces nor 127.0.0.2-4 are usable here")

    def start_instances(self, port):
        instances = []
        for i, host in enumerate(self.hosts):
            d = os.path.join(self.tmp, "instance%d" % i)
            os.makedirs(d, exist_ok=True)
            prefix = self.netns.prefix(i) if self.netns else []
            binary, args = (prefix[0], prefix[1:] + [self.app]) if prefix else (self.app, [])
            s = Server(binary, args=args + ["--host", host, "--port", str(port)],
                       port=None, cwd=d, env={"INSTANCE": "i%d" % i})
            self.addCleanup(s._cleanup)
            s.dir = d
            s.master = s.pid
            instances.append(s)
        return instances

    def start_nginx(self, port, upstream_port):
        with open(os.path.join(EXAMPLE, "nginx.conf")) as f:
            conf = f.read()
        conf, n = re.subn(r"^(\s*)listen 80;", r"\1listen 127.0.0.1:%d;" % port, conf, flags=re.M)
        self.assertEqual(n, 1)
        addrs = iter(self.hosts)
        conf, n = re.subn(r"server 10\.0\.\d\.2:8080;",
                          lambda m: "server %s:%d;" % (next(addrs), upstream_port), conf)
        self.assertEqual(n, 3)
        d = os.path.join(self.tmp, "nginx")
        os.makedirs(d, exist_ok=True)
        # Where a packaged nginx would write: here instead.
        head = ("pid %s/nginx.pid;\nerror_log %s/error.log warn;\nuser root;\n"
                % (d, d))
        temps = "".join("    %s_temp_path %s/%s;\n" % (t, d, t)
                        for t in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        conf = head + conf.replace("http {\n", "http {\n" + temps, 1)
        path = os.path.join(d, "nginx.conf")
        with open(path, "w") as f:
            f.write(conf)
        ng = Server(NGINX, args=["-c", path, "-p", d, "-g", "daemon off;"], port=None,
                    wait_ready=False)
        self.addCleanup(ng._cleanup)
        self.addCleanup(lambda: ng.stop(signal.SIGQUIT, 15))

        def up():
            try:
                return srvtest.http(Addr(port), "GET", "/healthz", timeout=2).status == 200
            except OSError:
                return False
        self.assertTrue(wait_until(up, 10), ng.stderr_text())
        ng.error_log = os.path.join(d, "error.log")
        return ng

    def reload(self, s):
        start = len(s.stderr_lines())
        os.kill(s.master, signal.SIGHUP)
        m = s.wait_for_stderr(r"reload: generation \d+ \(pid (\d+)\) is serving", 20, start)
        self.assertIsNotNone(m, s.stderr_text())
        old, s.master = s.master, int(m.group(1))
        if old == s.pid:
            self.assertEqual(s.wait(20), 0, s.stderr_text())
        else:
            self.assertTrue(wait_until(lambda: srvtest.proc_stat(old) is None
                                       or srvtest.proc_stat(old)["state"] == "Z", 20))

    def test_rolling_reload_behind_nginx_under_load(self):
        port = srvtest.free_port()
        upstream_port = srvtest.free_port()
        instances = self.start_instances(upstream_port)
        ng = self.start_nginx(port, upstream_port)
        with Load("127.0.0.1", port, path="/", keepalive=4, fresh=2, source=CLIENT) as load:
            self.assertTrue(load.wait_for(300, 20), load.summary())
            for s in instances:
                self.reload(s)
                self.assertTrue(load.wait_for(300, 20), load.summary())
        with open(ng.error_log) as f:
            errors = f.read()
        self.assertEqual(load.failures, [], load.summary() + "\nnginx:\n" + errors)
        self.assertEqual(load.retried, 0, load.summary())
        self.assertGreater(load.ok, 1000, load.summary())
        # Every instance answered, and saw the client, not nginx.
        answered = {re.search(r"instance=(\w+)", b).group(1) for b in load.bodies}
        self.assertEqual(answered, {"i0", "i1", "i2"}, load.bodies)
        self.assertEqual({re.search(r"client=(\S+)", b).group(1) for b in load.bodies},
                         {CLIENT})
        # nginx had nothing to retry: no upstream ever failed it.
        self.assertNotIn("upstream", errors, errors)
        for s in instances:
            os.kill(s.master, signal.SIGTERM)
        for s in instances:
            self.assertTrue(wait_until(lambda: gone(s.pid), 20), s.stderr_text())
            with open(os.path.join(s.dir, "access.log")) as f:
                lines = [ln for ln in f if '"GET / HTTP/1.1"' in ln]
            self.assertGreater(len(lines), 100, s.dir)
            clients = {ln.split(" ", 1)[0] for ln in lines}
            self.assertEqual(clients, {CLIENT}, (s.dir, clients))


def gone(pgid):
    """Whether process group PGID is empty, after reaping the members that
    are our zombies (new masters are adopted here when their parent exits)."""
    for pid in srvtest.pids_in_group(pgid):
        st = srvtest.proc_stat(pid)
        if st and st["state"] == "Z" and st["ppid"] == os.getpid() and pid != pgid:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
    return not srvtest.pids_in_group(pgid)


class Addr:
    def __init__(self, port, host="127.0.0.1"):
        self.host, self.port = host, port


if __name__ == "__main__":
    srvtest.main()
