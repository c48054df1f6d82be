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
#include "core/context.h"
#include "plugins/profiles.h"
#include "plugins/registry.h"

#include <dirent.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

typedef struct bench {
    host_ctx_t ctx;
    host_profile_t prof;
    const agentd_sandbox_vtable_t *vt;
    char workspace[256];
    char id[64];
    int runs, done;
    double *to_running, *to_created;
    uint64_t t0, t_created;
    agentd_sandbox_t *sb;
    agentd_exec_t *ex;
    agentd_exec_io_t io;
    int running, exited, out_open;
    int idle;          /* measuring memory: keep the sandbox */
    int stopping;      /* the idle sandbox is being killed on purpose */
    int failed;
} bench_t;

static void next_run(bench_t *b);

static double ms_since(uint64_t t0)
{
    return (double)(uv_hrtime() - t0) / 1e6;
}

static void on_destroyed(void *ud, int status)
{
    bench_t *b = ud;
    if (status != 0)
        fprintf(stderr, "destroy: %s\n", agentd_strerror(status));
    b->sb = NULL;
    next_run(b);
}

static void finish_run(bench_t *b)
{
    if (!b->exited || b->out_open)
        return;
    b->vt->exec_release(b->prof.plugin->self, b->ex);
    b->io.in.ops->close(b->io.in.impl, NULL, NULL);
    b->io.out.ops->close(b->io.out.impl, NULL, NULL);
    b->io.err.ops->close(b->io.err.impl, NULL, NULL);
    b->done++;
    b->vt->destroy(b->prof.plugin->self, b->sb, on_destroyed, b, NULL);
}

static void on_out(void *ud, const char *data, size_t len, int status)
{
    bench_t *b = ud;
    if (status == 0 && len > 0 && !b->running) {
        b->running = 1;
        b->to_running[b->done] = ms_since(b->t0);
        if (b->idle)
            uv_stop(&b->ctx.loop);
    }
    if (status < 0) {
        b->out_open = 0;
        finish_run(b);
    }
}

static void on_exit_cb(void *ud, int64_t code, int sig)
{
    bench_t *b = ud;
    b->exited = 1;
    if (!b->stopping && (code != 0 || sig != 0 || !b->running)) {
        fprintf(stderr, "run %d: exit %lld signal %d before output\n", b->done,
                (long long)code, sig);
        b->failed = 1;
    }
    finish_run(b);
}

static void on_created(void *ud, int status, agentd_sandbox_t *sb, const char *msg)
{
    bench_t *b = ud;
    if (status != 0) {
        fprintf(stderr, "create: %s: %s\n", agentd_strerror(status), msg ? msg : "");
        b->failed = 1;
        return;
    }
    b->to_created[b->done] = ms_since(b->t0);
    b->sb = sb;
    static const char *const run_argv[] = {"/bin/echo", "running", NULL};
    static const char *const idle_argv[] = {"/bin/sh", "-c", "echo running; exec sleep 3600",
                                            NULL};
    agentd_exec_spec_t spec = {.size = sizeof spec, .argv = b->idle ? idle_argv : run_argv};
    agentd_err_t err = {{0}};
    b->io.size = sizeof b->io;
    b->running = b->exited = 0;
    b->out_open = 1;
    if (b->vt->exec(b->prof.plugin->self, sb, &spec, on_exit_cb, b, &b->ex, &b->io, &err)) {
        fprintf(stderr, "exec: %s\n", err.msg);
        b->failed = 1;
        return;
    }
    b->io.in.ops->shutdown(b->io.in.impl);
    b->io.out.ops->read_start(b->io.out.impl, on_out, b);
}

static void next_run(bench_t *b)
{
    if (b->failed || b->done == b->runs)
        return;
    snprintf(b->id, sizeof b->id, "bench-%d-%d", (int)getpid(), b->done);
    agentd_sandbox_spec_t spec = {
        .size = sizeof spec,
        .sandbox_id = b->id,
        .profile_name = b->prof.name,
        .profile_json = b->prof.settings_json,
        .profile_len = strlen(b->prof.settings_json),
        .workspace = b->workspace,
        .model_api_url = "http://127.0.0.1:9",
    };
    agentd_err_t err = {{0}};
    b->t0 = uv_hrtime();
    if (b->vt->create(b->prof.plugin->self, &spec, on_created, b, &err) != 0) {
        fprintf(stderr, "create: %s\n", err.msg);
        b->failed = 1;
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void report(const char *what, double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    printf("  %-32s median %6.2f ms   p90 %6.2f ms   min %6.2f   max %6.2f   (n=%d)\n", what,
           v[n / 2], v[(n * 9) / 10], v[0], v[n - 1], n);
}

static int open_bench(bench_t *b, const char *config, const char *profile)
{
    host_config_t *cfg = NULL;
    host_diags_t d = {0};
    if (host_config_load_text(config, strlen(config), "<bench>", &cfg, &d) != 0 ||
        host_ctx_init(&b->ctx, cfg, stderr) != 0 || host_registry_load(b->ctx.registry) != 0 ||
        host_profile_resolve(b->ctx.registry, cfg, profile, &b->prof, &d) != 0) {
        host_diags_print(&d, stderr);
        host_diags_free(&d);
        return -1;
    }
    b->vt = &b->prof.plugin->vt.sandbox;
    return 0;
}

static void on_stopped(void *ud)
{
    *(int *)ud = 1;
}

static void close_bench(bench_t *b)
{
    host_profile_clear(&b->prof);
    int stopped = 0;
    b->ctx.stopping = 1;
    host_registry_stop(b->ctx.registry, 5000, on_stopped, &stopped);
    while (!stopped && uv_run(&b->ctx.loop, UV_RUN_ONCE) != 0)
        ;
    host_ctx_close(&b->ctx);
}

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
    bench_t *b = calloc(1, sizeof *b);
    if (b == NULL || open_bench(b, config, profile) != 0)
        return free(b), -1;
    snprintf(b->workspace, sizeof b->workspace, "/tmp/sbx-bench-ws-%d", (int)getpid());
    b->runs = runs;
    b->to_running = calloc((size_t)runs, sizeof(double));
    b->to_created = calloc((size_t)runs, sizeof(double));
    next_run(b);
    uv_run(&b->ctx.loop, UV_RUN_DEFAULT);
    int ok = !b->failed && b->done == runs;
    if (ok) {
        printf("%s\n", label);
        report("create -> agent process running", b->to_running, runs);
        report("create -> create callback", b->to_created, runs);
    }
    free(b->to_running);
    free(b->to_created);
    close_bench(b);
    free(b);
    return ok ? 0 : -1;
}

static int measure_idle(const char *config)
{
    bench_t *b = calloc(1, sizeof *b);
    if (b == NULL || open_bench(b, config, "fast") != 0)
        return free(b), -1;
    snprintf(b->workspace, sizeof b->workspace, "/tmp/sbx-bench-ws-%d", (int)getpid());
    struct mallinfo2 before = mallinfo2();
    b->runs = 1;
    b->idle = 1;
    double t = 0;
    b->to_running = &t;
    b->to_created = &t;
    next_run(b);
    uv_run(&b->ctx.loop, UV_RUN_DEFAULT);
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
    close_bench(b);
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
