/*
 * Running a command: one ssh mux client per execution, spawned through the
 * host, whose stdio pipes are the command's (the host's streams give the
 * backpressure: a reader that stops reading stops ssh, which stops the
 * channel's window, which stops the remote writer). The script goes first
 * on stdin: it changes directory, records the process group (the remote
 * shell is a session leader: sshd calls setsid), sets the environment and
 * execs the command, which then owns the rest of stdin.
 *
 * Paths: the runner speaks of the workspace by its host path; any argument,
 * environment value or cwd under it is rewritten to the remote workspace.
 * HOME and CLAUDE_CONFIG_DIR are always the session directory's own; the
 * remote login PATH is kept (a profile's env may set one).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "ssh.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int valid_name(const char *s, size_t n)
{
    if (n == 0 || (s[0] >= '0' && s[0] <= '9'))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return 0;
    return 1;
}

/* Appends value quoted, with the local workspace prefix replaced by the
 * remote one. */
static void quote_path(ssh_str_t *b, const agentd_sandbox_t *sb, const char *value)
{
    const char *lw = sb->local_workspace;
    size_t n = lw != NULL ? strlen(lw) : 0;
    if (n > 1 && strncmp(value, lw, n) == 0 && (value[n] == '\0' || value[n] == '/')) {
        ssh_str_t t = {0};
        ssh_str_addf(&t, "%s/workspace%s", sb->dir, value + n);
        ssh_str_quote(b, t.s != NULL ? t.s : "");
        ssh_str_free(&t);
        return;
    }
    ssh_str_quote(b, value);
}

/* keep_path: a command's PATH is the daemon's, which means nothing on the
 * host: the remote login PATH is kept unless the profile sets one. */
static int add_env(ssh_str_t *b, const agentd_sandbox_t *sb, const char *const *env,
                   int keep_path, agentd_err_t *err)
{
    for (size_t i = 0; env != NULL && env[i] != NULL; i++) {
        const char *eq = strchr(env[i], '=');
        if (eq == NULL || !valid_name(env[i], (size_t)(eq - env[i])))
            return agentd_err_set(err, AGENTD_EINVAL, "exec: env[%zu] is not NAME=VALUE", i);
        if (!keep_path && eq - env[i] == 4 && strncmp(env[i], "PATH", 4) == 0)
            continue;
        ssh_str_add(b, "export ");
        ssh_str_addn(b, env[i], (size_t)(eq - env[i]) + 1);
        quote_path(b, sb, eq + 1);
        ssh_str_add(b, "\n");
    }
    return 0;
}

static int exec_script(ssh_str_t *b, agentd_exec_t *ex, const agentd_exec_spec_t *spec,
                       agentd_err_t *err)
{
    agentd_sandbox_t *sb = ex->sb;
    ssh_str_add(b, SSH_SCRIPT_PRELUDE "d=");
    ssh_str_quote(b, sb->dir);
    ssh_str_add(b, "\n[ -d \"$d/pids\" ] || { echo \"agentd: the session directory $d is "
                   "gone\" >&2; exit 125; }\ncd ");
    if (spec->cwd != NULL)
        quote_path(b, sb, spec->cwd);
    else
        ssh_str_add(b, "\"$d/workspace\"");
    ssh_str_addf(b, " || exit 126\necho $$ > \"$d/pids/%u\"\n", ex->seq);
    int rc = add_env(b, sb, (const char *const *)sb->env, 1, err);
    if (rc == 0)
        rc = add_env(b, sb, spec->env, 0, err);
    if (rc != 0)
        return rc;
    ssh_str_add(b, "export HOME=\"$d/home\" CLAUDE_CONFIG_DIR=\"$d/claude\" "
                   "AGENTD_SSH_SANDBOX=");
    ssh_str_quote(b, sb->id);
    ssh_str_addf(b, " AGENTD_SSH_EXEC=");
    ssh_str_quote(b, sb->id);
    ssh_str_addf(b, ".%u\nexec", ex->seq);
    for (size_t i = 0; spec->argv[i] != NULL; i++) {
        ssh_str_add(b, " ");
        quote_path(b, sb, spec->argv[i]);
    }
    ssh_str_add(b, "\n");
    return b->failed ? agentd_err_set(err, AGENTD_ENOMEM, "out of memory") : 0;
}

static void unlink_dying(agentd_exec_t *ex)
{
    for (agentd_exec_t **p = &ex->pl->dying; *p != NULL; p = &(*p)->next_dying)
        if (*p == ex) {
            *p = ex->next_dying;
            return;
        }
}

static void exec_free(agentd_exec_t *ex)
{
    ex->pl->api->process_close(ex->proc);
    free(ex->host_down);
    free(ex);
}

static void deliver_exit(agentd_exec_t *ex, int64_t status, int term_signal);

/* ssh said 255 and we sent no signal: the connection may be gone. Ask the
 * host before reporting, so that a host that went down is named as the
 * reason (log and sandbox.host_down event) before the exit is. */
static void on_exit_probe(void *ud, int status, int code, const char *out, const char *err)
{
    agentd_exec_t *ex = ud;
    (void)err;
    ex->probing = 0;
    if (status == AGENTD_ECANCELED) {
        ex->exit_cb = NULL;
    } else if ((status != 0 || code != 0 || strncmp(out, "ok", 2) != 0) &&
               ex->host->state == SSH_HOST_UP) {
        char why[300];
        snprintf(why, sizeof why, "the connection was lost (%s)",
                 status != 0 ? agentd_strerror(status) : "no answer");
        ssh_host_mark_down(ex->host, why);
    }
    if (ex->host->state != SSH_HOST_UP && ex->host_down == NULL)
        ex->host_down = strdup(ex->host->reason[0] ? ex->host->reason : "unreachable");
    if (ex->released) {
        unlink_dying(ex);
        exec_free(ex);
        return;
    }
    deliver_exit(ex, 255, 0);
}

static void on_ssh_exit(void *ud, int64_t status, int term_signal)
{
    agentd_exec_t *ex = ud;
    ex->exited = 1;
    if (ex->released) {
        unlink_dying(ex);
        exec_free(ex);
        return;
    }
    if (status == 255 && ex->sent_signal == 0 && ex->host_down == NULL &&
        ex->host->state == SSH_HOST_UP &&
        ssh_rcmd_run(ex->host, "echo ok\n", (uint64_t)ex->pl->connect_timeout_s * 1000u,
                     on_exit_probe, ex, NULL) == 0) {
        ex->probing = 1;
        return;
    }
    deliver_exit(ex, status, term_signal);
}

static void deliver_exit(agentd_exec_t *ex, int64_t status, int term_signal)
{
    if (ex->host_down != NULL)
        ex->pl->api->log(ex->pl->host, AGENTD_LOG_ERROR,
                         "sandbox %s: the command failed: host %s is down: %s",
                         ex->sb != NULL ? ex->sb->id : "?", ex->host->name, ex->host_down);
    /* A remote command ended by a signal makes ssh exit 255; the signal
     * we delivered is the truth. */
    if (status == 255 && ex->sent_signal != 0 && ex->host_down == NULL) {
        status = 0;
        term_signal = ex->sent_signal;
    }
    if (ex->exit_cb != NULL)
        ex->exit_cb(ex->ud, status, term_signal);
}

int ssh_exec_start(agentd_sandbox_t *sb, const agentd_exec_spec_t *spec,
                   agentd_exec_exit_cb exit_cb, void *ud, agentd_exec_t **out,
                   agentd_exec_io_t *io, agentd_err_t *err)
{
    ssh_plugin_t *pl = sb->pl;
    ssh_host_t *h = sb->host;
    if (h->state != SSH_HOST_UP)
        return agentd_err_set(err, AGENTD_EUNAVAIL, "host %s is down: %s", h->name, h->reason);
    agentd_exec_t *ex = calloc(1, sizeof *ex);
    if (ex == NULL)
        return agentd_err_set(err, AGENTD_ENOMEM, "exec: out of memory");
    ex->pl = pl;
    ex->sb = sb;
    ex->host = h;
    ex->seq = ++sb->exec_seq;
    ex->exit_cb = exit_cb;
    ex->ud = ud;
    ssh_str_t script = {0};
    int rc = exec_script(&script, ex, spec, err);
    char **argv = rc == 0 ? ssh_client_argv(h) : NULL;
    char **env = rc == 0 ? ssh_client_env(pl) : NULL;
    if (rc == 0 && (argv == NULL || env == NULL))
        rc = agentd_err_set(err, AGENTD_ENOMEM, "exec: out of memory");
    agentd_spawn_io_t sio = {.size = sizeof sio};
    if (rc == 0) {
        agentd_spawn_opts_t o = {.size = sizeof o, .file = "ssh",
                                 .argv = (const char *const *)argv,
                                 .env = (const char *const *)env, .cwd = "/",
                                 .flags = AGENTD_SPAWN_STDIN | AGENTD_SPAWN_STDOUT |
                                          AGENTD_SPAWN_STDERR | AGENTD_SPAWN_NEW_GROUP};
        rc = pl->api->spawn(pl->host, &o, on_ssh_exit, ex, &ex->proc, &sio, err);
    }
    ssh_strv_free(argv);
    ssh_strv_free(env);
    if (rc == 0 && (rc = ssh_send_script(&sio.in, &script)) != 0) {
        agentd_err_set(err, rc, "exec: cannot send the command to ssh");
        sio.in.ops->close(sio.in.impl, NULL, NULL);
        sio.out.ops->close(sio.out.impl, NULL, NULL);
        sio.err.ops->close(sio.err.impl, NULL, NULL);
        ssh_str_free(&script);
        ex->sb = NULL;
        ssh_exec_release(ex);
        return rc;
    }
    ssh_str_free(&script);
    if (rc != 0) {
        free(ex);
        return rc;
    }
    io->in = sio.in;
    io->out = sio.out;
    io->err = sio.err;
    ex->next = sb->execs;
    sb->execs = ex;
    *out = ex;
    return 0;
}

static void on_exec_signalled(void *ud, int status, int code, const char *out, const char *err)
{
    ssh_host_t *h = ud;
    (void)out;
    if (status != 0 || code != 0)
        h->pl->api->log(h->pl->host, AGENTD_LOG_WARN, "host %s: signal not delivered: %s",
                        h->name, status != 0 ? agentd_strerror(status) : err);
}

/* INT to the process group; TERM and KILL to the group and to every
 * process marked with this execution. */
static int signal_remote(agentd_exec_t *ex, const char *name, int tree, agentd_err_t *err)
{
    ssh_str_t s = {0};
    ssh_str_add(&s, "p=$(cat ");
    ssh_str_t pidf = {0};
    ssh_str_addf(&pidf, "%s/pids/%u", ex->sb != NULL ? ex->sb->dir : "/nonexistent", ex->seq);
    ssh_str_quote(&s, pidf.s != NULL ? pidf.s : "");
    ssh_str_free(&pidf);
    ssh_str_addf(&s, " 2>/dev/null) && kill -%s \"-$p\" 2>/dev/null\n", name);
    if (tree && ex->sb != NULL) {
        ssh_str_t m = {0};
        ssh_str_addf(&m, "%s.%u", ex->sb->id, ex->seq);
        ssh_script_kill_marked(&s, name, "AGENTD_SSH_EXEC", m.s != NULL ? m.s : "");
        ssh_str_free(&m);
    }
    ssh_str_add(&s, "exit 0\n");
    int rc = s.failed ? agentd_err_set(err, AGENTD_ENOMEM, "out of memory")
                      : ssh_rcmd_run(ex->host, s.s, ex->pl->connect_timeout_s * 1000u + 5000u,
                                     on_exec_signalled, ex->host, err);
    ssh_str_free(&s);
    return rc;
}

int ssh_exec_signal(agentd_exec_t *ex, agentd_sandbox_signal_t sig, agentd_err_t *err)
{
    if (ex->exited)
        return agentd_err_set(err, AGENTD_ENOENT, "the command has exited");
    if (sig == AGENTD_SIG_PAUSE || sig == AGENTD_SIG_RESUME) {
        if (ex->sb == NULL)
            return agentd_err_set(err, AGENTD_ENOENT, "the sandbox is gone");
        return ssh_sandbox_signal(ex->sb, sig, err);
    }
    const char *name = ssh_signal_name(sig);
    if (name == NULL)
        return agentd_err_set(err, AGENTD_EINVAL, "unknown signal %d", (int)sig);
    if (ex->host->state != SSH_HOST_UP) {
        /* Nothing can reach the remote side: end our end, so the caller
         * is not left waiting. */
        ex->pl->api->process_kill(ex->proc, SIGTERM);
        return agentd_err_set(err, AGENTD_EUNAVAIL, "host %s is down: %s", ex->host->name,
                              ex->host->reason);
    }
    int rc = signal_remote(ex, name, sig != AGENTD_SIG_INTERRUPT, err);
    if (rc == 0)
        ex->sent_signal = sig == AGENTD_SIG_KILL ? SIGKILL
                          : sig == AGENTD_SIG_TERMINATE ? SIGTERM
                                                        : SIGINT;
    return rc;
}

static void unlink_exec(agentd_exec_t *ex)
{
    if (ex->sb == NULL)
        return;
    for (agentd_exec_t **p = &ex->sb->execs; *p != NULL; p = &(*p)->next)
        if (*p == ex) {
            *p = ex->next;
            break;
        }
}

/* Released by its caller but still running: kept on the dying list until
 * it is gone, with nobody to tell. */
static void keep_dying(agentd_exec_t *ex)
{
    ex->released = 1;
    ex->exit_cb = NULL;
    ex->sb = NULL;
    ex->next_dying = ex->pl->dying;
    ex->pl->dying = ex;
}

void ssh_exec_release(agentd_exec_t *ex)
{
    if (ex == NULL)
        return;
    if (ex->probing) { /* freed when the probe answers */
        unlink_exec(ex);
        keep_dying(ex);
        return;
    }
    if (!ex->exited && ex->host->state == SSH_HOST_UP && ex->sb != NULL)
        signal_remote(ex, "KILL", 1, NULL);
    unlink_exec(ex);
    if (!ex->exited && ex->pl->api->process_kill(ex->proc, SIGTERM) == 0) {
        keep_dying(ex);
        return;
    }
    exec_free(ex);
}

void ssh_exec_abort(agentd_exec_t *ex, const char *reason)
{
    if (reason != NULL && ex->host_down == NULL)
        ex->host_down = strdup(reason);
    if (ex->exited)
        return;
    ex->pl->api->process_kill(ex->proc, SIGTERM);
}

void ssh_exec_forget_dying(ssh_plugin_t *pl)
{
    while (pl->dying != NULL) {
        agentd_exec_t *ex = pl->dying;
        pl->dying = ex->next_dying;
        if (!ex->exited)
            ex->pl->api->process_kill(ex->proc, SIGKILL);
        exec_free(ex);
    }
}
