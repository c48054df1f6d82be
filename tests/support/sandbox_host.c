/* A host for the sandbox plugins' vtable drivers (sandbox_host.h). */
#include "sandbox_host.h"

#include <stdio.h>
#include <string.h>

#include <uv.h>

#include "config/config.h"
#include "plugins/registry.h"

static int finish_open(test_sandbox_host_t *h, int rc, host_config_t *cfg, const char *profile,
                       host_diags_t *d)
{
    if (rc == 0)
        rc = host_ctx_init(&h->ctx, cfg, stderr);
    if (rc == 0)
        rc = host_registry_load(h->ctx.registry);
    if (rc == 0)
        rc = host_profile_resolve(h->ctx.registry, h->ctx.config, profile, &h->prof, d);
    host_diags_print(d, stderr);
    host_diags_free(d);
    if (rc != 0)
        return -1;
    h->vt = &h->prof.plugin->vt.sandbox;
    h->self = h->prof.plugin->self;
    return 0;
}

int test_sandbox_host_open_file(test_sandbox_host_t *h, const char *path, const char *profile)
{
    host_config_t *cfg = NULL;
    host_diags_t d = {0};
    int rc = host_config_load(path, &cfg, &d);
    return finish_open(h, rc, cfg, profile, &d);
}

int test_sandbox_host_open_text(test_sandbox_host_t *h, const char *text, const char *name,
                                const char *profile)
{
    host_config_t *cfg = NULL;
    host_diags_t d = {0};
    int rc = host_config_load_text(text, strlen(text), name, &cfg, &d);
    return finish_open(h, rc, cfg, profile, &d);
}

static void on_stopped(void *ud)
{
    *(int *)ud = 1;
}

int test_sandbox_host_stop(test_sandbox_host_t *h, unsigned stop_ms)
{
    host_profile_clear(&h->prof);
    int stopped = 0;
    h->ctx.stopping = 1;
    host_registry_stop(h->ctx.registry, stop_ms, on_stopped, &stopped);
    while (!stopped && uv_run(&h->ctx.loop, UV_RUN_ONCE) != 0)
        ;
    return stopped;
}

void test_sandbox_host_close(test_sandbox_host_t *h)
{
    host_ctx_close(&h->ctx);
}
