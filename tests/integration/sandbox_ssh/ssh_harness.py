"""Real OpenSSH servers for the sandbox-ssh tests.

Each test gets a Fleet: a client key, two or more `sshd` instances on
127.0.0.1 high ports (each with its own generated host key, config and
working root), a known_hosts file listing their keys, and an agentd config
whose sandbox-ssh hosts are them. The remote user is `agentd-ssh` (created
if absent), whose login shell is /bin/sh, so nothing in a shell rc file
slows or changes a session. The Claude Code CLI on the "remote" host is the
local one (same machine).

Environment (set by CTest, see CMakeLists.txt):
  AGENTD_BIN          the daemon (`$<TARGET_FILE:agentd>`)
  SESSION_DRIVER      the session runtime driver (tests/support/session_driver.c)
  AGENTD_PLUGIN_DIR   the build tree's plugin directory
  AGENTD_TESTS_DIR    tests/ of the source tree (node_modules, support/)

Exit status 77 means the machine lacks what the test needs (CTest shows it
as skipped, with the reason): never a silent pass.
"""

import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "support"))
from polling import wait_for  # noqa: E402,F401  (tests/support/polling.py)
from procs import alive, descendants  # noqa: E402,F401  (tests/support/procs.py)

HERE = os.path.dirname(os.path.abspath(__file__))
AGENTD = os.environ.get("AGENTD_BIN", "")
DRIVER = os.environ.get("SESSION_DRIVER", "")
PLUGIN_DIR = os.environ.get("AGENTD_PLUGIN_DIR", "")
TESTS_DIR = os.environ.get("AGENTD_TESTS_DIR", os.path.dirname(os.path.dirname(HERE)))
SUPPORT = os.path.join(TESTS_DIR, "support")
NODE_MODULES = os.path.join(TESTS_DIR, "node_modules")
SKIP = 77
USER = "agentd-ssh"
USER_HOME = "/var/lib/agentd-ssh-test"
SSHD = "/usr/sbin/sshd"


def missing(reason):
    sys.stderr.write("SKIPPED: sandbox-ssh test needs %s\n" % reason)
    sys.exit(SKIP)


def ensure_openssh():
    """The test setup installs openssh-server when it is absent."""
    if os.access(SSHD, os.X_OK) and shutil.which("ssh") and shutil.which("ssh-agent"):
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = ["apt-get", "install", "-y", "--no-install-recommends", "openssh-server",
               "openssh-client"]
    r = subprocess.run(install, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if r.returncode != 0:  # a fresh machine may have no package lists yet
        subprocess.run(["apt-get", "update"], env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        r = subprocess.run(install, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if r.returncode != 0 or not os.access(SSHD, os.X_OK):
        missing("openssh-server (apt-get install failed: %s)" % r.stdout[-500:])


def ensure_user():
    """The remote user: /bin/sh as its shell, an unlocked account (sshd
    without PAM refuses a locked one), no password."""
    try:
        pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--shell", "/bin/sh", "--home-dir", USER_HOME,
                        USER], check=True)
    subprocess.run(["usermod", "-p", "*", "-s", "/bin/sh", "-d", USER_HOME, USER], check=True)
    os.makedirs(USER_HOME, exist_ok=True)
    pw = pwd.getpwnam(USER)
    os.chown(USER_HOME, pw.pw_uid, pw.pw_gid)
    os.chmod(USER_HOME, 0o755)
    return pw


def require_machine():
    if not (AGENTD and os.access(AGENTD, os.X_OK)):
        missing("AGENTD_BIN pointing at the agentd binary (got %r)" % AGENTD)
    if os.geteuid() != 0:
        missing("to run as root (it starts sshd and creates the remote user)")
    ensure_openssh()
    if not shutil.which("git"):
        missing("git")
    ensure_user()
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def keygen(path, comment="agentd-test"):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path],
                   check=True)
    with open(path + ".pub") as f:
        return f.read().strip()


def pids_with_env(marker):
    """Live processes whose environment holds marker ("NAME=value" or a
    prefix of it)."""
    found = []
    want = marker.encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/environ" % entry, "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        if any(e.startswith(want) for e in env) and alive(int(entry)):
            found.append(int(entry))
    return found


def cmdlines():
    """Every process's command line, as bytes."""
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/cmdline" % entry, "rb") as f:
                    out[int(entry)] = f.read()
            except OSError:
                pass
    return out


class SshHost:
    """One sshd on a loopback port, with its own host key and working root."""

    def __init__(self, fleet, name):
        self.fleet = fleet
        self.name = name
        self.dir = os.path.join(fleet.tmp, name)
        os.mkdir(self.dir)
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        self.host_key = os.path.join(self.dir, "host_ed25519")
        self.host_pub = keygen(self.host_key, "host-" + name)
        self.root = os.path.join(self.dir, "root")
        os.mkdir(self.root)
        pw = pwd.getpwnam(USER)
        os.chown(self.root, pw.pw_uid, pw.pw_gid)
        self.config = os.path.join(self.dir, "sshd_config")
        self.log = os.path.join(self.dir, "sshd.log")
        self.proc = None

    def write_config(self):
        with open(self.config, "w") as f:
            f.write("\n".join([
                "Port %d" % self.port,
                "ListenAddress 127.0.0.1",
                "HostKey %s" % self.host_key,
                "PidFile %s/sshd.pid" % self.dir,
                "AuthorizedKeysFile %s" % self.fleet.authorized_keys,
                "AllowUsers %s" % USER,
                "UsePAM no",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PubkeyAuthentication yes",
                "StrictModes no",
                "PrintMotd no",
                "MaxSessions 200",
                "MaxStartups 200:30:400",
                "LogLevel INFO",
                ""]))

    def known_hosts_line(self, pub=None):
        key = (pub or self.host_pub).split()
        return "[127.0.0.1]:%d %s %s" % (self.port, key[0], key[1])

    def start(self):
        self.write_config()
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", self.config],
                                         stdout=subprocess.DEVNULL, stderr=log)

        def listening():
            if self.proc.poll() is not None:
                with open(self.log, errors="replace") as f:
                    raise AssertionError("sshd %s exited: %s" % (self.name, f.read()[-2000:]))
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return True
            except OSError:
                return False
        wait_for(listening, 10, what="sshd %s to listen" % self.name)

    def stop(self):
        """The host goes down: sshd and everything it started die at once
        (SIGKILL), as when a machine is switched off."""
        if self.proc is None:
            return
        pids = [self.proc.pid] + descendants(self.proc.pid)
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        self.proc.wait()
        self.proc = None

    def settings(self, **extra):
        s = {"address": "127.0.0.1", "port": self.port, "user": USER, "root": self.root}
        s.update(extra)
        return s


class Fleet:
    """A client key, `count` sshd hosts, known_hosts, and agentd configs."""

    def __init__(self, count=2):
        self.tmp = tempfile.mkdtemp(prefix="ssh-", dir="/tmp")
        os.chmod(self.tmp, 0o755)
        self.key = os.path.join(self.tmp, "client_ed25519")
        self.client_pub = keygen(self.key, "agentd-client")
        self.authorized_keys = self.key + ".pub"
        os.chmod(self.authorized_keys, 0o644)
        with open(self.key) as f:
            self.key_text = f.read()
        self.hosts = [SshHost(self, "h%d" % (i + 1)) for i in range(count)]
        self.known_hosts = os.path.join(self.tmp, "known_hosts")
        self.write_known_hosts()
        self.data_dir = os.path.join(self.tmp, "var")
        self.workspace = os.path.join(self.tmp, "ws")
        os.mkdir(self.workspace)
        for h in self.hosts:
            h.start()

    def write_known_hosts(self, lines=None):
        with open(self.known_hosts, "w") as f:
            for line in (lines if lines is not None else
                         [h.known_hosts_line() for h in self.hosts]):
                f.write(line + "\n")

    def cleanup(self):
        for h in self.hosts:
            h.stop()
        # Pooled connections (ControlPersist masters) and the agent of a
        # config in this directory must not outlive the test.
        # So must a remote process a failed test left (its HOME is under
        # this directory).
        mine = set(pid for pid, cmd in cmdlines().items() if self.tmp.encode() in cmd)
        mine.update(pids_with_env("HOME=" + self.tmp))
        mine.discard(os.getpid())
        for pid in mine:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        shutil.rmtree(self.tmp, ignore_errors=True)

    def plugin_settings(self, hosts=None, **extra):
        s = {
            "hosts": hosts if hosts is not None else {h.name: h.settings() for h in self.hosts},
            "known_hosts": self.known_hosts,
            "key_file": self.key,
            "connect_timeout_s": 5,
            "retry_max": 2,
            "retry_backoff_ms": 50,
            "health_interval_s": 1,
        }
        s.update(extra)
        return s

    def write_config(self, settings=None, profile=None, agent=None, extra=None,
                     name="agentd.json"):
        prof = {"plugin": "sandbox-ssh"}
        prof.update(profile or {})
        cfg = {
            "data_dir": self.data_dir,
            "log": {"level": os.environ.get("SSH_TEST_LOG", "info"), "format": "text"},
            "plugins": {"dirs": [PLUGIN_DIR] if PLUGIN_DIR else [],
                        "load": ["sandbox-ssh"],
                        "settings": {"sandbox-ssh": settings if settings is not None
                                     else self.plugin_settings()}},
            "sandboxes": {"remote": prof},
            "default_sandbox": "remote",
        }
        if agent is not None:
            cfg["agent"] = agent
        cfg.update(extra or {})
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            json.dump(cfg, f, indent=2)
        return path

    # ---- agentd sandbox exec -------------------------------------------------

    def argv(self, config, cmd):
        return [AGENTD, "--config", config, "sandbox", "exec", "--workspace", self.workspace,
                "--"] + list(cmd)

    def popen(self, config, cmd, env=None):
        e = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
        e.update(env or {})
        return subprocess.Popen(self.argv(config, cmd), env=e, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def run(self, config, cmd, input=b"", timeout=60, env=None):
        p = self.popen(config, cmd, env)
        try:
            out, err = p.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            raise AssertionError("agentd sandbox exec %r did not finish in %ss; stderr=%r"
                                 % (cmd, timeout, err[-3000:]))
        return Result(p.returncode, out, err)

    def session_dirs(self, host):
        return sorted(d for d in os.listdir(host.root) if not d.startswith("."))


SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "WARNING: ThreadSanitizer")


def sanitizer_report(text):
    """The sanitizer report in agentd's stderr (an ASan/UBSan build), or None."""
    for mark in SANITIZER_MARKS:
        if mark in text:
            return text[text.index(mark):][:3000]
    return None


class Result:
    def __init__(self, rc, out, err):
        self.returncode = rc
        self.stdout = out.decode(errors="replace")
        self.stderr = err.decode(errors="replace")
        report = sanitizer_report(self.stderr)
        if report:
            raise AssertionError("agentd's stderr holds a sanitizer report:\n" + report)

    def __repr__(self):
        return "rc=%d stdout=%r stderr=%r" % (self.returncode, self.stdout[-1500:],
                                              self.stderr[-3000:])


class FleetCase(unittest.TestCase):
    HOSTS = 2

    @classmethod
    def setUpClass(cls):
        require_machine()

    def setUp(self):
        self.fleet = Fleet(self.HOSTS)
        self.addCleanup(self.fleet.cleanup)


def main():
    """unittest.main, but a run whose tests were all skipped exits 77."""
    prog = unittest.main(exit=False, verbosity=2)
    r = prog.result
    if not r.wasSuccessful():
        sys.exit(1)
    if r.testsRun > 0 and len(r.skipped) == r.testsRun:
        sys.exit(SKIP)
    sys.exit(0)
