#!/usr/bin/python3
"""sandbox-docker when the engine goes away: a command running when dockerd
stops ends with a clear failure naming the engine (no hang), and a new
sandbox is refused quickly, after the configured retries, with the
engine's words."""

import time

from docker_harness import EngineTestCase, main


class EngineDown(EngineTestCase):
    def test_engine_stopped_mid_session_then_refused(self):
        p = self.cfg.popen(["/bin/sh", "-c", "echo up; exec sleep 100"])
        self.addCleanup(p.kill)
        self.assertEqual(p.stdout.readline(), b"up\n")
        self.engine.stop()
        start = time.monotonic()
        out, err = p.communicate(timeout=90)
        took = time.monotonic() - start
        err = err.decode(errors="replace")
        self.assertNotIn("Sanitizer", err)
        self.assertNotEqual(p.returncode, 0, err)
        self.assertLess(took, 60, "agentd took %.1fs to notice the engine was gone" % took)
        self.assertIn("engine " + self.engine.endpoint, err)
        # While it is down, a new sandbox fails fast with the engine's words.
        start = time.monotonic()
        r = self.cfg.run(["/bin/true"], timeout=60)
        self.assertEqual(r.returncode, 125, r.stderr)
        self.assertIn('profile "test"', r.stderr)
        self.assertIn("engine " + self.engine.endpoint, r.stderr)
        self.assertLess(time.monotonic() - start, 30)
        # Back up: the same config works again.
        self.engine.start()
        r = self.cfg.run(["/bin/sh", "-c", "echo back"])
        self.assertEqual((r.returncode, r.stdout), (0, "back\n"), r.stderr)


if __name__ == "__main__":
    main()
