/*
 * The sandbox's system call policy, modelled on Docker's default profile
 * and then tighter, compiled with libseccomp into two BPF programs. The
 * plugin compiles them once, at init, and hands them to every helper in
 * the launch description (building them per sandbox took a millisecond and
 * a half of a five-millisecond start); the helper only loads them
 * (helper/seccomp_load.c). The two programs:
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
#ifndef SBX_SECCOMP_POLICY_H
#define SBX_SECCOMP_POLICY_H

#include <stddef.h>

/* A compiled filter: an array of struct sock_filter, as bytes. */
typedef struct sbx_bpf {
    unsigned char *code;
    size_t len;
} sbx_bpf_t;

/* Compile the allowlist (out[0]) and the denylist (out[1]), to be loaded in
 * that order. Returns 0, or -1 with why in msg. */
int sbx_seccomp_compile(sbx_bpf_t out[2], char *msg, size_t msg_len);

void sbx_bpf_free(sbx_bpf_t *b);

/* The syscall names of each list, NULL-terminated (for docs and tests). */
const char *const *sbx_seccomp_allowed_names(void);
const char *const *sbx_seccomp_denied_names(void);

#endif
