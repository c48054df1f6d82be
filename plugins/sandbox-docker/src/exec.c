/*
 * Running a command in a sandbox: an engine exec with stdin, stdout and
 * stderr attached over a hijacked connection (hijack.c); its exit code is
 * fetched once the connection ends. A command is signalled through the
 * marker in its environment (AGENTD_EXEC_ID), since the engine has no
 * per-exec signal.
 */
#define _GNU_SOURCE
#include "dk.h"

#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct exec_op {
    dk_op_t op;
    agentd_exec_t *ex;
    char *name;        /* container */
    char *body;        /* exec create (holds the environment: wiped) */
    char *engine_id;
    CURL *curl;
    char *rest;
    size_t rest_len;
    int64_t exit_code;
    int running;
} exec_op_t;

static unsigned ops_of(agentd_exec_t *ex, int delta);

static void exec_free(agentd_exec_t *ex)
{
    free(ex->engine_id);
    free(ex->user);
    free(ex);
}

/* ---- the exit status -------------------------------------------------------- */

static void inspect_work(dk_op_t *op)
{
    exec_op_t *x = (exec_op_t *)op;
    char path[200];
    snprintf(path, sizeof path, "/exec/%s/json", x->engine_id);
    /* The stream can end a moment before the engine records the exit. */
    for (int i = 0; i < 100; i++) {
        dk_resp_t r;
        op->rc = dk_request_json(&op->pl->engine, "GET", path, NULL, &r);
        json_t *o = op->rc == 0 ? json_loads(r.body ? r.body : "", 0, NULL) : NULL;
        x->running = json_is_true(json_object_get(o, "Running"));
        x->exit_code = json_integer_value(json_object_get(o, "ExitCode"));
        if (op->rc != 0)
            snprintf(op->msg, sizeof op->msg, "%s", r.msg);
        json_decref(o);
        dk_resp_free(&r);
        if (op->rc != 0 || !x->running)
            return;
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static void report_exit(agentd_exec_t *ex, int64_t status, int sig)
{
    if (ex->exited)
        return;
    ex->exited = 1;
    if (!ex->released && ex->exit_cb != NULL)
        ex->exit_cb(ex->ud, status, sig);
}

static void engine_error_event(agentd_exec_t *ex, const char *msg)
{
    dk_plugin_t *pl = ex->pl;
    pl->api->log(pl->host, AGENTD_LOG_ERROR, "exec %s: %s", ex->marker, msg);
    const char *session = ex->sb != NULL ? ex->sb->session_id : NULL;
    json_t *d = json_pack("{s:s,s:s}", "exec", ex->marker, "message", msg);
    char *text = d != NULL && session != NULL ? json_dumps(d, JSON_COMPACT) : NULL;
    if (text != NULL)
        pl->api->emit_event(pl->host, session, "sandbox.engine_error", text, strlen(text),
                            NULL);
    free(text);
    json_decref(d);
}

static void inspect_done(dk_op_t *op)
{
    exec_op_t *x = (exec_op_t *)op;
    agentd_exec_t *ex = x->ex;
    if (op->rc == 0 && !x->running) {
        /* The engine reports a signal as 128 + n, like a shell. */
        int64_t code = x->exit_code;
        report_exit(ex, code, code > 128 && code < 128 + 65 ? (int)(code - 128) : 0);
    } else if (op->rc == AGENTD_ENOENT) {
        report_exit(ex, -1, SIGKILL); /* removed with its container */
    } else {
        engine_error_event(ex, op->rc != 0 ? op->msg : "the command did not end");
        report_exit(ex, -1, 0);
    }
    free(x->engine_id);
    free(x);
    if (ops_of(ex, -1) == 0 && ex->released)
        exec_free(ex);
}

static void on_conn_end(void *ud, int status)
{
    agentd_exec_t *ex = ud;
    (void)status;
    if (ex->ended)
        return;
    ex->ended = 1;
    exec_op_t *x = calloc(1, sizeof *x);
    if (ex->engine_id == NULL || x == NULL || (x->engine_id = strdup(ex->engine_id)) == NULL) {
        free(x);
        report_exit(ex, -1, 0); /* never started: its stderr said why */
        return;
    }
    x->ex = ex;
    /* not serialised behind the sandbox: it may be gone already */
    x->op = (dk_op_t){.pl = ex->pl, .sb = NULL, .work = inspect_work, .done = inspect_done};
    ops_of(ex, 1);
    dk_op_submit(&x->op);
}

/* ---- start ------------------------------------------------------------------------ */

static void setup_work(dk_op_t *op)
{
    exec_op_t *x = (exec_op_t *)op;
    char path[300];
    snprintf(path, sizeof path, "/containers/%s/exec", x->name);
    dk_resp_t r;
    op->rc = dk_request_json(&op->pl->engine, "POST", path, x->body, &r);
    json_t *o = op->rc == 0 ? json_loads(r.body ? r.body : "", 0, NULL) : NULL;
    const char *id = json_string_value(json_object_get(o, "Id"));
    if (op->rc == 0 && id != NULL && (x->engine_id = strdup(id)) != NULL) {
        agentd_err_t err = {{0}};
        x->curl = dk_exec_connect(&op->pl->engine, id, &x->rest, &x->rest_len, &err);
        if (x->curl == NULL) {
            op->rc = err.msg[0] ? AGENTD_EIO : AGENTD_ENOMEM;
            snprintf(op->msg, sizeof op->msg, "%s", err.msg);
        }
    } else if (op->rc == 0) {
        op->rc = AGENTD_EPROTO;
        snprintf(op->msg, sizeof op->msg, "the engine's exec answer has no Id");
    } else {
        snprintf(op->msg, sizeof op->msg, "the engine refused the command: %.400s", r.msg);
    }
    json_decref(o);
    dk_resp_free(&r);
}

static void setup_done(dk_op_t *op)
{
    exec_op_t *x = (exec_op_t *)op;
    agentd_exec_t *ex = x->ex;
    if (x->engine_id != NULL && ex->engine_id == NULL) {
        ex->engine_id = x->engine_id;
        x->engine_id = NULL;
    }
    if (ex->conn != NULL)
        dk_conn_attach(ex->conn, x->curl, x->rest, x->rest_len, op->msg);
    else if (x->curl != NULL)
        curl_easy_cleanup(x->curl);
    if (op->rc != 0)
        ex->pl->api->log(ex->pl->host, AGENTD_LOG_WARN, "exec %s: %s", ex->marker, op->msg);
    if (x->body != NULL)
        explicit_bzero(x->body, strlen(x->body));
    free(x->body);
    free(x->name);
    free(x->rest);
    free(x->engine_id);
    free(x);
    if (ops_of(ex, -1) == 0 && ex->released)
        exec_free(ex);
}

/* How many operations still refer to ex (it is freed after the last). */
static unsigned ops_of(agentd_exec_t *ex, int delta)
{
    ex->ops = (unsigned)((int)ex->ops + delta);
    return ex->ops;
}

static char *create_body(agentd_sandbox_t *sb, const agentd_exec_spec_t *spec, char **env)
{
    json_t *cmd = json_array(), *jenv = json_array();
    for (size_t i = 0; spec->argv[i] != NULL; i++)
        json_array_append_new(cmd, json_string(spec->argv[i]));
    for (size_t i = 0; env[i] != NULL; i++)
        json_array_append_new(jenv, json_string(env[i]));
    const char *cwd = spec->cwd != NULL ? spec->cwd : sb->workspace != NULL ? sb->workspace : "/";
    json_t *body = json_pack("{s:b,s:b,s:b,s:b,s:o,s:o,s:s,s:s}", "AttachStdin", 1,
                             "AttachStdout", 1, "AttachStderr", 1, "Tty", 0, "Cmd", cmd, "Env",
                             jenv, "WorkingDir", cwd, "User", sb->user);
    char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    return text;
}

int dk_exec_start(agentd_sandbox_t *sb, const agentd_exec_spec_t *spec,
                  agentd_exec_exit_cb exit_cb, void *ud, agentd_exec_t **out,
                  agentd_exec_io_t *io, agentd_err_t *err)
{
    if (sb->expired)
        return agentd_err_set(err, AGENTD_ETIMEDOUT, "exec: the sandbox's timeout has passed");
    if (sb->dead)
        return agentd_err_set(err, AGENTD_ESTATE, "exec: the sandbox is being removed");
    agentd_exec_t *ex = calloc(1, sizeof *ex);
    exec_op_t *x = calloc(1, sizeof *x);
    if (ex == NULL || x == NULL) {
        free(ex);
        free(x);
        return agentd_err_set(err, AGENTD_ENOMEM, "exec: out of memory");
    }
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    snprintf(ex->marker, sizeof ex->marker, "%.40s-%u-%08lx", sb->id,
             ++sb->exec_seq, (unsigned long)(now.tv_nsec ^ now.tv_sec));
    char marker_kv[100];
    snprintf(marker_kv, sizeof marker_kv, "AGENTD_EXEC_ID=%s", ex->marker);
    const char *mk[] = {marker_kv, NULL};
    char **env = dk_exec_env(sb, spec->env, err);
    if (env != NULL)
        env = dk_strv_concat(env, mk);
    ex->pl = sb->pl;
    ex->sb = sb;
    ex->exit_cb = exit_cb;
    ex->ud = ud;
    ex->user = dk_strdup(sb->user);
    x->body = env != NULL ? create_body(sb, spec, env) : NULL;
    x->name = strdup(sb->name);
    dk_strv_free(env, 1);
    if (x->body == NULL || x->name == NULL || ex->user == NULL) {
        if (x->body != NULL)
            explicit_bzero(x->body, strlen(x->body));
        free(x->body);
        free(x->name);
        free(x);
        exec_free(ex);
        return err != NULL && err->msg[0] ? AGENTD_EPERM
                                          : agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    }
    ex->conn = dk_conn_new(sb->pl, io, on_conn_end, ex);
    if (ex->conn == NULL) {
        explicit_bzero(x->body, strlen(x->body));
        free(x->body);
        free(x->name);
        free(x);
        exec_free(ex);
        return agentd_err_set(err, AGENTD_ENOMEM, "exec: out of memory");
    }
    x->ex = ex;
    x->op = (dk_op_t){.pl = sb->pl, .sb = sb, .work = setup_work, .done = setup_done};
    ops_of(ex, 1);
    ex->next = sb->execs;
    sb->execs = ex;
    dk_op_submit(&x->op);
    *out = ex;
    return 0;
}

/* ---- signal, release ----------------------------------------------------------------- */

int dk_exec_signal(agentd_exec_t *ex, agentd_sandbox_signal_t sig, agentd_err_t *err)
{
    if (ex->exited || ex->ended)
        return agentd_err_set(err, AGENTD_ENOENT, "the command has exited");
    if (ex->sb == NULL)
        return agentd_err_set(err, AGENTD_ENOENT, "the sandbox is gone");
    static const char *const names[] = {[AGENTD_SIG_INTERRUPT] = "INT",
                                        [AGENTD_SIG_TERMINATE] = "TERM",
                                        [AGENTD_SIG_KILL] = "KILL"};
    if (sig == AGENTD_SIG_PAUSE || sig == AGENTD_SIG_RESUME)
        return dk_sandbox_signal(ex->sb, sig, err); /* one container per sandbox */
    if ((unsigned)sig >= sizeof names / sizeof *names || names[sig] == NULL)
        return agentd_err_set(err, AGENTD_EINVAL, "unknown signal %d", (int)sig);
    dk_signal_in_container(ex->sb, ex->user, names[sig], ex->marker);
    return 0;
}

static void unlink_exec(agentd_exec_t *ex)
{
    if (ex->sb == NULL)
        return;
    for (agentd_exec_t **p = &ex->sb->execs; *p != NULL; p = &(*p)->next)
        if (*p == ex) {
            *p = ex->next;
            return;
        }
}

void dk_exec_release(agentd_exec_t *ex)
{
    if (ex == NULL)
        return;
    unlink_exec(ex);
    /* Closing the connection does not end an engine exec: kill it. */
    if (!ex->exited && !ex->ended && ex->sb != NULL && !ex->sb->dead)
        dk_signal_in_container(ex->sb, ex->user, "KILL", ex->marker);
    ex->released = 1;
    ex->sb = NULL;
    dk_conn_t *c = ex->conn;
    ex->conn = NULL;
    dk_conn_release(c);
    if (ops_of(ex, 0) == 0)
        exec_free(ex);
}
