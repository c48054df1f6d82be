/*
 * The sandbox's base environment. Nothing of the daemon's environment
 * passes unless the profile names it (env_passthrough); on top of a fixed
 * minimum come, each overriding the one before: the passed-through
 * variables, the profile's "env", the host's spec env.
 */
#define _GNU_SOURCE
#include "sandbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct env_list {
    char **items;
    size_t count;
    int failed;
} env_list_t;

/* Set "K=V", replacing an earlier K. */
static void env_put(env_list_t *e, const char *kv)
{
    const char *eq = strchr(kv, '=');
    if (e->failed || eq == NULL || eq == kv)
        return;
    size_t klen = (size_t)(eq - kv) + 1;
    char *copy = strdup(kv);
    if (copy == NULL) {
        e->failed = 1;
        return;
    }
    for (size_t i = 0; i < e->count; i++) {
        if (strncmp(e->items[i], kv, klen) == 0) {
            free(e->items[i]);
            e->items[i] = copy;
            return;
        }
    }
    char **items = realloc(e->items, (e->count + 2) * sizeof *items);
    if (items == NULL) {
        free(copy);
        e->failed = 1;
        return;
    }
    e->items = items;
    e->items[e->count++] = copy;
    e->items[e->count] = NULL;
}

static void env_putf(env_list_t *e, const char *k, const char *v)
{
    char *kv;
    if (asprintf(&kv, "%s=%s", k, v) < 0) {
        e->failed = 1;
        return;
    }
    env_put(e, kv);
    free(kv);
}

static void put_proxy(env_list_t *e, const agentd_sandbox_t *sb)
{
    static const char *const names[] = {"HTTP_PROXY", "HTTPS_PROXY", "http_proxy",
                                        "https_proxy"};
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u", (unsigned)sb->prof.proxy_port);
    for (size_t i = 0; i < 4; i++)
        env_putf(e, names[i], url);
}

char **sbx_env_build(const agentd_sandbox_t *sb, const agentd_sandbox_spec_t *spec)
{
    env_list_t e = {0};
    env_put(&e, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    env_putf(&e, "HOME", sb->prof.home);
    if (sb->proxy != NULL)
        put_proxy(&e, sb);
    if (spec->model_api_url != NULL)
        env_putf(&e, "ANTHROPIC_BASE_URL", spec->model_api_url);
    for (char **n = sb->prof.env_passthrough; *n != NULL; n++) {
        const char *v = getenv(*n);
        if (v != NULL)
            env_putf(&e, *n, v);
    }
    for (char **kv = sb->prof.env; *kv != NULL; kv++)
        env_put(&e, *kv);
    for (const char *const *kv = spec->env; kv != NULL && *kv != NULL; kv++)
        env_put(&e, *kv);
    if (e.failed || e.items == NULL) {
        sbx_env_free(e.items);
        return NULL;
    }
    return e.items;
}

void sbx_env_free(char **env)
{
    if (env == NULL)
        return;
    for (char **p = env; *p != NULL; p++) {
        explicit_bzero(*p, strlen(*p)); /* values may be secrets */
        free(*p);
    }
    free(env);
}
