/* The session operations (sessions.h): create, send, stop, pause, resume,
 * clone, delete, get, list; state transitions and their events. */
#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "permissions/engine.h"
#include "plugins/profiles.h"
#include "sessions/session_internal.h"
#include "secrets/secrets.h"

#define COMPONENT "sessions"

static const char *const state_names[] = {
    "pending", "provisioning", "running", "waiting", "idle",
    "paused",  "completed",    "failed",  "stopped", "interrupted",
};

const char *host_session_state_name(host_session_state_t s)
{
    return (unsigned)s < sizeof state_names / sizeof state_names[0] ? state_names[s] : "unknown";
}

static uint64_t wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000u + (uint64_t)tv.tv_usec / 1000u;
}

host_session_t *session_find(host_sessions_t *m, const char *id)
{
    for (host_session_t *s = m->head; s != NULL && id != NULL; s = s->next)
        if (strcmp(s->id, id) == 0)
            return s;
    return NULL;
}

/* Redacts and appends one event's JSON text. trusted: the host wrote text
 * itself from a JSON object, so the log need not check it again (text that
 * redaction rewrote is checked). */
static void emit_text(host_session_t *s, const char *type, const char *text, size_t len,
                      int trusted, const char *raw, size_t raw_len)
{
    agentd_err_t err = {{0}};
    /* Known secret values become *** before anything is stored (and so
     * before clients and notifiers see it); failing that, nothing is. One
     * look at the current redactor serves both texts. */
    char *rtext = NULL, *rraw = NULL;
    size_t rtext_len = 0, rraw_len = 0;
    int red = 0;
    host_redact_source_t *src =
        s->mgr->ctx->secrets != NULL ? host_secrets_redact_source(s->mgr->ctx->secrets) : NULL;
    host_redactor_t *r = src != NULL ? host_redact_source_get(src) : NULL;
    if (host_redactor_patterns(r) > 0) {
        red = host_redact_json(r, text, len, &rtext, &rtext_len);
        if (red == 0 && raw != NULL)
            red = host_redact_json(r, raw, raw_len, &rraw, &rraw_len);
    }
    host_redactor_unref(r);
    int rc = red;
    if (rc == 0 && rtext == NULL && trusted)
        rc = host_event_log_append_trusted(s->mgr->log, s->id, type, text, len,
                                           rraw != NULL ? rraw : raw,
                                           rraw != NULL ? rraw_len : raw_len, NULL, &err);
    else if (rc == 0)
        rc = host_event_log_append(s->mgr->log, s->id, type, rtext != NULL ? rtext : text,
                                   rtext != NULL ? rtext_len : len, rraw != NULL ? rraw : raw,
                                   rraw != NULL ? rraw_len : raw_len, NULL, &err);
    if (rc != 0)
        host_log(&s->mgr->ctx->log, AGENTD_LOG_ERROR, COMPONENT,
                 "%s: event %s not recorded: %s", s->id, type,
                 red != 0 ? "out of memory" : err.msg);
    free(rtext);
    free(rraw);
}

void session_emit(host_session_t *s, const char *type, json_t *data, const char *raw,
                  size_t raw_len)
{
    char *text = data != NULL ? json_dumps(data, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    if (text == NULL)
        host_log(&s->mgr->ctx->log, AGENTD_LOG_ERROR, COMPONENT,
                 "%s: event %s not recorded: out of memory", s->id, type);
    else
        emit_text(s, type, text, strlen(text), json_is_object(data), raw, raw_len);
    free(text);
    json_decref(data);
}

void session_emit_json(host_session_t *s, const char *type, const char *json, size_t len,
                       const char *raw, size_t raw_len)
{
    emit_text(s, type, json, len, 1, raw, raw_len);
}

void session_error(host_session_t *s, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    session_emit(s, "error", json_pack("{s:s}", "message", msg), NULL, 0);
}

void session_set_state(host_session_t *s, host_session_state_t st, const char *reason)
{
    if (s->state == st)
        return;
    host_session_state_t prev = s->state;
    s->state = st;
    s->updated_ms = wall_ms();
    json_t *data = json_pack("{s:s, s:s}", "state", host_session_state_name(st), "previous",
                             host_session_state_name(prev));
    if (data != NULL && reason != NULL)
        json_object_set_new(data, "reason", json_string(reason));
    session_emit(s, "session.state", data, NULL, 0);
    session_store_save(s);
}

/* ---- lifetime ------------------------------------------------------------- */

static void on_timer_closed(uv_handle_t *h)
{
    host_session_t *s = h->data;
    s->timers_open--;
    session_maybe_free(s);
}

static void free_msgs(session_msg_t *msg)
{
    while (msg != NULL) {
        session_msg_t *next = msg->next;
        free(msg->text);
        free(msg);
        msg = next;
    }
}

static void session_free_memory(host_session_t *s)
{
    free_msgs(s->queue);
    free_msgs(s->unconfirmed);
    session_pending_release(s);
    json_decref(s->settings);
    free(s->dir);
    free(s->workspace);
    free(s->claude_session_id);
    free(s);
}

/* A deleted session goes once its runner is gone and its timers closed. */
void session_maybe_free(host_session_t *s)
{
    if (s->deleting && s->runner == NULL && s->timers_open == 0 && s->kept_ops == 0)
        session_free_memory(s);
}

static void unlink_session(host_sessions_t *m, host_session_t *s)
{
    for (host_session_t **p = &m->head; *p != NULL; p = &(*p)->next) {
        if (*p == s) {
            *p = s->next;
            m->count--;
            return;
        }
    }
}

static host_session_t *session_new(host_sessions_t *m, const char *id, json_t *settings)
{
    host_session_t *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->mgr = m;
    snprintf(s->id, sizeof s->id, "%s", id);
    s->settings = settings;
    uv_timer_init(&m->ctx->loop, &s->idle_timer);
    uv_timer_init(&m->ctx->loop, &s->timeout_timer);
    uv_timer_init(&m->ctx->loop, &s->approval_timer);
    s->idle_timer.data = s->timeout_timer.data = s->approval_timer.data = s;
    s->timers_open = 3;
    s->next = m->head;
    m->head = s;
    m->count++;
    return s;
}

host_session_t *session_adopt_loaded(host_sessions_t *m, const char *id, json_t *settings);
host_session_t *session_adopt_loaded(host_sessions_t *m, const char *id, json_t *settings)
{
    return id != NULL ? session_new(m, id, settings) : NULL;
}

static void close_session_timers(host_session_t *s)
{
    uv_close((uv_handle_t *)&s->idle_timer, on_timer_closed);
    uv_close((uv_handle_t *)&s->timeout_timer, on_timer_closed);
    uv_close((uv_handle_t *)&s->approval_timer, on_timer_closed);
}

/* ---- settings ---------------------------------------------------------------- */

static const char *const setting_keys[] = {
    "prompt", "sandbox", "workspace", "model", "allowed_tools", "disallowed_tools",
    "permission_default", "persona", "append_system_prompt", "context_files", "env",
    "timeout_minutes", "name", "one_shot", "permission_mode",
};

static int check_settings(host_sessions_t *m, json_t *st, agentd_err_t *err)
{
    const char *k;
    json_t *v;
    if (!json_is_object(st))
        return agentd_err_set(err, AGENTD_EINVAL, "settings: expected an object");
    json_object_foreach(st, k, v) {
        size_t i, n = sizeof setting_keys / sizeof setting_keys[0];
        for (i = 0; i < n && strcmp(k, setting_keys[i]) != 0; i++)
            ;
        if (i == n && strcmp(k, "permissions") != 0)
            return agentd_err_set(err, AGENTD_EINVAL, "%s: not a session setting", k);
    }
    const char *strings[] = {"prompt", "sandbox", "workspace", "model", "persona",
                             "append_system_prompt", "name", "permission_default"};
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++) {
        v = json_object_get(st, strings[i]);
        if (v != NULL && !json_is_string(v))
            return agentd_err_set(err, AGENTD_EINVAL, "%s: expected a string", strings[i]);
    }
    json_t *env = json_object_get(st, "env");
    if (json_is_object(env)) {
        json_object_foreach(env, k, v) {
            if (!json_is_string(v) || !host_secrets_has_refs(json_string_value(v),
                                                             json_string_length(v)))
                continue;
            char where[300];
            snprintf(where, sizeof where, "session settings env.%s", k);
            if (m->ctx->secrets == NULL)
                return agentd_err_set(err, AGENTD_EUNAVAIL, "%s: no secret store is open", where);
            int rc = host_secrets_check_refs(m->ctx->secrets, json_string_value(v),
                                             json_string_length(v), where, NULL, err);
            if (rc != 0)
                return rc;
        }
    }
    const char *def = json_string_value(json_object_get(st, "permission_default"));
    if (def != NULL && strcmp(def, "allow") != 0 && strcmp(def, "deny") != 0)
        return agentd_err_set(err, AGENTD_EINVAL, "permission_default: \"allow\" or \"deny\"");
    /* permissions {mode, phase, allow, ask, deny}, allowed_tools and
     * disallowed_tools: every rule must parse (docs/permissions.md) */
    host_perm_policy_t pol;
    char why[256];
    const char *pm = json_string_value(json_object_get(st, "permission_mode"));
    if (json_object_get(st, "permission_mode") != NULL &&
        (pm == NULL || (strcmp(pm, "default") != 0 && strcmp(pm, "acceptEdits") != 0 &&
                        strcmp(pm, "plan") != 0)))
        return agentd_err_set(err, AGENTD_EINVAL,
                              "permission_mode: \"default\", \"acceptEdits\" or \"plan\"");
    int prc = host_perm_policy_build(m->ctx->config->permissions, st, &pol, why, sizeof why);
    if (prc != 0)
        return agentd_err_set(err, prc, "%s", why);
    host_perm_policy_free(&pol);
    v = json_object_get(st, "timeout_minutes");
    if (v != NULL && (!json_is_integer(v) || json_integer_value(v) < 1 ||
                      json_integer_value(v) > 240))
        return agentd_err_set(err, AGENTD_EINVAL, "timeout_minutes: an integer from 1 to 240");
    const char *prompt = json_string_value(json_object_get(st, "prompt"));
    if (prompt != NULL && strlen(prompt) > m->ctx->config->limits.max_message_bytes)
        return agentd_err_set(err, AGENTD_EINVAL, "prompt: longer than limits.max_message_bytes "
                              "(%zu)", m->ctx->config->limits.max_message_bytes);
    host_profile_t prof;
    host_diags_t diags = {0};
    int rc = host_profile_resolve(m->ctx->registry, m->ctx->config,
                                  json_string_value(json_object_get(st, "sandbox")), &prof, &diags);
    if (rc != 0)
        agentd_err_set(err, rc == AGENTD_ENOENT ? AGENTD_ENOENT : AGENTD_EINVAL, "sandbox: %s",
                       diags.count > 0 ? diags.items[0].message : "unusable profile");
    host_profile_clear(&prof);
    host_diags_free(&diags);
    return rc == 0 ? 0 : (rc == AGENTD_ENOENT ? AGENTD_ENOENT : AGENTD_EINVAL);
}

/* ---- directories ---------------------------------------------------------------- */

static char *path_join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n);
    if (p != NULL)
        snprintf(p, n, "%s/%s", a, b);
    return p;
}

static int prepare_dirs(host_session_t *s, agentd_err_t *err)
{
    char *base = path_join(s->mgr->ctx->config->data_dir, "sessions");
    s->dir = base != NULL ? path_join(base, s->id) : NULL;
    free(base);
    if (s->dir == NULL)
        return agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    const char *given = json_string_value(json_object_get(s->settings, "workspace"));
    if (given != NULL) {
        char *real = realpath(given, NULL);
        if (real == NULL)
            return agentd_err_set(err, AGENTD_EINVAL, "workspace: %s: %s", given,
                                  strerror(errno));
        s->workspace = real;
    } else {
        s->workspace = path_join(s->dir, "workspace");
        s->own_workspace = 1;
    }
    if (s->workspace == NULL || host_mkdir_p(s->dir, 0700) != 0 ||
        host_mkdir_p(s->workspace, 0700) != 0)
        return agentd_err_set(err, AGENTD_EIO, "cannot create the session's directories "
                              "under %s", s->mgr->ctx->config->data_dir);
    return 0;
}

static void new_id(char id[HOST_SESSION_ID_MAX])
{
    unsigned char b[8];
    if (RAND_bytes(b, sizeof b) != 1) {
        uint64_t t = uv_hrtime() ^ ((uint64_t)getpid() << 32);
        memcpy(b, &t, sizeof b);
    }
    snprintf(id, HOST_SESSION_ID_MAX, "s-%02x%02x%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2],
             b[3], b[4], b[5], b[6], b[7]);
}

/* ---- operations -------------------------------------------------------------------- */

static int enqueue(host_session_t *s, const char *text, agentd_err_t *err)
{
    session_msg_t *msg = calloc(1, sizeof *msg);
    if (msg == NULL || (msg->text = strdup(text)) == NULL) {
        free(msg);
        return agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    }
    s->updated_ms = wall_ms();
    msg->id = session_store_add_message(s, text);
    if (msg->id < 0) {
        free(msg->text);
        free(msg);
        return agentd_err_set(err, AGENTD_EIO, "the message could not be stored");
    }
    if (s->queue_tail != NULL)
        s->queue_tail->next = msg;
    else
        s->queue = msg;
    s->queue_tail = msg;
    session_emit(s, "session.message", json_pack("{s:s, s:I}", "text", text, "message_id",
                                                 (json_int_t)msg->id), NULL, 0);
    return 0;
}

int host_sessions_create(host_sessions_t *m, json_t *settings, char id[HOST_SESSION_ID_MAX],
                         agentd_err_t *err)
{
    if (m->shutting_down)
        return agentd_err_set(err, AGENTD_ESTATE, "agentd is shutting down");
    if (m->count >= m->ctx->config->limits.max_sessions)
        return agentd_err_set(err, AGENTD_ELIMIT, "limits.max_sessions (%u) reached",
                              m->ctx->config->limits.max_sessions);
    int rc = check_settings(m, settings, err);
    if (rc != 0)
        return rc;
    char sid[HOST_SESSION_ID_MAX];
    new_id(sid);
    host_session_t *s = session_new(m, sid, json_deep_copy(settings));
    if (s == NULL || s->settings == NULL) {
        if (s != NULL) {
            unlink_session(m, s);
            s->deleting = 1;
            close_session_timers(s);
        }
        return agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    }
    s->created_ms = s->updated_ms = wall_ms();
    rc = prepare_dirs(s, err);
    if (rc == 0)
        rc = session_store_save(s) == 0 ? 0 : agentd_err_set(err, AGENTD_EIO, "cannot store "
                                                             "the session");
    if (rc != 0) {
        unlink_session(m, s);
        s->deleting = 1;
        close_session_timers(s);
        return rc;
    }
    session_emit(s, "session.created", json_pack("{s:O, s:s}", "settings", s->settings,
                                                 "workspace", s->workspace), NULL, 0);
    snprintf(id, HOST_SESSION_ID_MAX, "%s", s->id);
    const char *prompt = json_string_value(json_object_get(s->settings, "prompt"));
    if (prompt != NULL && enqueue(s, prompt, err) == 0)
        session_pump_queue(s);
    return 0;
}

int host_sessions_send(host_sessions_t *m, const char *id, const char *text, agentd_err_t *err)
{
    host_session_t *s = session_find(m, id);
    if (s == NULL || s->deleting)
        return agentd_err_set(err, AGENTD_ENOENT, "no session %s", id != NULL ? id : "(null)");
    if (text == NULL || text[0] == '\0')
        return agentd_err_set(err, AGENTD_EINVAL, "text: must not be empty");
    if (strlen(text) > m->ctx->config->limits.max_message_bytes)
        return agentd_err_set(err, AGENTD_EINVAL, "text: longer than limits.max_message_bytes "
                              "(%zu)", m->ctx->config->limits.max_message_bytes);
    if (m->shutting_down)
        return agentd_err_set(err, AGENTD_ESTATE, "agentd is shutting down");
    int rc = enqueue(s, text, err);
    if (rc == 0)
        session_pump_queue(s);
    return rc;
}

int host_sessions_stop(host_sessions_t *m, const char *id, void (*done)(void *ud, int status),
                       void *ud, agentd_err_t *err)
{
    host_session_t *s = session_find(m, id);
    if (s == NULL || s->deleting)
        return agentd_err_set(err, AGENTD_ENOENT, "no session %s", id != NULL ? id : "(null)");
    if (s->runner == NULL) {
        uv_timer_stop(&s->idle_timer);
        if (s->state != HOST_SESSION_STOPPED)
            session_set_state(s, HOST_SESSION_STOPPED, "stopped by request");
        if (done != NULL)
            done(ud, 0);
        return 0;
    }
    if (done != NULL) {
        stop_waiter_t *w = calloc(1, sizeof *w);
        if (w == NULL)
            return agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
        w->done = done;
        w->ud = ud;
        w->next = s->stop_waiters;
        s->stop_waiters = w;
    }
    if (!s->stopping) {
        s->stopping = 1;
        s->stop_reason = "stopped by request";
        host_runner_stop(s->runner, "stopped by request");
    }
    return 0;
}

int host_sessions_pause(host_sessions_t *m, const char *id, agentd_err_t *err)
{
    host_session_t *s = session_find(m, id);
    if (s == NULL || s->deleting)
        return agentd_err_set(err, AGENTD_ENOENT, "no session %s", id != NULL ? id : "(null)");
    if (s->state == HOST_SESSION_PAUSED)
        return 0;
    if (s->runner != NULL && host_runner_running(s->runner)) {
        int rc = host_runner_pause(s->runner, 1, err);
        if (rc != 0)
            return rc;
    }
    uv_timer_stop(&s->idle_timer);
    s->state_before_pause = s->state;
    session_set_state(s, HOST_SESSION_PAUSED, "paused by request");
    return 0;
}

int host_sessions_resume(host_sessions_t *m, const char *id, agentd_err_t *err)
{
    host_session_t *s = session_find(m, id);
    if (s == NULL || s->deleting)
        return agentd_err_set(err, AGENTD_ENOENT, "no session %s", id != NULL ? id : "(null)");
    if (s->state != HOST_SESSION_PAUSED)
        return agentd_err_set(err, AGENTD_ESTATE, "session %s is %s, not paused", s->id,
                              host_session_state_name(s->state));
    if (s->runner != NULL && host_runner_running(s->runner)) {
        int rc = host_runner_pause(s->runner, 0, err);
        if (rc != 0)
            return rc;
        session_set_state(s, s->turn_running ? HOST_SESSION_RUNNING : HOST_SESSION_IDLE,
                          "resumed by request");
    } else {
        session_set_state(s, HOST_SESSION_IDLE, "resumed by request");
    }
    session_pump_queue(s);
    if (!s->turn_running)
        session_arm_idle(s, 1);
    return 0;
}

/* ---- clone and delete ------------------------------------------------------------------ */

static void copy_event(void *ud, const host_event_t *ev)
{
    host_session_t *to = ud;
    agentd_err_t err = {{0}};
    host_event_log_append(to->mgr->log, to->id, ev->type, ev->data_json, ev->data_len, ev->raw,
                          ev->raw_len, NULL, &err);
}

static int copy_tree(const char *from, const char *to)
{
    /* The agent's transcript directory: small, plain files. */
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "cp -a -- '%s/.' '%s/' 2>/dev/null", from, to);
    if (strchr(from, '\'') != NULL || strchr(to, '\'') != NULL)
        return -1;
    return system(cmd) == 0 ? 0 : -1;
}

int host_sessions_clone(host_sessions_t *m, const char *id, int with_history,
                        char new_id[HOST_SESSION_ID_MAX], agentd_err_t *err)
{
    host_session_t *s = session_find(m, id);
    if (s == NULL || s->deleting)
        return agentd_err_set(err, AGENTD_ENOENT, "no session %s", id != NULL ? id : "(null)");
    json_t *settings = json_deep_copy(s->settings);
    if (settings == NULL)
        return agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    json_object_del(settings, "prompt"); /* the clone waits for its first message */
    int rc = host_sessions_create(m, settings, new_id, err);
    json_decref(settings);
    if (rc != 0 || !with_history)
        return rc;
    host_session_t *c = session_find(m, new_id);
    uint64_t last = 0;
    host_event_log_flush(m->log, NULL);
    host_event_log_read(m->log, s->id, 0, 0, copy_event, c, &last, NULL);
    char *from = path_join(s->workspace, ".agentd/claude");
    char *to = path_join(c->workspace, ".agentd/claude");
    if (from != NULL && to != NULL && host_mkdir_p(to, 0700) == 0 && copy_tree(from, to) == 0 &&
        s->claude_session_id != NULL)
        c->claude_session_id = strdup(s->claude_session_id);
    free(from);
    free(to);
    session_emit(c, "session.cloned", json_pack("{s:s, s:b, s:I}", "from", s->id, "history",
                                                with_history, "events", (json_int_t)last),
                 NULL, 0);
    session_store_save(c);
    return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void finish_delete(host_session_t *s)
{
    host_sessions_t *m = s->mgr;
    if (s->purge_on_delete)
        host_event_log_purge(m->log, s->id, NULL);
    else
        session_emit(s, "session.deleted", json_object(), NULL, 0);
    if (s->dir != NULL)
        nftw(s->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    session_store_delete(s);
    unlink_session(m, s);
    close_session_timers(s);
}

static void on_stopped_for_delete(void *ud, int status)
{
    (void)status;
    session_sandbox_destroy(ud, finish_delete);
}

int host_sessions_delete(host_sessions_t *m, const char *id, int purge_events,
                         agentd_err_t *err)
{
    host_session_t *s = session_find(m, id);
    if (s == NULL || s->deleting)
        return agentd_err_set(err, AGENTD_ENOENT, "no session %s", id != NULL ? id : "(null)");
    s->deleting = 1;
    s->purge_on_delete = purge_events;
    uv_timer_stop(&s->idle_timer);
    uv_timer_stop(&s->timeout_timer);
    if (s->runner != NULL) {
        stop_waiter_t *w = calloc(1, sizeof *w);
        if (w == NULL)
            return agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
        w->done = on_stopped_for_delete;
        w->ud = s;
        w->next = s->stop_waiters;
        s->stop_waiters = w;
        if (!s->stopping) {
            s->stopping = 1;
            s->stop_reason = "deleted";
            host_runner_stop(s->runner, "deleted");
        }
        return 0;
    }
    session_sandbox_destroy(s, finish_delete);
    return 0;
}

/* ---- queries ------------------------------------------------------------------------ */

static size_t queued(const host_session_t *s)
{
    size_t n = 0;
    for (const session_msg_t *q = s->queue; q != NULL; q = q->next)
        n++;
    return n;
}

json_t *host_sessions_get(host_sessions_t *m, const char *id)
{
    host_session_t *s = session_find(m, id);
    if (s == NULL || s->deleting)
        return NULL;
    const char *name = json_string_value(json_object_get(s->settings, "name"));
    const char *sandbox = json_string_value(json_object_get(s->settings, "sandbox"));
    return json_pack("{s:s, s:s?, s:s, s:I, s:I, s:s, s:s?, s:O, s:f, s:I, s:I, s:I, s:I, s:I, s:o*}",
                     "id", s->id, "name", name, "state", host_session_state_name(s->state),
                     "created_ms", (json_int_t)s->created_ms, "updated_ms",
                     (json_int_t)s->updated_ms, "workspace", s->workspace, "sandbox",
                     sandbox != NULL ? sandbox : m->ctx->config->default_sandbox, "settings",
                     s->settings, "cost_usd", s->cost_usd, "input_tokens",
                     (json_int_t)s->input_tokens, "output_tokens", (json_int_t)s->output_tokens,
                     "turns", (json_int_t)s->turns, "last_seq",
                     (json_int_t)host_event_log_last_seq(m->log, s->id), "queued_messages",
                     (json_int_t)queued(s), "pending", session_pending_json(s));
}

json_t *host_sessions_list(host_sessions_t *m)
{
    json_t *arr = json_array();
    for (host_session_t *s = m->head; arr != NULL && s != NULL; s = s->next)
        if (!s->deleting)
            json_array_insert_new(arr, 0, host_sessions_get(m, s->id));
    return arr;
}

int host_sessions_state(host_sessions_t *m, const char *id, host_session_state_t *out)
{
    host_session_t *s = session_find(m, id);
    if (s == NULL || s->deleting)
        return AGENTD_ENOENT;
    *out = s->state;
    return 0;
}

/* ---- open, shutdown, close ---------------------------------------------------------------- */

static void on_reaped(void *ud, int status)
{
    (void)ud;
    (void)status;
}

typedef struct listing {
    host_sessions_t *m;
    host_plugin_t *p;
} listing_t;

static void on_listed(void *ud, const agentd_sandbox_info_t *info, int status)
{
    listing_t *l = ud;
    host_plugin_t *p = l->p;
    (void)status;
    if (info == NULL) { /* the end of the list */
        free(l);
        return;
    }
    /* Only what a session runner made ("session-..."): `agentd sandbox
     * exec` of another process is not ours to reap. A live session's
     * sandbox is adopted when the provider can. */
    if (info->sandbox_id == NULL || strncmp(info->sandbox_id, "session-", 8) != 0 ||
        session_sandbox_adopt(l->m, p, info))
        return;
    host_log(&p->host.ctx->log, AGENTD_LOG_INFO, COMPONENT,
             "reaping sandbox %s left by a previous agentd", info->sandbox_id);
    p->vt.sandbox.reap(p->self, info->sandbox_id, on_reaped, NULL, NULL);
}

static void reap_leftovers(host_sessions_t *m)
{
    host_registry_t *reg = m->ctx->registry;
    for (size_t i = 0; i < reg->count; i++) {
        host_plugin_t *p = reg->items[i];
        if (p->status != HOST_PLUGIN_LOADED || p->kind != AGENTD_KIND_SANDBOX)
            continue;
        listing_t *l = calloc(1, sizeof *l);
        if (l == NULL)
            continue;
        l->m = m;
        l->p = p;
        if (p->vt.sandbox.list(p->self, on_listed, l, NULL) != 0)
            free(l); /* a call that fails never calls back */
    }
}

/* Events plugins emit for a session (host API emit_event) join its log,
 * redacted and ordered like the host's own. */
static int plugin_event_sink(void *ud, const char *session_id, const char *type,
                             const char *data_json, size_t len)
{
    host_session_t *s = session_find(ud, session_id);
    if (s == NULL || s->deleting)
        return AGENTD_ENOENT;
    json_t *data = json_loadb(data_json, len, 0, NULL);
    if (data == NULL)
        return AGENTD_EINVAL;
    session_emit(s, type, data, NULL, 0);
    return 0;
}

int host_sessions_open(host_ctx_t *ctx, host_db_t *db, host_event_log_t *log,
                       host_sessions_t **out, agentd_err_t *err)
{
    host_sessions_t *m = calloc(1, sizeof *m);
    if (m == NULL)
        return agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    m->ctx = ctx;
    m->db = db;
    m->log = log;
    int rc = session_store_open(m, err);
    if (rc == 0)
        rc = session_store_load_all(m, err);
    if (rc != 0) {
        host_sessions_close(m);
        return rc;
    }
    for (host_session_t *s = m->head; s != NULL; s = s->next) {
        if (s->state == HOST_SESSION_PROVISIONING || s->state == HOST_SESSION_RUNNING ||
            s->state == HOST_SESSION_WAITING || s->state == HOST_SESSION_IDLE ||
            /* its agent process is gone too */
            (s->state == HOST_SESSION_PENDING && s->queue != NULL))
            session_set_state(s, HOST_SESSION_INTERRUPTED,
                              "agentd stopped while the session was active");
    }
    reap_leftovers(m);
    ctx->event_sink = plugin_event_sink;
    ctx->event_sink_ud = m;
    *out = m;
    return 0;
}

static void check_shutdown_done(host_sessions_t *m)
{
    if (!m->shutting_down || m->shutdown_done == NULL)
        return;
    for (host_session_t *s = m->head; s != NULL; s = s->next)
        if (s->runner != NULL)
            return;
    void (*done)(void *) = m->shutdown_done;
    m->shutdown_done = NULL;
    done(m->shutdown_ud);
}

static void on_stopped_for_shutdown(void *ud, int status)
{
    (void)status;
    host_session_t *s = ud;
    check_shutdown_done(s->mgr);
}

void host_sessions_shutdown(host_sessions_t *m, void (*done)(void *ud), void *ud)
{
    m->shutting_down = 1;
    m->shutdown_done = done;
    m->shutdown_ud = ud;
    for (host_session_t *s = m->head; s != NULL; s = s->next) {
        uv_timer_stop(&s->idle_timer);
        if (s->runner != NULL)
            host_sessions_stop(m, s->id, on_stopped_for_shutdown, s, NULL);
    }
    check_shutdown_done(m);
}

void host_sessions_close(host_sessions_t *m)
{
    if (m == NULL)
        return;
    if (m->ctx->event_sink_ud == m) {
        m->ctx->event_sink = NULL;
        m->ctx->event_sink_ud = NULL;
    }
    session_sandbox_detach_all(m);
    while (m->head != NULL) {
        host_session_t *s = m->head;
        m->head = s->next;
        if (s->runner != NULL) {
            host_runner_free(s->runner);
            s->runner = NULL;
        }
        while (s->stop_waiters != NULL) {
            stop_waiter_t *w = s->stop_waiters;
            s->stop_waiters = w->next;
            free(w);
        }
        s->deleting = 1;
        close_session_timers(s);
    }
    free(m);
}

int host_sessions_busy(host_sessions_t *m, const char *id)
{
    host_session_t *s = session_find(m, id);
    return s != NULL && s->runner != NULL;
}
