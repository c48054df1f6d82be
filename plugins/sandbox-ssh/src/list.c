/*
 * After a restart: list the session directories this agentd instance
 * (its `owner` id) left on each enabled host, so the host can adopt them
 * (take a handle: run commands, signal, destroy) or reap them (kill what
 * runs there and remove the directory). Hosts that cannot be reached are
 * skipped with a warning; the final status is 0 if every host answered.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "ssh.h"
#include "plugin_envfile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct list_op {
    ssh_plugin_t *pl;
    size_t next_host;
    int status;
    agentd_sandbox_list_cb cb;
    void *ud;
} list_op_t;

typedef struct host_step {
    list_op_t *op;
    ssh_host_t *h;
} host_step_t;

void ssh_orphans_free(ssh_plugin_t *pl)
{
    while (pl->orphans != NULL) {
        ssh_orphan_t *o = pl->orphans;
        pl->orphans = o->next;
        free(o->id);
        free(o->session_id);
        free(o);
    }
}

static ssh_orphan_t *orphan_find(ssh_plugin_t *pl, const char *id)
{
    for (ssh_orphan_t *o = pl->orphans; o != NULL; o = o->next)
        if (strcmp(o->id, id) == 0)
            return o;
    return NULL;
}

static int live(ssh_plugin_t *pl, const char *id)
{
    for (agentd_sandbox_t *sb = pl->sandboxes; sb != NULL; sb = sb->next)
        if (strcmp(sb->id, id) == 0)
            return 1;
    return 0;
}

static void next_host(list_op_t *op);

/* One line per directory: id TAB session TAB created_ms TAB state. */
static void report(list_op_t *op, ssh_host_t *h, char *out)
{
    ssh_plugin_t *pl = op->pl;
    for (char *line = strtok(out, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        char *f[4] = {line, NULL, NULL, NULL};
        for (int i = 1; i < 4; i++) {
            char *tab = f[i - 1] != NULL ? strchr(f[i - 1], '\t') : NULL;
            if (tab != NULL) {
                *tab = '\0';
                f[i] = tab + 1;
            }
        }
        if (f[3] == NULL || live(pl, f[0]))
            continue;
        ssh_orphan_t *o = orphan_find(pl, f[0]);
        if (o == NULL && (o = calloc(1, sizeof *o)) != NULL) {
            o->id = strdup(f[0]);
            o->session_id = f[1][0] ? strdup(f[1]) : NULL;
            if (o->id == NULL) {
                free(o->session_id);
                free(o);
                o = NULL;
            } else {
                o->next = pl->orphans;
                pl->orphans = o;
            }
        }
        if (o != NULL)
            o->host = h;
        agentd_sandbox_info_t info = {.size = sizeof info, .sandbox_id = f[0],
                                      .session_id = f[1][0] ? f[1] : NULL, .state = f[3],
                                      .created_ms = strtoull(f[2], NULL, 10)};
        op->cb(op->ud, &info, 0);
    }
}

static void on_listed(void *ud, int status, int code, const char *out, const char *err)
{
    host_step_t *st = ud;
    list_op_t *op = st->op;
    ssh_host_t *h = st->h;
    free(st);
    if (status == AGENTD_ECANCELED) {
        op->pl->lists_in_flight--;
        op->cb(op->ud, NULL, AGENTD_ECANCELED);
        free(op);
        return;
    }
    if (status != 0 || code != 0) {
        op->pl->api->log(op->pl->host, AGENTD_LOG_WARN, "list: host %s did not answer: %s",
                         h->name, status != 0 ? agentd_strerror(status) : err);
        op->status = AGENTD_EUNAVAIL;
    } else {
        char *copy = strdup(out);
        if (copy != NULL)
            report(op, h, copy);
        free(copy);
    }
    next_host(op);
}

static void list_script(ssh_str_t *s, ssh_host_t *h)
{
    ssh_str_add(s, "cd ");
    ssh_str_quote(s, h->root);
    ssh_str_add(s, " 2>/dev/null || exit 0\nme=");
    ssh_str_quote(s, h->pl->instance);
    ssh_str_add(s,
                "\nfor d in */; do d=${d%/}; [ -f \"$d/owner\" ] || continue\n"
                "  [ \"$(cat \"$d/owner\")\" = \"$me\" ] || continue\n"
                "  st=exited\n"
                "  for f in $(grep -lzx \"AGENTD_SSH_SANDBOX=$d\" /proc/[0-9]*/environ "
                "2>/dev/null); do p=${f%/environ}\n"
                "    if grep -q '^State:[[:space:]]*T' \"$p/status\" 2>/dev/null; then "
                "st=paused; else st=running; break; fi\n"
                "  done\n"
                "  printf '%s\\t%s\\t%s\\t%s\\n' \"$d\" \"$(cat \"$d/session\" 2>/dev/null)\" "
                "\"$(cat \"$d/created\" 2>/dev/null)\" \"$st\"\n"
                "done\n");
}

static void on_list_connected(void *ud, int status, const char *msg)
{
    host_step_t *st = ud;
    list_op_t *op = st->op;
    if (status != 0) {
        op->pl->api->log(op->pl->host, AGENTD_LOG_WARN, "list: %s", msg ? msg : "");
        op->status = AGENTD_EUNAVAIL;
        free(st);
        next_host(op);
        return;
    }
    ssh_str_t s = {0};
    list_script(&s, st->h);
    agentd_err_t err = {{0}};
    int rc = s.failed ? AGENTD_ENOMEM
                      : ssh_rcmd_run(st->h, s.s, op->pl->connect_timeout_s * 1000u + 30000u,
                                     on_listed, st, &err);
    ssh_str_free(&s);
    if (rc != 0) {
        free(st);
        op->status = rc;
        next_host(op);
    }
}

static void next_host(list_op_t *op)
{
    ssh_plugin_t *pl = op->pl;
    while (op->next_host < pl->nhosts && !pl->hosts[op->next_host]->enabled)
        op->next_host++;
    if (op->next_host >= pl->nhosts || pl->stopping) {
        pl->lists_in_flight--;
        op->cb(op->ud, NULL, op->status);
        free(op);
        return;
    }
    host_step_t *st = calloc(1, sizeof *st);
    if (st == NULL) {
        op->status = AGENTD_ENOMEM;
        op->next_host = pl->nhosts;
        next_host(op);
        return;
    }
    st->op = op;
    st->h = pl->hosts[op->next_host++];
    if (ssh_host_connect(st->h, on_list_connected, st) != 0)
        on_list_connected(st, AGENTD_ENOMEM, "out of memory");
}

static void list_begin(void *ud)
{
    next_host(ud);
}

int ssh_list(ssh_plugin_t *pl, agentd_sandbox_list_cb cb, void *ud, agentd_err_t *err)
{
    if (cb == NULL)
        return agentd_err_set(err, AGENTD_EINVAL, "list needs a callback");
    list_op_t *op = calloc(1, sizeof *op);
    if (op == NULL)
        return agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    op->pl = pl;
    op->cb = cb;
    op->ud = ud;
    int rc = ssh_defer(pl, list_begin, op);
    if (rc != 0) {
        free(op);
        return agentd_err_set(err, rc, "cannot schedule the list");
    }
    pl->lists_in_flight++;
    return 0;
}

typedef struct adopt_op {
    ssh_plugin_t *pl;
    ssh_orphan_t *o;
    agentd_sandbox_t *sb;
    agentd_sandbox_create_cb cb;
    void *ud;
} adopt_op_t;

static void on_adopt_connected(void *ud, int status, const char *msg)
{
    adopt_op_t *op = ud;
    op->pl->creates--;
    if (status != 0) {
        ssh_sandbox_forget(op->sb);
        op->cb(op->ud, status, NULL, msg);
    } else {
        /* The environment it was created with, its secrets read again. */
        agentd_err_t err = {{0}};
        ssh_strv_free(op->sb->env_src);
        op->sb->env_src =
            plugin_envfile_load(op->pl->api->state_dir(op->pl->host), op->sb->id);
        int rc = op->sb->env_src != NULL ? ssh_env_resolve(op->pl, op->sb, &err)
                                         : agentd_err_set(&err, AGENTD_ENOMEM, "out of memory");
        if (rc != 0) {
            ssh_sandbox_forget(op->sb);
            op->cb(op->ud, rc, NULL, err.msg);
        } else {
            op->sb->host->load++;
            op->sb->created_ms = ssh_wall_ms();
            op->cb(op->ud, 0, op->sb, NULL);
        }
    }
    free(op);
}

static void adopt_begin(void *ud)
{
    adopt_op_t *op = ud;
    if (ssh_host_connect(op->sb->host, on_adopt_connected, op) != 0)
        on_adopt_connected(op, AGENTD_ENOMEM, "out of memory");
}

/* The orphan list() found with this id on a host; NULL (err set) if none. */
static ssh_orphan_t *listed(ssh_plugin_t *pl, const char *id, agentd_err_t *err)
{
    ssh_orphan_t *o = id != NULL ? orphan_find(pl, id) : NULL;
    if (o == NULL || o->host == NULL) {
        agentd_err_set(err, AGENTD_ENOENT, "sandbox %s was not found by list() on any host",
                       id ? id : "");
        return NULL;
    }
    return o;
}

int ssh_adopt(ssh_plugin_t *pl, const char *id, agentd_sandbox_create_cb cb, void *ud,
              agentd_err_t *err)
{
    ssh_orphan_t *o = listed(pl, id, err);
    if (o == NULL)
        return AGENTD_ENOENT;
    if (live(pl, id))
        return agentd_err_set(err, AGENTD_EEXIST, "sandbox %s is already in use", id);
    adopt_op_t *op = calloc(1, sizeof *op);
    if (op == NULL)
        return agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    op->pl = pl;
    op->cb = cb;
    op->ud = ud;
    op->sb = ssh_sandbox_new(pl, o->host, o->id, o->session_id);
    /* Execution numbers continue past any the previous daemon used. */
    if (op->sb != NULL)
        op->sb->exec_seq = 1000;
    if (op->sb == NULL || ssh_defer(pl, adopt_begin, op) != 0) {
        if (op->sb != NULL)
            ssh_sandbox_forget(op->sb);
        free(op);
        return agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    }
    pl->creates++;
    return 0;
}

int ssh_reap(ssh_plugin_t *pl, const char *id, agentd_done_cb cb, void *ud,
             agentd_err_t *err)
{
    ssh_orphan_t *o = listed(pl, id, err);
    if (o == NULL)
        return AGENTD_ENOENT;
    if (live(pl, id))
        return agentd_err_set(err, AGENTD_EBUSY, "sandbox %s is in use: destroy it instead",
                              id);
    return ssh_remove_dir(o->host, id, cb, ud, err);
}
