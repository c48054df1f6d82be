/* The sandbox benches' shared driver (sandbox_start.h). */
#include "sandbox_start.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

static void next_run(bench_sandbox_t *b);

static double ms_since(uint64_t t0)
{
    return (double)(uv_hrtime() - t0) / 1e6;
}

static void on_destroyed(void *ud, int status)
{
    bench_sandbox_t *b = ud;
    if (status != 0) {
        fprintf(stderr, "destroy: %s\n", agentd_strerror(status));
        b->failed = 1;
    }
    b->sb = NULL;
    next_run(b);
}

static void finish_run(bench_sandbox_t *b)
{
    if (!b->exited || b->out_open)
        return;
    b->vt->exec_release(b->prof.plugin->self, b->ex);
    b->io.in.ops->close(b->io.in.impl, NULL, NULL);
    b->io.out.ops->close(b->io.out.impl, NULL, NULL);
    b->io.err.ops->close(b->io.err.impl, NULL, NULL);
    b->done++;
    agentd_err_t err = {{0}};
    if (b->vt->destroy(b->prof.plugin->self, b->sb, on_destroyed, b, &err) != 0) {
        fprintf(stderr, "destroy: %s\n", err.msg);
        b->failed = 1;
    }
}

static void on_out(void *ud, const char *data, size_t len, int status)
{
    bench_sandbox_t *b = ud;
    (void)data;
    if (status == 0 && len > 0 && !b->running) {
        b->running = 1;
        if (b->to_running != NULL)
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
    bench_sandbox_t *b = ud;
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
    bench_sandbox_t *b = ud;
    if (status != 0) {
        fprintf(stderr, "create: %s: %s\n", agentd_strerror(status), msg ? msg : "");
        b->failed = 1;
        return;
    }
    if (b->to_created != NULL)
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

static void next_run(bench_sandbox_t *b)
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

int bench_sandbox_run(bench_sandbox_t *b)
{
    next_run(b);
    if (b->idle) { /* stops at the first byte, the sandbox kept */
        uv_run(&b->ctx.loop, UV_RUN_DEFAULT);
        return b->failed || !b->running ? -1 : 0;
    }
    while (!b->failed && b->done < b->runs && uv_run(&b->ctx.loop, UV_RUN_ONCE) != 0)
        ;
    while (b->sb != NULL && uv_run(&b->ctx.loop, UV_RUN_ONCE) != 0)
        ;
    return !b->failed && b->done == b->runs ? 0 : -1;
}

int bench_sandbox_open(bench_sandbox_t *b, const char *config, const char *profile)
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

void bench_sandbox_close(bench_sandbox_t *b, unsigned stop_ms)
{
    host_profile_clear(&b->prof);
    int stopped = 0;
    b->ctx.stopping = 1;
    host_registry_stop(b->ctx.registry, stop_ms, on_stopped, &stopped);
    while (!stopped && uv_run(&b->ctx.loop, UV_RUN_ONCE) != 0)
        ;
    host_ctx_close(&b->ctx);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_report(const char *what, double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    printf("  %-44s median %8.2f ms   p90 %8.2f ms   min %8.2f   max %8.2f   (n=%d)\n", what,
           v[n / 2], v[(n * 9) / 10], v[0], v[n - 1], n);
    return v[n / 2];
}
