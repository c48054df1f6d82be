#!/usr/bin/python3
"""sandbox-seccomp: exit status, signals, and nothing outliving the command,
a stop, or the daemon."""

import os
import signal

from sbx_harness import SandboxTestCase, descendants, alive, main, processes_with, wait_for


def sandbox_cgroups(prefix):
    """Cgroup directories named prefix* in every hierarchy."""
    found = []
    for top in os.listdir("/sys/fs/cgroup"):
        for root, dirs, _ in os.walk(os.path.join("/sys/fs/cgroup", top)):
            found += [os.path.join(root, d) for d in dirs if d.startswith(prefix)]
            dirs[:] = [d for d in dirs if not d.startswith("agentd-sbx-")]
    return found


class Lifecycle(SandboxTestCase):

    def test_exit_status_and_stdio(self):
        r = self.sb.run(["/bin/sh", "-c", "read x; echo out:$x; echo err:$x >&2; exit 7"],
                        input=b"ping\n")
        self.assertEqual(r.returncode, 7)
        self.assertEqual(r.stdout, "out:ping\n")
        self.assertIn("err:ping\n", r.stderr)

    def test_killed_by_a_signal_is_128_plus_signal(self):
        r = self.sb.run(["/bin/sh", "-c", "kill -SEGV $$"])
        self.assertEqual(r.returncode, 128 + signal.SIGSEGV)

    def test_command_not_found(self):
        r = self.sb.run(["/no/such/program"])
        self.assertEqual(r.returncode, 127)

    def test_background_child_does_not_survive_the_main_process(self):
        marker = "31337.5"
        r = self.sb.run(["/bin/sh", "-c", "sleep %s & echo started; exit 0" % marker])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("started", r.stdout)
        wait_for(lambda: not processes_with(marker), timeout=5,
                 what="the background sleep to be gone")

    def test_sigterm_to_agentd_reaches_the_command(self):
        p = self.sb.popen(["/bin/sh", "-c",
                           "trap 'echo got-term; exit 3' TERM; echo ready; "
                           "while :; do sleep 0.05; done"])
        self.assertEqual(p.stdout.readline(), b"ready\n")
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=20)
        self.assertIn(b"got-term", out)
        self.assertEqual(p.returncode, 3, err)

    def test_kill_9_of_the_host_leaves_no_sandbox_process(self):
        marker = "31338.5"
        p = self.sb.popen(["/bin/sh", "-c",
                           "sleep %s & sleep %s & echo ready; wait" % (marker, marker)])
        self.assertEqual(p.stdout.readline(), b"ready\n")
        tree = wait_for(lambda: len(processes_with(marker)) >= 2 and descendants(p.pid),
                        what="the sandbox processes")
        self.assertGreaterEqual(len(tree), 4)  # helper, pid 1, sh, 2 x sleep
        os.kill(p.pid, signal.SIGKILL)
        p.communicate()
        wait_for(lambda: not any(alive(pid) for pid in tree), timeout=10,
                 what="every sandbox process to die with the daemon")
        self.assertEqual(processes_with(marker), [])
        # The daemon had no chance to remove the sandbox's cgroup: it stays,
        # empty, for a restarted daemon to list and reap. Empty it must be.
        for d in sandbox_cgroups("agentd-sbx-exec-%d-" % p.pid):
            with open(os.path.join(d, "cgroup.procs")) as f:
                self.assertEqual(f.read(), "", d)
            os.rmdir(d)

    def test_cgroup_and_state_are_removed(self):
        p = self.sb.popen(["/bin/sh", "-c", "echo ok"])
        out, err = p.communicate(timeout=30)
        self.assertEqual((p.returncode, out), (0, b"ok\n"), err)
        # `sandbox exec` names its sandbox exec-<its pid>-<random>.
        self.assertEqual(sandbox_cgroups("agentd-sbx-exec-%d-" % p.pid), [])
        sbdir = os.path.join(self.sb.data_dir, "plugins", "sandbox-seccomp", "sandboxes")
        self.assertEqual(os.listdir(sbdir) if os.path.isdir(sbdir) else [], [])


if __name__ == "__main__":
    main()
