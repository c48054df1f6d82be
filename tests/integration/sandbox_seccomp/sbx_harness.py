"""Driving `agentd sandbox exec` as an operator would, for the sandbox-seccomp
tests.

Environment (set by CTest, see CMakeLists.txt):
  AGENTD_BIN          the daemon (`$<TARGET_FILE:agentd>`)
  AGENTD_PLUGIN_DIR   the build tree's plugin directory
  AGENTD_TESTS_DIR    tests/ of the source tree (node_modules, support/)

A test that needs something this machine lacks exits with status 77, which
CTest reports as "Skipped" with the reason printed: never a silent pass.
"""

import json
import os
import shutil
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
PLUGIN_DIR = os.environ.get("AGENTD_PLUGIN_DIR", "")
TESTS_DIR = os.environ.get("AGENTD_TESTS_DIR", os.path.dirname(os.path.dirname(HERE)))
PROBES = os.path.join(HERE, "probes.py")
SKIP = 77


def missing(reason):
    """Report a capability this machine lacks and exit as skipped."""
    sys.stderr.write("SKIPPED: sandbox-seccomp test needs %s\n" % reason)
    sys.exit(SKIP)


def require_machine():
    if not (AGENTD and os.access(AGENTD, os.X_OK)):
        missing("AGENTD_BIN pointing at the agentd binary (got %r)" % AGENTD)
    if os.geteuid() != 0:
        missing("to run as root (it creates cgroups and idmapped workspaces)")
    if not os.path.exists("/proc/self/ns/user"):
        missing("user namespaces (CONFIG_USER_NS)")
    if not (os.path.isdir("/sys/fs/cgroup/memory") or
            os.path.exists("/sys/fs/cgroup/cgroup.controllers")):
        missing("a cgroup v1 memory hierarchy or cgroup v2 at /sys/fs/cgroup")


class Result:
    def __init__(self, proc, stdout, stderr):
        self.returncode = proc.returncode
        self.stdout = stdout.decode(errors="replace")
        self.stderr = stderr.decode(errors="replace")

    def json(self):
        """The last JSON line the command printed (probes print one)."""
        for line in reversed(self.stdout.splitlines()):
            if line.startswith("{"):
                return json.loads(line)
        raise AssertionError("no JSON on stdout; rc=%d stdout=%r stderr=%r"
                             % (self.returncode, self.stdout, self.stderr))


class Sandbox:
    """A config with one profile ("test") and a fresh workspace."""

    def __init__(self, profile=None, plugin_settings=None, limits=None, egress=None):
        self.tmp = tempfile.mkdtemp(prefix="sbx-test-")
        self.workspace = os.path.join(self.tmp, "ws")
        os.mkdir(self.workspace)
        self.data_dir = os.path.join(self.tmp, "var")
        prof = {"plugin": "sandbox-seccomp", "ro_paths": [HERE]}
        if egress is not None:
            prof["egress_allow"] = egress
        prof.update(profile or {})
        config = {
            "data_dir": self.data_dir,
            "log": {"level": "info", "format": "text"},
            "plugins": {"dirs": [PLUGIN_DIR] if PLUGIN_DIR else [],
                        "load": ["sandbox-seccomp"],
                        "settings": {"sandbox-seccomp": plugin_settings or {}}},
            "sandboxes": {"test": prof},
            "default_sandbox": "test",
        }
        if limits:
            config["limits"] = limits
        self.config = os.path.join(self.tmp, "agentd.json")
        with open(self.config, "w") as f:
            json.dump(config, f, indent=2)

    def cleanup(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def env(self, extra=None):
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
        env.update(extra or {})
        return env

    def argv(self, cmd):
        return [AGENTD, "--config", self.config, "sandbox", "exec", "--workspace",
                self.workspace, "--"] + list(cmd)

    def popen(self, cmd, env=None, **kw):
        return subprocess.Popen(self.argv(cmd), env=self.env(env), stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)

    def run(self, cmd, env=None, input=b"", timeout=60):
        p = self.popen(cmd, env=env)
        try:
            out, err = p.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            raise AssertionError("agentd sandbox exec %r did not finish in %ss; stderr=%r"
                                 % (cmd, timeout, err))
        return Result(p, out, err)

    def probe(self, name, *args, env=None, timeout=60):
        r = self.run(["/usr/bin/python3", PROBES, name] + [str(a) for a in args],
                     env=env, timeout=timeout)
        return r


class SandboxTestCase(unittest.TestCase):
    """One Sandbox per test; subclasses set PROFILE etc."""

    PROFILE = None
    PLUGIN_SETTINGS = None
    LIMITS = None
    EGRESS = None

    @classmethod
    def setUpClass(cls):
        require_machine()

    def setUp(self):
        self.sb = Sandbox(self.PROFILE, self.PLUGIN_SETTINGS, self.LIMITS, self.EGRESS)
        self.addCleanup(self.sb.cleanup)

    def probe_ok(self, name, *args, **kw):
        r = self.sb.probe(name, *args, **kw)
        self.assertEqual(r.returncode, 0, "probe %s failed: rc=%d stderr=%s"
                         % (name, r.returncode, r.stderr))
        return r.json()


def processes_with(marker):
    """Pids whose command line contains marker."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                if marker.encode() in f.read() and alive(int(entry)):
                    found.append(int(entry))
        except OSError:
            pass
    return found


def main():
    require_machine()
    unittest.main(verbosity=2)
