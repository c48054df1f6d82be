/* The sandbox's cgroup (cgroups.h). */
#define _GNU_SOURCE
#include "cgroups.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* v1 controllers, in the order of sbx_cgroup_t.dirs; freezer is optional. */
static const char *const v1_ctrls[] = {"memory", "pids", "cpu", "freezer"};
#define V1_REQUIRED 3

typedef struct layout {
    int v2;
    char v2_mount[256];
    char v1_mount[4][256];
} layout_t;

/* Is `word` one of the comma-separated tokens of `list`? */
static int has_token(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = list; p != NULL; p = strchr(p, ',')) {
        if (*p == ',')
            p++;
        if (strncmp(p, word, n) == 0 && (p[n] == ',' || p[n] == '\0' || p[n] == '\n'))
            return 1;
    }
    return 0;
}

/* One /proc/self/mountinfo line: mount point, file system type, super
 * options. */
static void scan_mount(char *line, layout_t *lay)
{
    char *save = NULL, *mnt = NULL;
    char *tok = strtok_r(line, " ", &save);
    for (int i = 0; tok != NULL && i < 4; i++)
        tok = strtok_r(NULL, " ", &save), mnt = i == 3 ? tok : mnt;
    while (tok != NULL && strcmp(tok, "-") != 0)
        tok = strtok_r(NULL, " ", &save);
    char *fstype = strtok_r(NULL, " ", &save);
    strtok_r(NULL, " ", &save); /* source */
    char *opts = strtok_r(NULL, " \n", &save);
    if (mnt == NULL || fstype == NULL || opts == NULL)
        return;
    if (strcmp(fstype, "cgroup2") == 0 && lay->v2_mount[0] == '\0')
        snprintf(lay->v2_mount, sizeof lay->v2_mount, "%s", mnt);
    if (strcmp(fstype, "cgroup") != 0)
        return;
    for (size_t i = 0; i < 4; i++)
        if (has_token(opts, v1_ctrls[i]) && lay->v1_mount[i][0] == '\0')
            snprintf(lay->v1_mount[i], sizeof lay->v1_mount[i], "%s", mnt);
}

static int discover(layout_t *lay, agentd_err_t *err)
{
    memset(lay, 0, sizeof *lay);
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (f == NULL)
        return agentd_err_set(err, AGENTD_EIO, "cgroup: read /proc/self/mountinfo: %s",
                              strerror(errno));
    char line[4096];
    while (fgets(line, sizeof line, f) != NULL)
        scan_mount(line, lay);
    fclose(f);
    int v1_ok = 1;
    for (size_t i = 0; i < V1_REQUIRED; i++)
        v1_ok &= lay->v1_mount[i][0] != '\0';
    if (v1_ok)
        return 0;
    if (lay->v2_mount[0] != '\0') {
        lay->v2 = 1;
        return 0;
    }
    return agentd_err_set(err, AGENTD_ENOTSUP,
                          "cgroup: no cgroup v1 hierarchy with memory, pids and cpu and no "
                          "cgroup v2 mount; cannot limit the sandbox");
}

/* The daemon's own cgroup path in the hierarchy that has `ctrl` (v1) or in
 * the unified one (ctrl NULL). */
static int own_path(const char *ctrl, char *out, size_t len)
{
    FILE *f = fopen("/proc/self/cgroup", "re");
    if (f == NULL)
        return -1;
    char line[1024];
    int found = -1;
    while (found < 0 && fgets(line, sizeof line, f) != NULL) {
        char *c1 = strchr(line, ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (c2 == NULL)
            continue;
        *c2 = '\0';
        int match = ctrl == NULL ? c1[1] == '\0' : has_token(c1 + 1, ctrl);
        if (match) {
            c2[1 + strcspn(c2 + 1, "\n")] = '\0';
            snprintf(out, len, "%s", strcmp(c2 + 1, "/") == 0 ? "" : c2 + 1);
            found = 0;
        }
    }
    fclose(f);
    return found;
}

static int write_value(const char *dir, const char *file, const char *value)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = write(fd, value, strlen(value));
    int rc = n == (ssize_t)strlen(value) ? 0 : -errno;
    close(fd);
    return rc;
}

static int set_limit(const char *dir, const char *file, const char *value, agentd_err_t *err)
{
    int rc = write_value(dir, file, value);
    if (rc < 0)
        return agentd_err_set(err, AGENTD_EIO, "cgroup: set %s/%s = %s: %s", dir, file, value,
                              strerror(-rc));
    return 0;
}

/* A limit whose file exists only with swap accounting: absent is fine. */
static int set_optional(const char *dir, const char *file, const char *value,
                        agentd_err_t *err)
{
    int rc = write_value(dir, file, value);
    if (rc == -ENOENT)
        return 0;
    if (rc < 0)
        return agentd_err_set(err, AGENTD_EIO, "cgroup: set %s/%s = %s: %s", dir, file, value,
                              strerror(-rc));
    return 0;
}

static int dir_for(const char *mount, const char *ctrl, const char *parent, const char *name,
                   char **out)
{
    char own[512] = "";
    if (parent == NULL || parent[0] == '\0') {
        if (own_path(ctrl, own, sizeof own) < 0)
            return -1;
        parent = own;
    }
    return asprintf(out, "%s%s/%s", mount, parent, name) < 0 ? -1 : 0;
}

static sbx_cgroup_t *cg_new(const layout_t *lay, const char *parent, const char *name)
{
    sbx_cgroup_t *cg = calloc(1, sizeof *cg);
    if (cg == NULL)
        return NULL;
    cg->v2 = lay->v2;
    cg->freezer = -1;
    if (lay->v2) {
        if (dir_for(lay->v2_mount, NULL, parent, name, &cg->dirs[0]) < 0)
            return sbx_cgroup_free(cg), NULL;
        cg->count = 1;
        return cg;
    }
    for (size_t i = 0; i < 4; i++) {
        if (lay->v1_mount[i][0] == '\0')
            continue;
        if (dir_for(lay->v1_mount[i], v1_ctrls[i], parent, name, &cg->dirs[cg->count]) < 0)
            return sbx_cgroup_free(cg), NULL;
        if (i == 3)
            cg->freezer = (int)cg->count;
        cg->count++;
    }
    return cg;
}

/* One limit to write: dirs[dir]/file = value; NULL file: not set. */
typedef struct setting {
    size_t dir;
    const char *file;
    char value[48];
    int optional; /* exists only with swap accounting */
} setting_t;

/* The limits as files of this cgroup's version: memory (and swap: no escape
 * into it), process count, CPU quota per 100 ms period. */
static size_t limit_settings(const sbx_cgroup_t *cg, const sbx_cg_limits_t *lim,
                             setting_t out[5])
{
    size_t n = 0;
    unsigned long long mem = lim->memory_bytes;
    unsigned quota = lim->cpu_millicores * 100u;
    if (mem != 0) {
        out[n] = (setting_t){0, cg->v2 ? "memory.max" : "memory.limit_in_bytes", "", 0};
        snprintf(out[n++].value, sizeof out[0].value, "%llu", mem);
        out[n] = (setting_t){0, cg->v2 ? "memory.swap.max" : "memory.memsw.limit_in_bytes",
                             "", 1};
        snprintf(out[n++].value, sizeof out[0].value, "%llu", cg->v2 ? 0ull : mem);
    }
    if (lim->pids_max != 0) {
        out[n] = (setting_t){cg->v2 ? 0 : 1, "pids.max", "", 0};
        snprintf(out[n++].value, sizeof out[0].value, "%u", (unsigned)lim->pids_max);
    }
    if (quota != 0 && cg->v2) {
        out[n] = (setting_t){0, "cpu.max", "", 0};
        snprintf(out[n++].value, sizeof out[0].value, "%u 100000", quota);
    } else if (quota != 0) {
        out[n++] = (setting_t){2, "cpu.cfs_period_us", "100000", 0};
        out[n] = (setting_t){2, "cpu.cfs_quota_us", "", 0};
        snprintf(out[n++].value, sizeof out[0].value, "%u", quota);
    }
    return n;
}

static int set_limits(const sbx_cgroup_t *cg, const sbx_cg_limits_t *lim, agentd_err_t *err)
{
    setting_t s[5];
    size_t n = limit_settings(cg, lim, s);
    for (size_t i = 0; i < n; i++) {
        int rc = s[i].optional ? set_optional(cg->dirs[s[i].dir], s[i].file, s[i].value, err)
                               : set_limit(cg->dirs[s[i].dir], s[i].file, s[i].value, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* v2: let the parent hand memory, pids and cpu to its children; if the
 * parent is our own cgroup and holds us, move us to a leaf first. */
static int v2_delegate(const sbx_cgroup_t *cg, agentd_err_t *err)
{
    char parent[1024];
    snprintf(parent, sizeof parent, "%s", cg->dirs[0]);
    *strrchr(parent, '/') = '\0';
    int rc = write_value(parent, "cgroup.subtree_control", "+memory +pids +cpu");
    if (rc == -EBUSY) {
        char leaf[1100], pid[32];
        snprintf(leaf, sizeof leaf, "%s/agentd-daemon", parent);
        snprintf(pid, sizeof pid, "%d", (int)getpid());
        if ((mkdir(leaf, 0755) == 0 || errno == EEXIST) &&
            write_value(leaf, "cgroup.procs", pid) == 0)
            rc = write_value(parent, "cgroup.subtree_control", "+memory +pids +cpu");
    }
    if (rc < 0)
        return agentd_err_set(err, AGENTD_EIO,
                              "cgroup: enable memory, pids and cpu for children of %s: %s "
                              "(on cgroup v2 the parent needs them delegated, e.g. systemd "
                              "Delegate=yes, or set the plugin's cgroup_parent)",
                              parent, strerror(-rc));
    return 0;
}

int sbx_cgroup_create(const char *parent, const char *name, const sbx_cg_limits_t *lim,
                      sbx_cgroup_t **out, agentd_err_t *err)
{
    layout_t lay;
    int rc = discover(&lay, err);
    if (rc < 0)
        return rc;
    sbx_cgroup_t *cg = cg_new(&lay, parent, name);
    if (cg == NULL)
        return agentd_err_set(err, AGENTD_EIO, "cgroup: cannot find the daemon's cgroup");
    if (cg->v2 && (rc = v2_delegate(cg, err)) < 0) {
        sbx_cgroup_free(cg);
        return rc;
    }
    for (size_t i = 0; i < cg->count; i++) {
        if (mkdir(cg->dirs[i], 0755) < 0) {
            rc = agentd_err_set(err, errno == EEXIST ? AGENTD_EEXIST : AGENTD_EIO,
                                "cgroup: mkdir %s: %s", cg->dirs[i], strerror(errno));
            cg->count = i;
            sbx_cgroup_remove(cg);
            sbx_cgroup_free(cg);
            return rc;
        }
    }
    rc = set_limits(cg, lim, err);
    if (rc < 0) {
        sbx_cgroup_remove(cg);
        sbx_cgroup_free(cg);
        return rc;
    }
    *out = cg;
    return 0;
}

int sbx_cgroup_open(const char *parent, const char *name, sbx_cgroup_t **out,
                    agentd_err_t *err)
{
    layout_t lay;
    int rc = discover(&lay, err);
    if (rc < 0)
        return rc;
    sbx_cgroup_t *cg = cg_new(&lay, parent, name);
    if (cg == NULL)
        return agentd_err_set(err, AGENTD_ENOMEM, "cgroup: out of memory");
    struct stat st;
    if (stat(cg->dirs[0], &st) < 0) {
        sbx_cgroup_free(cg);
        return agentd_err_set(err, AGENTD_ENOENT, "cgroup: no cgroup %s", name);
    }
    *out = cg;
    return 0;
}

int sbx_cgroup_freeze(sbx_cgroup_t *cg, int frozen, agentd_err_t *err)
{
    if (cg->v2)
        return set_limit(cg->dirs[0], "cgroup.freeze", frozen ? "1" : "0", err);
    if (cg->freezer < 0)
        return agentd_err_set(err, AGENTD_ENOTSUP, "cgroup: no freezer hierarchy");
    return set_limit(cg->dirs[cg->freezer], "freezer.state", frozen ? "FROZEN" : "THAWED",
                     err);
}

int sbx_cgroup_frozen(const sbx_cgroup_t *cg)
{
    char path[1100], buf[32] = "";
    const char *file = cg->v2 ? "cgroup.freeze" : "freezer.state";
    if (!cg->v2 && cg->freezer < 0)
        return 0;
    snprintf(path, sizeof path, "%s/%s", cg->dirs[cg->v2 ? 0 : (size_t)cg->freezer], file);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return 0;
    int frozen = fgets(buf, sizeof buf, f) != NULL && (buf[0] == '1' || buf[0] == 'F');
    fclose(f);
    return frozen;
}

/* Signal every pid listed in dir/cgroup.procs; returns how many. */
static int signal_all(const char *dir, int sig)
{
    char path[1100];
    snprintf(path, sizeof path, "%s/cgroup.procs", dir);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return 0;
    int n = 0, pid;
    while (fscanf(f, "%d", &pid) == 1)
        n += kill(pid, sig) == 0;
    fclose(f);
    return n;
}

void sbx_cgroup_kill(sbx_cgroup_t *cg)
{
    if (cg->v2 && write_value(cg->dirs[0], "cgroup.kill", "1") == 0)
        return;
    int frozen = sbx_cgroup_freeze(cg, 1, NULL) == 0;
    for (size_t i = 0; i < cg->count; i++)
        signal_all(cg->dirs[i], SIGKILL);
    if (frozen)
        sbx_cgroup_freeze(cg, 0, NULL);
}

int sbx_cgroup_empty(const sbx_cgroup_t *cg)
{
    for (size_t i = 0; i < cg->count; i++) {
        char path[1100];
        snprintf(path, sizeof path, "%s/cgroup.procs", cg->dirs[i]);
        FILE *f = fopen(path, "re");
        if (f == NULL)
            continue;
        int c = fgetc(f);
        fclose(f);
        if (c != EOF)
            return 0;
    }
    return 1;
}

int sbx_cgroup_remove(sbx_cgroup_t *cg)
{
    int rc = 0;
    for (size_t i = 0; i < cg->count; i++)
        if (rmdir(cg->dirs[i]) < 0 && errno != ENOENT)
            rc = -errno;
    return rc;
}

void sbx_cgroup_free(sbx_cgroup_t *cg)
{
    if (cg == NULL)
        return;
    for (size_t i = 0; i < SBX_CG_MAX_DIRS; i++)
        free(cg->dirs[i]);
    free(cg);
}

int sbx_cgroup_procs_path(const sbx_cgroup_t *cg, size_t i, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s/cgroup.procs", cg->dirs[i]);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}
