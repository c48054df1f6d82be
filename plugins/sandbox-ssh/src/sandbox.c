/*
 * A sandbox is a directory on one host: <root>/<sandbox id>/ with
 * workspace/, claude/ (CLAUDE_CONFIG_DIR), home/ (HOME), pids/ (the process
 * group of each execution) and `owner`, this agentd's instance id. mkdir is
 * atomic, so two agentd instances can never take the same directory, and
 * every later step (signal, destroy, list, reap) checks `owner` first.
 * Every process started in it carries AGENTD_SSH_SANDBOX=<id> in its
 * environment: that is how a signal or a kill finds the whole remote tree,
 * including processes that left the process group.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "ssh.h"
#include "plugin_envfile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct create_op {
    ssh_plugin_t *pl;
    agentd_sandbox_t *sb;
    ssh_profile_t prof;
    ssh_host_t *host;
    uint64_t tried;
    uint64_t timeout_s;
    char msg[300];
    agentd_sandbox_create_cb cb;
    void *ud;
} create_op_t;

const char *ssh_signal_name(agentd_sandbox_signal_t sig)
{
    switch (sig) {
    case AGENTD_SIG_PAUSE: return "STOP";
    case AGENTD_SIG_RESUME: return "CONT";
    case AGENTD_SIG_INTERRUPT: return "INT";
    case AGENTD_SIG_TERMINATE: return "TERM";
    case AGENTD_SIG_KILL: return "KILL";
    }
    return NULL;
}

void ssh_script_kill_marked(ssh_str_t *b, const char *name, const char *var, const char *value)
{
    ssh_str_t m = {0};
    ssh_str_addf(&m, "%s=%s", var, value);
    ssh_str_add(b, "for i in 1 2; do for f in $(grep -lzx ");
    ssh_str_quote(b, m.s != NULL ? m.s : "");
    ssh_str_addf(b, " /proc/[0-9]*/environ 2>/dev/null); do p=${f%%/environ}; "
                    "kill -%s \"${p#/proc/}\" 2>/dev/null || :; done; done\n",
                 name);
    ssh_str_free(&m);
}

static void owner_check(ssh_str_t *b, const ssh_plugin_t *pl)
{
    ssh_str_add(b, "[ \"$(cat \"$d/owner\" 2>/dev/null)\" = ");
    ssh_str_quote(b, pl->instance);
    ssh_str_add(b, " ] || { echo \"$d was not created by this agentd instance\" >&2; "
                   "exit 3; }\n");
}

agentd_sandbox_t *ssh_sandbox_new(ssh_plugin_t *pl, ssh_host_t *h, const char *id,
                                  const char *session_id)
{
    agentd_sandbox_t *sb = calloc(1, sizeof *sb);
    if (sb == NULL)
        return NULL;
    sb->pl = pl;
    sb->host = h;
    sb->id = strdup(id);
    sb->session_id = session_id != NULL ? strdup(session_id) : NULL;
    if (asprintf(&sb->dir, "%s/%s", h->root, id) < 0)
        sb->dir = NULL;
    sb->env = calloc(1, sizeof *sb->env);
    if (sb->id == NULL || sb->dir == NULL || sb->env == NULL ||
        (session_id != NULL && sb->session_id == NULL)) {
        ssh_sandbox_forget(sb);
        return NULL;
    }
    sb->next = pl->sandboxes;
    pl->sandboxes = sb;
    if (pl->health_timer == NULL && !pl->stopping)
        ssh_health_start(pl); /* checks run while sandboxes exist */
    return sb;
}

static void unlink_sb(agentd_sandbox_t *sb)
{
    for (agentd_sandbox_t **p = &sb->pl->sandboxes; *p != NULL; p = &(*p)->next)
        if (*p == sb) {
            *p = sb->next;
            return;
        }
}

static void sig_forget(agentd_sandbox_t *sb);

void ssh_sandbox_forget(agentd_sandbox_t *sb)
{
    unlink_sb(sb);
    sig_forget(sb);
    for (agentd_exec_t *ex = sb->execs; ex != NULL; ex = ex->next)
        ex->sb = NULL;
    sb->pl->api->timer_close(sb->timeout);
    if (sb->pl->sandboxes == NULL)
        ssh_health_stop(sb->pl);
    free(sb->id);
    free(sb->session_id);
    free(sb->dir);
    free(sb->local_workspace);
    ssh_strv_free(sb->env);
    ssh_strv_free(sb->env_src);
    free(sb);
}

/* ---- create ------------------------------------------------------------------ */

static void create_done(create_op_t *op, int status, const char *msg)
{
    agentd_sandbox_t *sb = op->sb;
    op->pl->creates--;
    if (status != 0) {
        if (op->host != NULL)
            op->host->load--;
        ssh_sandbox_forget(sb);
        sb = NULL;
    } else if (plugin_envfile_save(op->pl->api->state_dir(op->pl->host), sb->id,
                                   (const char *const *)sb->env_src) != 0) {
        op->pl->api->log(op->pl->host, AGENTD_LOG_WARN,
                         "sandbox %s: cannot keep its environment for a later adopt", sb->id);
    }
    op->cb(op->ud, status, sb, msg);
    ssh_profile_clear(&op->prof);
    free(op);
}

static void on_timeout(void *ud)
{
    agentd_sandbox_t *sb = ud;
    sb->pl->api->timer_close(sb->timeout);
    sb->timeout = NULL;
    sb->expired = 1;
    sb->pl->api->log(sb->pl->host, AGENTD_LOG_WARN, "sandbox %s: timeout reached; killing it",
                     sb->id);
    ssh_sandbox_signal(sb, AGENTD_SIG_KILL, NULL);
}

static void on_setup(void *ud, int status, int code, const char *out, const char *err)
{
    create_op_t *op = ud;
    ssh_plugin_t *pl = op->pl;
    char msg[700];
    if (status != 0 || code != 0) {
        snprintf(msg, sizeof msg, "host %s: cannot prepare the session directory: %s",
                 op->host->name, status != 0 ? agentd_strerror(status) : err);
        /* Half made (a clone that failed): not left behind. Exit 17: the
         * directory is another instance's, not ours to remove. */
        if (status != AGENTD_ECANCELED && code != 17)
            ssh_remove_dir(op->host, op->sb->id, NULL, NULL, NULL);
        create_done(op, status != 0 ? status : AGENTD_EIO, msg);
        return;
    }
    agentd_sandbox_t *sb = op->sb;
    if (pl->stopping) { /* made while shutting down: nobody will use it */
        ssh_remove_dir(op->host, sb->id, NULL, NULL, NULL);
        create_done(op, AGENTD_ECANCELED, "the plugin is stopping");
        return;
    }
    if (sb->session_id != NULL) {
        ssh_str_t data = {0};
        ssh_str_addf(&data, "{\"host\":\"%s\",\"sandbox\":\"%s\"}", op->host->name, sb->id);
        if (!data.failed)
            pl->api->emit_event(pl->host, sb->session_id, "sandbox.placed", data.s, data.len,
                                NULL);
        ssh_str_free(&data);
    }
    pl->api->log(pl->host, AGENTD_LOG_INFO, "sandbox %s placed on host %s (%u of %u)", sb->id,
                 op->host->name, op->host->load, op->host->capacity);
    const char *cache = strstr(out, "agentd-cache=");
    if (cache != NULL && sb->session_id != NULL) {
        char data[300];
        int hit = strncmp(cache + 13, "hit", 3) == 0;
        int n = snprintf(data, sizeof data, "{\"host\":\"%s\",\"cache\":\"%s\"}",
                         op->host->name, hit ? "hit" : "miss");
        pl->api->emit_event(pl->host, sb->session_id, "sandbox.repo_cache", data, (size_t)n,
                            NULL);
    }
    if (cache != NULL)
        pl->api->log(pl->host, AGENTD_LOG_INFO, "sandbox %s on %s: repository cache %s", sb->id,
                     op->host->name, strncmp(cache + 13, "hit", 3) == 0 ? "hit" : "miss");
    if (op->timeout_s > 0)
        pl->api->timer_start(pl->host, op->timeout_s * 1000u, 0, on_timeout, sb, &sb->timeout);
    sb->created_ms = ssh_wall_ms();
    create_done(op, 0, NULL);
}

static void setup_script(ssh_str_t *b, create_op_t *op)
{
    agentd_sandbox_t *sb = op->sb;
    ssh_str_add(b, "set -e\nr=");
    ssh_str_quote(b, op->host->root);
    ssh_str_add(b, "\nd=");
    ssh_str_quote(b, sb->dir);
    ssh_str_add(b, "\nmkdir -p \"$r\"\n"
                   "mkdir -m 700 \"$d\" 2>/dev/null || { echo \"session directory $d already "
                   "exists (taken by another agentd instance?)\" >&2; exit 17; }\n"
                   "printf '%s\\n' ");
    ssh_str_quote(b, op->pl->instance);
    ssh_str_add(b, " > \"$d/owner\"\nprintf '%s\\n' ");
    ssh_str_quote(b, sb->session_id != NULL ? sb->session_id : "");
    ssh_str_addf(b, " > \"$d/session\"\necho %llu > \"$d/created\"\n"
                    "mkdir -m 700 \"$d/claude\" \"$d/home\" \"$d/pids\"\n",
                 (unsigned long long)ssh_wall_ms());
    if (op->prof.repository != NULL && op->pl->repo_cache) {
        ssh_str_t ws = {0};
        ssh_str_addf(&ws, "%s/workspace", sb->dir);
        ssh_script_repo_checkout(b, op->host, op->prof.repository, ws.s != NULL ? ws.s : "");
        ssh_str_free(&ws);
    } else if (op->prof.repository != NULL) {
        ssh_str_add(b, "git clone --quiet -- ");
        ssh_str_quote(b, op->prof.repository);
        ssh_str_add(b, " \"$d/workspace\"\n");
    } else {
        ssh_str_add(b, "mkdir \"$d/workspace\"\n");
    }
}

static void try_place(create_op_t *op);

static void on_connected(void *ud, int status, const char *msg)
{
    create_op_t *op = ud;
    if (status != 0) {
        snprintf(op->msg, sizeof op->msg, "%s", msg != NULL ? msg : agentd_strerror(status));
        op->host->load--;
        op->tried |= op->host->index < 64 ? 1ull << op->host->index : 0;
        op->host = NULL;
        try_place(op);
        return;
    }
    op->sb->host = op->host;
    free(op->sb->dir);
    op->sb->dir = NULL;
    if (asprintf(&op->sb->dir, "%s/%s", op->host->root, op->sb->id) < 0) {
        op->sb->dir = NULL;
        create_done(op, AGENTD_ENOMEM, "out of memory");
        return;
    }
    ssh_str_t s = {0};
    setup_script(&s, op);
    agentd_err_t err = {{0}};
    int rc = s.failed ? agentd_err_set(&err, AGENTD_ENOMEM, "out of memory")
                      : ssh_rcmd_run(op->host, s.s, (uint64_t)op->pl->setup_timeout_s * 1000u,
                                     on_setup, op, &err);
    ssh_str_free(&s);
    if (rc != 0)
        create_done(op, rc, err.msg);
}

static void try_place(create_op_t *op)
{
    char why[300];
    ssh_host_t *h = ssh_place(op->pl, &op->prof, op->tried, why, sizeof why);
    if (h == NULL) {
        char msg[700];
        if (op->msg[0])
            snprintf(msg, sizeof msg, "%s (last failure: %s)", why, op->msg);
        else
            snprintf(msg, sizeof msg, "%s", why);
        create_done(op, op->msg[0] ? AGENTD_EUNAVAIL : AGENTD_EBUSY, msg);
        return;
    }
    op->host = h;
    h->load++; /* reserved while it is being prepared */
    if (ssh_host_connect(h, on_connected, op) != 0)
        on_connected(op, AGENTD_ENOMEM, "out of memory");
}

static void place_deferred(void *ud)
{
    try_place(ud);
}

int ssh_env_resolve(ssh_plugin_t *pl, agentd_sandbox_t *sb, agentd_err_t *err)
{
    const char *const *src = (const char *const *)sb->env_src;
    char **env = calloc(ssh_strv_len(src) + 1, sizeof *env);
    if (env == NULL)
        return agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    ssh_strv_free(sb->env);
    sb->env = env;
    size_t k = 0;
    for (size_t i = 0; src != NULL && src[i] != NULL; i++) {
        const char *eq = strchr(src[i], '=');
        char *name = eq != NULL ? ssh_secret_ref_name(eq + 1) : NULL;
        if (name == NULL) {
            if ((env[k++] = strdup(src[i])) == NULL)
                return agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
            continue;
        }
        char *value = NULL;
        size_t len = 0;
        int rc = pl->api->secret_get(pl->host, name, sb->session_id, &value, &len, err);
        free(name);
        if (rc != 0)
            return rc;
        if (asprintf(&env[k], "%.*s=%.*s", (int)(eq - src[i]), src[i], (int)len, value) < 0)
            env[k] = NULL;
        pl->api->secret_release(pl->host, value, len);
        if (env[k++] == NULL)
            return agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    }
    return 0;
}

/* Profile env (its ${secret:NAME} values read now), then the spec's. */
static int build_env(ssh_plugin_t *pl, agentd_sandbox_t *sb, const ssh_profile_t *prof,
                     const agentd_sandbox_spec_t *spec, agentd_err_t *err)
{
    char **src = ssh_strv_dup((const char *const *)prof->env);
    size_t n = ssh_strv_len((const char *const *)src), add = ssh_strv_len(spec->env);
    char **all = src != NULL ? realloc(src, (n + add + 1) * sizeof *src) : NULL;
    if (all == NULL) {
        ssh_strv_free(src);
        return agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < add; i++)
        all[n + i] = NULL;
    all[n + add] = NULL;
    ssh_strv_free(sb->env_src);
    sb->env_src = all;
    for (size_t i = 0; i < add; i++)
        if ((all[n + i] = strdup(spec->env[i])) == NULL)
            return agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    return ssh_env_resolve(pl, sb, err);
}

static int valid_id(const char *id)
{
    if (id == NULL || id[0] == '\0' || strlen(id) > 128)
        return 0;
    for (const char *p = id; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' ||
              (*p >= 'A' && *p <= 'Z') || *p == '_'))
            return 0;
    return 1;
}

int ssh_sandbox_create(ssh_plugin_t *pl, const agentd_sandbox_spec_t *spec,
                       agentd_sandbox_create_cb cb, void *ud, agentd_err_t *err)
{
    if (spec == NULL || cb == NULL || !valid_id(spec->sandbox_id))
        return agentd_err_set(err, AGENTD_EINVAL, "create: a sandbox id of [a-z0-9-] is "
                                                  "required");
    if (pl->stopping)
        return agentd_err_set(err, AGENTD_ESTATE, "the plugin is stopping");
    if (pl->nhosts == 0)
        return agentd_err_set(err, AGENTD_ECONFIG,
                              "no hosts are configured (plugins.settings." SSH_PLUGIN_ID
                              ".hosts)");
    create_op_t *op = calloc(1, sizeof *op);
    if (op == NULL)
        return agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    int rc = ssh_profile_read(&op->prof, spec->profile_json, spec->profile_len, err);
    if (rc != 0) {
        free(op);
        return rc;
    }
    op->pl = pl;
    op->cb = cb;
    op->ud = ud;
    op->timeout_s = spec->timeout_s > 0 ? spec->timeout_s : op->prof.timeout_minutes * 60u;
    op->sb = ssh_sandbox_new(pl, pl->hosts[0], spec->sandbox_id, spec->session_id);
    if (op->sb == NULL)
        rc = agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    if (rc == 0 && spec->workspace != NULL &&
        (op->sb->local_workspace = strdup(spec->workspace)) == NULL)
        rc = agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    if (rc == 0)
        rc = build_env(pl, op->sb, &op->prof, spec, err);
    for (agentd_sandbox_t *o = pl->sandboxes; rc == 0 && o != NULL; o = o->next)
        if (o != op->sb && strcmp(o->id, spec->sandbox_id) == 0)
            rc = agentd_err_set(err, AGENTD_EEXIST, "sandbox %s exists", spec->sandbox_id);
    if (rc != 0) {
        if (op->sb != NULL)
            ssh_sandbox_forget(op->sb);
        ssh_profile_clear(&op->prof);
        free(op);
        return rc;
    }
    op->sb->host = NULL;
    /* Never call back inside create(): the caller has not seen it return. */
    rc = ssh_defer(pl, place_deferred, op);
    if (rc == 0)
        pl->creates++;
    if (rc != 0) {
        ssh_sandbox_forget(op->sb);
        ssh_profile_clear(&op->prof);
        free(op);
        return agentd_err_set(err, rc, "cannot schedule the placement");
    }
    return 0;
}

/* ---- signals ------------------------------------------------------------------- */

/* Signals to one sandbox run one after the other, in the order asked: each
 * is a command on its own channel, and a pause overtaken by the resume that
 * followed it would leave the sandbox frozen. */
typedef struct ssh_sig {
    struct ssh_sig *next;
    agentd_sandbox_t *sb;       /* NULL once the sandbox is forgotten */
    ssh_host_t *host;
    char *script;
} ssh_sig_t;

static void sig_free(ssh_sig_t *q)
{
    free(q->script);
    free(q);
}

static void sig_run_next(agentd_sandbox_t *sb);

static void on_signalled(void *ud, int status, int code, const char *out, const char *err)
{
    ssh_sig_t *q = ud;
    ssh_host_t *h = q->host;
    (void)out;
    if (status != 0 || code != 0)
        h->pl->api->log(h->pl->host, AGENTD_LOG_WARN, "host %s: signal not delivered: %s",
                        h->name, status != 0 ? agentd_strerror(status) : err);
    agentd_sandbox_t *sb = q->sb;
    if (sb != NULL) {
        sb->sigs = q->next;
        sig_free(q);
        sig_run_next(sb);
    } else {
        sig_free(q);
    }
}

static void sig_run_next(agentd_sandbox_t *sb)
{
    while (sb->sigs != NULL) {
        ssh_sig_t *q = sb->sigs;
        agentd_err_t err = {{0}};
        if (ssh_rcmd_run(q->host, q->script, q->host->pl->connect_timeout_s * 1000u + 5000u,
                         on_signalled, q, &err) == 0)
            return;
        q->host->pl->api->log(q->host->pl->host, AGENTD_LOG_WARN,
                              "host %s: signal not sent: %s", q->host->name, err.msg);
        sb->sigs = q->next;
        sig_free(q);
    }
}

/* The sandbox goes: what is queued is dropped, what is in flight finishes
 * without it. */
static void sig_forget(agentd_sandbox_t *sb)
{
    ssh_sig_t *q = sb->sigs;
    if (q == NULL)
        return;
    ssh_sig_t *rest = q->next;
    q->sb = NULL;
    q->next = NULL;
    while (rest != NULL) {
        ssh_sig_t *n = rest->next;
        sig_free(rest);
        rest = n;
    }
    sb->sigs = NULL;
}

int ssh_sandbox_signal(agentd_sandbox_t *sb, agentd_sandbox_signal_t sig, agentd_err_t *err)
{
    const char *name = ssh_signal_name(sig);
    if (name == NULL)
        return agentd_err_set(err, AGENTD_EINVAL, "unknown signal %d", (int)sig);
    ssh_host_t *h = sb->host;
    if (h == NULL || h->state != SSH_HOST_UP)
        return agentd_err_set(err, AGENTD_EUNAVAIL, "host %s is down: %s",
                              h != NULL ? h->name : "?", h != NULL ? h->reason : "");
    ssh_str_t s = {0};
    ssh_script_kill_marked(&s, name, "AGENTD_SSH_SANDBOX", sb->id);
    ssh_sig_t *q = s.failed ? NULL : calloc(1, sizeof *q);
    if (q == NULL) {
        ssh_str_free(&s);
        return agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    }
    q->sb = sb;
    q->host = h;
    q->script = s.s; /* taken */
    ssh_sig_t **tail = &sb->sigs;
    while (*tail != NULL)
        tail = &(*tail)->next;
    *tail = q;
    if (sb->sigs == q) { /* nothing in flight: send it now, failing as before */
        int rc = ssh_rcmd_run(h, q->script, h->pl->connect_timeout_s * 1000u + 5000u,
                              on_signalled, q, err);
        if (rc != 0) {
            sb->sigs = NULL;
            sig_free(q);
            return rc;
        }
    }
    if (sig == AGENTD_SIG_PAUSE || sig == AGENTD_SIG_RESUME)
        sb->paused = sig == AGENTD_SIG_PAUSE;
    if (sig == AGENTD_SIG_KILL || sig == AGENTD_SIG_TERMINATE || sig == AGENTD_SIG_INTERRUPT)
        for (agentd_exec_t *ex = sb->execs; ex != NULL; ex = ex->next)
            ex->sent_signal = sig == AGENTD_SIG_KILL ? 9 : sig == AGENTD_SIG_TERMINATE ? 15 : 2;
    return 0;
}

/* ---- destroy and reap ------------------------------------------------------------ */

typedef struct remove_op {
    ssh_host_t *host;
    char *id;
    agentd_done_cb cb;
    void *ud;
} remove_op_t;

static void remove_finish(remove_op_t *op, int status)
{
    op->host->pl->removals--;
    if (status == 0)
        plugin_envfile_remove(op->host->pl->api->state_dir(op->host->pl->host), op->id);
    if (op->cb != NULL)
        op->cb(op->ud, status);
    free(op->id);
    free(op);
}

static void on_removed(void *ud, int status, int code, const char *out, const char *err)
{
    remove_op_t *op = ud;
    (void)out;
    ssh_plugin_t *pl = op->host->pl;
    if (status == 0 && code != 0)
        pl->api->log(pl->host, AGENTD_LOG_WARN, "host %s: cannot remove %s: %s",
                     op->host->name, op->id, err);
    remove_finish(op, status != 0 ? status : code == 0 ? 0 : code == 3 ? AGENTD_EPERM : AGENTD_EIO);
}

static void on_remove_connected(void *ud, int status, const char *msg)
{
    remove_op_t *op = ud;
    ssh_plugin_t *pl = op->host->pl;
    if (status != 0) {
        pl->api->log(pl->host, AGENTD_LOG_WARN, "sandbox %s left on host %s: %s", op->id,
                     op->host->name, msg != NULL ? msg : "");
        remove_finish(op, status);
        return;
    }
    ssh_str_t s = {0};
    ssh_str_t dir = {0};
    ssh_str_addf(&dir, "%s/%s", op->host->root, op->id);
    ssh_str_add(&s, "d=");
    ssh_str_quote(&s, dir.s != NULL ? dir.s : "/nonexistent");
    ssh_str_free(&dir);
    ssh_str_add(&s, "\n[ -d \"$d\" ] || exit 0\n");
    owner_check(&s, pl);
    ssh_script_kill_marked(&s, "KILL", "AGENTD_SSH_SANDBOX", op->id);
    ssh_str_add(&s, "rm -rf \"$d\"\n");
    agentd_err_t err = {{0}};
    int rc = s.failed ? AGENTD_ENOMEM
                      : ssh_rcmd_run(op->host, s.s, pl->connect_timeout_s * 1000u + 120000u,
                                     on_removed, op, &err);
    ssh_str_free(&s);
    if (rc != 0)
        remove_finish(op, rc);
}

static void remove_begin(void *ud)
{
    remove_op_t *op = ud;
    if (ssh_host_connect(op->host, on_remove_connected, op) != 0)
        on_remove_connected(op, AGENTD_ENOMEM, "out of memory");
}

int ssh_remove_dir(ssh_host_t *h, const char *id, agentd_done_cb cb, void *ud,
                   agentd_err_t *err)
{
    remove_op_t *op = calloc(1, sizeof *op);
    if (op == NULL || (op->id = strdup(id)) == NULL) {
        free(op);
        return agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    }
    op->host = h;
    op->cb = cb;
    op->ud = ud;
    /* Deferred: cb never runs inside destroy() or reap(). */
    if (ssh_defer(h->pl, remove_begin, op) != 0) {
        free(op->id);
        free(op);
        return agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    }
    h->pl->removals++;
    return 0;
}

typedef struct destroy_op {
    agentd_sandbox_t *sb;
    agentd_done_cb cb;
    void *ud;
} destroy_op_t;

static void on_destroyed(void *ud, int status)
{
    destroy_op_t *op = ud;
    agentd_sandbox_t *sb = op->sb;
    sb->pl->api->log(sb->pl->host, status == 0 ? AGENTD_LOG_DEBUG : AGENTD_LOG_WARN,
                     "sandbox %s destroyed: %s", sb->id, agentd_strerror(status));
    /* The remote tree is dead: end whatever ssh is still attached to it. */
    for (agentd_exec_t *ex = sb->execs; ex != NULL; ex = ex->next)
        ssh_exec_abort(ex, NULL);
    if (sb->host != NULL && sb->host->load > 0)
        sb->host->load--;
    ssh_sandbox_forget(sb);
    if (op->cb != NULL)
        op->cb(op->ud, status == AGENTD_ECANCELED ? AGENTD_ECANCELED : status);
    free(op);
}

int ssh_sandbox_destroy(agentd_sandbox_t *sb, agentd_done_cb cb, void *ud, agentd_err_t *err)
{
    if (sb->destroying)
        return agentd_err_set(err, AGENTD_ESTATE, "sandbox %s is already being destroyed",
                              sb->id);
    destroy_op_t *op = calloc(1, sizeof *op);
    if (op == NULL)
        return agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    sb->destroying = 1;
    sb->pl->api->timer_close(sb->timeout);
    sb->timeout = NULL;
    op->sb = sb;
    op->cb = cb;
    op->ud = ud;
    for (agentd_exec_t *ex = sb->execs; ex != NULL; ex = ex->next)
        if (!ex->exited)
            ex->sent_signal = 9;
    int rc = ssh_remove_dir(sb->host, sb->id, on_destroyed, op, err);
    if (rc != 0) {
        sb->destroying = 0;
        free(op);
    }
    return rc;
}

void ssh_sandboxes_host_down(ssh_plugin_t *pl, ssh_host_t *h)
{
    for (agentd_sandbox_t *sb = pl->sandboxes; sb != NULL; sb = sb->next) {
        if (sb->host != h)
            continue;
        char data[600];
        ssh_str_t r = {0};
        ssh_str_add(&r, h->reason); /* quotes: a JSON string needs escaping */
        for (size_t i = 0; r.s != NULL && i < r.len; i++)
            if (r.s[i] == '"' || r.s[i] == '\\' || (unsigned char)r.s[i] < 0x20)
                r.s[i] = ' ';
        int n = snprintf(data, sizeof data, "{\"host\":\"%s\",\"reason\":\"%s\"}", h->name,
                         r.s != NULL ? r.s : "");
        ssh_str_free(&r);
        if (sb->session_id != NULL && n > 0 && (size_t)n < sizeof data)
            pl->api->emit_event(pl->host, sb->session_id, "sandbox.host_down", data,
                                (size_t)n, NULL);
        for (agentd_exec_t *ex = sb->execs; ex != NULL; ex = ex->next)
            ssh_exec_abort(ex, h->reason);
    }
}
