#!/usr/bin/python3
"""sandbox-seccomp: what the sandbox sees and may write on the file system."""

import os
import stat
import tempfile

from sbx_harness import SandboxTestCase, main


class FileSystem(SandboxTestCase):

    def test_workspace_is_writable_and_owned_by_its_owner_on_the_host(self):
        r = self.sb.run(["/bin/sh", "-c", "echo hello > out.txt && cat out.txt && id -u"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.split(), ["hello", "1000"])
        path = os.path.join(self.sb.workspace, "out.txt")
        with open(path) as f:
            self.assertEqual(f.read(), "hello\n")
        self.assertEqual(os.stat(path).st_uid, os.stat(self.sb.workspace).st_uid)

    def test_writes_outside_the_workspace_never_reach_the_host(self):
        parent = os.path.dirname(self.sb.workspace)
        res = self.probe_ok("write_outside", self.sb.workspace)["results"]
        # The system is read-only.
        for label in ("etc", "usr", "root_dir", "etc_double_slash", "etc_dot", "usr_dotdot",
                      "symlink_dir", "symlink_passwd"):
            self.assertFalse(res[label]["ok"], label)
            self.assertIn(res[label]["error"], ("EROFS", "EACCES", "ENOENT"), label)
        self.assertFalse(res["hardlink"]["ok"])
        # Paths that climb out of the workspace land in the sandbox's private
        # /tmp (the workspace's parent does not exist inside otherwise):
        # whatever happens there, nothing may appear on the host.
        for name in ("sbx-escape", "sbx-escape-sym"):
            self.assertFalse(os.path.exists(os.path.join(parent, name)), name)
        for path in ("/etc/sbx-escape", "/usr/sbx-escape", "/sbx-escape"):
            self.assertFalse(os.path.exists(path), path)

    def test_mknod_of_devices_fails_and_fifos_work(self):
        res = self.probe_ok("mknod", self.sb.workspace)["results"]
        self.assertEqual(res["char_null"], {"ok": False, "error": "EPERM"})
        self.assertEqual(res["block"], {"ok": False, "error": "EPERM"})
        self.assertEqual(res["fifo"], {"ok": True})

    def test_setuid_copy_of_a_shell_cannot_be_made(self):
        res = self.probe_ok("setuid", self.sb.workspace)["results"]
        for label in ("chmod_setuid", "chmod_setgid", "open_creat_setuid", "fchmod_setuid"):
            self.assertEqual(res[label], {"ok": False, "error": "EPERM"}, label)
        for name in ("sh-copy", "created-suid"):
            path = os.path.join(self.sb.workspace, name)
            if os.path.exists(path):
                mode = os.stat(path).st_mode
                self.assertFalse(mode & (stat.S_ISUID | stat.S_ISGID), "%s %o" % (name, mode))

    def test_setuid_programs_of_the_system_give_nothing(self):
        # /usr/bin/su is setuid root on the host; inside it cannot gain
        # anything (no_new_privs, nosuid, no root mapped).
        self.assertTrue(os.stat("/usr/bin/su").st_mode & stat.S_ISUID)
        r = self.sb.run(["/bin/sh", "-c", "/usr/bin/su -c 'id -u' root </dev/null; echo rc=$?"])
        self.assertNotIn("\n0\n", "\n" + r.stdout)
        self.assertIn("rc=", r.stdout)
        self.assertNotEqual(r.stdout.strip().splitlines()[-1], "rc=0")

    def test_host_secrets_and_other_places_are_not_visible(self):
        other = tempfile.mkdtemp(prefix="sbx-other-ws-")
        self.addCleanup(os.rmdir, other)
        os.makedirs(self.sb.data_dir, exist_ok=True)
        paths = ["/root", "/home/agent/../../root", "/var/lib", "/srv", "/opt", "/mnt",
                 "/run/docker.sock", "/var/run/docker.sock", "/etc/shadow", other,
                 self.sb.data_dir, "/sys/fs/cgroup"]
        res = self.probe_ok("exists", *paths)["results"]
        for p in paths:
            self.assertIn(res[p], ("absent", "EACCES"), p)
        self.assertEqual(res["/etc/shadow"], "EACCES")

    def test_data_dir_inside_the_workspace_is_hidden(self):
        inner = os.path.join(self.sb.workspace, "var")
        self.sb.data_dir = inner
        with open(self.sb.config) as f:
            cfg = f.read().replace(os.path.join(self.sb.tmp, "var"), inner)
        with open(self.sb.config, "w") as f:
            f.write(cfg)
        res = self.probe_ok("exists", inner + "/plugins")["results"]
        self.assertIn(res[inner + "/plugins"], ("absent", "EACCES"))

    def test_protected_paths_stay_read_only(self):
        ws = self.sb.workspace
        os.makedirs(os.path.join(ws, ".git", "hooks"))
        os.makedirs(os.path.join(ws, ".claude"))
        for rel in (".git/config", ".claude/settings.json", ".mcp.json"):
            with open(os.path.join(ws, rel), "w") as f:
                f.write("original\n")
        script = ("for f in .git/config .claude/settings.json .mcp.json .git/hooks/pre-commit;"
                  " do (echo evil > $f) 2>/dev/null && echo wrote:$f; done;"
                  " mv .git .git-moved 2>/dev/null && echo moved:.git;"
                  " rm -f .git/config 2>/dev/null; test -e .git/config || echo removed;"
                  " echo ok > free.txt && echo wrote:free")
        r = self.sb.run(["/bin/sh", "-c", script])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.split(), ["wrote:free"])
        for rel in (".git/config", ".claude/settings.json", ".mcp.json"):
            with open(os.path.join(ws, rel)) as f:
                self.assertEqual(f.read(), "original\n", rel)
        self.assertFalse(os.path.exists(os.path.join(ws, ".git/hooks/pre-commit")))

    def test_protected_path_behind_a_symlink_refuses_to_start(self):
        ws = self.sb.workspace
        os.makedirs(os.path.join(ws, "real-git"))
        os.symlink("real-git", os.path.join(ws, ".git"))
        r = self.sb.run(["/bin/true"])
        self.assertEqual(r.returncode, 125)
        self.assertIn("protected paths", r.stderr)
        self.assertIn("symlink", r.stderr)

    def test_proc_shows_only_the_sandbox(self):
        res = self.probe_ok("procs")
        self.assertLess(len(res["pids"]), 6, res)
        self.assertIn(1, res["pids"])
        # pid 1 is the sandbox's own init (the helper); nothing of the host.
        self.assertIn("agentd-sandbox-helper", res["cmdlines"]["1"])
        for pid, cmd in res["cmdlines"].items():
            self.assertNotIn("/bin/agentd", cmd, pid)
        self.assertLess(max(res["pids"]), 10)

    def test_no_host_file_descriptors_beyond_stdio(self):
        res = self.probe_ok("fds")
        # 0, 1, 2 and the listing's own directory fd, closed once read.
        self.assertEqual(res["fds"][:3], [0, 1, 2])
        self.assertLessEqual(len(res["fds"]), 4, res)
        self.assertEqual(sorted(res["links"]), ["0", "1", "2"], res)

    def test_private_tmp(self):
        marker = os.path.join(tempfile.gettempdir(), "sbx-host-tmp-marker")
        with open(marker, "w") as f:
            f.write("host")
        self.addCleanup(os.unlink, marker)
        r = self.sb.run(["/bin/sh", "-c", "ls /tmp; touch /tmp/inside"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("sbx-host-tmp-marker", r.stdout)
        self.assertFalse(os.path.exists("/tmp/inside"))


if __name__ == "__main__":
    main()
