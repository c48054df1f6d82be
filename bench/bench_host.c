/* The real host runtime for in-process benchmarks (bench_host.h). */
#include "bench_host.h"

#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "config/config.h"
#include "plugins/registry.h"

#ifndef BENCH_PLUGIN_DIR
#define BENCH_PLUGIN_DIR ""
#endif

int bench_scratch_dir(const char *name, const char *given, char *dir, size_t len)
{
    if (given != NULL)
        snprintf(dir, len, "%s", given);
    else
        snprintf(dir, len, "/tmp/%s-%d", name, (int)getpid());
    if (host_mkdir_p(dir, 0700) != 0) {
        fprintf(stderr, "%s: cannot create %s\n", name, dir);
        return -1;
    }
    return 0;
}

int bench_host_open(bench_host_t *h, const char *name, const char *dir, const char *extra_json)
{
    char text[2048], file[128];
    snprintf(text, sizeof text,
             "{\"data_dir\": \"%s/var\", \"log\": {\"level\": \"warn\"},"
             " \"plugins\": {\"dirs\": [\"%s\"], \"load\": [\"sandbox-seccomp\"]},"
             " \"sandboxes\": {\"local\": {\"plugin\": \"sandbox-seccomp\"}},"
             " \"default_sandbox\": \"local\"%s}",
             dir, BENCH_PLUGIN_DIR, extra_json);
    snprintf(file, sizeof file, "%s.json", name);
    host_config_t *cfg = NULL;
    host_diags_t diags = {0};
    if (host_config_load_text(text, strlen(text), file, &cfg, &diags) != 0) {
        host_diags_print(&diags, stderr);
        host_diags_free(&diags);
        return -1;
    }
    host_diags_free(&diags);
    if (host_ctx_init(&h->ctx, cfg, stderr) != 0)
        return -1;
    agentd_err_t err = {{0}};
    if (host_registry_load(h->ctx.registry) != 0) {
        fprintf(stderr, "%s: the sandbox-seccomp plugin was refused\n", name);
        host_ctx_close(&h->ctx);
        return -1;
    }
    if (host_runtime_open(&h->ctx, &h->rt, &err) != 0) {
        fprintf(stderr, "%s: %s\n", name, err.msg);
        host_ctx_close(&h->ctx);
        return -1;
    }
    /* Let start-up work (the reaper's listing, first commits) settle. */
    for (int i = 0; i < 8; i++)
        uv_run(&h->ctx.loop, UV_RUN_NOWAIT);
    return 0;
}

static void on_stopped(void *ud)
{
    *(int *)ud = 1;
}

void bench_host_close(bench_host_t *h)
{
    host_runtime_close(&h->rt);
    int stopped = 0;
    h->ctx.stopping = 1;
    host_registry_stop(h->ctx.registry, 5000, on_stopped, &stopped);
    while (!stopped && uv_run(&h->ctx.loop, UV_RUN_ONCE) != 0)
        ;
    host_ctx_close(&h->ctx);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void bench_rmtree(const char *dir)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}
