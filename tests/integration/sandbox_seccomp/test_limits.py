#!/usr/bin/python3
"""sandbox-seccomp: resource limits (cgroup pids and memory, rlimits)."""

from sbx_harness import SandboxTestCase, main


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
