/* One run of a session's agent: start it (resuming the conversation when
 * there is one), deliver messages, turn its output into events, answer its
 * permission requests, and handle its end. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/stream_json.h"
#include "agent/utf8.h"
#include "plugins/profiles.h"
#include "runner/claude_command.h"
#include "sessions/session_internal.h"
#include "secrets/secrets.h"

#define COMPONENT "sessions"

static void on_idle_pause(uv_timer_t *t)
{
    host_session_t *s = t->data;
    if (s->runner == NULL || s->turn_running || s->queue != NULL)
        return;
    /* Idle long enough: let the agent exit (its conversation stays on disk)
     * and call the session paused; the next message resumes it. */
    host_runner_close_stdin(s->runner);
    s->state_before_pause = HOST_SESSION_IDLE;
    session_set_state(s, HOST_SESSION_PAUSED, "idle");
}

void session_arm_idle(host_session_t *s, int on)
{
    if (on && s->runner != NULL && !s->deleting && !s->mgr->shutting_down)
        uv_timer_start(&s->idle_timer, on_idle_pause,
                       (uint64_t)s->mgr->ctx->config->agent.idle_pause_s * 1000u, 0);
    else
        uv_timer_stop(&s->idle_timer);
}

static void on_session_timeout(uv_timer_t *t)
{
    host_session_t *s = t->data;
    if (s->runner == NULL || s->stopping)
        return;
    char why[96];
    snprintf(why, sizeof why, "session timeout (%lld minutes)",
             (long long)json_integer_value(json_object_get(s->settings, "timeout_minutes")));
    s->stopping = 1;
    s->stop_reason = "timeout";
    host_runner_stop(s->runner, why);
}

static unsigned timeout_minutes(host_session_t *s)
{
    json_t *v = json_object_get(s->settings, "timeout_minutes");
    return v != NULL ? (unsigned)json_integer_value(v)
                     : s->mgr->ctx->config->limits.session_timeout_minutes;
}

/* ---- messages in -------------------------------------------------------------- */

static int write_user_message(host_session_t *s, const char *text)
{
    json_t *msg = json_pack("{s:s, s:{s:s, s:s}}", "type", "user", "message", "role", "user",
                            "content", text);
    char *line = msg != NULL ? json_dumps(msg, JSON_COMPACT) : NULL;
    json_decref(msg);
    if (line == NULL)
        return AGENTD_ENOMEM;
    int rc = host_runner_write_line(s->runner, line, strlen(line));
    free(line);
    return rc;
}

void session_pump_queue(host_session_t *s)
{
    if (s->deleting || s->stopping || s->queue == NULL || s->mgr->shutting_down)
        return;
    if (s->state == HOST_SESSION_PAUSED && s->runner != NULL && host_runner_running(s->runner)) {
        agentd_err_t err = {{0}};
        if (host_runner_pause(s->runner, 0, &err) != 0)
            return;
    }
    if (s->runner == NULL) {
        agentd_err_t err = {{0}};
        if (session_start_run(s, &err) != 0) {
            session_error(s, "the agent could not be started: %s", err.msg);
            session_set_state(s, HOST_SESSION_FAILED, err.msg);
        }
        return;
    }
    if (!s->runner_started || s->turn_running || !host_runner_running(s->runner))
        return;
    session_msg_t *msg = s->queue;
    if (write_user_message(s, msg->text) != 0)
        return; /* stdin backed up or closing: stays queued */
    s->queue = msg->next;
    if (s->queue == NULL)
        s->queue_tail = NULL;
    session_emit(s, "session.message_delivered", json_pack("{s:I}", "message_id",
                                                           (json_int_t)msg->id), NULL, 0);
    if (s->saw_init) {
        session_store_message_delivered(s, msg->id);
        free(msg->text);
        free(msg);
    } else { /* kept until the agent shows it started */
        msg->next = s->unconfirmed;
        s->unconfirmed = msg;
    }
    s->turn_running = 1;
    session_arm_idle(s, 0);
    host_runner_turn(s->runner, 1);
    session_set_state(s, HOST_SESSION_RUNNING, NULL);
}

/* ---- agent output ------------------------------------------------------------------ */

typedef struct line_ctx {
    host_session_t *s;
    const char *raw;
    size_t raw_len;
    int first;
} line_ctx_t;

static void on_result(host_session_t *s, json_t *data)
{
    /* A --resume that found nothing prints an error result before any init:
     * it is not a turn of this conversation. */
    if (s->resumed && !s->saw_init)
        return;
    s->turns++;
    s->cost_usd += json_number_value(json_object_get(data, "total_cost_usd"));
    json_t *usage = json_object_get(data, "usage");
    s->input_tokens += (uint64_t)json_integer_value(json_object_get(usage, "input_tokens"));
    s->output_tokens += (uint64_t)json_integer_value(json_object_get(usage, "output_tokens"));
    s->turn_running = 0;
    host_runner_turn(s->runner, 0);
    if (s->stopping)
        return; /* the stop decides the state */
    int ok = !json_is_true(json_object_get(data, "is_error")) &&
             json_is_string(json_object_get(data, "subtype")) &&
             strcmp(json_string_value(json_object_get(data, "subtype")), "success") == 0;
    if (json_is_true(json_object_get(s->settings, "one_shot")) && s->queue == NULL) {
        session_set_state(s, ok ? HOST_SESSION_COMPLETED : HOST_SESSION_FAILED,
                          ok ? NULL : "the agent's result was an error");
        host_runner_close_stdin(s->runner);
        return;
    }
    session_set_state(s, HOST_SESSION_IDLE, NULL);
    if (s->queue != NULL)
        session_pump_queue(s);
    else
        session_arm_idle(s, 1);
}

static void confirm_delivered(host_session_t *s)
{
    while (s->unconfirmed != NULL) {
        session_msg_t *msg = s->unconfirmed;
        s->unconfirmed = msg->next;
        session_store_message_delivered(s, msg->id);
        free(msg->text);
        free(msg);
    }
}

/* Messages the agent never saw go back to the front of the queue. */
static void requeue_unconfirmed(host_session_t *s)
{
    while (s->unconfirmed != NULL) {
        session_msg_t *msg = s->unconfirmed;
        s->unconfirmed = msg->next;
        msg->next = s->queue;
        s->queue = msg;
        if (s->queue_tail == NULL)
            s->queue_tail = msg;
    }
}

static void on_init(host_session_t *s, json_t *data)
{
    const char *cid = json_string_value(json_object_get(data, "session_id"));
    s->saw_init = 1;
    confirm_delivered(s);
    if (cid == NULL)
        return;
    if (s->resumed && s->claude_session_id != NULL && strcmp(cid, s->claude_session_id) != 0)
        session_emit(s, "session.resume_failed",
                     json_pack("{s:s, s:s}", "requested", s->claude_session_id, "message",
                               "the conversation was not found; the agent started fresh"),
                     NULL, 0);
    if (s->claude_session_id == NULL || strcmp(cid, s->claude_session_id) != 0) {
        free(s->claude_session_id);
        s->claude_session_id = strdup(cid);
        session_store_save(s);
    }
}

static void on_event(void *ud, const char *type, json_t *data)
{
    line_ctx_t *lc = ud;
    host_session_t *s = lc->s;
    if (strcmp(type, "agent.init") == 0)
        on_init(s, data);
    /* The raw line goes with the first event made from it. */
    session_emit(s, type, json_incref(data), lc->first ? lc->raw : NULL,
                 lc->first ? lc->raw_len : 0);
    lc->first = 0;
    if (strcmp(type, "agent.result") == 0)
        on_result(s, data);
}

/* agent.text and agent.thinking: stored as the normalizer wrote them. */
static void on_event_json(void *ud, const char *type, const char *json, size_t len)
{
    line_ctx_t *lc = ud;
    session_emit_json(lc->s, type, json, len, lc->first ? lc->raw : NULL,
                      lc->first ? lc->raw_len : 0);
    lc->first = 0;
}

void session_agent_line(host_session_t *s, const char *line, size_t len, int truncated)
{
    line_ctx_t lc = {s, line, len, 1};
    host_agent_sink_t sink = {.event = on_event, .event_json = on_event_json, .ud = &lc};
    json_t *parsed = NULL;
    host_agent_line_kind_t kind = host_agent_normalize_to(line, len, truncated, &sink, &parsed);
    if (kind == HOST_AGENT_LINE_CONTROL_REQUEST || kind == HOST_AGENT_LINE_CONTROL_RESPONSE)
        session_on_control(s, parsed);
    json_decref(parsed);
}

static void on_runner_line(void *ud, const char *line, size_t len, int truncated)
{
    session_agent_line(ud, line, len, truncated);
}

static void on_runner_stderr(void *ud, const char *line, size_t len)
{
    host_session_t *s = ud;
    size_t n;
    char *text = host_utf8_repair(line, len, 0, &n);
    if (text == NULL)
        return;
    if (n > 0)
        session_emit(s, "agent.stderr", json_pack("{s:s%}", "text", text, n), NULL, 0);
    free(text);
}

static void on_runner_started(void *ud, int status, const char *msg)
{
    host_session_t *s = ud;
    session_stats_started(s, status == 0);
    if (status != 0) {
        session_error(s, "%s", msg != NULL ? msg : "the agent could not be started");
        return;
    }
    s->runner_started = 1;
    session_emit(s, "sandbox.started", json_pack("{s:I}", "run", (json_int_t)s->runs), NULL, 0);
    session_pump_queue(s);
}

static void notify_stop_waiters(host_session_t *s)
{
    stop_waiter_t *w = s->stop_waiters;
    s->stop_waiters = NULL;
    while (w != NULL) {
        stop_waiter_t *next = w->next;
        w->done(w->ud, 0);
        free(w);
        w = next;
    }
}

static host_session_state_t state_after_exit(host_session_t *s, int64_t status, int sig,
                                             const char *reason, const char **why)
{
    if (s->stopping && s->mgr->shutting_down) {
        *why = "agentd shut down while the session was active";
        return HOST_SESSION_INTERRUPTED;
    }
    if (s->stopping && s->stop_reason != NULL && strcmp(s->stop_reason, "timeout") == 0) {
        *why = reason;
        return HOST_SESSION_FAILED;
    }
    if (s->stopping) {
        *why = s->stop_reason;
        return HOST_SESSION_STOPPED;
    }
    if (reason != NULL && s->state == HOST_SESSION_COMPLETED) {
        *why = NULL; /* its work was done; the lingering is only recorded */
        session_error(s, "%s", reason);
        return HOST_SESSION_COMPLETED;
    }
    if (reason != NULL) {
        *why = reason;
        return HOST_SESSION_FAILED;
    }
    if (s->turn_running || !s->runner_started) {
        *why = status != 0 || sig != 0 ? "the agent exited before finishing its turn"
                                       : "the agent ended its turn without a result";
        return HOST_SESSION_FAILED;
    }
    *why = NULL;
    return s->state; /* idle, paused (auto), completed: the exit was expected */
}

/* A kept sandbox that could not run the agent (its container died, its
 * host lost the directory): once more in a new one, as if nothing was kept. */
static int retry_in_new_sandbox(host_session_t *s, const char *reason)
{
    if (!s->run_reused || s->runner_started || s->stopping || s->deleting ||
        s->mgr->shutting_down)
        return 0;
    s->run_reused = 0;
    host_log(&s->mgr->ctx->log, AGENTD_LOG_WARN, COMPONENT,
             "%s: its kept sandbox %s could not start the agent (%s); making a new one", s->id,
             s->run_sandbox_id, reason != NULL ? reason : "it exited");
    agentd_err_t err = {{0}};
    if (session_start_run(s, &err) == 0)
        return 1;
    session_error(s, "the agent could not be started: %s", err.msg);
    return 0;
}

static void on_runner_exit(void *ud, int64_t status, int sig, const char *reason)
{
    host_session_t *s = ud;
    session_sandbox_take(s, s->runner, s->run_plugin, s->run_sandbox_id);
    host_runner_free(s->runner);
    s->runner = NULL;
    uv_timer_stop(&s->timeout_timer);
    uv_timer_stop(&s->idle_timer);
    session_drop_pending(s, "the agent exited");
    session_emit(s, "sandbox.exited", json_pack("{s:I, s:i, s:s?}", "exit_status",
                                                (json_int_t)status, "signal", sig, "reason",
                                                reason), NULL, 0);
    if (retry_in_new_sandbox(s, reason))
        return;
    /* --resume of a conversation that is not there: start fresh, once. */
    int resume_missing = s->resumed && !s->saw_init && !s->stopping && reason == NULL &&
                         !s->resume_failed_once;
    const char *why = NULL;
    host_session_state_t next = state_after_exit(s, status, sig, reason, &why);
    s->turn_running = 0;
    s->runner_started = 0;
    requeue_unconfirmed(s);
    if (resume_missing) {
        s->resume_failed_once = 1;
        session_emit(s, "session.resume_failed",
                     json_pack("{s:s?, s:s}", "requested", s->claude_session_id, "message",
                               "the agent could not resume the conversation; starting fresh"),
                     NULL, 0);
        free(s->claude_session_id);
        s->claude_session_id = NULL;
        next = HOST_SESSION_IDLE;
    }
    if (next == HOST_SESSION_FAILED && why != NULL)
        session_error(s, "%s", why);
    session_set_state(s, next, why);
    /* A kept sandbox waits, frozen, for the next run (which thaws it, maybe
     * at once for a queued message); one whose run failed (a crash, a
     * watchdog, its host gone) is not trusted with another. */
    if (next == HOST_SESSION_FAILED)
        session_sandbox_destroy(s, NULL);
    else
        session_sandbox_idle(s);
    s->stopping = 0;
    notify_stop_waiters(s);
    if (s->deleting) {
        session_maybe_free(s);
        return;
    }
    /* A failed or stopped run waits for the next message; it never restarts
     * itself, so a crashing agent cannot loop. */
    if (next != HOST_SESSION_STOPPED && next != HOST_SESSION_FAILED)
        session_pump_queue(s);
}

/* ---- start -------------------------------------------------------------------------- */

static char *session_path(host_session_t *s, const char *rel)
{
    size_t n = strlen(s->workspace) + strlen(rel) + 2;
    char *p = malloc(n);
    if (p != NULL)
        snprintf(p, n, "%s/%s", s->workspace, rel);
    return p;
}

static const char *model_url(host_ctx_t *ctx)
{
    const char *u = ctx->config->agent.base_url;
    if (u == NULL)
        u = getenv("ANTHROPIC_BASE_URL");
    return u != NULL && u[0] ? u : "https://api.anthropic.com";
}

static int build_command(host_session_t *s, host_claude_command_t *cmd, agentd_err_t *err)
{
    host_ctx_t *ctx = s->mgr->ctx;
    char *config_dir = session_path(s, ".agentd/claude");
    char *home = session_path(s, ".agentd/home");
    if (config_dir == NULL || home == NULL || host_mkdir_p(config_dir, 0700) != 0 ||
        host_mkdir_p(home, 0700) != 0) {
        free(config_dir);
        free(home);
        return agentd_err_set(err, AGENTD_EIO, "cannot create the agent's state directories");
    }
    const char *key = ctx->config->agent.api_key;
    if (key == NULL)
        key = getenv("ANTHROPIC_API_KEY");
    /* Secrets changed by `agentd secret set` next to us are known to the
     * redactor before this run prints anything. */
    if (ctx->secrets != NULL)
        host_secrets_refresh(ctx->secrets, NULL);
    host_secret_str_t key_val = {0};
    if (key != NULL && host_secrets_has_refs(key, strlen(key))) {
        host_secret_use_t use = {.session = s->id, .purpose = "env",
                                 .where = "config agent.api_key"};
        int krc = ctx->secrets != NULL
                      ? host_secrets_resolve(ctx->secrets, key, strlen(key), &use, &key_val, err)
                      : agentd_err_set(err, AGENTD_EUNAVAIL, "agent.api_key: no secret store");
        if (krc != 0) {
            free(config_dir);
            free(home);
            return krc;
        }
        key = key_val.data;
    }
    const char *path = getenv("PATH");
    const char *model = json_string_value(json_object_get(s->settings, "model"));
    host_claude_inputs_t in = {
        .program = ctx->config->agent.command,
        .model = model != NULL ? model : ctx->config->agent.model,
        .resume_id = s->claude_session_id,
        .config_dir = config_dir,
        .home = home,
        .api_key = key,
        .base_url = ctx->config->agent.base_url != NULL ? ctx->config->agent.base_url
                                                        : getenv("ANTHROPIC_BASE_URL"),
        .path_env = path != NULL ? path : "/usr/local/bin:/usr/bin:/bin",
        .settings = s->settings,
        .perm_defaults = ctx->config->permissions,
        .secrets = ctx->secrets,
        .session_id = s->id,
    };
    int rc = host_claude_command_build(&in, s->workspace, cmd, err);
    host_secret_str_free(&key_val);
    free(config_dir);
    free(home);
    return rc;
}

int session_start_run(host_session_t *s, agentd_err_t *err)
{
    host_sessions_t *m = s->mgr;
    host_ctx_t *ctx = m->ctx;
    host_profile_t prof;
    host_diags_t diags = {0};
    int rc = host_profile_resolve(ctx->registry, ctx->config,
                                  json_string_value(json_object_get(s->settings, "sandbox")),
                                  &prof, &diags);
    if (rc != 0) {
        agentd_err_set(err, rc, "sandbox: %s",
                       diags.count > 0 ? diags.items[0].message : "unusable profile");
        host_diags_free(&diags);
        return rc;
    }
    host_diags_free(&diags);
    host_claude_command_t cmd;
    rc = build_command(s, &cmd, err);
    if (rc != 0) {
        host_profile_clear(&prof);
        return rc;
    }
    char sandbox_id[96];
    /* Unique across host restarts: runs starts again at 0, and a sandbox a
     * killed host left behind keeps its id until the background reap ends. */
    snprintf(sandbox_id, sizeof sandbox_id, "session-%s-%u-%llx", s->id, ++s->runs,
             (unsigned long long)(uv_hrtime() / 1000000u));
    const char *kept_id = NULL;
    agentd_sandbox_t *reuse = session_sandbox_for_run(s, prof.plugin, &kept_id);
    if (reuse != NULL)
        snprintf(sandbox_id, sizeof sandbox_id, "%s", kept_id);
    s->run_plugin = prof.plugin;
    s->run_reused = reuse != NULL;
    snprintf(s->run_sandbox_id, sizeof s->run_sandbox_id, "%s", sandbox_id);
    host_runner_opts_t o = {
        .plugin = prof.plugin,
        .profile_name = prof.name,
        .profile_json = prof.settings_json,
        .sandbox_id = sandbox_id,
        .session_id = s->id,
        .workspace = s->workspace,
        .argv = (const char *const *)cmd.argv,
        .env = (const char *const *)cmd.env,
        .model_api_url = model_url(ctx),
        .timeout_s = timeout_minutes(s) * 60u,
        .idle_timeout_ms = (uint64_t)ctx->config->agent.idle_timeout_s * 1000u,
        .exit_deadline_ms = (uint64_t)ctx->config->agent.exit_deadline_s * 1000u,
        .stop_grace_ms = (uint64_t)ctx->config->agent.stop_grace_s * 1000u,
        .max_line_bytes = ctx->config->agent.max_line_bytes,
        .reuse = reuse,
        .keep = session_sandbox_keeps(prof.plugin),
    };
    static const host_runner_cbs_t cbs = {
        .on_started = on_runner_started,
        .on_line = on_runner_line,
        .on_stderr = on_runner_stderr,
        .on_exit = on_runner_exit,
    };
    s->resumed = s->claude_session_id != NULL;
    s->saw_init = 0;
    s->runner_started = 0;
    s->start_began_ns = uv_hrtime();
    snprintf(s->start_profile, sizeof s->start_profile, "%s", prof.name);
    rc = host_runner_start(ctx, &o, &cbs, s, &s->runner, err);
    host_claude_command_free(&cmd);
    host_profile_clear(&prof);
    if (rc != 0) {
        s->runner = NULL;
        return rc;
    }
    uv_timer_start(&s->timeout_timer, on_session_timeout, (uint64_t)timeout_minutes(s) * 60000u,
                   0);
    session_set_state(s, HOST_SESSION_PROVISIONING, s->resumed ? "resuming the conversation"
                                                               : NULL);
    return 0;
}
