/* Loading the system call filters (seccomp_load.h). */
#define _GNU_SOURCE
#include "seccomp_load.h"

#include "fail.h"

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/syscall.h>
#include <unistd.h>

void sbx_seccomp_load(const sbx_launch_t *l)
{
    static const char *const which[2] = {"allowlist", "denylist"};
    for (int i = 0; i < 2; i++) {
        size_t len = l->bpf_len[i];
        if (len == 0 || len % sizeof(struct sock_filter) != 0 ||
            len / sizeof(struct sock_filter) > BPF_MAXINSNS)
            sbx_die("seccomp", "the launch description has no valid %s filter", which[i]);
        struct sock_fprog prog = {(unsigned short)(len / sizeof(struct sock_filter)),
                                  (struct sock_filter *)(void *)l->bpf[i]};
        if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0)
            sbx_die_errno("seccomp", "load the %s", which[i]);
    }
}
