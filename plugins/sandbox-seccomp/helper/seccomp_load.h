/*
 * Loading the sandbox's system call filters: the two BPF programs the
 * plugin compiled (common/seccomp_policy.h) and put in the launch
 * description, allowlist first, denylist last (so of two errors the
 * denylist's EPERM wins).
 */
#ifndef SBX_SECCOMP_LOAD_H
#define SBX_SECCOMP_LOAD_H

#include "launch.h"

/* Load both on the calling thread (needs no_new_privs). Dies on error, or
 * when the launch description has no filter: never run unfiltered. */
void sbx_seccomp_load(const sbx_launch_t *l);

#endif
