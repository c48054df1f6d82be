#!/usr/bin/python3
"""sandbox-seccomp: the system call filter, privileges and namespaces."""

import os

from sbx_harness import SandboxTestCase, main

# Each must fail with EPERM (the denylist), whatever its arguments.
DENIED = ["keyctl", "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd",
          "kexec_load", "kexec_file_load", "open_by_handle_at", "name_to_handle_at",
          "mount", "umount2", "pivot_root", "setns", "unshare", "io_uring_setup",
          "io_uring_enter", "io_uring_register", "ptrace", "process_vm_readv",
          "process_vm_writev", "init_module", "finit_module", "delete_module", "reboot",
          "swapon", "chroot", "syslog", "acct", "settimeofday", "open_tree", "move_mount",
          "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr", "kcmp", "pidfd_getfd",
          "quotactl", "lookup_dcookie"]


class Syscalls(SandboxTestCase):

    def test_each_blocked_syscall_fails(self):
        res = self.probe_ok("syscalls")["results"]
        for name in DENIED:
            self.assertEqual(res[name]["ret"], -1, name)
            self.assertEqual(res[name]["errno"], "EPERM", name)
        # Not on the allowlist: fails (ENOSYS or EPERM).
        for name in ("uselib", "personality"):
            self.assertEqual(res[name]["ret"], -1, name)

    def test_clone_with_namespace_flags_fails(self):
        res = self.probe_ok("syscall", "clone")
        self.assertEqual((res["ret"], res["error"]), (-1, "EPERM"))

    def test_af_alg_af_vsock_and_raw_sockets_fail(self):
        for family, proto in (("38", "0"), ("40", "0"), ("17", "0"), ("16", "9")):
            res = self.probe_ok("socket", family, proto)
            self.assertEqual(res, {"ok": False, "error": "EAFNOSUPPORT"}, family)

    def test_tiocsti_fails_also_with_high_bits_set(self):
        res = self.probe_ok("tiocsti")["results"]
        for label in ("plain", "high_bits"):
            self.assertEqual(res[label], {"ret": -1, "errno": "EPERM"}, label)

    def test_nested_unshare_mount_and_pivot_root_tools_fail(self):
        r = self.sb.run(["/bin/sh", "-c",
                         "unshare -Ur true && echo unshare-worked;"
                         " unshare -m true && echo unshare-m-worked;"
                         " mount -t tmpfs none /tmp && echo mount-worked;"
                         " pivot_root /tmp /tmp && echo pivot-worked; echo done"])
        self.assertEqual(r.stdout.split(), ["done"], r.stderr)

    def test_ptrace_of_a_host_process_fails(self):
        # The daemon's pid does not exist inside, and ptrace itself is denied.
        res = self.probe_ok("ptrace", os.getpid())
        self.assertEqual(res["attach"]["ret"], -1)
        self.assertEqual(res["attach"]["errno"], "EPERM")
        self.assertEqual(res["traceme"]["ret"], -1)

    def test_writes_to_proc_1_mem_fail(self):
        res = self.probe_ok("proc_mem")["results"]
        self.assertEqual(res["pid_1"], {"ok": False, "error": "EACCES"})

    def test_no_capabilities_no_new_privs_own_session(self):
        res = self.probe_ok("status")
        st = res["status"]
        for cap in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
            self.assertEqual(st[cap], "0000000000000000", cap)
        self.assertEqual(st["NoNewPrivs"], "1")
        self.assertEqual(st["Seccomp"], "2")
        self.assertEqual(st["Uid"].split()[0], "1000")
        # The command runs in a session of its own (setsid): no terminal to
        # inject into, a process group the plugin can signal as a whole.
        self.assertEqual(res["sid"], res["pid"])


if __name__ == "__main__":
    main()
