/*
 * The system's OpenSSH client, one ControlMaster per host (README.md says
 * why not libssh2). The master is a process we spawn and watch (`ssh -M
 * -N`): it is up once its control socket exists, which OpenSSH creates only
 * after the host key was verified and authentication succeeded. Every
 * command is then a mux client that opens a channel on the master's
 * connection: no handshake, no key exchange.
 *
 * A master that exits before it is up failed to connect: its stderr says
 * whether the host key or the authentication was refused (never retried)
 * or the connection failed (retried with exponential backoff). A master
 * that exits after it was up lost the connection: the host is down.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "ssh.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The remote side of every command: read "<len>\n<script>" from stdin and
 * run the script, whose last step execs the command (stdin then belongs to
 * it). GNU head -c reads no more than it is asked. */
#define BOOTSTRAP "exec sh -c 'IFS= read -r n && s=$(head -c \"$n\") && eval \"$s\"'"

typedef struct argv_b {
    char **v;
    size_t n;
    int failed;
} argv_b_t;

static void arg(argv_b_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void arg(argv_b_t *a, const char *fmt, ...)
{
    if (a->failed)
        return;
    char **v = realloc(a->v, (a->n + 2) * sizeof *v);
    if (v == NULL) {
        a->failed = 1;
        return;
    }
    a->v = v;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&a->v[a->n], fmt, ap) < 0) {
        a->failed = 1;
        a->v[a->n] = NULL;
    } else {
        a->v[++a->n] = NULL;
    }
    va_end(ap);
}

static void common_opts(argv_b_t *a, const ssh_host_t *h)
{
    const ssh_plugin_t *pl = h->pl;
    unsigned alive = pl->health_interval_s < 5 ? pl->health_interval_s : 5;
    arg(a, "ssh");
    arg(a, "-F");
    arg(a, "/dev/null"); /* no user or system ssh_config changes what we check */
    arg(a, "-o");
    arg(a, "BatchMode=yes");
    arg(a, "-o");
    arg(a, "StrictHostKeyChecking=%s", pl->tofu ? "accept-new" : "yes");
    arg(a, "-o");
    arg(a, "UserKnownHostsFile=%s", pl->known_hosts);
    arg(a, "-o");
    arg(a, "GlobalKnownHostsFile=/dev/null");
    arg(a, "-o");
    arg(a, "UpdateHostKeys=no");
    arg(a, "-o");
    arg(a, "PasswordAuthentication=no");
    arg(a, "-o");
    arg(a, "KbdInteractiveAuthentication=no");
    arg(a, "-o");
    arg(a, "ControlPath=%s", h->cm_path);
    arg(a, "-o");
    arg(a, "ConnectTimeout=%u", pl->connect_timeout_s);
    arg(a, "-o");
    arg(a, "ServerAliveInterval=%u", alive);
    arg(a, "-o");
    arg(a, "ServerAliveCountMax=3");
    arg(a, "-o");
    arg(a, "LogLevel=ERROR");
    arg(a, "-p");
    arg(a, "%d", h->port);
    arg(a, "-l");
    arg(a, "%s", h->user);
}

/* ssh through the host's master connection, running `remote`. */
static char **master_argv(ssh_host_t *h, const char *remote)
{
    argv_b_t a = {0};
    common_opts(&a, h);
    /* auto: if the master died while the host stayed up, the next command
     * becomes the new master instead of every command connecting anew. */
    arg(&a, "-o");
    arg(&a, "ControlMaster=auto");
    arg(&a, "-o");
    arg(&a, "ControlPersist=%us", h->pl->control_persist_s);
    arg(&a, "-T");
    arg(&a, "--");
    arg(&a, "%s", h->address);
    arg(&a, "%s", remote);
    if (a.failed) {
        ssh_strv_free(a.v);
        return NULL;
    }
    return a.v;
}

char **ssh_client_argv(ssh_host_t *h)
{
    return master_argv(h, BOOTSTRAP);
}

static char **probe_argv(ssh_host_t *h)
{
    return master_argv(h, "echo agentd-ok");
}

char **ssh_client_env(ssh_plugin_t *pl)
{
    char **env = calloc(3, sizeof *env);
    if (env == NULL)
        return NULL;
    if (asprintf(&env[0], "SSH_AUTH_SOCK=%s", pl->agent_sock) < 0 ||
        (env[1] = strdup("PATH=/usr/local/bin:/usr/bin:/bin")) == NULL) {
        env[0] = env[0] != NULL && env[1] == NULL ? env[0] : NULL;
        ssh_strv_free(env);
        return NULL;
    }
    return env;
}

/* The last non-empty line of the master's stderr. */
static void last_line(const char *msg, char *out, size_t out_len)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", msg);
    size_t n = strlen(buf);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    char *start = buf;
    for (char *p = buf; *p; p++)
        if (*p == '\n' || *p == '\r')
            start = p + 1;
    snprintf(out, out_len, "%s", *start ? start : "the connection failed");
}

static void start_probe(ssh_host_t *h);

static void on_retry(void *ud)
{
    ssh_host_t *h = ud;
    h->pl->api->timer_close(h->retry_timer);
    h->retry_timer = NULL;
    start_probe(h);
}

static void connect_failed(ssh_host_t *h, int refused, const char *why)
{
    ssh_plugin_t *pl = h->pl;
    if (!refused && h->retries_left > 0 && !pl->stopping) {
        h->retries_left--;
        h->attempt++;
        uint64_t wait = ssh_backoff_ms(pl, h->attempt);
        pl->api->log(pl->host, AGENTD_LOG_WARN,
                     "host %s: %s; retry %u of %u in %llu ms", h->name, why, h->attempt,
                     pl->retry_max, (unsigned long long)wait);
        if (pl->api->timer_start(pl->host, wait, 0, on_retry, h, &h->retry_timer) == 0)
            return;
    }
    h->state = refused ? SSH_HOST_REFUSED : SSH_HOST_DOWN;
    snprintf(h->reason, sizeof h->reason, "%.299s", why);
    pl->api->log(pl->host, AGENTD_LOG_ERROR, "host %s (%s:%d) %s: %s", h->name, h->address,
                 h->port, refused ? "refused" : "unreachable", why);
    char msg[800];
    snprintf(msg, sizeof msg, "host %s: %s", h->name, why);
    ssh_waiters_fire(&h->waiters, refused ? AGENTD_EPERM : AGENTD_EUNAVAIL, msg);
}

static void probe_finish(ssh_host_t *h)
{
    ssh_plugin_t *pl = h->pl;
    if (h->master != NULL || h->master_err.ops != NULL)
        return; /* the exit and the end of stderr both have to be seen */
    pl->api->timer_close(h->ready_timer);
    h->ready_timer = NULL;
    char why[400], line[300];
    last_line(h->master_msg, line, sizeof line);
    if (h->probe_status == 0 && h->probe_signal == 0) {
        int was_down = h->reason[0] != '\0';
        h->state = SSH_HOST_UP;
        h->used = 1;
        h->reason[0] = '\0';
        pl->api->log(pl->host, was_down ? AGENTD_LOG_WARN : AGENTD_LOG_INFO,
                     "host %s (%s:%d) %s in %llu ms", h->name, h->address, h->port,
                     was_down ? "is up again" : "connected",
                     (unsigned long long)(pl->api->now_ms(pl->host) - h->connect_started_ms));
        ssh_waiters_fire(&h->waiters, 0, NULL);
        return;
    }
    int refused = ssh_classify_refusal(h->master_msg, why, sizeof why);
    if (!refused)
        snprintf(why, sizeof why, "cannot connect: %s",
                 h->probe_signal != 0 ? "timed out" : line);
    connect_failed(h, refused, why);
}

static void on_probe_exit(void *ud, int64_t status, int sig)
{
    ssh_host_t *h = ud;
    h->pl->api->process_close(h->master);
    h->master = NULL;
    h->probe_status = status;
    h->probe_signal = sig;
    probe_finish(h);
}

static void on_probe_err(void *ud, const char *data, size_t len, int status)
{
    ssh_host_t *h = ud;
    if (status != 0) {
        h->master_err.ops->close(h->master_err.impl, NULL, NULL);
        h->master_err.ops = NULL;
        probe_finish(h);
        return;
    }
    size_t room = sizeof h->master_msg - 1 - h->master_msg_len;
    if (len > room) { /* keep the end: the reason comes last */
        h->master_msg_len = 0;
        room = sizeof h->master_msg - 1;
        if (len > room) {
            data += len - room;
            len = room;
        }
    }
    memcpy(h->master_msg + h->master_msg_len, data, len);
    h->master_msg_len += len;
    h->master_msg[h->master_msg_len] = '\0';
}

static void probe_deadline(void *ud)
{
    ssh_host_t *h = ud;
    h->pl->api->timer_close(h->ready_timer);
    h->ready_timer = NULL;
    if (h->master != NULL)
        h->pl->api->process_kill(h->master, 9); /* its exit reports the timeout */
}

/* `ssh -o ControlMaster=auto -o ControlPersist=N host echo agentd-ok`: uses
 * the master if one is alive, else authenticates and leaves one behind. */
static void start_probe(ssh_host_t *h)
{
    ssh_plugin_t *pl = h->pl;
    agentd_err_t err = {{0}};
    if (strlen(h->cm_path) >= 100) {
        connect_failed(h, 1, "the state directory's path is too long for a control socket");
        return;
    }
    char **argv = probe_argv(h);
    char **env = ssh_client_env(pl);
    int rc = argv == NULL || env == NULL ? AGENTD_ENOMEM : 0;
    agentd_spawn_io_t io = {.size = sizeof io};
    if (rc == 0) {
        agentd_spawn_opts_t o = {.size = sizeof o, .file = "ssh",
                                 .argv = (const char *const *)argv,
                                 .env = (const char *const *)env, .cwd = "/",
                                 .flags = AGENTD_SPAWN_STDERR | AGENTD_SPAWN_NEW_GROUP};
        rc = pl->api->spawn(pl->host, &o, on_probe_exit, h, &h->master, &io, &err);
    }
    ssh_strv_free(argv);
    ssh_strv_free(env);
    if (rc != 0) {
        connect_failed(h, 1, err.msg[0] ? err.msg : "cannot start ssh");
        return;
    }
    h->master_msg_len = 0;
    h->master_msg[0] = '\0';
    h->master_err = io.err;
    h->connect_started_ms = pl->api->now_ms(pl->host);
    if (h->master_err.ops != NULL)
        h->master_err.ops->read_start(h->master_err.impl, on_probe_err, h);
    uint64_t limit = (uint64_t)pl->connect_timeout_s * 1000u + 2000u;
    if (pl->api->timer_start(pl->host, limit, 0, probe_deadline, h, &h->ready_timer) != 0)
        pl->api->process_kill(h->master, 9);
}

static void on_agent_ready(void *ud, int status, const char *msg)
{
    ssh_host_t *h = ud;
    if (status != 0) {
        h->state = SSH_HOST_DOWN;
        snprintf(h->reason, sizeof h->reason, "no key: %.280s", msg ? msg : "");
        char why[400];
        snprintf(why, sizeof why, "host %s: no key: %s", h->name, msg ? msg : "");
        ssh_waiters_fire(&h->waiters, status, why);
        return;
    }
    start_probe(h);
}

int ssh_host_connect(ssh_host_t *h, ssh_ready_cb cb, void *ud)
{
    if (h->state == SSH_HOST_UP) {
        cb(ud, 0, NULL);
        return 0;
    }
    if (ssh_waiter_add(&h->waiters, cb, ud) != 0)
        return AGENTD_ENOMEM;
    if (h->state == SSH_HOST_CONNECTING)
        return 0;
    int refused = h->state == SSH_HOST_REFUSED;
    h->state = SSH_HOST_CONNECTING;
    h->attempt = 0;
    h->retries_left = refused ? 0 : h->pl->retry_max;
    return ssh_agent_ensure(h->pl, on_agent_ready, h);
}

typedef struct reaper {
    ssh_plugin_t *pl;
    agentd_process_t *proc;
} reaper_t;

static void on_reaped(void *ud, int64_t status, int sig)
{
    reaper_t *r = ud;
    (void)status, (void)sig;
    r->pl->api->process_close(r->proc);
    r->pl->processes--;
    free(r);
}

/* `ssh -O exit`: the master (a daemon, since ControlPersist) ends, and with
 * it every channel multiplexed on it. */
void ssh_master_exit(ssh_host_t *h)
{
    ssh_plugin_t *pl = h->pl;
    argv_b_t a = {0};
    common_opts(&a, h);
    arg(&a, "-O");
    arg(&a, "exit");
    arg(&a, "--");
    arg(&a, "%s", h->address);
    char **env = ssh_client_env(pl);
    reaper_t *r = calloc(1, sizeof *r);
    if (!a.failed && env != NULL && r != NULL) {
        r->pl = pl;
        agentd_spawn_opts_t o = {.size = sizeof o, .file = "ssh",
                                 .argv = (const char *const *)a.v,
                                 .env = (const char *const *)env, .cwd = "/"};
        agentd_spawn_io_t io = {.size = sizeof io};
        if (pl->api->spawn(pl->host, &o, on_reaped, r, &r->proc, &io, NULL) == 0) {
            pl->processes++;
            r = NULL;
        }
    }
    free(r);
    ssh_strv_free(a.v);
    ssh_strv_free(env);
}

void ssh_host_mark_down(ssh_host_t *h, const char *reason)
{
    ssh_plugin_t *pl = h->pl;
    if (h->state == SSH_HOST_DOWN)
        return;
    h->state = SSH_HOST_DOWN;
    snprintf(h->reason, sizeof h->reason, "%.299s", reason);
    pl->api->log(pl->host, AGENTD_LOG_ERROR, "host %s (%s:%d) is down: %s", h->name,
                 h->address, h->port, reason);
    ssh_master_exit(h);
    ssh_sandboxes_host_down(pl, h);
}

void ssh_host_close(ssh_host_t *h, int force)
{
    const agentd_host_api_t *api = h->pl->api;
    api->timer_close(h->retry_timer);
    h->retry_timer = NULL;
    api->timer_close(h->ready_timer);
    h->ready_timer = NULL;
    if (h->master != NULL) { /* a connection probe in flight */
        api->process_kill(h->master, 9);
        if (force) {
            api->process_close(h->master);
            h->master = NULL;
        }
    }
    if (force && h->master_err.ops != NULL) {
        h->master_err.ops->close(h->master_err.impl, NULL, NULL);
        h->master_err.ops = NULL;
    }
    if (!force && h->used) {
        h->used = 0;
        ssh_master_exit(h);
    }
    if (force)
        ssh_waiters_fire(&h->waiters, AGENTD_ECANCELED, "the plugin is stopping");
}
