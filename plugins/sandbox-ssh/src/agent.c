/*
 * The private key lives only in a private ssh-agent: `ssh-agent -D -a
 * <state>/agent.sock` (the state directory is 0700), filled by `ssh-add -`
 * reading the key from its stdin, a pipe. The key is read from the secret
 * store at the moment of use and wiped; it is never in a file we write,
 * never in argv, never in a log. ssh finds the agent through SSH_AUTH_SOCK.
 * A key_file (mode 0600, owned by agentd's user) is loaded by its path.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "ssh.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


int ssh_waiter_add(ssh_waiter_t **list, ssh_ready_cb cb, void *ud)
{
    ssh_waiter_t *w = calloc(1, sizeof *w);
    if (w == NULL)
        return AGENTD_ENOMEM;
    w->cb = cb;
    w->ud = ud;
    ssh_waiter_t **p = list;
    while (*p != NULL)
        p = &(*p)->next;
    *p = w;
    return 0;
}

void ssh_waiters_fire(ssh_waiter_t **list, int status, const char *msg)
{
    ssh_waiter_t *w = *list;
    *list = NULL;
    while (w != NULL) {
        ssh_waiter_t *next = w->next;
        w->cb(w->ud, status, msg);
        free(w);
        w = next;
    }
}

static void agent_fail(ssh_plugin_t *pl, int status, const char *msg)
{
    snprintf(pl->agent_msg, sizeof pl->agent_msg, "%s", msg);
    pl->api->log(pl->host, AGENTD_LOG_ERROR, "ssh-agent: %s", msg);
    ssh_agent_shutdown(pl, 0);
    pl->agent_state = 0; /* the next connection tries again */
    ssh_waiters_fire(&pl->agent_waiters, status, pl->agent_msg);
}

/* The secret names to load, without duplicates: the plugin's, then each
 * host's own. */
static const char *key_name(ssh_plugin_t *pl, size_t i)
{
    size_t n = 0;
    if (pl->key_secret != NULL && n++ == i)
        return pl->key_secret;
    for (size_t h = 0; h < pl->nhosts; h++) {
        const char *k = pl->hosts[h]->key_secret;
        if (k == NULL || (pl->key_secret != NULL && strcmp(k, pl->key_secret) == 0))
            continue;
        int seen = 0;
        for (size_t e = 0; e < h; e++)
            seen |= pl->hosts[e]->key_secret != NULL && strcmp(pl->hosts[e]->key_secret, k) == 0;
        if (!seen && n++ == i)
            return k;
    }
    return NULL;
}

static void load_next(ssh_plugin_t *pl);

typedef struct add_run {
    ssh_plugin_t *pl;
    agentd_stream_t err;
    char msg[200];
    size_t len;
    char name[128];
} add_run_t;

static void on_add_err(void *ud, const char *data, size_t len, int status)
{
    add_run_t *a = ud;
    if (status != 0)
        return;
    size_t room = sizeof a->msg - 1 - a->len;
    memcpy(a->msg + a->len, data, len < room ? len : room);
    a->len += len < room ? len : room;
    a->msg[a->len] = '\0';
}

static void on_add_exit(void *ud, int64_t status, int sig)
{
    add_run_t *a = ud;
    ssh_plugin_t *pl = a->pl;
    pl->api->process_close(pl->adding);
    pl->adding = NULL;
    pl->adding_run = NULL;
    pl->processes--;
    if (a->err.ops != NULL)
        a->err.ops->close(a->err.impl, NULL, NULL);
    char *nl = strchr(a->msg, '\n');
    if (nl != NULL)
        *nl = '\0';
    if (status != 0 || sig != 0) {
        char msg[400];
        snprintf(msg, sizeof msg, "the key %s could not be loaded (ssh-add exit %lld%s%s)",
                 a->name, (long long)status, a->msg[0] ? ": " : "", a->msg);
        free(a);
        agent_fail(pl, AGENTD_EPERM, msg);
        return;
    }
    free(a);
    pl->keys_loaded++;
    load_next(pl);
}

static int spawn_add(ssh_plugin_t *pl, const char *path, add_run_t *a, agentd_spawn_io_t *io,
                     agentd_err_t *err)
{
    const char *argv[] = {"ssh-add", "-q", path, NULL};
    char **env = ssh_client_env(pl);
    if (env == NULL)
        return agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    agentd_spawn_opts_t o = {
        .size = sizeof o, .file = "ssh-add", .argv = argv, .env = (const char *const *)env,
        .cwd = "/",
        .flags = AGENTD_SPAWN_STDERR | (strcmp(path, "-") == 0 ? AGENTD_SPAWN_STDIN : 0u),
    };
    memset(io, 0, sizeof *io);
    io->size = sizeof *io;
    int rc = pl->api->spawn(pl->host, &o, on_add_exit, a, &pl->adding, io, err);
    ssh_strv_free(env);
    if (rc == 0) {
        pl->processes++;
        pl->adding_run = a;
        a->pl = pl;
        a->err = io->err;
        if (a->err.ops != NULL)
            a->err.ops->read_start(a->err.impl, on_add_err, a);
    }
    return rc;
}

/* key_file: loaded by path, but only if nobody else can read it. */
static int add_file(ssh_plugin_t *pl, add_run_t *a, agentd_err_t *err)
{
    struct stat st;
    if (stat(pl->key_file, &st) < 0)
        return agentd_err_set(err, AGENTD_ENOENT, "key_file %s: %s", pl->key_file,
                              strerror(errno));
    if ((st.st_mode & 077) != 0 || st.st_uid != geteuid())
        return agentd_err_set(err, AGENTD_EPERM,
                              "key_file %s must be owned by agentd's user and readable only "
                              "by it (chmod 600)", pl->key_file);
    snprintf(a->name, sizeof a->name, "key_file");
    agentd_spawn_io_t io;
    return spawn_add(pl, pl->key_file, a, &io, err);
}

static int add_secret(ssh_plugin_t *pl, const char *name, add_run_t *a, agentd_err_t *err)
{
    char *value = NULL;
    size_t len = 0;
    int rc = pl->api->secret_get(pl->host, name, NULL, &value, &len, err);
    if (rc != 0)
        return rc;
    snprintf(a->name, sizeof a->name, "${secret:%s}", name);
    agentd_spawn_io_t io;
    rc = spawn_add(pl, "-", a, &io, err);
    if (rc == 0) {
        /* The stream copies the bytes; a key without its final newline is
         * refused by ssh-add, so one is added. */
        rc = io.in.ops->write(io.in.impl, value, len, NULL, NULL);
        if (rc == 0 && (len == 0 || value[len - 1] != '\n'))
            rc = io.in.ops->write(io.in.impl, "\n", 1, NULL, NULL);
        io.in.ops->shutdown(io.in.impl);
        io.in.ops->close(io.in.impl, NULL, NULL);
        if (rc != 0)
            pl->api->process_kill(pl->adding, 9); /* its exit reports the failure */
        rc = 0;
    }
    pl->api->secret_release(pl->host, value, len);
    return rc;
}

static void load_next(ssh_plugin_t *pl)
{
    size_t i = pl->keys_loaded;
    size_t secrets = i - (pl->key_file != NULL && i > 0 ? 1 : 0);
    int file_turn = pl->key_file != NULL && i == 0;
    const char *name = file_turn ? NULL : key_name(pl, secrets);
    if (!file_turn && name == NULL) {
        pl->agent_state = 2;
        pl->api->log(pl->host, AGENTD_LOG_INFO, "ssh-agent ready with %zu key(s)", i);
        ssh_waiters_fire(&pl->agent_waiters, 0, NULL);
        return;
    }
    add_run_t *a = calloc(1, sizeof *a);
    agentd_err_t err = {{0}};
    int rc = a == NULL ? agentd_err_set(&err, AGENTD_ENOMEM, "out of memory")
             : file_turn ? add_file(pl, a, &err)
                         : add_secret(pl, name, a, &err);
    if (a != NULL)
        a->pl = pl;
    if (rc != 0) {
        free(a);
        agent_fail(pl, rc, err.msg);
    }
}

/* ssh-agent forks and prints "SSH_AGENT_PID=N;": both the exit and the end
 * of its stdout have to be seen. */
static void agent_started(ssh_plugin_t *pl)
{
    if (pl->starting != NULL || pl->agent_stdout.ops != NULL)
        return;
    const char *p = strstr(pl->agent_out, "SSH_AGENT_PID=");
    pl->agent_pid = p != NULL ? atoi(p + 14) : 0;
    if (pl->agent_pid <= 0) {
        agent_fail(pl, AGENTD_EIO, "ssh-agent did not start");
        return;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/agent.pid", pl->state_dir);
    FILE *f = fopen(path, "w");
    if (f != NULL) {
        fprintf(f, "%d\n", pl->agent_pid);
        fclose(f);
    }
    pl->keys_loaded = 0;
    load_next(pl);
}

static void on_agent_out(void *ud, const char *data, size_t len, int status)
{
    ssh_plugin_t *pl = ud;
    if (status != 0) {
        pl->agent_stdout.ops->close(pl->agent_stdout.impl, NULL, NULL);
        pl->agent_stdout.ops = NULL;
        agent_started(pl);
        return;
    }
    size_t room = sizeof pl->agent_out - 1 - pl->agent_out_len;
    memcpy(pl->agent_out + pl->agent_out_len, data, len < room ? len : room);
    pl->agent_out_len += len < room ? len : room;
    pl->agent_out[pl->agent_out_len] = '\0';
}

static void on_agent_exit(void *ud, int64_t status, int sig)
{
    ssh_plugin_t *pl = ud;
    pl->api->process_close(pl->starting);
    pl->starting = NULL;
    pl->processes--;
    if (status != 0 || sig != 0)
        pl->agent_out[0] = '\0'; /* reported as "did not start" */
    agent_started(pl);
}

/* An agent a previous run of this plugin left (it crashed): end it. */
void ssh_agent_kill_stale(ssh_plugin_t *pl)
{
    char path[4200], cmd[256] = "";
    snprintf(path, sizeof path, "%s/agent.pid", pl->state_dir);
    FILE *f = fopen(path, "r");
    int pid = 0;
    if (f == NULL)
        return;
    if (fscanf(f, "%d", &pid) != 1)
        pid = 0;
    fclose(f);
    unlink(path);
    snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
    f = pid > 0 ? fopen(path, "r") : NULL;
    if (f != NULL) {
        size_t n = fread(cmd, 1, sizeof cmd - 1, f);
        cmd[n] = '\0';
        fclose(f);
    }
    if (strcmp(cmd, "ssh-agent") == 0 || strstr(cmd, "/ssh-agent") != NULL)
        kill(pid, SIGTERM);
}

static int agent_start(ssh_plugin_t *pl, agentd_err_t *err)
{
    unlink(pl->agent_sock);
    const char *argv[] = {"ssh-agent", "-s", "-a", pl->agent_sock, NULL};
    const char *env[] = {"PATH=/usr/local/bin:/usr/bin:/bin", NULL};
    agentd_spawn_opts_t o = {.size = sizeof o, .file = "ssh-agent", .argv = argv,
                             .env = env, .cwd = "/", .flags = AGENTD_SPAWN_STDOUT};
    agentd_spawn_io_t io = {.size = sizeof io};
    pl->agent_out_len = 0;
    pl->agent_out[0] = '\0';
    int rc = pl->api->spawn(pl->host, &o, on_agent_exit, pl, &pl->starting, &io, err);
    if (rc != 0)
        return rc;
    pl->processes++;
    pl->agent_state = 1;
    pl->agent_stdout = io.out;
    pl->agent_stdout.ops->read_start(pl->agent_stdout.impl, on_agent_out, pl);
    return 0;
}

int ssh_agent_ensure(ssh_plugin_t *pl, ssh_ready_cb cb, void *ud)
{
    if (pl->agent_state == 2 && pl->agent_pid > 0 && kill(pl->agent_pid, 0) == 0) {
        cb(ud, 0, NULL);
        return 0;
    }
    if (pl->agent_state == 2)
        pl->agent_state = 0; /* it died: start another */
    if (ssh_waiter_add(&pl->agent_waiters, cb, ud) != 0)
        return AGENTD_ENOMEM;
    if (pl->agent_state == 1)
        return 0;
    agentd_err_t err = {{0}};
    if (agent_start(pl, &err) != 0)
        agent_fail(pl, AGENTD_EIO, err.msg);
    return 0;
}

void ssh_agent_shutdown(ssh_plugin_t *pl, int force)
{
    if (pl->adding != NULL) {
        pl->api->process_kill(pl->adding, 9);
        if (force) {
            pl->api->process_close(pl->adding);
            pl->adding = NULL;
            pl->processes--;
            if (pl->adding_run != NULL && pl->adding_run->err.ops != NULL)
                pl->adding_run->err.ops->close(pl->adding_run->err.impl, NULL, NULL);
            free(pl->adding_run);
            pl->adding_run = NULL;
        }
    }
    if (force && pl->starting != NULL) {
        pl->api->process_close(pl->starting);
        pl->starting = NULL;
        pl->processes--;
    }
    if (force && pl->agent_stdout.ops != NULL) {
        pl->agent_stdout.ops->close(pl->agent_stdout.impl, NULL, NULL);
        pl->agent_stdout.ops = NULL;
    }
    if (pl->agent_pid > 0) {
        kill(pl->agent_pid, SIGTERM);
        pl->agent_pid = 0;
        char path[4200];
        snprintf(path, sizeof path, "%s/agent.pid", pl->state_dir);
        unlink(path);
    }
    unlink(pl->agent_sock);
    pl->agent_state = 0;
}
