/*
 * Per-process resource limits of the command (setrlimit): file size, open
 * files, core dumps. Memory, process count and CPU are the sandbox's
 * cgroup's business (the plugin's cgroups.c), not rlimits.
 */
#ifndef SBX_RLIMITS_H
#define SBX_RLIMITS_H

#include "launch.h"

/* Apply the limits (soft = hard). Dies on error. */
void sbx_rlimits_apply(const sbx_rlimits_t *r);

#endif
