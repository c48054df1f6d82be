/* The system call policy and its compilation (seccomp_policy.h). */
#define _GNU_SOURCE
#include "seccomp_policy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/ioctl.h>

#ifndef __O_TMPFILE
#define __O_TMPFILE 020000000
#endif

/* Docker's default allowlist (profiles/seccomp/default.json, the entries
 * without a capability condition), minus what this sandbox denies. Names
 * this libseccomp does not know are skipped: they stay at ENOSYS. */
static const char *const allowed[] = {
    "accept", "accept4", "access", "adjtimex", "alarm", "arch_prctl", "bind", "brk",
    "cachestat", "capget", "capset", "chdir", "chmod", "chown", "clock_adjtime",
    "clock_getres", "clock_gettime", "clock_nanosleep", "clone", "close", "close_range",
    "connect", "copy_file_range", "creat", "dup", "dup2", "dup3", "epoll_create",
    "epoll_create1", "epoll_ctl", "epoll_pwait", "epoll_pwait2", "epoll_wait", "eventfd",
    "eventfd2", "execve", "execveat", "exit", "exit_group", "faccessat", "faccessat2",
    "fadvise64", "fallocate", "fchdir", "fchmod", "fchmodat", "fchown", "fchownat", "fcntl",
    "fdatasync", "fgetxattr", "flistxattr", "flock", "fork", "fremovexattr", "fsetxattr",
    "fstat", "fstatfs", "fsync", "ftruncate", "futex", "futex_requeue", "futex_wait",
    "futex_waitv", "futex_wake", "futimesat", "getcpu", "getcwd", "getdents", "getdents64",
    "getegid", "geteuid", "getgid", "getgroups", "getitimer", "getpeername", "getpgid",
    "getpgrp", "getpid", "getppid", "getpriority", "getrandom", "getresgid", "getresuid",
    "getrlimit", "get_robust_list", "getrusage", "getsid", "getsockname", "getsockopt",
    "get_thread_area", "gettid", "gettimeofday", "getuid", "getxattr", "inotify_add_watch",
    "inotify_init", "inotify_init1", "inotify_rm_watch", "io_cancel", "ioctl", "io_destroy",
    "io_getevents", "io_pgetevents", "ioprio_get", "ioprio_set", "io_setup", "io_submit",
    "kill", "landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self",
    "lchown", "lgetxattr", "link", "linkat", "listen", "listxattr", "llistxattr",
    "lremovexattr", "lseek", "lsetxattr", "lstat", "madvise", "map_shadow_stack",
    "membarrier", "memfd_create", "mincore", "mkdir", "mkdirat", "mknod", "mknodat",
    "mlock", "mlock2", "mlockall", "mmap", "mprotect", "mq_getsetattr", "mq_notify",
    "mq_open", "mq_timedreceive", "mq_timedsend", "mq_unlink", "mremap", "msgctl",
    "msgget", "msgrcv", "msgsnd", "msync", "munlock", "munlockall", "munmap", "nanosleep",
    "newfstatat", "open", "openat", "pause", "pidfd_open", "pidfd_send_signal", "pipe",
    "pipe2", "pkey_alloc", "pkey_free", "pkey_mprotect", "poll", "ppoll", "prctl",
    "pread64", "preadv", "preadv2", "prlimit64", "pselect6", "pwrite64", "pwritev",
    "pwritev2", "read", "readahead", "readlink", "readlinkat", "readv", "recvfrom",
    "recvmmsg", "recvmsg", "remap_file_pages", "removexattr", "rename", "renameat",
    "renameat2", "restart_syscall", "rmdir", "rseq", "rt_sigaction", "rt_sigpending",
    "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend",
    "rt_sigtimedwait", "rt_tgsigqueueinfo", "sched_getaffinity", "sched_getattr",
    "sched_getparam", "sched_get_priority_max", "sched_get_priority_min",
    "sched_getscheduler", "sched_rr_get_interval", "sched_setaffinity", "sched_setattr",
    "sched_setparam", "sched_setscheduler", "sched_yield", "seccomp", "select", "semctl",
    "semget", "semop", "semtimedop", "sendfile", "sendmmsg", "sendmsg", "sendto",
    "setfsgid", "setfsuid", "setgid", "setgroups", "setitimer", "setpgid", "setpriority",
    "setregid", "setresgid", "setresuid", "setreuid", "setrlimit", "set_robust_list",
    "setsid", "setsockopt", "set_thread_area", "set_tid_address", "setuid", "setxattr",
    "shmat", "shmctl", "shmdt", "shmget", "shutdown", "sigaltstack", "signalfd",
    "signalfd4", "socket", "socketpair", "splice", "stat", "statfs", "statx", "symlink",
    "symlinkat", "sync", "sync_file_range", "syncfs", "sysinfo", "tee", "tgkill", "time",
    "timer_create", "timer_delete", "timer_getoverrun", "timer_gettime", "timer_settime",
    "timerfd_create", "timerfd_gettime", "timerfd_settime", "times", "tkill", "truncate",
    "umask", "uname", "unlink", "unlinkat", "utime", "utimensat", "utimes", "vfork",
    "vmsplice", "wait4", "waitid", "write", "writev", NULL};

/* Always EPERM, whatever the arguments. */
static const char *const denied[] = {
    "acct", "add_key", "bpf", "chroot", "clock_settime", "create_module",
    "delete_module", "fanotify_init", "fanotify_mark", "finit_module", "fsconfig",
    "fsmount", "fsopen", "fspick", "get_kernel_syms", "get_mempolicy", "init_module",
    "io_uring_enter", "io_uring_register", "io_uring_setup", "ioperm", "iopl", "kcmp",
    "kexec_file_load", "kexec_load", "keyctl", "lookup_dcookie", "mbind", "migrate_pages",
    "mount", "mount_setattr", "move_mount", "move_pages", "name_to_handle_at",
    "nfsservctl", "open_by_handle_at", "open_tree", "perf_event_open", "pidfd_getfd",
    "pivot_root", "process_madvise", "process_vm_readv", "process_vm_writev", "ptrace",
    "query_module", "quotactl", "quotactl_fd", "reboot", "request_key", "set_mempolicy",
    "setdomainname", "sethostname", "setns", "settimeofday", "swapoff", "swapon",
    "syslog", "umount", "umount2", "unshare", "uselib", "userfaultfd", "ustat", "vhangup",
    NULL};

const char *const *sbx_seccomp_allowed_names(void)
{
    return allowed;
}

const char *const *sbx_seccomp_denied_names(void)
{
    return denied;
}

/* The filter being built, and the first error met (later steps are
 * skipped once there is one). */
typedef struct policy {
    scmp_filter_ctx ctx;
    char *msg;
    size_t msg_len;
    int failed;
} policy_t;

static void fail(policy_t *p, int rc, const char *what)
{
    if (!p->failed)
        snprintf(p->msg, p->msg_len, "%s: %s", what, strerror(rc < 0 ? -rc : rc));
    p->failed = 1;
}

static void add(policy_t *p, uint32_t action, int nr, unsigned count,
                const struct scmp_arg_cmp *cmp, const char *what)
{
    if (p->failed || nr < 0)
        return;
    int rc = seccomp_rule_add_array(p->ctx, action, nr, count, cmp);
    if (rc < 0)
        fail(p, rc, what);
}

static void add_names(policy_t *p, uint32_t action, const char *const *names)
{
    for (const char *const *n = names; *n != NULL; n++) {
        int nr = seccomp_syscall_resolve_name(*n);
        if (nr != __NR_SCMP_ERROR)
            add(p, action, nr, 0, NULL, *n);
    }
}

/* A syscall an argument rule needs: unknown to libseccomp is an error. */
static int nr_of(policy_t *p, const char *name)
{
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) {
        fail(p, EINVAL, name);
        return -1;
    }
    return nr;
}

/* One rule: `name` fails with EPERM when (arg & mask) == value. */
static void deny_masked(policy_t *p, const char *name, unsigned arg,
                        uint64_t mask, uint64_t value)
{
    struct scmp_arg_cmp c = {arg, SCMP_CMP_MASKED_EQ, mask, value};
    add(p, SCMP_ACT_ERRNO(EPERM), nr_of(p, name), 1, &c, name);
}

static void allow_personalities(policy_t *p)
{
    static const uint64_t ok[] = {0x0, 0x8, 0x20000, 0x20008, 0xffffffff};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        struct scmp_arg_cmp c = SCMP_A0(SCMP_CMP_EQ, ok[i]);
        add(p, SCMP_ACT_ALLOW, nr_of(p, "personality"), 1, &c, "personality");
    }
}

static void deny_namespace_clones(policy_t *p)
{
    static const uint64_t flags[] = {CLONE_NEWNS,  CLONE_NEWUTS, CLONE_NEWIPC,
                                     CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET,
                                     CLONE_NEWCGROUP};
    for (size_t i = 0; i < sizeof flags / sizeof *flags; i++)
        deny_masked(p, "clone", 0, flags[i], flags[i]);
}

/* Only unix, inet, inet6 and netlink-route sockets. */
static void deny_socket_families(policy_t *p)
{
    uint32_t act = SCMP_ACT_ERRNO(EAFNOSUPPORT);
    int nr = nr_of(p, "socket");
    for (uint64_t fam = 0; fam <= AF_NETLINK; fam++) {
        if (fam == AF_UNIX || fam == AF_INET || fam == AF_INET6 || fam == AF_NETLINK)
            continue;
        struct scmp_arg_cmp c = SCMP_A0(SCMP_CMP_EQ, fam);
        add(p, act, nr, 1, &c, "socket");
    }
    struct scmp_arg_cmp above = SCMP_A0(SCMP_CMP_GT, AF_NETLINK);
    add(p, act, nr, 1, &above, "socket");
    struct scmp_arg_cmp nl[2] = {SCMP_A0(SCMP_CMP_EQ, AF_NETLINK), SCMP_A2(SCMP_CMP_NE, 0)};
    add(p, act, nr, 2, nl, "socket");
}

/* The ioctl number is an int in the kernel, so compare only the low 32
 * bits: setting high bits must not slip past. */
static void deny_tty_injection(policy_t *p)
{
    deny_masked(p, "ioctl", 1, 0xffffffffu, TIOCSTI);
    deny_masked(p, "ioctl", 1, 0xffffffffu, TIOCLINUX);
}

static void deny_device_nodes(policy_t *p)
{
    deny_masked(p, "mknod", 1, S_IFMT, S_IFCHR);
    deny_masked(p, "mknod", 1, S_IFMT, S_IFBLK);
    deny_masked(p, "mknodat", 2, S_IFMT, S_IFCHR);
    deny_masked(p, "mknodat", 2, S_IFMT, S_IFBLK);
}

/* open-like calls that create a file with mode bit `bit`, for each flag
 * that creates (O_CREAT, O_TMPFILE). */
static void deny_create_mode(policy_t *p, const char *name, unsigned flags_arg,
                             unsigned mode_arg, uint64_t bit)
{
    static const uint64_t creating[] = {O_CREAT, __O_TMPFILE};
    for (size_t i = 0; i < 2; i++) {
        struct scmp_arg_cmp c[2] = {{flags_arg, SCMP_CMP_MASKED_EQ, creating[i], creating[i]},
                                    {mode_arg, SCMP_CMP_MASKED_EQ, bit, bit}};
        add(p, SCMP_ACT_ERRNO(EPERM), nr_of(p, name), 2, c, name);
    }
}

static void deny_setid_bits(policy_t *p)
{
    static const uint64_t bits[] = {S_ISUID, S_ISGID};
    for (size_t i = 0; i < 2; i++) {
        deny_masked(p, "chmod", 1, bits[i], bits[i]);
        deny_masked(p, "fchmod", 1, bits[i], bits[i]);
        deny_masked(p, "fchmodat", 2, bits[i], bits[i]);
        deny_masked(p, "creat", 1, bits[i], bits[i]);
        deny_create_mode(p, "open", 1, 2, bits[i]);
        deny_create_mode(p, "openat", 2, 3, bits[i]);
    }
}

/* The compiled program of ctx, through a memfd (libseccomp 2.5 exports to
 * a descriptor only). */
static int export(policy_t *p, sbx_bpf_t *out)
{
    if (p->failed)
        return -1;
    int fd = memfd_create("sbx-seccomp", MFD_CLOEXEC);
    int rc = fd < 0 ? -errno : seccomp_export_bpf(p->ctx, fd);
    off_t len = rc == 0 ? lseek(fd, 0, SEEK_CUR) : -1;
    out->code = len > 0 ? malloc((size_t)len) : NULL;
    if (out->code != NULL && pread(fd, out->code, (size_t)len, 0) == len)
        out->len = (size_t)len;
    if (fd >= 0)
        close(fd);
    if (out->len == 0) {
        sbx_bpf_free(out);
        fail(p, rc < 0 ? rc : EIO, "export the filter");
        return -1;
    }
    return 0;
}

static void build_allowlist(policy_t *p)
{
    add_names(p, SCMP_ACT_ALLOW, allowed);
    allow_personalities(p);
}

static void build_denylist(policy_t *p)
{
    add_names(p, SCMP_ACT_ERRNO(EPERM), denied);
    deny_namespace_clones(p);
    deny_socket_families(p);
    deny_tty_injection(p);
    deny_device_nodes(p);
    deny_setid_bits(p);
}

int sbx_seccomp_compile(sbx_bpf_t out[2], char *msg, size_t msg_len)
{
    static const uint32_t defaults[2] = {SCMP_ACT_ERRNO(ENOSYS), SCMP_ACT_ALLOW};
    static void (*const build[2])(policy_t *) = {build_allowlist, build_denylist};
    memset(out, 0, 2 * sizeof *out);
    for (int i = 0; i < 2; i++) {
        policy_t p = {seccomp_init(defaults[i]), msg, msg_len, 0};
        if (p.ctx == NULL)
            fail(&p, ENOMEM, "seccomp_init");
        else
            build[i](&p);
        int rc = export(&p, &out[i]);
        if (p.ctx != NULL)
            seccomp_release(p.ctx);
        if (rc < 0) {
            sbx_bpf_free(&out[0]);
            return -1;
        }
    }
    return 0;
}

void sbx_bpf_free(sbx_bpf_t *b)
{
    free(b->code);
    b->code = NULL;
    b->len = 0;
}
