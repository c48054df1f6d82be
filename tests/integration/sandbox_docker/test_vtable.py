#!/usr/bin/python3
"""sandbox-docker through the sandbox vtable (the driver in test_vtable.c):
pause and resume, interrupt and terminate (a stop during a turn), stdin,
backpressure, release of a running command, the timeout, and a host
restart: the new host lists the containers, adopts a running one and reaps
an orphan."""

from docker_harness import EngineTestCase, main


class Vtable(EngineTestCase):
    def test_control_pause_resume_interrupt_terminate_backpressure(self):
        r = self.cfg.vt("control")
        self.assert_vt_ok(r)
        self.assertEqual(self.engine.containers(), [])

    def test_copy_in_and_out_with_a_bind_mounted_workspace(self):
        import os
        src = os.path.join(self.cfg.tmp, "copy-src")
        os.makedirs(os.path.join(src, "sub"))
        with open(os.path.join(src, "a.txt"), "w") as f:
            f.write("alpha\n")
        with open(os.path.join(src, "sub", "b.txt"), "w") as f:
            f.write("beta\n")
        r = self.cfg.vt("copy", self.cfg.tmp)
        self.assert_vt_ok(r)
        with open(os.path.join(self.cfg.tmp, "copied-back.txt")) as f:
            self.assertEqual(f.read(), "made-inside\n")
        with open(os.path.join(self.cfg.tmp, "copied-back-dir", "sub", "b.txt")) as f:
            self.assertEqual(f.read(), "beta\n")

    def test_timeout_kills_the_container(self):
        r = self.cfg.vt("timeout")
        self.assert_vt_ok(r)
        self.assertIn("session-timeout sandbox.timeout", r.stdout)

    def test_restart_adopts_a_running_container(self):
        left = self.cfg.vt("leave", "vt-adopt")
        self.assertEqual(left.returncode, 0, left.stdout + left.stderr)
        self.assertIn("leaving vt-adopt", left.stdout)
        c = self.engine.container("vt-adopt")
        self.assertIsNotNone(c, "the crashed host's container is still there")
        self.assertTrue(c["State"]["Running"])
        labels = c["Config"]["Labels"]
        self.assertEqual(labels["io.agentd.sandbox"], "vt-adopt")
        self.assertEqual(labels["io.agentd.session"], "session-left")
        r = self.cfg.vt("adopt", "vt-adopt")
        self.assert_vt_ok(r)
        self.assertIsNone(self.engine.container("vt-adopt"))

    def test_restart_reaps_an_orphan(self):
        left = self.cfg.vt("leave", "vt-orphan")
        self.assertEqual(left.returncode, 0, left.stdout + left.stderr)
        self.assertIsNotNone(self.engine.container("vt-orphan"))
        r = self.cfg.vt("reap", "vt-orphan")
        self.assert_vt_ok(r)
        self.assertIsNone(self.engine.container("vt-orphan"))

    def test_another_agentd_does_not_see_or_reap_our_containers(self):
        left = self.cfg.vt("leave", "vt-mine")
        self.assertEqual(left.returncode, 0, left.stdout + left.stderr)
        self.addCleanup(self.engine.request, "DELETE", "/containers/agentd-vt-mine?force=1")
        # a second installation (another data dir) on the same engine
        from docker_harness import Config
        other = Config(self.engine)
        self.addCleanup(other.cleanup)
        r = other.vt("reap", "vt-mine")
        self.assertIn("FAIL: list after restart", r.stdout)
        self.assertIn("FAIL: reaped", r.stdout)
        self.assertIsNotNone(self.engine.container("vt-mine"))


if __name__ == "__main__":
    main()
