#!/usr/bin/python3
"""sandbox-seccomp fails closed: a setup step that cannot be done stops the
sandbox before the command runs, and the message names the step."""

import os

from sbx_harness import Sandbox, SandboxTestCase, main


class FailClosed(SandboxTestCase):

    def assert_refused(self, sb, step):
        marker = os.path.join(sb.workspace, "ran")
        r = sb.run(["/bin/sh", "-c", "touch %s" % marker])
        self.assertEqual(r.returncode, 125, r.stderr)
        self.assertIn("sandbox setup failed: %s" % step, r.stderr)
        self.assertFalse(os.path.exists(marker), "the command ran")
        return r

    def test_cgroup_that_cannot_be_made(self):
        sb = Sandbox(plugin_settings={"cgroup_parent": "/no/such/parent"})
        self.addCleanup(sb.cleanup)
        r = sb.run(["/bin/true"])
        self.assertEqual(r.returncode, 125)
        self.assertIn("cgroup: mkdir", r.stderr)
        self.assertIn("/no/such/parent", r.stderr)

    def test_missing_read_only_path(self):
        sb = Sandbox(profile={"ro_paths": ["/no/such/toolchain"]})
        self.addCleanup(sb.cleanup)
        self.assert_refused(sb, "mounts: clone mount of /no/such/toolchain")

    def test_protected_path_behind_a_symlink(self):
        os.symlink("/etc", os.path.join(self.sb.workspace, ".claude"))
        self.assert_refused(self.sb, "protected paths")

    def test_data_dir_reached_through_a_symlink_is_hidden(self):
        # The daemon's data directory inside the workspace, configured through
        # a symlink: it is hidden at its real path, whichever way it is named.
        real = os.path.join(self.sb.workspace, "real-var")
        os.mkdir(real)
        link = os.path.join(self.sb.workspace, "var")
        os.symlink("real-var", link)
        with open(self.sb.config) as f:
            cfg = f.read().replace(os.path.join(self.sb.tmp, "var"), link)
        with open(self.sb.config, "w") as f:
            f.write(cfg)
        r = self.sb.run(["/bin/sh", "-c", "ls %s/plugins %s/plugins" % (real, link)])
        self.assertEqual(r.returncode, 2, r.stderr)  # hidden: ls fails, nothing listed
        self.assertEqual(r.stdout, "")
        self.assertTrue(os.path.isdir(os.path.join(real, "plugins")))

    def test_sandbox_never_runs_as_host_root(self):
        sb = Sandbox(plugin_settings={"host_uid": 1, "host_gid": 1})
        self.addCleanup(sb.cleanup)
        r = sb.run(["/bin/sh", "-c", "id -u"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "1000")
        bad = Sandbox(plugin_settings={"host_uid": 0})
        self.addCleanup(bad.cleanup)
        r = bad.run(["/bin/true"])
        self.assertNotEqual(r.returncode, 0)


if __name__ == "__main__":
    main()
