#include "runner/runner.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/stream_json.h"

#define COMPONENT "runner"

enum runner_phase { PHASE_STARTING, PHASE_RUNNING, PHASE_ENDING, PHASE_DONE };

struct host_runner {
    host_ctx_t *ctx;
    const agentd_sandbox_vtable_t *vt;
    void *self;
    host_runner_cbs_t cbs;
    void *ud;
    host_runner_opts_t o;        /* strings below are the runner's copies */
    char **argv, **env;
    char *sandbox_id, *session_id, *profile_name, *profile_json, *workspace, *model_api_url;

    agentd_sandbox_t *sb;
    agentd_sandbox_t *kept;      /* opts.keep: left alive for the owner */
    int broken;                  /* the sandbox failed us: never kept */
    agentd_exec_t *ex;
    agentd_exec_io_t io;
    host_line_splitter_t lines, err_lines;
    uv_timer_t idle_timer, deadline_timer, stop_timer;

    enum runner_phase phase;
    int turn_running, stdin_closed, paused, stop_step, out_open, err_open, exited;
    int64_t exit_status;
    int term_signal;
    char *reason;                /* why the runner ended the agent */
    int released;                /* the owner called host_runner_free */
    int closes_pending;          /* handles and streams not yet closed */
};

static void runner_log(host_runner_t *r, agentd_log_level_t lvl, const char *fmt, ...)
    AGENTD_PRINTF(3, 4);
static void runner_log(host_runner_t *r, agentd_log_level_t lvl, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    host_log(&r->ctx->log, lvl, COMPONENT, "%s: %s",
             r->session_id != NULL ? r->session_id : r->sandbox_id, msg);
}

/* ---- copies and freeing --------------------------------------------------- */

static char **copy_strv(const char *const *v)
{
    size_t n = 0;
    while (v != NULL && v[n] != NULL)
        n++;
    char **c = calloc(n + 1, sizeof *c);
    for (size_t i = 0; c != NULL && i < n; i++) {
        if ((c[i] = strdup(v[i])) == NULL) {
            for (size_t j = 0; j < i; j++)
                free(c[j]);
            free(c);
            return NULL;
        }
    }
    return c;
}

static void free_strv(char **v, int wipe)
{
    for (size_t i = 0; v != NULL && v[i] != NULL; i++) {
        if (wipe) /* the environment may hold secret values */
            memset(v[i], 0, strlen(v[i]));
        free(v[i]);
    }
    free(v);
}

static char *dup_or_null(const char *s, int *failed)
{
    if (s == NULL)
        return NULL;
    char *c = strdup(s);
    if (c == NULL)
        *failed = 1;
    return c;
}

static void runner_destroy_memory(host_runner_t *r)
{
    free_strv(r->argv, 0);
    free_strv(r->env, 1);
    free(r->sandbox_id);
    free(r->session_id);
    free(r->profile_name);
    free(r->profile_json);
    free(r->workspace);
    free(r->model_api_url);
    free(r->reason);
    host_line_splitter_free(&r->lines);
    host_line_splitter_free(&r->err_lines);
    free(r);
}

static void maybe_free(host_runner_t *r)
{
    if (r->released && r->phase == PHASE_DONE && r->closes_pending == 0)
        runner_destroy_memory(r);
}

static void on_handle_closed(uv_handle_t *h)
{
    host_runner_t *r = h->data;
    r->closes_pending--;
    maybe_free(r);
}

static void on_stream_closed(void *ud)
{
    host_runner_t *r = ud;
    r->closes_pending--;
    maybe_free(r);
}

static void close_stream(host_runner_t *r, agentd_stream_t *s)
{
    if (s->ops == NULL)
        return;
    r->closes_pending++;
    s->ops->close(s->impl, on_stream_closed, r);
    s->ops = NULL;
}

/* ---- the end: exit, sandbox destroyed, callbacks ---------------------------- */

static void finish(host_runner_t *r)
{
    r->phase = PHASE_DONE;
    close_stream(r, &r->io.in);
    close_stream(r, &r->io.out);
    close_stream(r, &r->io.err);
    uv_timer_t *timers[] = {&r->idle_timer, &r->deadline_timer, &r->stop_timer};
    for (size_t i = 0; i < 3; i++) {
        r->closes_pending++;
        uv_close((uv_handle_t *)timers[i], on_handle_closed);
    }
    if (!r->released && r->cbs.on_exit != NULL)
        r->cbs.on_exit(r->ud, r->exit_status, r->term_signal, r->reason);
    maybe_free(r);
}

static void on_destroyed(void *ud, int status)
{
    host_runner_t *r = ud;
    if (status != 0)
        runner_log(r, AGENTD_LOG_WARN, "sandbox %s: destroy failed: %s", r->sandbox_id,
                   agentd_strerror(status));
    r->sb = NULL;
    finish(r);
}

static void destroy_sandbox(host_runner_t *r)
{
    if (r->phase == PHASE_ENDING || r->phase == PHASE_DONE)
        return;
    r->phase = PHASE_ENDING;
    uv_timer_stop(&r->idle_timer);
    uv_timer_stop(&r->deadline_timer);
    uv_timer_stop(&r->stop_timer);
    if (r->ex != NULL) {
        r->vt->exec_release(r->self, r->ex);
        r->ex = NULL;
    }
    /* A sandbox that only had to see its agent exit (not killed whole) is
     * kept for the next run when asked to. */
    if (r->o.keep && r->sb != NULL && !r->broken && r->stop_step < 3 && !r->released) {
        r->kept = r->sb;
        r->sb = NULL;
        finish(r);
        return;
    }
    agentd_err_t err = {{0}};
    if (r->sb == NULL || r->vt->destroy(r->self, r->sb, on_destroyed, r, &err) != 0) {
        if (r->sb != NULL)
            runner_log(r, AGENTD_LOG_WARN, "sandbox %s: destroy: %s", r->sandbox_id, err.msg);
        r->sb = NULL;
        finish(r);
    }
}

static void set_reason(host_runner_t *r, const char *reason)
{
    if (r->reason == NULL && reason != NULL)
        r->reason = strdup(reason);
}

static void maybe_ended(host_runner_t *r)
{
    /* Output first: lines printed just before the exit are still read. */
    if (r->exited && !r->out_open && !r->err_open)
        destroy_sandbox(r);
}

static void on_drain_timeout(uv_timer_t *t)
{
    host_runner_t *r = t->data;
    /* Something inside still holds stdout open after the agent exited:
     * destroying the sandbox ends it. */
    r->out_open = r->err_open = 0;
    maybe_ended(r);
}

static void on_exec_exit(void *ud, int64_t exit_status, int term_signal)
{
    host_runner_t *r = ud;
    r->exited = 1;
    r->exit_status = exit_status;
    r->term_signal = term_signal;
    uv_timer_stop(&r->idle_timer);
    uv_timer_stop(&r->deadline_timer);
    uv_timer_start(&r->stop_timer, on_drain_timeout, 2000, 0);
    maybe_ended(r);
}

/* ---- output ----------------------------------------------------------------- */

static void touch_idle(host_runner_t *r)
{
    if (r->turn_running && r->o.idle_timeout_ms > 0 && !r->paused && r->stop_step == 0)
        uv_timer_again(&r->idle_timer);
}

static void on_line(void *ud, const char *line, size_t len, int truncated)
{
    host_runner_t *r = ud;
    if (!r->released && r->cbs.on_line != NULL)
        r->cbs.on_line(r->ud, line, len, truncated);
}

static void on_stdout(void *ud, const char *data, size_t len, int status)
{
    host_runner_t *r = ud;
    if (status != 0) {
        host_line_splitter_finish(&r->lines, on_line, r);
        r->out_open = 0;
        maybe_ended(r);
        return;
    }
    touch_idle(r);
    if (host_line_splitter_feed(&r->lines, data, len, on_line, r) != 0)
        runner_log(r, AGENTD_LOG_ERROR, "out of memory reading the agent's output");
}

static void on_err_line(void *ud, const char *line, size_t len, int truncated)
{
    host_runner_t *r = ud;
    (void)truncated;
    if (!r->released && r->cbs.on_stderr != NULL)
        r->cbs.on_stderr(r->ud, line, len);
}

static void on_stderr(void *ud, const char *data, size_t len, int status)
{
    host_runner_t *r = ud;
    if (status != 0) {
        host_line_splitter_finish(&r->err_lines, on_err_line, r);
        r->err_open = 0;
        maybe_ended(r);
        return;
    }
    touch_idle(r);
    if (host_line_splitter_feed(&r->err_lines, data, len, on_err_line, r) != 0)
        runner_log(r, AGENTD_LOG_ERROR, "out of memory reading the agent's stderr");
}

/* ---- stop, watchdogs ---------------------------------------------------------- */

static void signal_all(host_runner_t *r, agentd_sandbox_signal_t sig)
{
    agentd_err_t err = {{0}};
    if (r->sb == NULL)
        return;
    if (r->paused) {
        r->vt->signal(r->self, r->sb, AGENTD_SIG_RESUME, NULL);
        r->paused = 0;
    }
    if (r->vt->signal(r->self, r->sb, sig, &err) != 0 && r->ex != NULL)
        r->vt->exec_signal(r->self, r->ex, sig, NULL);
}

static void on_stop_step(uv_timer_t *t)
{
    host_runner_t *r = t->data;
    if (r->exited)
        return;
    r->stop_step++;
    if (r->stop_step == 2) {
        signal_all(r, AGENTD_SIG_TERMINATE);
        uv_timer_start(&r->stop_timer, on_stop_step, r->o.stop_grace_ms, 0);
    } else {
        runner_log(r, AGENTD_LOG_WARN, "agent ignored SIGTERM; killing its sandbox");
        signal_all(r, AGENTD_SIG_KILL);
    }
}

void host_runner_stop(host_runner_t *r, const char *reason)
{
    if (r == NULL || r->phase != PHASE_RUNNING || r->stop_step > 0 || r->exited)
        return;
    set_reason(r, reason);
    r->stop_step = 1;
    uv_timer_stop(&r->idle_timer);
    uv_timer_stop(&r->deadline_timer);
    if (r->paused)
        signal_all(r, AGENTD_SIG_INTERRUPT);
    if (host_runner_interrupt(r) != 0) {
        r->stop_step = 2;
        signal_all(r, AGENTD_SIG_TERMINATE);
    }
    uv_timer_start(&r->stop_timer, on_stop_step, r->o.stop_grace_ms, 0);
}

/* A watchdog fired: record why, then end the agent from the given step of
 * the escalation (a hung agent will not answer an interrupt). */
static void watchdog_end(host_runner_t *r, const char *why, int step)
{
    runner_log(r, AGENTD_LOG_WARN, "%s; ending it", why);
    set_reason(r, why);
    r->stop_step = step;
    signal_all(r, step >= 3 ? AGENTD_SIG_KILL : AGENTD_SIG_TERMINATE);
    if (step < 3)
        uv_timer_start(&r->stop_timer, on_stop_step, r->o.stop_grace_ms, 0);
}

static void on_idle_timeout(uv_timer_t *t)
{
    host_runner_t *r = t->data;
    char why[128];
    snprintf(why, sizeof why, "the agent printed nothing for %llu ms during a turn",
             (unsigned long long)r->o.idle_timeout_ms);
    watchdog_end(r, why, 2);
}

static void on_exit_deadline(uv_timer_t *t)
{
    host_runner_t *r = t->data;
    char why[128];
    snprintf(why, sizeof why, "the agent did not exit within %llu ms after its input ended",
             (unsigned long long)r->o.exit_deadline_ms);
    watchdog_end(r, why, 3);
}

void host_runner_turn(host_runner_t *r, int running)
{
    if (r == NULL)
        return;
    r->turn_running = running;
    if (running && r->o.idle_timeout_ms > 0 && r->phase == PHASE_RUNNING && r->stop_step == 0)
        uv_timer_start(&r->idle_timer, on_idle_timeout, r->o.idle_timeout_ms,
                       r->o.idle_timeout_ms);
    else
        uv_timer_stop(&r->idle_timer);
}

/* ---- input -------------------------------------------------------------------- */

int host_runner_write_line(host_runner_t *r, const char *line, size_t len)
{
    if (r == NULL || r->phase != PHASE_RUNNING || r->stdin_closed || r->io.in.ops == NULL)
        return AGENTD_ESTATE;
    int rc = r->io.in.ops->write(r->io.in.impl, line, len, NULL, NULL);
    if (rc == 0)
        rc = r->io.in.ops->write(r->io.in.impl, "\n", 1, NULL, NULL);
    return rc;
}

int host_runner_interrupt(host_runner_t *r)
{
    char line[128];
    int n = snprintf(line, sizeof line,
                     "{\"type\":\"control_request\",\"request_id\":\"agentd-interrupt-%llu\","
                     "\"request\":{\"subtype\":\"interrupt\"}}",
                     (unsigned long long)uv_now(&r->ctx->loop));
    return host_runner_write_line(r, line, (size_t)n);
}

void host_runner_close_stdin(host_runner_t *r)
{
    if (r == NULL || r->stdin_closed || r->phase != PHASE_RUNNING)
        return;
    r->stdin_closed = 1;
    if (r->io.in.ops != NULL)
        r->io.in.ops->shutdown(r->io.in.impl);
    if (r->o.exit_deadline_ms > 0)
        uv_timer_start(&r->deadline_timer, on_exit_deadline, r->o.exit_deadline_ms, 0);
}

int host_runner_pause(host_runner_t *r, int pause, agentd_err_t *err)
{
    if (r == NULL || r->sb == NULL || r->phase != PHASE_RUNNING)
        return agentd_err_set(err, AGENTD_ESTATE, "the agent is not running");
    if (!(r->vt->capabilities & AGENTD_SANDBOX_CAP_PAUSE))
        return agentd_err_set(err, AGENTD_ENOTSUP, "sandbox profile \"%s\" cannot pause",
                              r->profile_name);
    int rc = r->vt->signal(r->self, r->sb, pause ? AGENTD_SIG_PAUSE : AGENTD_SIG_RESUME, err);
    if (rc == 0) {
        r->paused = pause;
        if (pause)
            uv_timer_stop(&r->idle_timer);
        else
            host_runner_turn(r, r->turn_running);
    }
    return rc;
}

int host_runner_running(const host_runner_t *r)
{
    return r != NULL && r->phase == PHASE_RUNNING && !r->exited;
}

/* ---- start ---------------------------------------------------------------------- */

static void fail_start(host_runner_t *r, int status, const char *msg)
{
    r->broken = 1;
    set_reason(r, msg);
    if (!r->released && r->cbs.on_started != NULL)
        r->cbs.on_started(r->ud, status, msg);
    r->exit_status = -1;
    if (r->sb != NULL) {
        r->phase = PHASE_RUNNING; /* so destroy_sandbox proceeds */
        destroy_sandbox(r);
    } else {
        finish(r);
    }
}

static void on_created(void *ud, int status, agentd_sandbox_t *sb, const char *msg)
{
    host_runner_t *r = ud;
    char text[AGENTD_ERR_MAX + 64];
    if (status != 0) {
        snprintf(text, sizeof text, "sandbox profile \"%s\": %s%s%s", r->profile_name,
                 agentd_strerror(status), msg != NULL && msg[0] ? ": " : "",
                 msg != NULL ? msg : "");
        fail_start(r, status, text);
        return;
    }
    r->sb = sb;
    if (r->released) { /* forgotten while starting */
        r->phase = PHASE_RUNNING;
        destroy_sandbox(r);
        return;
    }
    agentd_exec_spec_t spec = {.size = sizeof spec, .argv = (const char *const *)r->argv,
                               .env = (const char *const *)r->env};
    agentd_err_t err = {{0}};
    r->io.size = sizeof r->io;
    int rc = r->vt->exec(r->self, sb, &spec, on_exec_exit, r, &r->ex, &r->io, &err);
    if (rc != 0) {
        snprintf(text, sizeof text, "cannot start %s in the sandbox: %s%s%s", r->argv[0],
                 agentd_strerror(rc), err.msg[0] ? ": " : "", err.msg);
        r->ex = NULL;
        fail_start(r, rc, text);
        return;
    }
    r->phase = PHASE_RUNNING;
    r->out_open = r->io.out.ops != NULL;
    r->err_open = r->io.err.ops != NULL;
    if (r->out_open)
        r->io.out.ops->read_start(r->io.out.impl, on_stdout, r);
    if (r->err_open)
        r->io.err.ops->read_start(r->io.err.impl, on_stderr, r);
    if (r->cbs.on_started != NULL)
        r->cbs.on_started(r->ud, 0, NULL);
    if (r->turn_running)
        host_runner_turn(r, 1);
}

static host_runner_t *runner_new(host_ctx_t *ctx, const host_runner_opts_t *o)
{
    host_runner_t *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    int failed = 0;
    r->ctx = ctx;
    r->o = *o;
    r->argv = copy_strv(o->argv);
    r->env = copy_strv(o->env);
    r->sandbox_id = dup_or_null(o->sandbox_id, &failed);
    r->session_id = dup_or_null(o->session_id, &failed);
    r->profile_name = dup_or_null(o->profile_name, &failed);
    r->profile_json = dup_or_null(o->profile_json != NULL ? o->profile_json : "{}", &failed);
    r->workspace = dup_or_null(o->workspace, &failed);
    r->model_api_url = dup_or_null(o->model_api_url, &failed);
    host_line_splitter_init(&r->lines, o->max_line_bytes > 0 ? o->max_line_bytes
                                                             : 64u * 1024u * 1024u);
    host_line_splitter_init(&r->err_lines, 64u * 1024u);
    if (failed || r->argv == NULL || r->env == NULL) {
        runner_destroy_memory(r);
        return NULL;
    }
    if (r->o.stop_grace_ms == 0)
        r->o.stop_grace_ms = 5000;
    uv_timer_t *timers[] = {&r->idle_timer, &r->deadline_timer, &r->stop_timer};
    for (size_t i = 0; i < 3; i++) {
        uv_timer_init(&ctx->loop, timers[i]);
        timers[i]->data = r;
    }
    return r;
}

static void on_reuse_start(uv_timer_t *t)
{
    host_runner_t *r = t->data;
    agentd_sandbox_t *sb = r->o.reuse;
    r->o.reuse = NULL;
    on_created(r, 0, sb, NULL);
}

agentd_sandbox_t *host_runner_kept_sandbox(host_runner_t *r)
{
    agentd_sandbox_t *sb = r != NULL ? r->kept : NULL;
    if (r != NULL)
        r->kept = NULL;
    return sb;
}

int host_runner_start(host_ctx_t *ctx, const host_runner_opts_t *opts,
                      const host_runner_cbs_t *cbs, void *ud, host_runner_t **out,
                      agentd_err_t *err)
{
    if (opts->plugin == NULL || opts->plugin->kind != AGENTD_KIND_SANDBOX ||
        opts->argv == NULL || opts->argv[0] == NULL || opts->sandbox_id == NULL)
        return agentd_err_set(err, AGENTD_EINVAL, "runner: a sandbox plugin, id and argv are "
                                                  "required");
    host_runner_t *r = runner_new(ctx, opts);
    if (r == NULL)
        return agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    r->vt = &opts->plugin->vt.sandbox;
    r->self = opts->plugin->self;
    r->cbs = *cbs;
    r->ud = ud;
    if (opts->reuse != NULL) {
        /* Started from the loop, as a create would be: the owner has its
         * handle before any callback. */
        uv_timer_start(&r->stop_timer, on_reuse_start, 0, 0);
        *out = r;
        return 0;
    }
    agentd_sandbox_spec_t spec = {
        .size = sizeof spec,
        .sandbox_id = r->sandbox_id,
        .session_id = r->session_id,
        .profile_name = r->profile_name,
        .profile_json = r->profile_json,
        .profile_len = strlen(r->profile_json),
        .workspace = r->workspace,
        .model_api_url = r->model_api_url,
        .timeout_s = opts->timeout_s,
    };
    int rc = r->vt->create(r->self, &spec, on_created, r, err);
    if (rc != 0) {
        r->phase = PHASE_DONE;
        r->released = 1;
        uv_timer_t *timers[] = {&r->idle_timer, &r->deadline_timer, &r->stop_timer};
        for (size_t i = 0; i < 3; i++) {
            r->closes_pending++;
            uv_close((uv_handle_t *)timers[i], on_handle_closed);
        }
        return rc;
    }
    *out = r;
    return 0;
}

void host_runner_free(host_runner_t *r)
{
    if (r == NULL)
        return;
    r->released = 1;
    if (r->phase == PHASE_RUNNING && !r->exited) {
        set_reason(r, "forgotten by its owner");
        r->stop_step = 3;
        signal_all(r, AGENTD_SIG_KILL);
    }
    maybe_free(r);
}
