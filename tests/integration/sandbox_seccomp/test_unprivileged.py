#!/usr/bin/python3
"""sandbox-seccomp under an unprivileged daemon (how the systemd unit runs
agentd: its own user, a delegated cgroup subtree). The sandbox then maps
only the daemon's own uid and needs no root at all."""

import os
import shutil
import subprocess

from sbx_harness import SandboxTestCase, main, missing

NOBODY = 65534
CONTROLLERS = ("memory", "pids", "cpu", "freezer")


class Unprivileged(SandboxTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not all(os.path.isdir("/sys/fs/cgroup/" + c) for c in CONTROLLERS):
            missing("cgroup v1 hierarchies memory, pids, cpu, freezer to delegate "
                    "(this test covers the v1 layout)")
        if shutil.which("setpriv") is None:
            missing("setpriv (util-linux)")

    def setUp(self):
        self.parent = "agentd-test-deleg-%d" % os.getpid()
        for c in CONTROLLERS:
            d = "/sys/fs/cgroup/%s/%s" % (c, self.parent)
            os.mkdir(d)
            self.addCleanup(self.remove_cgroup, d)
            for root, dirs, files in os.walk(d):
                for name in dirs + files + ["."]:
                    os.chown(os.path.join(root, name), NOBODY, NOBODY)
        self.PLUGIN_SETTINGS = {"cgroup_parent": "/" + self.parent}
        self.PROFILE = {"memory_mb": 64}
        super().setUp()
        for root, dirs, files in os.walk(self.sb.tmp):
            for name in dirs + files:
                os.chown(os.path.join(root, name), NOBODY, NOBODY)
        os.chown(self.sb.tmp, NOBODY, NOBODY)

    @staticmethod
    def remove_cgroup(d):
        for sub in os.listdir(d):
            if os.path.isdir(os.path.join(d, sub)):
                os.rmdir(os.path.join(d, sub))
        os.rmdir(d)

    def run_as_nobody(self, cmd):
        argv = ["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, "--clear-groups",
                "--"] + self.sb.argv(cmd)
        return subprocess.run(argv, env=self.sb.env(), capture_output=True, timeout=60)

    def test_sandbox_without_root(self):
        r = self.run_as_nobody(["/bin/sh", "-c",
                                "id -u; echo x > f; grep -E '^(CapEff|CapBnd|NoNewPrivs|"
                                "Seccomp):' /proc/self/status; cat /etc/shadow 2>&1 | head -c 0"])
        out = r.stdout.decode()
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.assertEqual(out.split()[0], "1000")
        self.assertIn("CapEff:\t0000000000000000", out)
        self.assertIn("CapBnd:\t0000000000000000", out)
        self.assertIn("NoNewPrivs:\t1", out)
        self.assertEqual(os.stat(os.path.join(self.sb.workspace, "f")).st_uid, NOBODY)

    def test_limits_hold_in_the_delegated_cgroup(self):
        from sbx_harness import PROBES
        r = self.run_as_nobody(["/bin/sh", "-c", "/usr/bin/python3 %s memory_hog 256; "
                                "echo hog_status=$?" % PROBES])
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.assertIn("hog_status=137", r.stdout.decode())


if __name__ == "__main__":
    main()
