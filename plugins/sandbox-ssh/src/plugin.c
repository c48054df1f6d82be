/*
 * sandbox-ssh: the descriptor, the settings it declares, init/stop/fini,
 * and the sandbox vtable as thin calls into the other files (ssh.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "ssh.h"

#include <agentd/agentd.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#define FIELD(...) {.size = sizeof(agentd_config_field_t), __VA_ARGS__}

static const agentd_config_field_t config_fields[] = {
    FIELD(.name = "hosts", .type = AGENTD_CONFIG_OBJECT, .default_json = "{}",
          .description = "hosts by name: {\"<name>\": {\"address\", \"port\": 22, \"user\", "
                         "\"root\" (working root), \"labels\": [...], \"capacity\": 4 "
                         "(concurrent sessions), \"enabled\": true, \"key\" (overrides key)}}"),
    FIELD(.name = "known_hosts", .type = AGENTD_CONFIG_STRING,
          .description = "known_hosts file the hosts' keys are verified against; an unknown "
                         "or changed key refuses the host"),
    FIELD(.name = "key", .type = AGENTD_CONFIG_SECRET,
          .description = "private key for every host, \"${secret:NAME}\"; held only by a "
                         "private ssh-agent, never written elsewhere, never in argv"),
    FIELD(.name = "key_file", .type = AGENTD_CONFIG_STRING,
          .description = "instead of key: a private key file readable only by agentd's "
                         "user (mode 0600)"),
    FIELD(.name = "trust_on_first_use", .type = AGENTD_CONFIG_BOOL, .default_json = "false",
          .description = "accept and record the key of a host not in known_hosts (a "
                         "changed key is refused regardless)"),
    FIELD(.name = "connect_timeout_s", .type = AGENTD_CONFIG_INT, .default_json = "10",
          .min = 1, .max = 300, .description = "deadline of one SSH connection attempt"),
    FIELD(.name = "retry_max", .type = AGENTD_CONFIG_INT, .default_json = "5", .min = 0,
          .max = 20,
          .description = "retries of a failed connection, with exponential backoff (auth "
                         "failures and host key mismatches are never retried)"),
    FIELD(.name = "retry_backoff_ms", .type = AGENTD_CONFIG_INT, .default_json = "200",
          .min = 10, .max = 60000,
          .description = "wait before the first retry; doubled for each further one"),
    FIELD(.name = "retry_backoff_max_ms", .type = AGENTD_CONFIG_INT, .default_json = "30000",
          .min = 10, .max = 600000, .description = "longest wait between two retries"),
    FIELD(.name = "health_interval_s", .type = AGENTD_CONFIG_INT, .default_json = "30",
          .min = 1, .max = 3600,
          .description = "how often each host in use is checked; a failing host is marked "
                         "down, a recovered one up"),
    FIELD(.name = "control_persist_s", .type = AGENTD_CONFIG_INT, .default_json = "300",
          .min = 1, .max = 86400,
          .description = "how long a host's pooled connection stays open with no session"),
    FIELD(.name = "setup_timeout_s", .type = AGENTD_CONFIG_INT, .default_json = "600",
          .min = 5, .max = 86400,
          .description = "deadline of preparing a session directory, the repository "
                         "checkout included"),
    FIELD(.name = "repo_cache", .type = AGENTD_CONFIG_BOOL, .default_json = "true",
          .description = "keep a bare mirror of each repository on each host and start "
                         "sessions from it"),
};

static const agentd_config_field_t profile_fields[] = {
    FIELD(.name = "hosts", .type = AGENTD_CONFIG_STRING_LIST, .default_json = "[]",
          .description = "names of the hosts this profile may use; empty: any enabled host"),
    FIELD(.name = "labels", .type = AGENTD_CONFIG_STRING_LIST, .default_json = "[]",
          .description = "labels a host must all have to be chosen"),
    FIELD(.name = "timeout_minutes", .type = AGENTD_CONFIG_INT, .default_json = "60", .min = 1,
          .max = 240, .description = "wall-clock limit of a sandbox, then its processes are "
                                     "killed"),
    FIELD(.name = "env", .type = AGENTD_CONFIG_STRING_LIST, .default_json = "[]",
          .description = "\"K=V\" for every command; a value may be \"${secret:NAME}\""),
    FIELD(.name = "repository", .type = AGENTD_CONFIG_STRING,
          .description = "git URL checked out as the workspace (from the host's repository "
                         "cache); unset: an empty workspace"),
};

#define COUNT(a) ((uint32_t)(sizeof(a) / sizeof((a)[0])))

uint64_t ssh_wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000u + (uint64_t)tv.tv_usec / 1000u;
}

typedef struct defer {
    ssh_plugin_t *pl;
    agentd_timer_t *timer;
    void (*cb)(void *ud);
    void *ud;
} defer_t;

static void on_defer(void *ud)
{
    defer_t *d = ud;
    d->pl->api->timer_close(d->timer);
    void (*cb)(void *) = d->cb;
    void *arg = d->ud;
    free(d);
    cb(arg);
}

int ssh_defer(ssh_plugin_t *pl, void (*cb)(void *ud), void *ud)
{
    defer_t *d = calloc(1, sizeof *d);
    if (d == NULL)
        return AGENTD_ENOMEM;
    d->pl = pl;
    d->cb = cb;
    d->ud = ud;
    int rc = pl->api->timer_start(pl->host, 0, 0, on_defer, d, &d->timer);
    if (rc != 0)
        free(d);
    return rc;
}

/* This agentd's id, kept across restarts: it marks the session directories
 * it creates (their `owner` file). */
static int instance_id(ssh_plugin_t *pl, agentd_err_t *err)
{
    char path[4200], id[40] = "";
    snprintf(path, sizeof path, "%s/instance-id", pl->state_dir);
    FILE *f = fopen(path, "r");
    if (f != NULL) {
        if (fscanf(f, "%32s", id) != 1)
            id[0] = '\0';
        fclose(f);
    }
    if (strlen(id) != 32) {
        unsigned char raw[16];
        int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
        ssize_t n = fd >= 0 ? read(fd, raw, sizeof raw) : -1;
        if (fd >= 0)
            close(fd);
        if (n != (ssize_t)sizeof raw)
            return agentd_err_set(err, AGENTD_EIO, "cannot read /dev/urandom");
        for (int i = 0; i < 16; i++)
            snprintf(id + 2 * i, 3, "%02x", raw[i]);
        f = fopen(path, "w");
        if (f == NULL || fprintf(f, "%s\n", id) < 0 || fclose(f) != 0)
            return agentd_err_set(err, AGENTD_EIO, "cannot write %s: %s", path,
                                  strerror(errno));
    }
    pl->instance = strdup(id);
    return pl->instance != NULL ? 0 : agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
}

static void plugin_free(ssh_plugin_t *pl)
{
    ssh_hosts_free(pl);
    free(pl->state_dir);
    free(pl->instance);
    free(pl->agent_sock);
    free(pl->known_hosts);
    free(pl->key_secret);
    free(pl->key_file);
    free(pl);
}

static int plugin_init(const agentd_host_api_t *api, agentd_host_t *host,
                       const char *config_json, size_t config_len, void **self,
                       agentd_err_t *err)
{
    if (api == NULL || self == NULL)
        return agentd_err_set(err, AGENTD_EINVAL, "init without host API");
    ssh_plugin_t *pl = calloc(1, sizeof *pl);
    if (pl == NULL)
        return agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    pl->api = api;
    pl->host = host;
    pl->control_persist_s = 300;
    const char *dir = api->state_dir(host);
    int rc = 0;
    if (dir == NULL || (pl->state_dir = realpath(dir, NULL)) == NULL)
        rc = agentd_err_set(err, AGENTD_EIO, "no usable state directory (%s)",
                            dir ? dir : "none");
    /* The agent's socket and the control sockets live here: ours alone. */
    if (rc == 0 && chmod(pl->state_dir, 0700) != 0)
        rc = agentd_err_set(err, AGENTD_EIO, "chmod 700 %s: %s", pl->state_dir,
                            strerror(errno));
    if (rc == 0 && asprintf(&pl->agent_sock, "%s/agent.sock", pl->state_dir) < 0) {
        pl->agent_sock = NULL;
        rc = agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    }
    if (rc == 0 && strlen(pl->agent_sock) >= 100)
        rc = agentd_err_set(err, AGENTD_ECONFIG,
                            "the state directory %s is too long a path for the agent and "
                            "control sockets (at most 90 characters)",
                            pl->state_dir);
    if (rc == 0)
        rc = ssh_config_read(pl, config_json, config_len, err);
    if (rc == 0)
        rc = instance_id(pl, err);
    if (rc != 0) {
        plugin_free(pl);
        return rc;
    }
    ssh_agent_kill_stale(pl);
    *self = pl;
    return 0;
}

/* stop: destroy every sandbox (phase 1), then end the pooled connections
 * and the agent (phase 2); done when no process of ours is left. */
static void stop_tick(void *ud)
{
    ssh_plugin_t *pl = ud;
    if (pl->sandboxes != NULL || pl->rcmds != NULL || pl->lists_in_flight > 0 ||
        pl->removals > 0 || pl->creates > 0)
        return;
    if (pl->stopping == 1) {
        pl->stopping = 2;
        for (size_t i = 0; i < pl->nhosts; i++)
            ssh_host_close(pl->hosts[i], 0);
        ssh_agent_shutdown(pl, 0);
    }
    if (pl->processes > 0 || pl->dying != NULL)
        return;
    pl->api->timer_close(pl->stop_timer);
    pl->stop_timer = NULL;
    agentd_done_cb done = pl->stop_done;
    pl->stop_done = NULL;
    if (done != NULL)
        done(pl->stop_ud, 0);
}

static void plugin_stop(void *self, agentd_done_cb done, void *ud)
{
    ssh_plugin_t *pl = self;
    pl->stopping = 1;
    ssh_health_stop(pl);
    for (agentd_sandbox_t *sb = pl->sandboxes; sb != NULL; sb = sb->next)
        if (!sb->destroying)
            ssh_sandbox_destroy(sb, NULL, NULL, NULL);
    pl->stop_done = done;
    pl->stop_ud = ud;
    if (pl->api->timer_start(pl->host, 0, 10, stop_tick, pl, &pl->stop_timer) != 0)
        done(ud, 0);
}

static void plugin_fini(void *self)
{
    ssh_plugin_t *pl = self;
    pl->stopping = 2;
    pl->api->timer_close(pl->stop_timer);
    ssh_health_stop(pl);
    ssh_rcmd_cancel_all(pl);
    ssh_exec_forget_dying(pl);
    while (pl->sandboxes != NULL) {
        for (agentd_exec_t *ex = pl->sandboxes->execs; ex != NULL; ex = ex->next)
            ex->sb = NULL;
        ssh_sandbox_forget(pl->sandboxes);
    }
    for (size_t i = 0; i < pl->nhosts; i++)
        ssh_host_close(pl->hosts[i], 1);
    ssh_agent_shutdown(pl, 1);
    ssh_waiters_fire(&pl->agent_waiters, AGENTD_ECANCELED, "the plugin is stopping");
    ssh_orphans_free(pl);
    plugin_free(pl);
}

static int vt_create(void *self, const agentd_sandbox_spec_t *spec,
                     agentd_sandbox_create_cb cb, void *ud, agentd_err_t *err)
{
    return ssh_sandbox_create(self, spec, cb, ud, err);
}

static int vt_exec(void *self, agentd_sandbox_t *sb, const agentd_exec_spec_t *spec,
                   agentd_exec_exit_cb exit_cb, void *ud, agentd_exec_t **out,
                   agentd_exec_io_t *io, agentd_err_t *err)
{
    (void)self;
    if (sb == NULL || spec == NULL || spec->argv == NULL || spec->argv[0] == NULL)
        return agentd_err_set(err, AGENTD_EINVAL, "exec: empty argv");
    if (spec->flags & AGENTD_EXEC_TTY)
        return agentd_err_set(err, AGENTD_ENOTSUP, "exec: no pseudo-terminal support");
    if (sb->expired)
        return agentd_err_set(err, AGENTD_ETIMEDOUT, "exec: the sandbox's timeout has passed");
    if (sb->destroying)
        return agentd_err_set(err, AGENTD_ESTATE, "exec: the sandbox is being destroyed");
    return ssh_exec_start(sb, spec, exit_cb, ud, out, io, err);
}

static int vt_exec_signal(void *self, agentd_exec_t *ex, agentd_sandbox_signal_t sig,
                          agentd_err_t *err)
{
    (void)self;
    return ssh_exec_signal(ex, sig, err);
}

static void vt_exec_release(void *self, agentd_exec_t *ex)
{
    (void)self;
    ssh_exec_release(ex);
}

static int vt_signal(void *self, agentd_sandbox_t *sb, agentd_sandbox_signal_t sig,
                     agentd_err_t *err)
{
    (void)self;
    return ssh_sandbox_signal(sb, sig, err);
}

static int vt_destroy(void *self, agentd_sandbox_t *sb, agentd_done_cb cb, void *ud,
                      agentd_err_t *err)
{
    (void)self;
    return ssh_sandbox_destroy(sb, cb, ud, err);
}

static int vt_list(void *self, agentd_sandbox_list_cb cb, void *ud, agentd_err_t *err)
{
    return ssh_list(self, cb, ud, err);
}

static int vt_adopt(void *self, const char *id, agentd_sandbox_create_cb cb, void *ud,
                    agentd_err_t *err)
{
    return ssh_adopt(self, id, cb, ud, err);
}

static int vt_reap(void *self, const char *id, agentd_done_cb cb, void *ud,
                   agentd_err_t *err)
{
    return ssh_reap(self, id, cb, ud, err);
}

static const agentd_sandbox_vtable_t vtable = {
    .size = sizeof(agentd_sandbox_vtable_t),
    .capabilities = AGENTD_SANDBOX_CAP_PAUSE | AGENTD_SANDBOX_CAP_ADOPT |
                    AGENTD_SANDBOX_CAP_REMOTE,
    .create = vt_create,
    .exec = vt_exec,
    .exec_signal = vt_exec_signal,
    .exec_release = vt_exec_release,
    .signal = vt_signal,
    .destroy = vt_destroy,
    .list = vt_list,
    .adopt = vt_adopt,
    .reap = vt_reap,
};

AGENTD_EXPORT const agentd_plugin_t agentd_plugin = {
    AGENTD_PLUGIN_HEADER,
    .kind = AGENTD_KIND_SANDBOX,
    .id = SSH_PLUGIN_ID,
    .version = "1.0.0",
    .description = "sessions on the team's own Linux hosts over SSH, with pooled "
                   "connections, placement by capacity and labels, and a repository cache",
    .limitations = "no copy_in/copy_out; no egress allowlist (the host's own network "
                   "policy applies); no pseudo-terminal; the workspace lives on the remote "
                   "host and is removed with the sandbox; processes that clear their "
                   "environment and leave the process group escape signals",
    .config_fields = config_fields,
    .config_field_count = COUNT(config_fields),
    .profile_fields = profile_fields,
    .profile_field_count = COUNT(profile_fields),
    .init = plugin_init,
    .stop = plugin_stop,
    .fini = plugin_fini,
    .vtable = &vtable,
};
