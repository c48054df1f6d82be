/*
 * The sandbox's cgroup: memory, process count and CPU limits, freezing for
 * pause/resume, and killing every process of the sandbox at once.
 *
 * cgroup v1 (a hierarchy per controller: memory, pids, cpu, freezer) or v2
 * (one unified hierarchy), whichever carries the controllers. The sandbox's
 * cgroup is "agentd-sbx-<sandbox id>" under the parent: by default the
 * daemon's own cgroup in each hierarchy (so the daemon's limits also bound
 * its sandboxes), or the plugin setting cgroup_parent.
 *
 * On v2 the parent must be able to delegate controllers to children; a
 * parent that holds processes itself cannot (the no-internal-process
 * rule), so when the parent is the daemon's own cgroup the daemon moves
 * itself into a leaf "agentd-daemon" first, as systemd's delegation docs
 * recommend for a service with Delegate=yes.
 */
#ifndef SBX_CGROUPS_H
#define SBX_CGROUPS_H

#include <agentd/abi.h>

#include <stddef.h>
#include <stdint.h>

#define SBX_CG_MAX_DIRS 4

typedef struct sbx_cg_limits {
    uint64_t memory_bytes;   /* 0: no limit */
    uint32_t pids_max;       /* 0: no limit */
    uint32_t cpu_millicores; /* 0: no limit; 1000 = one core */
} sbx_cg_limits_t;

typedef struct sbx_cgroup {
    int v2;
    size_t count;                   /* directories: one per v1 hierarchy, one on v2 */
    char *dirs[SBX_CG_MAX_DIRS];
    int freezer;                    /* index of the freezer dir (v1), -1: none */
} sbx_cgroup_t;

/* Create the sandbox's cgroup with its limits. On error returns a negative
 * code with the step and reason in err; nothing is left behind. */
int sbx_cgroup_create(const char *parent, const char *name, const sbx_cg_limits_t *lim,
                      sbx_cgroup_t **out, agentd_err_t *err);

/* The existing cgroup `name` (for reaping after a restart); ENOENT if no
 * hierarchy has it. */
int sbx_cgroup_open(const char *parent, const char *name, sbx_cgroup_t **out,
                    agentd_err_t *err);

/* Freeze (1) or thaw (0) every process. ENOTSUP without a freezer. */
int sbx_cgroup_freeze(sbx_cgroup_t *cg, int frozen, agentd_err_t *err);

/* 1 if frozen. */
int sbx_cgroup_frozen(const sbx_cgroup_t *cg);

/* SIGKILL every process in the cgroup (frozen first on v1, so nothing
 * forks past the kill). */
void sbx_cgroup_kill(sbx_cgroup_t *cg);

/* 1 when no process is left. */
int sbx_cgroup_empty(const sbx_cgroup_t *cg);

/* Remove the directories (the cgroup must be empty). Returns 0 or -errno. */
int sbx_cgroup_remove(sbx_cgroup_t *cg);

void sbx_cgroup_free(sbx_cgroup_t *cg);

/* "<dir>/cgroup.procs" of directory i, into buf. */
int sbx_cgroup_procs_path(const sbx_cgroup_t *cg, size_t i, char *buf, size_t len);

#endif
