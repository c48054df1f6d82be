/*
 * sandbox-seccomp benchmark: how long from "create a sandbox" to the agent
 * process running in it, and what an idle sandbox costs in memory.
 *
 * It loads the plugin through the host's own registry and calls it through
 * the host API, as the daemon does:
 *   create -> (probe, when verify_on_create) -> exec `echo` -> first byte of
 *   its stdout (the command has been exec'd and has run) -> exit -> destroy
 * N times per profile, and prints the median and p90 of create-to-running
 * (and of the create callback alone). Then one sandbox runs `sleep` (an
 * idle agent) and the memory of its helper processes (PSS), of its cgroup
 * (everything charged to the sandbox) and of the daemon's heap is printed.
 *
 *   sandbox_seccomp_bench [RUNS]      (root; default 200 runs)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "config/config.h"
#include "sandbox_start.h"

#include <dirent.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

/* PSS of one process in KiB (smaps_rollup), 0 if unknown. */
static long pss_kib(int pid)
{
    char path[64], line[256];
    long kib = 0;
    snprintf(path, sizeof path, "/proc/%d/smaps_rollup", pid);
    FILE *f = fopen(path, "re");
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "Pss: %ld kB", &kib) == 1)
            break;
    if (f != NULL)
        fclose(f);
    return kib;
}

static int parent_of(int pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "re");
    int ppid = -1;
    if (f != NULL && fgets(buf, sizeof buf, f) != NULL) {
        char *p = strrchr(buf, ')');
        if (p == NULL || sscanf(p + 2, "%*c %d", &ppid) != 1)
            ppid = -1;
    }
    if (f != NULL)
        fclose(f);
    return ppid;
}

/* The first child of pid found in /proc, or -1. */
static int child_of(int pid)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    int found = -1;
    while (d != NULL && found < 0 && (e = readdir(d)) != NULL) {
        int p = atoi(e->d_name);
        if (p > 0 && parent_of(p) == pid)
            found = p;
    }
    if (d != NULL)
        closedir(d);
    return found;
}

static long cgroup_usage_kib(int pid)
{
    char path[128], line[512], file[700];
    snprintf(path, sizeof path, "/proc/%d/cgroup", pid);
    FILE *f = fopen(path, "re");
    long bytes = -1;
    while (f != NULL && fgets(line, sizeof line, f) != NULL) {
        char *cg = strstr(line, ":memory:");
        if (cg == NULL)
            continue;
        cg[strcspn(cg, "\n")] = '\0';
        snprintf(file, sizeof file, "/sys/fs/cgroup/memory%s/memory.usage_in_bytes", cg + 8);
        FILE *u = fopen(file, "re");
        if (u != NULL && fscanf(u, "%ld", &bytes) != 1)
            bytes = -1;
        if (u != NULL)
            fclose(u);
    }
    if (f != NULL)
        fclose(f);
    return bytes < 0 ? -1 : bytes / 1024;
}

static int time_profile(const char *config, const char *profile, int runs, const char *label)
{
    bench_sandbox_t *b = calloc(1, sizeof *b);
    if (b == NULL || bench_sandbox_open(b, config, profile) != 0)
        return free(b), -1;
    snprintf(b->workspace, sizeof b->workspace, "/tmp/sbx-bench-ws-%d", (int)getpid());
    b->runs = runs;
    b->to_running = calloc((size_t)runs, sizeof(double));
    b->to_created = calloc((size_t)runs, sizeof(double));
    int ok = b->to_running != NULL && b->to_created != NULL && bench_sandbox_run(b) == 0;
    if (ok) {
        printf("%s\n", label);
        bench_report("create -> agent process running", b->to_running, runs);
        bench_report("create -> create callback", b->to_created, runs);
    }
    free(b->to_running);
    free(b->to_created);
    bench_sandbox_close(b, 5000);
    free(b);
    return ok ? 0 : -1;
}

static int measure_idle(const char *config)
{
    bench_sandbox_t *b = calloc(1, sizeof *b);
    if (b == NULL || bench_sandbox_open(b, config, "fast") != 0)
        return free(b), -1;
    snprintf(b->workspace, sizeof b->workspace, "/tmp/sbx-bench-ws-%d", (int)getpid());
    struct mallinfo2 before = mallinfo2();
    b->runs = 1;
    b->idle = 1;
    if (bench_sandbox_run(b) != 0) {
        bench_sandbox_close(b, 5000);
        free(b);
        return -1;
    }
    struct mallinfo2 after = mallinfo2();
    int outer = child_of(getpid());
    int init = outer > 0 ? child_of(outer) : -1;
    int cmd = init > 0 ? child_of(init) : -1;
    printf("idle sandbox (running `sleep`):\n");
    printf("  helper outside (pid %d) PSS %ld KiB, pid 1 inside (pid %d) PSS %ld KiB\n", outer,
           pss_kib(outer), init, pss_kib(init));
    printf("  the idle command itself (sleep, pid %d) PSS %ld KiB\n", cmd, pss_kib(cmd));
    printf("  everything charged to the sandbox's memory cgroup: %ld KiB\n",
           cgroup_usage_kib(init));
    printf("  daemon heap for the sandbox (proxy, state): %ld KiB\n",
           (long)(after.uordblks - before.uordblks) / 1024);
    b->idle = 0;
    b->stopping = 1;
    b->vt->exec_signal(b->prof.plugin->self, b->ex, AGENTD_SIG_KILL, NULL);
    uv_run(&b->ctx.loop, UV_RUN_DEFAULT);
    bench_sandbox_close(b, 5000);
    free(b);
    return 0;
}

static char *make_config(const char *data_dir)
{
    char *cfg = NULL;
    if (asprintf(&cfg,
                 "{\"data_dir\": \"%s\", \"log\": {\"level\": \"warn\", \"format\": \"text\"},"
                 " \"plugins\": {\"dirs\": [\"%s\"], \"load\": [\"sandbox-seccomp\"]},"
                 " \"sandboxes\": {"
                 "  \"fast\": {\"plugin\": \"sandbox-seccomp\", \"verify_on_create\": false},"
                 "  \"verified\": {\"plugin\": \"sandbox-seccomp\", \"verify_on_create\": true}},"
                 " \"default_sandbox\": \"fast\"}",
                 data_dir, SBX_BENCH_PLUGIN_DIR) < 0)
        return NULL;
    return cfg;
}

int main(int argc, char **argv)
{
    int runs = argc > 1 ? atoi(argv[1]) : 200;
    if (runs < 1 || geteuid() != 0) {
        fprintf(stderr, "usage: %s [RUNS]   (as root: it creates cgroups)\n", argv[0]);
        return 2;
    }
    char data_dir[64], ws[64];
    snprintf(data_dir, sizeof data_dir, "/tmp/sbx-bench-var-%d", (int)getpid());
    snprintf(ws, sizeof ws, "/tmp/sbx-bench-ws-%d", (int)getpid());
    char *config = make_config(data_dir);
    if (config == NULL || host_mkdir_p(data_dir, 0700) != 0 || host_mkdir_p(ws, 0755) != 0)
        return 1;
    printf("sandbox-seccomp: %d runs per profile (target: create -> running < 20 ms)\n", runs);
    int rc = time_profile(config, "fast", runs, "verify_on_create=false:");
    if (rc == 0)
        rc = time_profile(config, "verified", runs, "verify_on_create=true (the default):");
    if (rc == 0)
        rc = measure_idle(config);
    free(config);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s %s", data_dir, ws);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s and %s\n", data_dir, ws);
    return rc == 0 ? 0 : 1;
}
