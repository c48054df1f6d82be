/* The services table handed to every plugin (sdk/include/agentd/host.h),
 * implemented over the host's libuv loop. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/context.h"
#include "core/errors.h"
#include "core/stream.h"
#include "plugins/registry.h"
#include "secrets/secrets.h"

static const char *plugin_name(agentd_host_t *h)
{
    return h->plugin != NULL && h->plugin->id != NULL ? h->plugin->id : "plugin";
}

static void api_log(agentd_host_t *h, agentd_log_level_t level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    host_logv(&h->ctx->log, level, plugin_name(h), fmt, ap);
    va_end(ap);
}

static void *api_malloc(agentd_host_t *h, size_t size) { (void)h; return malloc(size); }
static void *api_calloc(agentd_host_t *h, size_t n, size_t size) { (void)h; return calloc(n, size); }
static void *api_realloc(agentd_host_t *h, void *p, size_t size) { (void)h; return realloc(p, size); }
static void api_free(agentd_host_t *h, void *p) { (void)h; free(p); }

static uint64_t api_now_ms(agentd_host_t *h)
{
    return uv_now(&h->ctx->loop);
}

/* ---- timers ------------------------------------------------------------- */

struct agentd_timer {
    uv_timer_t t;
    agentd_timer_cb cb;
    void *ud;
};

static void on_timer(uv_timer_t *t)
{
    struct agentd_timer *tm = (struct agentd_timer *)t;
    tm->cb(tm->ud);
}

static int api_timer_start(agentd_host_t *h, uint64_t timeout_ms, uint64_t repeat_ms,
                           agentd_timer_cb cb, void *ud, agentd_timer_t **out)
{
    if (cb == NULL || out == NULL)
        return AGENTD_EINVAL;
    struct agentd_timer *tm = calloc(1, sizeof *tm);
    if (tm == NULL)
        return AGENTD_ENOMEM;
    uv_timer_init(&h->ctx->loop, &tm->t);
    tm->cb = cb;
    tm->ud = ud;
    uv_timer_start(&tm->t, on_timer, timeout_ms, repeat_ms);
    *out = tm;
    return 0;
}

static void close_free(uv_handle_t *handle)
{
    free(handle);
}

static void api_timer_close(agentd_timer_t *tm)
{
    if (tm == NULL)
        return;
    uv_timer_stop(&tm->t);
    uv_close((uv_handle_t *)&tm->t, close_free);
}

/* ---- post and work ------------------------------------------------------ */

static int api_post(agentd_host_t *h, agentd_post_cb cb, void *ud)
{
    if (cb == NULL)
        return AGENTD_EINVAL;
    return host_ctx_post(h->ctx, cb, ud);
}

struct agentd_work {
    uv_work_t req;
    agentd_work_cb work_cb;
    agentd_after_work_cb after_cb;
    void *ud;
};

static void on_work(uv_work_t *req)
{
    struct agentd_work *w = (struct agentd_work *)req;
    w->work_cb(w->ud);
}

static void on_after_work(uv_work_t *req, int status)
{
    struct agentd_work *w = (struct agentd_work *)req;
    w->after_cb(w->ud, host_err_from_uv(status));
    free(w);
}

static int api_queue_work(agentd_host_t *h, agentd_work_cb work_cb, agentd_after_work_cb after_cb,
                          void *ud, agentd_work_t **out)
{
    if (work_cb == NULL || after_cb == NULL)
        return AGENTD_EINVAL;
    struct agentd_work *w = calloc(1, sizeof *w);
    if (w == NULL)
        return AGENTD_ENOMEM;
    w->work_cb = work_cb;
    w->after_cb = after_cb;
    w->ud = ud;
    int rc = uv_queue_work(&h->ctx->loop, &w->req, on_work, on_after_work);
    if (rc != 0) {
        free(w);
        return host_err_from_uv(rc);
    }
    if (out != NULL)
        *out = w;
    return 0;
}

static int api_cancel_work(agentd_work_t *w)
{
    if (w == NULL)
        return AGENTD_EINVAL;
    return uv_cancel((uv_req_t *)&w->req) == 0 ? 0 : AGENTD_EBUSY;
}

/* ---- fd polls ----------------------------------------------------------- */

struct agentd_poll {
    uv_poll_t p;
    agentd_poll_cb cb;
    void *ud;
    int fd;
};

static int to_uv_events(unsigned events)
{
    return ((events & AGENTD_POLL_READ) ? UV_READABLE : 0) |
           ((events & AGENTD_POLL_WRITE) ? UV_WRITABLE : 0) |
           ((events & AGENTD_POLL_HUP) ? UV_DISCONNECT : 0);
}

static void on_poll(uv_poll_t *handle, int status, int events)
{
    struct agentd_poll *p = (struct agentd_poll *)handle;
    unsigned rev = ((events & UV_READABLE) ? AGENTD_POLL_READ : 0) |
                   ((events & UV_WRITABLE) ? AGENTD_POLL_WRITE : 0) |
                   ((events & UV_DISCONNECT) ? AGENTD_POLL_HUP : 0);
    p->cb(p->ud, p->fd, rev, host_err_from_uv(status));
}

static int api_poll_start(agentd_host_t *h, int fd, unsigned events, agentd_poll_cb cb,
                          void *ud, agentd_poll_t **out)
{
    if (cb == NULL || out == NULL || fd < 0)
        return AGENTD_EINVAL;
    struct agentd_poll *p = calloc(1, sizeof *p);
    if (p == NULL)
        return AGENTD_ENOMEM;
    int rc = uv_poll_init(&h->ctx->loop, &p->p, fd);
    if (rc != 0) {
        free(p);
        return host_err_from_uv(rc);
    }
    p->cb = cb;
    p->ud = ud;
    p->fd = fd;
    if (events != 0 && (rc = uv_poll_start(&p->p, to_uv_events(events), on_poll)) != 0) {
        uv_close((uv_handle_t *)&p->p, close_free);
        return host_err_from_uv(rc);
    }
    *out = p;
    return 0;
}

static int api_poll_update(agentd_poll_t *p, unsigned events)
{
    if (p == NULL)
        return AGENTD_EINVAL;
    if (events == 0)
        return host_err_from_uv(uv_poll_stop(&p->p));
    return host_err_from_uv(uv_poll_start(&p->p, to_uv_events(events), on_poll));
}

static void api_poll_close(agentd_poll_t *p)
{
    if (p == NULL)
        return;
    uv_poll_stop(&p->p);
    uv_close((uv_handle_t *)&p->p, close_free);
}

/* ---- processes ---------------------------------------------------------- */

struct agentd_process {
    uv_process_t proc;
    agentd_exit_cb exit_cb;
    void *ud;
    int exited;
    int group;
};

static void on_process_exit(uv_process_t *proc, int64_t status, int term_signal)
{
    struct agentd_process *p = (struct agentd_process *)proc;
    p->exited = 1;
    if (p->exit_cb != NULL)
        p->exit_cb(p->ud, status, term_signal);
}

/* Creates the pipes asked for; on failure closes what it made. */
static int make_stdio(uv_loop_t *loop, uint32_t flags, uv_stdio_container_t stdio[3],
                      agentd_stream_t streams[3])
{
    static const uint32_t want[3] = {AGENTD_SPAWN_STDIN, AGENTD_SPAWN_STDOUT,
                                     AGENTD_SPAWN_STDERR};
    for (int i = 0; i < 3; i++) {
        memset(&streams[i], 0, sizeof streams[i]);
        stdio[i].flags = UV_IGNORE;
        if (!(flags & want[i]))
            continue;
        uv_pipe_t *pipe;
        if (host_stream_new_pipe(loop, &streams[i], &pipe) != 0) {
            for (int j = 0; j < i; j++)
                if (streams[j].ops != NULL)
                    streams[j].ops->close(streams[j].impl, NULL, NULL);
            return AGENTD_ENOMEM;
        }
        stdio[i].flags = UV_CREATE_PIPE | (i == 0 ? UV_READABLE_PIPE : UV_WRITABLE_PIPE);
        stdio[i].data.stream = (uv_stream_t *)pipe;
    }
    return 0;
}

static int api_spawn(agentd_host_t *h, const agentd_spawn_opts_t *opts, agentd_exit_cb exit_cb,
                     void *ud, agentd_process_t **out, agentd_spawn_io_t *io, agentd_err_t *err)
{
    agentd_spawn_opts_t o = {0};
    if (opts == NULL || opts->size < AGENTD_SIZE_THROUGH(agentd_spawn_opts_t, flags))
        return agentd_err_set(err, AGENTD_EINVAL, "spawn: options missing or too small");
    memcpy(&o, opts, opts->size < sizeof o ? opts->size : sizeof o);
    if (o.file == NULL || o.argv == NULL || o.argv[0] == NULL || out == NULL)
        return agentd_err_set(err, AGENTD_EINVAL, "spawn: file and argv are required");

    struct agentd_process *p = calloc(1, sizeof *p);
    if (p == NULL)
        return agentd_err_set(err, AGENTD_ENOMEM, "spawn: out of memory");
    uv_stdio_container_t stdio[3];
    agentd_stream_t streams[3];
    if (make_stdio(&h->ctx->loop, o.flags, stdio, streams) != 0) {
        free(p);
        return agentd_err_set(err, AGENTD_ENOMEM, "spawn: out of memory");
    }
    static const char *const empty_env[] = {NULL};
    uv_process_options_t uo = {
        .exit_cb = on_process_exit,
        .file = o.file,
        .args = (char **)o.argv,
        .env = (char **)(o.env != NULL ? o.env : empty_env),
        .cwd = o.cwd,
        .flags = (o.flags & AGENTD_SPAWN_NEW_GROUP) ? UV_PROCESS_DETACHED : 0,
        .stdio_count = 3,
        .stdio = stdio,
    };
    p->exit_cb = exit_cb;
    p->ud = ud;
    p->group = (o.flags & AGENTD_SPAWN_NEW_GROUP) != 0;
    int rc = uv_spawn(&h->ctx->loop, &p->proc, &uo);
    if (rc != 0) {
        for (int i = 0; i < 3; i++)
            if (streams[i].ops != NULL)
                streams[i].ops->close(streams[i].impl, NULL, NULL);
        uv_close((uv_handle_t *)&p->proc, close_free);
        return agentd_err_set(err, host_err_from_uv(rc), "spawn %s: %s", o.file, uv_strerror(rc));
    }
    if (io != NULL && io->size >= AGENTD_SIZE_THROUGH(agentd_spawn_io_t, pid)) {
        io->in = streams[0];
        io->out = streams[1];
        io->err = streams[2];
        io->pid = p->proc.pid;
    } else {
        for (int i = 0; i < 3; i++)
            if (streams[i].ops != NULL)
                streams[i].ops->close(streams[i].impl, NULL, NULL);
    }
    *out = p;
    return 0;
}

static int api_process_kill(agentd_process_t *p, int signum)
{
    if (p == NULL)
        return AGENTD_EINVAL;
    if (p->exited)
        return AGENTD_ENOENT;
    if (p->group && kill(-p->proc.pid, signum) == 0)
        return 0;
    return host_err_from_uv(uv_process_kill(&p->proc, signum));
}

static void api_process_close(agentd_process_t *p)
{
    if (p == NULL)
        return;
    p->exit_cb = NULL;
    uv_close((uv_handle_t *)&p->proc, close_free);
}

/* ---- events, secrets, state --------------------------------------------- */

static int api_emit_event(agentd_host_t *h, const char *session_id, const char *type,
                          const char *data_json, size_t len, agentd_err_t *err)
{
    if (type == NULL || data_json == NULL)
        return agentd_err_set(err, AGENTD_EINVAL, "emit_event: type and data are required");
    json_error_t jerr;
    json_t *data = json_loadb(data_json, len, JSON_REJECT_DUPLICATES, &jerr);
    int is_object = json_is_object(data);
    json_decref(data);
    if (!is_object)
        return agentd_err_set(err, AGENTD_EINVAL, "emit_event %s: data is not a JSON object",
                              type);
    /* A plugin speaks for its own kind only ("sandbox.network_refused"): it
     * cannot pass for the host (session.*, permission.*, agent.*). */
    const char *kind = h->plugin != NULL ? host_plugin_kind_name(h->plugin->kind) : NULL;
    size_t klen = kind != NULL ? strlen(kind) : 0;
    if (kind == NULL || strncmp(type, kind, klen) != 0 || type[klen] != '.' ||
        type[klen + 1] == '\0' || strlen(type) > 64)
        return agentd_err_set(err, AGENTD_EINVAL,
                              "emit_event: type \"%.64s\" must be \"%s.<what>\" (at most 64 "
                              "characters)", type, kind != NULL ? kind : "<kind>");
    if (session_id != NULL && h->ctx->event_sink != NULL)
        return h->ctx->event_sink(h->ctx->event_sink_ud, session_id, type, data_json, len);
    /* No session (e.g. `agentd sandbox exec`): the event goes to the log. */
    host_log(&h->ctx->log, AGENTD_LOG_INFO, plugin_name(h), "event %s%s%s %.*s", type,
             session_id != NULL ? " session=" : "", session_id != NULL ? session_id : "",
             (int)len, data_json);
    return 0;
}

static int api_secret_get(agentd_host_t *h, const char *name, const char *session_id,
                          char **value, size_t *len, agentd_err_t *err)
{
    if (name == NULL || value == NULL || len == NULL)
        return agentd_err_set(err, AGENTD_EINVAL, "secret_get: name, value and len are required");
    *value = NULL;
    *len = 0;
    if (h->ctx->secrets == NULL)
        return agentd_err_set(err, AGENTD_ENOENT, /* the SDK's contract: ENOENT or EPERM */
                              "secret \"%s\" not found: the secret store is not open here "
                              "(`agentd serve` and `agentd run` open it)", name);
    char where[160];
    snprintf(where, sizeof where, "plugin %s", plugin_name(h));
    host_secret_use_t use = {.session = session_id, .plugin = plugin_name(h),
                             .purpose = "plugin", .where = where};
    return host_secrets_get(h->ctx->secrets, name, &use, value, len, err);
}

static void api_secret_release(agentd_host_t *h, char *value, size_t len)
{
    (void)h;
    host_secrets_free_value(value, len); /* wipes len + 1 bytes, frees */
}

static const char *api_state_dir(agentd_host_t *h)
{
    if (h->state_dir != NULL)
        return h->state_dir;
    const char *data = h->ctx->config->data_dir;
    size_t n = strlen(data) + strlen(plugin_name(h)) + sizeof "/plugins/";
    char *dir = malloc(n);
    if (dir == NULL)
        return NULL;
    snprintf(dir, n, "%s/plugins/%s", data, plugin_name(h));
    int rc = host_mkdir_p(dir, 0700);
    if (rc != 0) {
        host_log(&h->ctx->log, AGENTD_LOG_ERROR, plugin_name(h), "cannot create %s: %s", dir,
                 strerror(-rc));
        free(dir);
        return NULL;
    }
    h->state_dir = dir;
    return dir;
}

static const agentd_host_api_t api = {
    .size = sizeof(agentd_host_api_t),
    .abi_major = AGENTD_ABI_MAJOR,
    .abi_minor = AGENTD_ABI_MINOR,
    .log = api_log,
    .malloc = api_malloc,
    .calloc = api_calloc,
    .realloc = api_realloc,
    .free = api_free,
    .now_ms = api_now_ms,
    .timer_start = api_timer_start,
    .timer_close = api_timer_close,
    .post = api_post,
    .queue_work = api_queue_work,
    .cancel_work = api_cancel_work,
    .poll_start = api_poll_start,
    .poll_update = api_poll_update,
    .poll_close = api_poll_close,
    .spawn = api_spawn,
    .process_kill = api_process_kill,
    .process_close = api_process_close,
    .emit_event = api_emit_event,
    .secret_get = api_secret_get,
    .secret_release = api_secret_release,
    .state_dir = api_state_dir,
};

const agentd_host_api_t *host_api_table(void)
{
    return &api;
}
