/*
 * sandbox-docker benchmark: how long from "create a sandbox" to the agent
 * process running in its container, through the host's own registry and
 * host API as the daemon does:
 *   create -> exec `echo` -> first byte of its stdout -> exit -> destroy
 * RUNS times for the config's profile "test", printing the median and p90
 * of create-to-running and of the create callback alone.
 *
 *   sandbox_docker_bench CONFIG WORKSPACE [RUNS]
 *
 * It needs an engine: bench/sandbox_docker_bench.py starts a private
 * dockerd with a test image and runs this for an image profile, a template
 * built cold on every run, and the same template cached.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "config/config.h"
#include "core/context.h"
#include "plugins/profiles.h"
#include "plugins/registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

typedef struct bench {
    host_ctx_t ctx;
    host_profile_t prof;
    const agentd_sandbox_vtable_t *vt;
    const char *ws;
    int created, running, exited, out_eof, destroyed, failed;
    agentd_sandbox_t *sb;
    agentd_exec_t *ex;
    agentd_exec_io_t io;
} bench_t;

static void spin(bench_t *b, const int *flag, unsigned ms)
{
    uint64_t end = uv_hrtime() + (uint64_t)ms * 1000000u;
    while (!*flag && uv_hrtime() < end)
        uv_run(&b->ctx.loop, UV_RUN_ONCE);
}

static void on_created(void *ud, int status, agentd_sandbox_t *sb, const char *msg)
{
    bench_t *b = ud;
    b->sb = sb;
    b->created = 1;
    if (status != 0) {
        fprintf(stderr, "create failed: %s\n", msg ? msg : agentd_strerror(status));
        b->failed = 1;
    }
}

static void on_out(void *ud, const char *data, size_t len, int status)
{
    bench_t *b = ud;
    (void)data;
    if (status < 0)
        b->out_eof = 1;
    else if (len > 0)
        b->running = 1;
}

static void on_err(void *ud, const char *data, size_t len, int status)
{
    (void)ud, (void)data, (void)len, (void)status;
}

static void on_exit_cb(void *ud, int64_t code, int sig)
{
    bench_t *b = ud;
    (void)code, (void)sig;
    b->exited = 1;
}

static void on_destroyed(void *ud, int status)
{
    bench_t *b = ud;
    (void)status;
    b->destroyed = 1;
}

static int cmp(const void *a, const void *c)
{
    double x = *(const double *)a, y = *(const double *)c;
    return x < y ? -1 : x > y;
}

/* One run: create-to-created and create-to-running, in ms. */
static int one(bench_t *b, int i, double *created_ms, double *running_ms)
{
    char id[64];
    snprintf(id, sizeof id, "bench-%d-%d", (int)getpid(), i);
    agentd_sandbox_spec_t spec = {
        .size = sizeof spec, .sandbox_id = id, .profile_name = b->prof.name,
        .profile_json = b->prof.settings_json, .profile_len = strlen(b->prof.settings_json),
        .workspace = b->ws};
    b->created = b->running = b->exited = b->out_eof = b->destroyed = b->failed = 0;
    uint64_t t0 = uv_hrtime();
    agentd_err_t err = {{0}};
    if (b->vt->create(b->prof.plugin->self, &spec, on_created, b, &err) != 0) {
        fprintf(stderr, "create: %s\n", err.msg);
        return -1;
    }
    spin(b, &b->created, 600000);
    if (b->failed || b->sb == NULL)
        return -1;
    *created_ms = (double)(uv_hrtime() - t0) / 1e6;
    const char *argv[] = {"/bin/sh", "-c", "echo running", NULL};
    agentd_exec_spec_t es = {.size = sizeof es, .argv = argv};
    b->io.size = sizeof b->io;
    if (b->vt->exec(b->prof.plugin->self, b->sb, &es, on_exit_cb, b, &b->ex, &b->io, &err) != 0) {
        fprintf(stderr, "exec: %s\n", err.msg);
        return -1;
    }
    b->io.in.ops->shutdown(b->io.in.impl);
    b->io.out.ops->read_start(b->io.out.impl, on_out, b);
    b->io.err.ops->read_start(b->io.err.impl, on_err, b);
    spin(b, &b->running, 60000);
    *running_ms = (double)(uv_hrtime() - t0) / 1e6;
    int ok = b->running;
    spin(b, &b->exited, 60000);
    spin(b, &b->out_eof, 10000);
    b->vt->exec_release(b->prof.plugin->self, b->ex);
    b->io.in.ops->close(b->io.in.impl, NULL, NULL);
    b->io.out.ops->close(b->io.out.impl, NULL, NULL);
    b->io.err.ops->close(b->io.err.impl, NULL, NULL);
    if (b->vt->destroy(b->prof.plugin->self, b->sb, on_destroyed, b, NULL) == 0)
        spin(b, &b->destroyed, 60000);
    return ok ? 0 : -1;
}

static void on_stopped(void *ud)
{
    *(int *)ud = 1;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s CONFIG WORKSPACE [RUNS]\n", argv[0]);
        return 2;
    }
    int runs = argc > 3 ? atoi(argv[3]) : 20;
    if (runs < 1)
        runs = 1;
    bench_t *b = calloc(1, sizeof *b);
    double *created = calloc((size_t)runs, sizeof *created);
    double *running = calloc((size_t)runs, sizeof *running);
    host_config_t *cfg = NULL;
    host_diags_t d = {0};
    if (b == NULL || created == NULL || running == NULL)
        return 1;
    b->ws = argv[2];
    int rc = host_config_load(argv[1], &cfg, &d);
    if (rc == 0)
        rc = host_ctx_init(&b->ctx, cfg, stderr);
    if (rc == 0)
        rc = host_registry_load(b->ctx.registry);
    if (rc == 0)
        rc = host_profile_resolve(b->ctx.registry, b->ctx.config, "test", &b->prof, &d);
    host_diags_print(&d, stderr);
    host_diags_free(&d);
    if (rc != 0)
        return 1;
    b->vt = &b->prof.plugin->vt.sandbox;
    int n = 0;
    for (int i = 0; i < runs; i++)
        if (one(b, i, &created[n], &running[n]) == 0)
            n++;
    if (n > 0) {
        qsort(created, (size_t)n, sizeof *created, cmp);
        qsort(running, (size_t)n, sizeof *running, cmp);
        printf("runs %d  create-to-running median %.1f ms  p90 %.1f ms  max %.1f ms  |  "
               "create callback median %.1f ms\n", n, running[n / 2],
               running[(n * 9) / 10 < n ? (n * 9) / 10 : n - 1], running[n - 1], created[n / 2]);
    }
    host_profile_clear(&b->prof);
    int stopped = 0;
    b->ctx.stopping = 1;
    host_registry_stop(b->ctx.registry, 10000, on_stopped, &stopped);
    while (!stopped && uv_run(&b->ctx.loop, UV_RUN_ONCE) != 0)
        ;
    host_ctx_close(&b->ctx);
    free(created);
    free(running);
    free(b);
    return n == runs ? 0 : 1;
}
