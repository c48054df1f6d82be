/*
 * A sandbox's life on the loop side: create (the engine work is in
 * create.c), signal (pause/unpause, interrupt and terminate inside, kill),
 * the wall-clock timeout, and destroy (remove the container, forced).
 */
#define _GNU_SOURCE
#include "dk.h"
#include "plugin_envfile.h"

#include <jansson.h>
#include <limits.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void dk_sandbox_free(agentd_sandbox_t *sb)
{
    if (sb == NULL)
        return;
    sb->pl->api->timer_close(sb->timeout);
    free(sb->id);
    free(sb->session_id);
    free(sb->profile_name);
    free(sb->name);
    free(sb->workspace);
    free(sb->user);
    free(sb->volume);
    dk_strv_free(sb->env, 1);
    free(sb);
}

void dk_sandbox_link(agentd_sandbox_t *sb)
{
    sb->next = sb->pl->sandboxes;
    sb->pl->sandboxes = sb;
}

void dk_sandbox_unlink(agentd_sandbox_t *sb)
{
    for (agentd_sandbox_t **p = &sb->pl->sandboxes; *p != NULL; p = &(*p)->next)
        if (*p == sb) {
            *p = sb->next;
            return;
        }
}

/* ---- simple container requests: pause, unpause, kill, remove ------------ */

typedef struct simple_op {
    dk_op_t op;
    char *method, *path;
    const char *what;
    agentd_done_cb cb;
    void *ud;
    agentd_sandbox_t *free_sb; /* destroy: freed once the engine answered */
} simple_op_t;

static void simple_work(dk_op_t *op)
{
    simple_op_t *s = (simple_op_t *)op;
    dk_resp_t r;
    if (s->free_sb != NULL && s->free_sb->volume != NULL) {
        op->rc = dk_teardown(&op->pl->engine, s->free_sb->name, s->free_sb->volume,
                             s->free_sb->workspace, op->msg, sizeof op->msg);
        return;
    }
    op->rc = dk_request_json(&op->pl->engine, s->method, s->path, NULL, &r);
    if (op->rc != 0)
        snprintf(op->msg, sizeof op->msg, "%s", r.msg);
    dk_resp_free(&r);
}

static void simple_done(dk_op_t *op)
{
    simple_op_t *s = (simple_op_t *)op;
    int rc = op->rc;
    if (s->free_sb != NULL && rc == AGENTD_ENOENT)
        rc = 0; /* already gone: what destroy wanted */
    if (rc != 0)
        op->pl->api->log(op->pl->host, AGENTD_LOG_WARN, "%s: %s", s->what, op->msg);
    if (s->free_sb != NULL && rc == 0)
        plugin_envfile_remove(op->pl->api->state_dir(op->pl->host), s->free_sb->id);
    dk_sandbox_free(s->free_sb);
    if (s->cb != NULL)
        s->cb(s->ud, rc);
    free(s->method);
    free(s->path);
    free(s);
}

static int simple(agentd_sandbox_t *sb, const char *method, const char *suffix,
                  const char *what, agentd_done_cb cb, void *ud, agentd_sandbox_t *free_sb)
{
    simple_op_t *s = calloc(1, sizeof *s);
    if (s == NULL || asprintf(&s->path, "/containers/%s%s", sb->name, suffix) < 0 ||
        (s->method = strdup(method)) == NULL) {
        if (s != NULL)
            free(s->path);
        free(s);
        return AGENTD_ENOMEM;
    }
    s->op = (dk_op_t){.pl = sb->pl, .sb = sb, .work = simple_work, .done = simple_done};
    s->what = what;
    s->cb = cb;
    s->ud = ud;
    s->free_sb = free_sb;
    dk_op_submit(&s->op);
    return 0;
}

/* ---- signals inside the container ------------------------------------------ */

/* The engine signals only a container's init: processes are found by their
 * user (all) or the marker in their environment (one exec and what it
 * started), from a short shell run as the sandbox's user. */
static const char signal_script[] =
    "if [ -z \"$2\" ]; then kill -s \"$1\" -- -1 2>/dev/null; exit 0; fi\n"
    "for d in /proc/[0-9]*; do p=${d#/proc/}; [ \"$p\" = \"$$\" ] && continue\n"
    "  if tr '\\000' '\\n' < \"$d/environ\" 2>/dev/null | grep -qx \"AGENTD_EXEC_ID=$2\"; then\n"
    "    kill -s \"$1\" \"$p\" 2>/dev/null; fi; done; exit 0\n";

typedef struct sig_op {
    dk_op_t op;
    char *name, *body;
} sig_op_t;

static void sig_work(dk_op_t *op)
{
    sig_op_t *s = (sig_op_t *)op;
    dk_engine_t *e = &op->pl->engine;
    char path[300];
    dk_resp_t r;
    snprintf(path, sizeof path, "/containers/%s/exec", s->name);
    op->rc = dk_request_json(e, "POST", path, s->body, &r);
    json_t *o = op->rc == 0 ? json_loads(r.body ? r.body : "", 0, NULL) : NULL;
    const char *id = json_string_value(json_object_get(o, "Id"));
    if (op->rc == 0 && id != NULL) {
        snprintf(path, sizeof path, "/exec/%s/start", id);
        dk_resp_free(&r);
        op->rc = dk_request_json(e, "POST", path, "{\"Detach\":false,\"Tty\":false}", &r);
    }
    if (op->rc != 0)
        snprintf(op->msg, sizeof op->msg, "%s", r.msg);
    json_decref(o);
    dk_resp_free(&r);
}

static void sig_done(dk_op_t *op)
{
    sig_op_t *s = (sig_op_t *)op;
    if (op->rc != 0)
        op->pl->api->log(op->pl->host, AGENTD_LOG_WARN, "signal in container %s: %s", s->name,
                         op->msg);
    free(s->name);
    free(s->body);
    free(s);
}

void dk_signal_in_container(agentd_sandbox_t *sb, const char *user, const char *sig,
                            const char *marker)
{
    sig_op_t *s = calloc(1, sizeof *s);
    json_t *body = json_pack("{s:b,s:b,s:[s,s,s,s,s,s],s:s}", "AttachStdout", 0,
                             "AttachStderr", 0, "Cmd", "/bin/sh", "-c", signal_script, "sh",
                             sig, marker != NULL ? marker : "", "User",
                             user != NULL ? user : "");
    if (s == NULL || body == NULL || (s->name = strdup(sb->name)) == NULL ||
        (s->body = json_dumps(body, JSON_COMPACT)) == NULL) {
        if (s != NULL)
            free(s->name);
        free(s);
        json_decref(body);
        sb->pl->api->log(sb->pl->host, AGENTD_LOG_ERROR, "signal: out of memory");
        return;
    }
    json_decref(body);
    s->op = (dk_op_t){.pl = sb->pl, .sb = sb, .work = sig_work, .done = sig_done};
    dk_op_submit(&s->op);
}

int dk_sandbox_signal(agentd_sandbox_t *sb, agentd_sandbox_signal_t sig, agentd_err_t *err)
{
    if (sb == NULL || sb->dead)
        return agentd_err_set(err, AGENTD_ESTATE, "the sandbox is being removed");
    int rc = 0;
    switch (sig) {
    case AGENTD_SIG_PAUSE:
        rc = simple(sb, "POST", "/pause", "pause", NULL, NULL, NULL);
        break;
    case AGENTD_SIG_RESUME:
        rc = simple(sb, "POST", "/unpause", "unpause", NULL, NULL, NULL);
        break;
    case AGENTD_SIG_INTERRUPT:
    case AGENTD_SIG_TERMINATE:
        if (sb->expired)
            return 0; /* killed already */
        dk_signal_in_container(sb, sb->user, sig == AGENTD_SIG_INTERRUPT ? "INT" : "TERM",
                               NULL);
        break;
    case AGENTD_SIG_KILL:
        /* The init dies, and with it every process in the container. */
        rc = simple(sb, "POST", "/kill?signal=KILL", "kill", NULL, NULL, NULL);
        break;
    default:
        return agentd_err_set(err, AGENTD_EINVAL, "unknown signal %d", (int)sig);
    }
    return rc < 0 ? agentd_err_set(err, rc, "signal: %s", agentd_strerror(rc)) : 0;
}

/* ---- timeout ------------------------------------------------------------------ */

static void on_timeout(void *ud)
{
    agentd_sandbox_t *sb = ud;
    dk_plugin_t *pl = sb->pl;
    pl->api->timer_close(sb->timeout);
    sb->timeout = NULL;
    pl->api->log(pl->host, AGENTD_LOG_WARN,
                 "sandbox %s: wall-clock timeout of %llu s reached; killing its container",
                 sb->id, (unsigned long long)sb->timeout_s);
    if (sb->session_id != NULL) {
        char data[300];
        snprintf(data, sizeof data, "{\"sandbox_id\":\"%s\",\"timeout_s\":%llu}", sb->id,
                 (unsigned long long)sb->timeout_s);
        pl->api->emit_event(pl->host, sb->session_id, "sandbox.timeout", data, strlen(data),
                            NULL);
    }
    sb->expired = 1;
    if (simple(sb, "POST", "/kill?signal=KILL", "timeout kill", NULL, NULL, NULL) != 0)
        pl->api->log(pl->host, AGENTD_LOG_ERROR, "sandbox %s: cannot kill: out of memory",
                     sb->id);
}

int dk_sandbox_arm_timeout(agentd_sandbox_t *sb)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    uint64_t now_ms = (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u;
    uint64_t left = sb->deadline_ms > now_ms ? sb->deadline_ms - now_ms : 0;
    return sb->pl->api->timer_start(sb->pl->host, left, 0, on_timeout, sb, &sb->timeout);
}

/* ---- volume mode: the workspace comes back ------------------------------- */

static int copy_out(dk_engine_t *e, const char *name, const char *ws, char *msg, size_t msglen)
{
    char enc[PATH_MAX * 3], path[PATH_MAX * 3 + 100], staged[PATH_MAX + 64];
    dk_urlencode(ws, enc, sizeof enc);
    snprintf(path, sizeof path, "/containers/%s/archive?path=%s", name, enc);
    dk_resp_t r;
    int rc = dk_request(e, "GET", path, NULL, NULL, 0, 0, &r);
    if (rc != 0) {
        snprintf(msg, msglen, "copy out of %s: %s", ws, r.msg);
        dk_resp_free(&r);
        return rc;
    }
    snprintf(staged, sizeof staged, "%s.agentd-in", ws);
    dk_rmtree(staged);
    agentd_err_t err = {{0}};
    if (mkdir(staged, 0700) != 0)
        rc = agentd_err_set(&err, AGENTD_EIO, "copy out: cannot make %s", staged);
    if (rc == 0)
        rc = dk_untar(r.body, r.len, staged, 1, &err);
    if (rc == 0)
        rc = dk_swap_dir(ws, staged, &err);
    if (rc != 0) {
        dk_rmtree(staged);
        snprintf(msg, msglen, "%s", err.msg);
    }
    dk_resp_free(&r);
    return rc;
}

int dk_teardown(dk_engine_t *e, const char *name, const char *volume, const char *workspace,
                char *msg, size_t msglen)
{
    char path[400];
    dk_resp_t r;
    /* Nothing may write the workspace while it is copied. */
    snprintf(path, sizeof path, "/containers/%s/kill?signal=KILL", name);
    dk_request_json(e, "POST", path, NULL, &r);
    dk_resp_free(&r);
    int copy_rc = 0;
    struct stat st;
    if (volume != NULL && workspace != NULL && stat(workspace, &st) == 0)
        copy_rc = copy_out(e, name, workspace, msg, msglen);
    snprintf(path, sizeof path, "/containers/%s?force=1&v=1", name);
    int rc = dk_request_json(e, "DELETE", path, NULL, &r);
    if (rc == AGENTD_ENOENT)
        rc = 0;
    if (rc != 0 && copy_rc == 0)
        snprintf(msg, msglen, "%s", r.msg);
    dk_resp_free(&r);
    if (volume == NULL)
        return rc;
    if (copy_rc != 0) { /* the agent's work is still in the volume: keep it */
        char why[AGENTD_ERR_MAX];
        snprintf(why, sizeof why, "%s", msg);
        snprintf(msg, msglen, "%.400s (volume %s kept)", why, volume);
        return copy_rc;
    }
    snprintf(path, sizeof path, "/volumes/%s", volume);
    int vrc = dk_request_json(e, "DELETE", path, NULL, &r);
    if (vrc != 0 && vrc != AGENTD_ENOENT && rc == 0) {
        rc = vrc;
        snprintf(msg, msglen, "%s", r.msg);
    }
    dk_resp_free(&r);
    return rc;
}

/* ---- destroy -------------------------------------------------------------------- */

int dk_sandbox_destroy(agentd_sandbox_t *sb, agentd_done_cb cb, void *ud, agentd_err_t *err)
{
    if (sb->dead)
        return agentd_err_set(err, AGENTD_ESTATE, "destroy: already being removed");
    sb->dead = 1;
    dk_sandbox_unlink(sb);
    sb->pl->api->timer_close(sb->timeout);
    sb->timeout = NULL;
    for (agentd_exec_t *ex = sb->execs; ex != NULL; ex = ex->next)
        ex->sb = NULL;
    sb->execs = NULL;
    /* force: kill what runs; v: its anonymous volumes too. */
    int rc = simple(sb, "DELETE", "?force=1&v=1", "remove container", cb, ud, sb);
    if (rc != 0) {
        dk_sandbox_free(sb);
        return agentd_err_set(err, rc, "destroy: %s", agentd_strerror(rc));
    }
    return 0;
}
