/*
 * session_driver: the host's durable runtime (database, event log, sessions)
 * as a long-running process that tests drive through the session C API
 * (host/sessions/sessions.h), one JSON command per line on stdin, answered
 * on stdout.
 *
 *   session_driver [--config FILE] [--log-level LEVEL]
 *
 * Commands (every one may carry "tag", echoed in its reply):
 *   {"op":"create","settings":{...}}        -> {"reply":"create","ok":true,"id":"s-..."}
 *   {"op":"send","id":ID,"text":"..."}
 *   {"op":"stop","id":ID}                   replied once the stop's done callback ran
 *   {"op":"pause","id":ID}  {"op":"resume","id":ID}
 *   {"op":"clone","id":ID,"history":true}   -> {..., "id": NEW_ID}
 *   {"op":"delete","id":ID,"purge":false}
 *   {"op":"get","id":ID}                    -> {..., "session": {...}}
 *   {"op":"list"}                           -> {..., "sessions": [...]}
 *   {"op":"state","id":ID}                  -> {..., "state": "idle"}
 *   {"op":"busy","id":ID}                   -> {..., "busy": false}
 *   {"op":"events","id":ID,"since":N,"limit":N}
 *        -> {..., "events": [{session, seq, ts, type, data, raw_len, raw}], "last": N}
 *           (raw is the agent's line when it is valid UTF-8, else null)
 *   {"op":"flush"}                          commits (and so prints) pending events
 *   {"op":"respond","id":ID,"request_id":R,"decision":"allow|allow_always|deny",
 *    "message":M?,"rule":R?}                answers a permission request
 * A failure is {"reply":OP,"ok":false,"error":"...","code":-N}.
 *
 * Every committed event of every session is printed as soon as the event
 * log fans it out (this program is one of its listeners):
 *   {"event":{"session":ID,"seq":N,"ts":MS,"type":"...","data":{...},"raw_len":N}}
 * stdout is flushed after every line, so a line that was printed was
 * committed before it was written.
 *
 * SIGTERM, SIGINT or the end of stdin: host_runtime_shutdown (every agent
 * stopped), then {"bye":true} and exit 0. Host logs go to stderr.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <uv.h>

#include "cli/cli.h"
#include "plugins/registry.h"
#include "sessions/runtime.h"

typedef struct driver {
    host_ctx_t *ctx;
    host_runtime_t rt;
    host_event_listener_t *listener;
    uv_pipe_t in;
    uv_signal_t sigterm, sigint;
    uv_idle_t finisher;
    char *buf;
    size_t len, cap;
    int in_open, shutting_down, finished, exit_code;
} driver_t;

/* ---- output --------------------------------------------------------------- */

static void put_line(const char *line, size_t len)
{
    fwrite(line, 1, len, stdout);
    fputc('\n', stdout);
    fflush(stdout);
}

static void put_text(const char *line)
{
    put_line(line, strlen(line));
}

static void put_json(json_t *o)
{
    char *line = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    put_text(line != NULL ? line : "{\"reply\":null,\"ok\":false,\"error\":\"out of memory\"}");
    free(line);
}

static void on_event(void *ud, const host_event_t *ev)
{
    (void)ud;
    /* The data is a JSON object (the log checks it): spliced in as it is. */
    json_t *head = json_pack("{s:s, s:I, s:I, s:s}", "session", ev->session_id, "seq",
                             (json_int_t)ev->seq, "ts", (json_int_t)ev->ts_ms, "type",
                             ev->type);
    char *h = head != NULL ? json_dumps(head, JSON_COMPACT) : NULL;
    json_decref(head);
    if (h == NULL)
        return;
    size_t hl = strlen(h);
    h[hl - 1] = '\0'; /* drop the closing brace */
    fprintf(stdout, "{\"event\":%s,\"data\":", h);
    fwrite(ev->data_json, 1, ev->data_len, stdout);
    fprintf(stdout, ",\"raw_len\":%zu}}\n", ev->raw_len);
    fflush(stdout);
    free(h);
}

/* ---- replies ---------------------------------------------------------------- */

static json_t *reply_new(const char *op, json_t *cmd)
{
    json_t *r = json_pack("{s:s, s:b}", "reply", op != NULL ? op : "", "ok", 1);
    json_t *tag = json_object_get(cmd, "tag");
    if (r != NULL && tag != NULL)
        json_object_set(r, "tag", tag);
    return r;
}

static void reply_error(const char *op, json_t *cmd, int code, const char *msg)
{
    json_t *r = reply_new(op, cmd);
    json_object_set_new(r, "ok", json_false());
    json_object_set_new(r, "error", json_string(msg != NULL && msg[0] ? msg
                                                : agentd_strerror(code)));
    json_object_set_new(r, "code", json_integer(code));
    put_json(r);
    json_decref(r);
}

static void reply_ok(const char *op, json_t *cmd, const char *key, json_t *value)
{
    json_t *r = reply_new(op, cmd);
    if (key != NULL)
        json_object_set_new(r, key, value != NULL ? value : json_null());
    put_json(r);
    json_decref(r);
}

/* ---- commands ------------------------------------------------------------------ */

typedef struct pending_stop {
    json_t *cmd;
} pending_stop_t;

static void on_stopped(void *ud, int status)
{
    pending_stop_t *p = ud;
    json_t *r = reply_new("stop", p->cmd);
    json_object_set_new(r, "status", json_integer(status));
    put_json(r);
    json_decref(r);
    json_decref(p->cmd);
    free(p);
}

static void collect_event(void *ud, const host_event_t *ev)
{
    json_t *arr = ud;
    json_error_t jerr;
    json_t *data = json_loadb(ev->data_json, ev->data_len, 0, &jerr);
    json_t *raw = ev->raw != NULL ? json_stringn(ev->raw, ev->raw_len) : NULL;
    json_array_append_new(arr, json_pack("{s:s, s:I, s:I, s:s, s:o, s:I, s:o}", "session",
                                         ev->session_id, "seq", (json_int_t)ev->seq, "ts",
                                         (json_int_t)ev->ts_ms, "type", ev->type, "data",
                                         data != NULL ? data : json_null(), "raw_len",
                                         (json_int_t)ev->raw_len, "raw",
                                         raw != NULL ? raw : json_null()));
}

static void begin_shutdown(driver_t *d);

static void command(driver_t *d, const char *line, size_t len)
{
    json_error_t jerr;
    json_t *cmd = json_loadb(line, len, 0, &jerr);
    const char *op = json_string_value(json_object_get(cmd, "op"));
    if (!json_is_object(cmd) || op == NULL) {
        reply_error(op, cmd, AGENTD_EINVAL, "expected a JSON object with \"op\"");
        json_decref(cmd);
        return;
    }
    host_sessions_t *ss = d->rt.sessions;
    const char *id = json_string_value(json_object_get(cmd, "id"));
    agentd_err_t err = {{0}};
    int rc = 0;
    if (strcmp(op, "create") == 0) {
        char nid[HOST_SESSION_ID_MAX];
        json_t *settings = json_object_get(cmd, "settings");
        json_t *empty = settings == NULL ? json_object() : NULL;
        rc = host_sessions_create(ss, settings != NULL ? settings : empty, nid, &err);
        json_decref(empty);
        if (rc == 0)
            reply_ok(op, cmd, "id", json_string(nid));
    } else if (strcmp(op, "send") == 0) {
        rc = host_sessions_send(ss, id, json_string_value(json_object_get(cmd, "text")), &err);
        if (rc == 0)
            reply_ok(op, cmd, NULL, NULL);
    } else if (strcmp(op, "stop") == 0) {
        pending_stop_t *p = calloc(1, sizeof *p);
        if (p == NULL) {
            rc = agentd_err_set(&err, AGENTD_ENOMEM, "out of memory");
        } else {
            p->cmd = json_incref(cmd);
            rc = host_sessions_stop(ss, id, on_stopped, p, &err);
            if (rc != 0) {
                json_decref(p->cmd);
                free(p);
            }
        }
    } else if (strcmp(op, "pause") == 0 || strcmp(op, "resume") == 0) {
        rc = op[0] == 'p' ? host_sessions_pause(ss, id, &err) : host_sessions_resume(ss, id, &err);
        if (rc == 0)
            reply_ok(op, cmd, NULL, NULL);
    } else if (strcmp(op, "clone") == 0) {
        char nid[HOST_SESSION_ID_MAX];
        rc = host_sessions_clone(ss, id, json_is_true(json_object_get(cmd, "history")), nid,
                                 &err);
        if (rc == 0)
            reply_ok(op, cmd, "id", json_string(nid));
    } else if (strcmp(op, "delete") == 0) {
        rc = host_sessions_delete(ss, id, json_is_true(json_object_get(cmd, "purge")), &err);
        if (rc == 0)
            reply_ok(op, cmd, NULL, NULL);
    } else if (strcmp(op, "get") == 0) {
        json_t *s = host_sessions_get(ss, id);
        if (s == NULL)
            rc = agentd_err_set(&err, AGENTD_ENOENT, "no session %s", id != NULL ? id : "(null)");
        else
            reply_ok(op, cmd, "session", s);
    } else if (strcmp(op, "list") == 0) {
        reply_ok(op, cmd, "sessions", host_sessions_list(ss));
    } else if (strcmp(op, "state") == 0) {
        host_session_state_t st;
        rc = host_sessions_state(ss, id, &st);
        if (rc != 0)
            agentd_err_set(&err, rc, "no session %s", id != NULL ? id : "(null)");
        else
            reply_ok(op, cmd, "state", json_string(host_session_state_name(st)));
    } else if (strcmp(op, "busy") == 0) {
        reply_ok(op, cmd, "busy", json_boolean(host_sessions_busy(ss, id)));
    } else if (strcmp(op, "events") == 0) {
        json_t *arr = json_array();
        uint64_t last = 0;
        json_int_t since = json_integer_value(json_object_get(cmd, "since"));
        json_int_t limit = json_integer_value(json_object_get(cmd, "limit"));
        rc = host_event_log_read(d->rt.log, id != NULL ? id : "", since > 0 ? (uint64_t)since : 0,
                                 limit > 0 ? (size_t)limit : 0, collect_event, arr, &last, &err);
        if (rc == 0) {
            json_t *r = reply_new(op, cmd);
            json_object_set_new(r, "events", arr);
            json_object_set_new(r, "last", json_integer((json_int_t)last));
            put_json(r);
            json_decref(r);
        } else {
            json_decref(arr);
        }
    } else if (strcmp(op, "respond") == 0) {
        const char *rid = json_string_value(json_object_get(cmd, "request_id"));
        const char *dec = json_string_value(json_object_get(cmd, "decision"));
        rc = host_sessions_permission_respond(
            ss, id != NULL ? id : "", rid != NULL ? rid : "", dec != NULL ? dec : "",
            json_string_value(json_object_get(cmd, "message")),
            json_string_value(json_object_get(cmd, "rule")), "session_driver", &err);
        if (rc == 0)
            reply_ok(op, cmd, NULL, NULL);
    } else if (strcmp(op, "flush") == 0) {
        rc = host_event_log_flush(d->rt.log, &err);
        if (rc == 0)
            reply_ok(op, cmd, NULL, NULL);
    } else if (strcmp(op, "shutdown") == 0) {
        reply_ok(op, cmd, NULL, NULL);
        begin_shutdown(d);
    } else {
        rc = agentd_err_set(&err, AGENTD_EINVAL, "unknown op \"%s\"", op);
    }
    if (rc != 0)
        reply_error(op, cmd, rc, err.msg);
    json_decref(cmd);
}

/* ---- the end ------------------------------------------------------------------- */

static void on_finished(uv_idle_t *h)
{
    driver_t *d = h->data;
    uv_idle_stop(h);
    uv_close((uv_handle_t *)h, NULL);
    uv_close((uv_handle_t *)&d->sigterm, NULL);
    uv_close((uv_handle_t *)&d->sigint, NULL);
    if (d->in_open) {
        d->in_open = 0;
        uv_close((uv_handle_t *)&d->in, NULL);
    }
    uv_stop(&d->ctx->loop);
}

static void on_shutdown_done(void *ud)
{
    driver_t *d = ud;
    if (d->finished)
        return;
    d->finished = 1;
    /* Outside whatever callback we are in (a stop's done, a listener). */
    uv_idle_start(&d->finisher, on_finished);
}

static void begin_shutdown(driver_t *d)
{
    if (d->shutting_down)
        return;
    d->shutting_down = 1;
    if (d->in_open)
        uv_read_stop((uv_stream_t *)&d->in);
    host_runtime_shutdown(&d->rt, on_shutdown_done, d);
}

static void on_signal(uv_signal_t *h, int signum)
{
    (void)signum;
    begin_shutdown(h->data);
}

/* ---- stdin ---------------------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    driver_t *d = h->data;
    (void)hint;
    if (d->cap - d->len < 65536) {
        size_t cap = d->cap ? d->cap * 2 : 131072;
        char *grown = realloc(d->buf, cap);
        if (grown == NULL) {
            *buf = uv_buf_init(NULL, 0);
            return;
        }
        d->buf = grown;
        d->cap = cap;
    }
    *buf = uv_buf_init(d->buf + d->len, (unsigned)(d->cap - d->len));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    driver_t *d = s->data;
    (void)buf;
    if (n < 0) {
        begin_shutdown(d); /* stdin ended: whoever drove us is gone */
        return;
    }
    d->len += (size_t)n;
    size_t start = 0;
    for (size_t i = d->len - (size_t)n; i < d->len; i++) {
        if (d->buf[i] != '\n')
            continue;
        if (i > start && !d->shutting_down)
            command(d, d->buf + start, i - start);
        start = i + 1;
    }
    memmove(d->buf, d->buf + start, d->len - start);
    d->len -= start;
}

/* ---- main ------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    cli_global_t g = {0};
    if (cli_take_global(&argc, argv, &g) != 0 || argc > 1) {
        fprintf(stderr, "usage: session_driver [--config FILE] [--log-level LEVEL]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    host_ctx_t ctx;
    if (cli_open_host(&g, &ctx) != 0)
        return 1;
    driver_t d = {0};
    d.ctx = &ctx;
    if (host_registry_load(ctx.registry) != 0) {
        fprintf(stderr, "session_driver: a plugin the configuration asks for was refused\n");
        cli_close_host(&ctx);
        return 1;
    }
    agentd_err_t err = {{0}};
    if (host_runtime_open(&ctx, &d.rt, &err) != 0) {
        fprintf(stderr, "session_driver: %s\n", err.msg);
        cli_close_host(&ctx);
        return 1;
    }
    host_event_log_listen(d.rt.log, on_event, &d, &d.listener);
    uv_signal_init(&ctx.loop, &d.sigterm);
    uv_signal_init(&ctx.loop, &d.sigint);
    uv_idle_init(&ctx.loop, &d.finisher);
    d.sigterm.data = d.sigint.data = d.finisher.data = &d;
    uv_signal_start(&d.sigterm, on_signal, SIGTERM);
    uv_signal_start(&d.sigint, on_signal, SIGINT);
    if (uv_pipe_init(&ctx.loop, &d.in, 0) == 0) {
        d.in.data = &d;
        d.in_open = 1;
        if (uv_pipe_open(&d.in, 0) != 0 ||
            uv_read_start((uv_stream_t *)&d.in, on_alloc, on_read) != 0) {
            fprintf(stderr, "session_driver: stdin must be a pipe\n");
            begin_shutdown(&d);
        }
    }
    /* Sessions loaded from the database (after a restart) are known now. */
    put_text("{\"ready\":true}");
    uv_run(&ctx.loop, UV_RUN_DEFAULT);
    host_event_log_flush(d.rt.log, NULL);
    if (d.listener != NULL)
        host_event_log_unlisten(d.rt.log, d.listener);
    host_runtime_close(&d.rt);
    cli_close_host(&ctx);
    free(d.buf);
    put_text("{\"bye\":true}");
    return d.exit_code;
}
