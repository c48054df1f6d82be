#!/usr/bin/python3
"""Runs test_api.c (the sandbox vtable through the host's registry: list,
adopt and reap after a crash, per-command interrupt) against real sshd
hosts, then checks from outside that nothing is left on them."""

import os
import subprocess

from ssh_harness import FleetCase, main, pids_with_env, wait_for

PROGRAM = os.environ.get("SSH_API_TEST", "")


class Api(FleetCase):

    def test_list_adopt_reap_after_a_crash(self):
        if not (PROGRAM and os.access(PROGRAM, os.X_OK)):
            raise AssertionError("SSH_API_TEST must name test_ssh_api (got %r)" % PROGRAM)
        f = self.fleet
        cfg = f.write_config()
        other = f.write_config(extra={"data_dir": os.path.join(f.tmp, "var2")},
                               name="other.json")
        r = subprocess.run([PROGRAM, cfg, other], capture_output=True, text=True, timeout=100)
        self.assertEqual(r.returncode, 0, "stdout=%s\nstderr=%s" % (r.stdout, r.stderr[-4000:]))
        self.assertIn("ok another instance", r.stdout)
        self.assertIn("ok adopt", r.stdout)
        self.assertIn("ok reap and destroy", r.stdout)
        mine = lambda: [p for p in pids_with_env("AGENTD_SSH_SANDBOX=")
                        if p in set(pids_with_env("HOME=" + f.tmp))]
        wait_for(lambda: mine() == [], 10, what="no remote process left")
        self.assertEqual([d for h in f.hosts for d in f.session_dirs(h)], [])


if __name__ == "__main__":
    main()
