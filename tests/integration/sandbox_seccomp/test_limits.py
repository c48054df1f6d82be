#!/usr/bin/python3
"""sandbox-seccomp: resource limits (cgroup pids and memory, rlimits)."""

import os
import unittest

from sbx_harness import SandboxTestCase, descendants, main, wait_for


class Limits(SandboxTestCase):
    PROFILE = {"pids_max": 32, "memory_mb": 96, "file_size_mb": 1, "open_files": 64}

    def test_fork_bomb_stops_at_the_pids_limit(self):
        res = self.probe_ok("fork_bomb", 1000, timeout=120)
        self.assertEqual(res["failure"], "EAGAIN", res)
        # The helper's pid 1 and the probe count too.
        self.assertLess(res["forked"], 32, res)
        self.assertGreater(res["forked"], 16, res)

    def test_memory_hog_is_killed_inside_its_own_cgroup(self):
        # The hog is killed by the OOM killer of the sandbox's memory cgroup;
        # the shell beside it, in the same sandbox, survives to report it.
        r = self.sb.run(["/bin/sh", "-c",
                         "/usr/bin/python3 %s memory_hog 512; echo hog_status=$?"
                         % self.sb_probes()], timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("hog_status=137", r.stdout)
        self.assertNotIn("allocated_mb", r.stdout)

    def test_file_size_limit(self):
        r = self.sb.run(["/bin/sh", "-c",
                         "head -c 2097152 /dev/zero > big; echo rc=$?; wc -c < big"])
        self.assertIn("rc=153", r.stdout)  # SIGXFSZ
        self.assertEqual(r.stdout.split()[-1], str(1 << 20))

    def test_open_files_limit(self):
        r = self.sb.run(["/bin/sh", "-c", "ulimit -n; ulimit -Hn"])
        self.assertEqual(r.stdout.split(), ["64", "64"])

    def sb_probes(self):
        from sbx_harness import PROBES
        return PROBES


class Cpu(SandboxTestCase):
    PROFILE = {"cpu_millicores": 200}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not os.path.isdir("/sys/fs/cgroup/cpu"):
            # Only this class: the other limits still run (and are reported).
            raise unittest.SkipTest("needs a cgroup v1 cpu hierarchy (reads cpu.cfs_quota_us)")

    def test_cpu_quota_throttles_a_busy_loop(self):
        p = self.sb.popen(["/bin/sh", "-c", "echo ready; while :; do :; done"])
        self.addCleanup(p.communicate)
        self.addCleanup(p.kill)
        self.assertEqual(p.stdout.readline(), b"ready\n")
        cg = wait_for(lambda: cpu_cgroup_of(p.pid), what="the sandbox's cpu cgroup")
        with open(os.path.join(cg, "cpu.cfs_quota_us")) as f:
            self.assertEqual(f.read().strip(), "20000")
        # The loop wants a whole core; the quota holds it to a fifth.
        wait_for(lambda: throttled(cg) > 3, timeout=10, what="the cgroup to be throttled")


def cpu_cgroup_of(agentd_pid):
    """The v1 cpu cgroup directory of the sandbox under agentd_pid."""
    for pid in descendants(agentd_pid):
        try:
            with open("/proc/%d/cgroup" % pid) as f:
                for line in f:
                    _, ctrls, path = line.rstrip("\n").split(":", 2)
                    if "cpu" in ctrls.split(",") and "agentd-sbx-" in path:
                        return "/sys/fs/cgroup/cpu" + path
        except OSError:
            pass
    return None


def throttled(cg):
    with open(os.path.join(cg, "cpu.stat")) as f:
        return int(dict(line.split() for line in f)["nr_throttled"])


class Timeout(SandboxTestCase):
    """The wall-clock timeout (the smallest one can set is a minute)."""
    PROFILE = {"timeout_minutes": 1}
    LIMITS = {"session_timeout_minutes": 1}

    def test_timeout_ends_in_sigkill(self):
        r = self.sb.run(["/bin/sh", "-c", "trap '' TERM INT; echo started; "
                         "while :; do sleep 1; done"], timeout=150)
        self.assertIn("started", r.stdout)
        self.assertEqual(r.returncode, 128 + 9, r.stderr)
        self.assertIn("timeout", r.stderr)


if __name__ == "__main__":
    main()
