/*
 * One remote script on a host's pooled connection: an ssh mux client whose
 * stdin carries the script, whose stdout and stderr are collected (bounded)
 * and handed to the callback when it exits. Used for everything but the
 * agent's own command: session directories, signals, lists, health checks.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "ssh.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OUT_MAX (1u << 20)
#define ERR_MAX 4096u

struct ssh_rcmd {
    ssh_rcmd_t *next;
    ssh_plugin_t *pl;
    agentd_process_t *proc;
    agentd_stream_t out, err;
    int out_open, err_open, exited;
    int64_t exit_status;
    int term_signal, timed_out;
    agentd_timer_t *timer;
    ssh_str_t outb, errb;
    ssh_rcmd_cb cb;
    void *ud;
};

int ssh_send_script(const agentd_stream_t *in, const ssh_str_t *script)
{
    char head[32];
    int n = snprintf(head, sizeof head, "%zu\n", script->len);
    int rc = in->ops->write(in->impl, head, (size_t)n, NULL, NULL);
    if (rc == 0)
        rc = in->ops->write(in->impl, script->s, script->len, NULL, NULL);
    return rc;
}

static void unlink_rcmd(ssh_rcmd_t *r)
{
    for (ssh_rcmd_t **p = &r->pl->rcmds; *p != NULL; p = &(*p)->next)
        if (*p == r) {
            *p = r->next;
            return;
        }
}

static void finish(ssh_rcmd_t *r)
{
    if (!r->exited || r->out_open || r->err_open)
        return;
    unlink_rcmd(r);
    r->pl->api->timer_close(r->timer);
    r->pl->api->process_close(r->proc);
    size_t n = r->errb.len;
    while (n > 0 && (r->errb.s[n - 1] == '\n' || r->errb.s[n - 1] == '\r'))
        r->errb.s[--n] = '\0';
    const char *out = r->outb.s != NULL ? r->outb.s : "";
    const char *err = r->errb.s != NULL ? r->errb.s : "";
    if (r->timed_out)
        r->cb(r->ud, AGENTD_ETIMEDOUT, -1, out, "the remote command timed out");
    else if (r->term_signal != 0)
        r->cb(r->ud, AGENTD_EIO, -1, out, "ssh was killed");
    else
        r->cb(r->ud, 0, (int)r->exit_status, out, err);
    ssh_str_free(&r->outb);
    ssh_str_free(&r->errb);
    free(r);
}

static void on_out(void *ud, const char *data, size_t len, int status)
{
    ssh_rcmd_t *r = ud;
    if (status != 0) {
        r->out.ops->close(r->out.impl, NULL, NULL);
        r->out_open = 0;
        finish(r);
        return;
    }
    if (r->outb.len + len <= OUT_MAX)
        ssh_str_addn(&r->outb, data, len);
}

static void on_err(void *ud, const char *data, size_t len, int status)
{
    ssh_rcmd_t *r = ud;
    if (status != 0) {
        r->err.ops->close(r->err.impl, NULL, NULL);
        r->err_open = 0;
        finish(r);
        return;
    }
    if (r->errb.len + len <= ERR_MAX)
        ssh_str_addn(&r->errb, data, len);
}

static void on_exit_(void *ud, int64_t status, int sig)
{
    ssh_rcmd_t *r = ud;
    r->exited = 1;
    r->exit_status = status;
    r->term_signal = sig;
    finish(r);
}

static void on_timeout(void *ud)
{
    ssh_rcmd_t *r = ud;
    r->timed_out = 1;
    r->pl->api->process_kill(r->proc, 9);
}

int ssh_rcmd_run(ssh_host_t *h, const char *script, uint64_t timeout_ms, ssh_rcmd_cb cb,
                 void *ud, agentd_err_t *err)
{
    ssh_plugin_t *pl = h->pl;
    ssh_rcmd_t *r = calloc(1, sizeof *r);
    char **argv = ssh_client_argv(h);
    char **env = ssh_client_env(pl);
    ssh_str_t s = {0};
    ssh_str_add(&s, SSH_SCRIPT_PRELUDE);
    ssh_str_add(&s, script);
    if (r == NULL || argv == NULL || env == NULL || s.failed) {
        free(r);
        ssh_strv_free(argv);
        ssh_strv_free(env);
        ssh_str_free(&s);
        return agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    }
    agentd_spawn_opts_t o = {.size = sizeof o, .file = "ssh", .argv = (const char *const *)argv,
                             .env = (const char *const *)env, .cwd = "/",
                             .flags = AGENTD_SPAWN_STDIN | AGENTD_SPAWN_STDOUT |
                                      AGENTD_SPAWN_STDERR | AGENTD_SPAWN_NEW_GROUP};
    agentd_spawn_io_t io = {.size = sizeof io};
    int rc = pl->api->spawn(pl->host, &o, on_exit_, r, &r->proc, &io, err);
    ssh_strv_free(argv);
    ssh_strv_free(env);
    if (rc != 0) {
        ssh_str_free(&s);
        free(r);
        return rc;
    }
    r->pl = pl;
    r->cb = cb;
    r->ud = ud;
    r->out = io.out;
    r->err = io.err;
    r->out_open = r->err_open = 1;
    ssh_send_script(&io.in, &s);
    ssh_str_free(&s);
    io.in.ops->shutdown(io.in.impl);
    io.in.ops->close(io.in.impl, NULL, NULL);
    r->out.ops->read_start(r->out.impl, on_out, r);
    r->err.ops->read_start(r->err.impl, on_err, r);
    if (timeout_ms > 0)
        pl->api->timer_start(pl->host, timeout_ms, 0, on_timeout, r, &r->timer);
    r->next = pl->rcmds;
    pl->rcmds = r;
    return 0;
}

void ssh_rcmd_cancel_all(ssh_plugin_t *pl)
{
    while (pl->rcmds != NULL) {
        ssh_rcmd_t *r = pl->rcmds;
        pl->rcmds = r->next;
        pl->api->timer_close(r->timer);
        if (!r->exited)
            pl->api->process_kill(r->proc, 9);
        pl->api->process_close(r->proc);
        if (r->out_open)
            r->out.ops->close(r->out.impl, NULL, NULL);
        if (r->err_open)
            r->err.ops->close(r->err.impl, NULL, NULL);
        r->cb(r->ud, AGENTD_ECANCELED, -1, "", "cancelled");
        ssh_str_free(&r->outb);
        ssh_str_free(&r->errb);
        free(r);
    }
}
