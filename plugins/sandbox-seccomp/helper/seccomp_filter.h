/*
 * The sandbox's system call filter (libseccomp), modelled on Docker's
 * default profile and then tighter. Two filters are loaded:
 *
 * 1. An allowlist (Docker's list of syscalls a capability-less container
 *    may make, minus io_uring, name_to_handle_at, ptrace and
 *    process_vm_*). Anything not on it fails with ENOSYS, so a runtime that
 *    probes a newer syscall (clone3, openat2, fchmodat2) falls back to the
 *    older one instead of failing hard.
 * 2. A denylist that fails with EPERM: the syscalls that must never work
 *    (mount family, namespaces, keyrings, bpf, perf, userfaultfd, kexec,
 *    modules, open_by_handle_at, io_uring, ptrace, process_vm_*, ...), and
 *    argument checks: clone with a namespace flag, sockets other than
 *    unix/inet/inet6/netlink-route (EAFNOSUPPORT), the TIOCSTI and TIOCLINUX
 *    ioctls however their high bits are set, mknod of a device, and setting
 *    the setuid or setgid bit through chmod, open or creat (so nothing in
 *    the workspace can become a setuid program on the host).
 *
 * The kernel runs both; the strictest answer wins, and of two errors the
 * later filter's (EPERM).
 */
#ifndef SBX_SECCOMP_FILTER_H
#define SBX_SECCOMP_FILTER_H

/* Load both filters on the calling thread (needs no_new_privs). Dies on
 * error. */
void sbx_seccomp_load(void);

/* The syscall names of each list, NULL-terminated (for docs and tests). */
const char *const *sbx_seccomp_allowed_names(void);
const char *const *sbx_seccomp_denied_names(void);

#endif
