#include "core/context.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plugins/registry.h"

typedef struct host_post {
    struct host_post *next;
    host_post_fn cb;
    void *ud;
} host_post_t;

static host_post_t *take_posts(host_ctx_t *ctx)
{
    uv_mutex_lock(&ctx->post_mu);
    host_post_t *p = ctx->post_head;
    ctx->post_head = ctx->post_tail = NULL;
    uv_mutex_unlock(&ctx->post_mu);
    return p;
}

static void on_post(uv_async_t *a)
{
    host_ctx_t *ctx = a->data;
    host_post_t *p = take_posts(ctx);
    while (p != NULL) {
        host_post_t *next = p->next;
        p->cb(p->ud);
        free(p);
        p = next;
    }
}

int host_ctx_post(host_ctx_t *ctx, host_post_fn cb, void *ud)
{
    host_post_t *p = malloc(sizeof *p);
    if (p == NULL)
        return AGENTD_ENOMEM;
    p->next = NULL;
    p->cb = cb;
    p->ud = ud;
    uv_mutex_lock(&ctx->post_mu);
    if (ctx->post_closed) {
        uv_mutex_unlock(&ctx->post_mu);
        free(p);
        return AGENTD_ESTATE;
    }
    if (ctx->post_tail != NULL)
        ctx->post_tail->next = p;
    else
        ctx->post_head = p;
    ctx->post_tail = p;
    uv_async_send(&ctx->post_async); /* under the lock: the handle is open */
    uv_mutex_unlock(&ctx->post_mu);
    return 0;
}

char *host_exe_dir(void)
{
    char buf[PATH_MAX];
    size_t size = sizeof buf;
    if (uv_exepath(buf, &size) != 0)
        return NULL;
    char *slash = strrchr(buf, '/');
    if (slash == NULL)
        return NULL;
    *slash = '\0';
    return strdup(buf);
}

int host_mkdir_p(const char *path, unsigned mode)
{
    char buf[PATH_MAX];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf)
        return -ENAMETOOLONG;
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1; ; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(buf, mode) != 0 && errno != EEXIST)
            return -errno;
        *p = c;
        if (c == '\0')
            break;
    }
    struct stat st;
    if (stat(path, &st) != 0)
        return -errno;
    return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

int host_ctx_init(host_ctx_t *ctx, host_config_t *cfg, FILE *log_out)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->config = cfg;
    if (host_log_init(&ctx->log, cfg->log_level, cfg->log_format, log_out) != 0)
        goto fail_cfg;
    if (uv_loop_init(&ctx->loop) != 0)
        goto fail_log;
    if (uv_mutex_init(&ctx->post_mu) != 0)
        goto fail_loop;
    if (uv_async_init(&ctx->loop, &ctx->post_async, on_post) != 0)
        goto fail_mu;
    ctx->post_async.data = ctx;
    /* Posting keeps nothing alive by itself: the loop ends when no handle or
     * request is active, as a plugin's own threads are its business. */
    uv_unref((uv_handle_t *)&ctx->post_async);
    ctx->exe_dir = host_exe_dir();
    ctx->registry = host_registry_new(ctx);
    if (ctx->registry == NULL) {
        host_log(&ctx->log, AGENTD_LOG_ERROR, "agentd", "out of memory");
        host_ctx_close(ctx);
        return AGENTD_ENOMEM;
    }
    return 0;
fail_mu:
    uv_mutex_destroy(&ctx->post_mu);
fail_loop:
    uv_loop_close(&ctx->loop);
fail_log:
    host_log_close(&ctx->log);
fail_cfg:
    host_config_free(cfg);
    ctx->config = NULL;
    return AGENTD_EIO;
}

static void close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

void host_ctx_close(host_ctx_t *ctx)
{
    /* Posts already accepted run now, while the plugin that posted them is
     * still loaded; later ones are refused (AGENTD_ESTATE). */
    uv_mutex_lock(&ctx->post_mu);
    ctx->post_closed = 1;
    uv_mutex_unlock(&ctx->post_mu);
    on_post(&ctx->post_async);

    host_registry_free(ctx->registry); /* plugins may close handles on the loop */
    ctx->registry = NULL;
    uv_run(&ctx->loop, UV_RUN_NOWAIT);

    /* Handles nobody closed (a plugin's leak) are closed here so the loop
     * can end. */
    uv_walk(&ctx->loop, close_walk, NULL);
    uv_run(&ctx->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&ctx->loop) != 0)
        host_log(&ctx->log, AGENTD_LOG_WARN, "agentd", "event loop still busy at exit");
    uv_mutex_destroy(&ctx->post_mu);
    free(ctx->exe_dir);
    host_config_free(ctx->config);
    host_log_close(&ctx->log);
    memset(ctx, 0, sizeof *ctx);
}
