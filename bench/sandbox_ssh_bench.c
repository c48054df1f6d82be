/*
 * sandbox-ssh benchmark: how long from "create a sandbox" to the agent
 * process running on a remote host (first byte of its stdout), with a cold
 * connection (a fresh plugin: private agent, SSH handshake, authentication)
 * and with a pooled one (a channel on the host's ControlMaster); and how a
 * sandbox whose workspace is a repository starts from the host's
 * repository cache (fetch into the mirror, clone --reference) compared with
 * a full clone.
 *
 * It loads the plugin through the host's own registry and calls it through
 * the host API, as the daemon does. The hosts, keys and repository come
 * from bench/sandbox_ssh_bench.py, which starts a real sshd on loopback and
 * runs this program:
 *
 *   sandbox_ssh_bench RUNS CONFIG_WITH_CACHE CONFIG_WITHOUT_CACHE
 *
 * Both configs have the profiles "plain" (empty workspace) and "repo"
 * (the repository); the second one sets repo_cache=false.
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
    char workspace[64];
    char id[64];
    int runs, done;
    double *to_running;
    uint64_t t0;
    agentd_sandbox_t *sb;
    agentd_exec_t *ex;
    agentd_exec_io_t io;
    int running, exited, out_open;
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
    if (status != 0) {
        fprintf(stderr, "destroy: %s\n", agentd_strerror(status));
        b->failed = 1;
    }
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
    agentd_err_t err = {{0}};
    if (b->vt->destroy(b->prof.plugin->self, b->sb, on_destroyed, b, &err) != 0) {
        fprintf(stderr, "destroy: %s\n", err.msg);
        b->failed = 1;
    }
}

static void on_out(void *ud, const char *data, size_t len, int status)
{
    bench_t *b = ud;
    (void)data;
    if (status == 0 && len > 0 && !b->running) {
        b->running = 1;
        b->to_running[b->done] = ms_since(b->t0);
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
    if (code != 0 || sig != 0 || !b->running) {
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
    b->sb = sb;
    static const char *const argv[] = {"/bin/echo", "running", NULL};
    agentd_exec_spec_t spec = {.size = sizeof spec, .argv = argv};
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

/* Sorts v; prints and returns the median. */
static double report(const char *what, double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    printf("  %-44s median %8.2f ms   p90 %8.2f ms   min %8.2f   max %8.2f   (n=%d)\n", what,
           v[n / 2], v[(n * 9) / 10], v[0], v[n - 1], n);
    return v[n / 2];
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    char chunk[4096];
    size_t n;
    while (m != NULL && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        fwrite(chunk, 1, n, m);
    fclose(f);
    if (m != NULL)
        fclose(m);
    return buf;
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
    snprintf(b->workspace, sizeof b->workspace, "/tmp/ssh-bench-ws-%d", (int)getpid());
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
    host_registry_stop(b->ctx.registry, 10000, on_stopped, &stopped);
    while (!stopped && uv_run(&b->ctx.loop, UV_RUN_ONCE) != 0)
        ;
    host_ctx_close(&b->ctx);
}

/* `runs` sandboxes one after the other on one plugin instance; the first
 * `skip` are not counted (they warm the pool or the cache). */
static int time_runs(const char *config, const char *profile, int skip, int runs,
                     double *out, double *first)
{
    bench_t *b = calloc(1, sizeof *b);
    if (b == NULL || open_bench(b, config, profile) != 0)
        return free(b), -1;
    b->runs = skip + runs;
    b->to_running = calloc((size_t)b->runs, sizeof(double));
    if (b->to_running == NULL)
        b->failed = 1;
    next_run(b);
    while (!b->failed && b->done < b->runs && uv_run(&b->ctx.loop, UV_RUN_ONCE) != 0)
        ;
    while (b->sb != NULL && uv_run(&b->ctx.loop, UV_RUN_ONCE) != 0)
        ;
    int ok = !b->failed && b->done == b->runs;
    if (ok) {
        memcpy(out, b->to_running + skip, (size_t)runs * sizeof(double));
        if (first != NULL)
            *first = b->to_running[0];
    }
    free(b->to_running);
    close_bench(b);
    free(b);
    return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
    int runs = argc > 1 ? atoi(argv[1]) : 0;
    char *with = argc > 2 ? slurp(argv[2]) : NULL;
    char *without = argc > 3 ? slurp(argv[3]) : NULL;
    if (runs < 1 || with == NULL || without == NULL) {
        fprintf(stderr, "usage: %s RUNS CONFIG_WITH_CACHE CONFIG_WITHOUT_CACHE\n"
                        "  (run by bench/sandbox_ssh_bench.py, which starts sshd)\n", argv[0]);
        return 2;
    }
    int cold_n = runs < 10 ? runs : 10, clone_n = runs < 10 ? runs : 10;
    double *v = calloc((size_t)runs + 1, sizeof(double));
    double *cold = calloc((size_t)cold_n, sizeof(double));
    double first = 0, pooled, cached, full, cold_median;
    int rc = v == NULL || cold == NULL ? -1 : 0;
    printf("sandbox-ssh: create -> agent process running on the host (first byte of its "
           "stdout)\n");
    /* Cold: every run is a fresh plugin (its agent, a new SSH connection). */
    for (int i = 0; rc == 0 && i < cold_n; i++)
        rc = time_runs(with, "plain", 0, 1, &cold[i], NULL);
    if (rc == 0)
        cold_median = report("cold connection (agent, handshake, auth)", cold, cold_n);
    if (rc == 0)
        rc = time_runs(with, "plain", 1, runs, v, NULL);
    if (rc == 0) {
        pooled = report("pooled connection (ControlMaster)", v, runs);
        printf("  -> pooled: %s the 50 ms target; %.1fx faster than cold\n",
               pooled < 50.0 ? "meets" : "MISSES", cold_median / pooled);
    }
    printf("repository workspace (the repository from bench/sandbox_ssh_bench.py):\n");
    if (rc == 0)
        rc = time_runs(with, "repo", 1, runs, v, &first);
    if (rc == 0) {
        printf("  %-44s %8.2f ms\n", "first sandbox (fills the host's mirror)", first);
        cached = report("cached (fetch into mirror, clone --shared)", v, runs);
        rc = time_runs(without, "repo", 0, clone_n, v, NULL);
        if (rc == 0) {
            full = report("full clone (repo_cache=false)", v, clone_n);
            printf("  -> cached start is %.1fx faster than a full clone (target: >= 10x): "
                   "%s\n", full / cached, full / cached >= 10.0 ? "meets" : "MISSES");
        }
    }
    free(v);
    free(cold);
    free(with);
    free(without);
    char ws[64];
    snprintf(ws, sizeof ws, "/tmp/ssh-bench-ws-%d", (int)getpid());
    rmdir(ws);
    return rc == 0 ? 0 : 1;
}
