/*
 * sandbox-ssh: sessions on the team's own Linux hosts over SSH, with
 * connection pooling, placement by capacity and labels, and a repository
 * cache per host (issue 9).
 *
 * STUB. It loads, declares the settings the real backend will take, and
 * answers every sandbox operation with AGENTD_ENOTSUP and a message naming
 * what is missing. It opens no connection and reads no key. list()
 * completes with nothing found (this stub never creates a session
 * directory), so a restarted host can still ask it. It declares no
 * capabilities, so the optional copy_in/copy_out/adopt stay unset.
 */
#include <agentd/agentd.h>

#define PLUGIN_ID "sandbox-ssh"
#define PLUGIN_ISSUE "issue 9"

typedef struct ssh {
    const agentd_host_api_t *api;
    agentd_host_t *host;
    unsigned pending;        /* list results posted, not yet delivered */
    agentd_done_cb stop_cb;  /* set by stop() while results are pending */
    void *stop_ud;
} ssh_t;

/* A list() result waiting for the loop: there is nothing to report, only
 * the final status. */
typedef struct list_done {
    ssh_t *s;
    agentd_sandbox_list_cb cb;
    void *ud;
} list_done_t;

/* ---- settings ------------------------------------------------------------ */

#define FIELD(...) {.size = sizeof(agentd_config_field_t), __VA_ARGS__}

/* plugins.settings.sandbox-ssh */
static const agentd_config_field_t config_fields[] = {
    FIELD(.name = "hosts", .type = AGENTD_CONFIG_OBJECT, .default_json = "{}",
          .description = "hosts by name: {\"<name>\": {\"address\", \"port\": 22, \"user\", "
                         "\"root\" (working root), \"labels\": [...], \"capacity\" "
                         "(concurrent sessions), \"enabled\": true, \"key\" (overrides key)}}"),
    FIELD(.name = "known_hosts", .type = AGENTD_CONFIG_STRING,
          .description = "known_hosts file the hosts' keys are verified against; an unknown "
                         "or changed key refuses the host"),
    FIELD(.name = "key", .type = AGENTD_CONFIG_SECRET,
          .description = "private key for every host, \"${secret:NAME}\"; never written "
                         "in plain text elsewhere, never in argv"),
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
    FIELD(.name = "health_interval_s", .type = AGENTD_CONFIG_INT, .default_json = "30",
          .min = 1, .max = 3600,
          .description = "how often each host is checked; a failing host is marked down"),
    FIELD(.name = "repo_cache", .type = AGENTD_CONFIG_BOOL, .default_json = "true",
          .description = "keep a bare mirror of each repository on each host and start "
                         "sessions from it"),
};

/* sandboxes.<name> with "plugin": "sandbox-ssh" */
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
};

#define COUNT(a) ((uint32_t)(sizeof(a) / sizeof((a)[0])))

/* ---- every operation: not yet ---------------------------------------------- */

static int not_yet(agentd_err_t *err, const char *what)
{
    return agentd_err_set(err, AGENTD_ENOTSUP,
                          PLUGIN_ID ": %s is not implemented yet (this plugin is a stub; "
                                    "running sessions over SSH arrives with " PLUGIN_ISSUE ")",
                          what);
}

static int ssh_create(void *self, const agentd_sandbox_spec_t *spec,
                      agentd_sandbox_create_cb cb, void *ud, agentd_err_t *err)
{
    (void)self, (void)cb, (void)ud;
    if (spec != NULL && spec->profile_name != NULL)
        return agentd_err_set(err, AGENTD_ENOTSUP,
                              PLUGIN_ID ": profile \"%s\": creating a sandbox on an SSH host "
                                        "is not implemented yet (this plugin is a stub; "
                                        "running sessions over SSH arrives with " PLUGIN_ISSUE
                                        ")",
                              spec->profile_name);
    return not_yet(err, "creating a sandbox on an SSH host");
}

static int ssh_exec(void *self, agentd_sandbox_t *sb, const agentd_exec_spec_t *spec,
                    agentd_exec_exit_cb exit_cb, void *ud, agentd_exec_t **out,
                    agentd_exec_io_t *io, agentd_err_t *err)
{
    (void)self, (void)sb, (void)spec, (void)exit_cb, (void)ud, (void)out, (void)io;
    return not_yet(err, "running a command on an SSH host");
}

static int ssh_exec_signal(void *self, agentd_exec_t *ex, agentd_sandbox_signal_t sig,
                           agentd_err_t *err)
{
    (void)self, (void)ex, (void)sig;
    return not_yet(err, "signalling a remote command");
}

static void ssh_exec_release(void *self, agentd_exec_t *ex)
{
    /* exec never succeeds, so there is never a handle to release. */
    (void)self, (void)ex;
}

static int ssh_signal(void *self, agentd_sandbox_t *sb, agentd_sandbox_signal_t sig,
                      agentd_err_t *err)
{
    (void)self, (void)sb;
    return not_yet(err, sig == AGENTD_SIG_PAUSE || sig == AGENTD_SIG_RESUME
                            ? "pausing and resuming a remote process group"
                            : "signalling a remote sandbox");
}

static int ssh_destroy(void *self, agentd_sandbox_t *sb, agentd_done_cb cb, void *ud,
                       agentd_err_t *err)
{
    (void)self, (void)sb, (void)cb, (void)ud;
    return not_yet(err, "removing a remote session directory");
}

static int ssh_reap(void *self, const char *sandbox_id, agentd_done_cb cb, void *ud,
                    agentd_err_t *err)
{
    (void)self, (void)cb, (void)ud;
    return agentd_err_set(err, AGENTD_ENOTSUP,
                          PLUGIN_ID ": reaping remote sandbox \"%s\" is not implemented yet "
                                    "(this plugin is a stub; running sessions over SSH arrives "
                                    "with " PLUGIN_ISSUE ")",
                          sandbox_id != NULL ? sandbox_id : "");
}

/* ---- list: completes, with nothing found ------------------------------------ */

static void maybe_stopped(ssh_t *s)
{
    if (s->pending == 0 && s->stop_cb != NULL) {
        agentd_done_cb cb = s->stop_cb;
        s->stop_cb = NULL;
        cb(s->stop_ud, 0);
    }
}

static void list_finish(void *arg)
{
    list_done_t *ld = arg;
    ssh_t *s = ld->s;
    agentd_sandbox_list_cb cb = ld->cb;
    void *ud = ld->ud;
    s->api->free(s->host, ld);
    s->pending--;
    cb(ud, NULL, 0);
    maybe_stopped(s);
}

/* The result is posted rather than delivered before list() returns, so the
 * caller never sees its callback run inside its own call. */
static int ssh_list(void *self, agentd_sandbox_list_cb cb, void *ud, agentd_err_t *err)
{
    ssh_t *s = self;
    if (cb == NULL)
        return agentd_err_set(err, AGENTD_EINVAL, PLUGIN_ID ": list needs a callback");
    list_done_t *ld = s->api->malloc(s->host, sizeof *ld);
    if (ld == NULL)
        return agentd_err_set(err, AGENTD_ENOMEM, PLUGIN_ID ": out of memory in list");
    ld->s = s;
    ld->cb = cb;
    ld->ud = ud;
    int rc = s->api->post(s->host, list_finish, ld);
    if (rc != 0) {
        s->api->free(s->host, ld);
        return agentd_err_set(err, rc, PLUGIN_ID ": could not deliver the list result: %s",
                              agentd_strerror(rc));
    }
    s->pending++;
    return 0;
}

/* ---- lifetime --------------------------------------------------------------- */

static int ssh_init(const agentd_host_api_t *api, agentd_host_t *host,
                    const char *config_json, size_t config_len, void **self,
                    agentd_err_t *err)
{
    (void)config_json, (void)config_len; /* nothing to act on until issue 9 */
    if (api == NULL || self == NULL)
        return agentd_err_set(err, AGENTD_EINVAL, PLUGIN_ID ": init without host API");
    ssh_t *s = api->calloc(host, 1, sizeof *s);
    if (s == NULL)
        return agentd_err_set(err, AGENTD_ENOMEM,
                              PLUGIN_ID ": out of memory allocating the plugin state");
    s->api = api;
    s->host = host;
    api->log(host, AGENTD_LOG_DEBUG,
             "stub loaded: every sandbox operation returns \"not supported\" until " PLUGIN_ISSUE);
    *self = s;
    return 0;
}

static void ssh_stop(void *self, agentd_done_cb done, void *ud)
{
    ssh_t *s = self;
    s->stop_cb = done;
    s->stop_ud = ud;
    maybe_stopped(s);
}

static void ssh_fini(void *self)
{
    ssh_t *s = self;
    if (s != NULL)
        s->api->free(s->host, s);
}

static const agentd_sandbox_vtable_t vtable = {
    .size = sizeof(agentd_sandbox_vtable_t),
    .capabilities = 0, /* nothing works yet: no pause, copy, egress, adopt or remote */
    .create = ssh_create,
    .exec = ssh_exec,
    .exec_signal = ssh_exec_signal,
    .exec_release = ssh_exec_release,
    .signal = ssh_signal,
    .destroy = ssh_destroy,
    .list = ssh_list,
    .reap = ssh_reap,
};

AGENTD_EXPORT const agentd_plugin_t agentd_plugin = {
    AGENTD_PLUGIN_HEADER,
    .kind = AGENTD_KIND_SANDBOX,
    .id = PLUGIN_ID,
    .version = "0.1.0",
    .description = "sessions on the team's own Linux hosts over SSH, with pooled "
                   "connections, placement by capacity and labels, and a repository cache",
    .limitations = "stub: running sessions on SSH hosts arrives with issue 9; every sandbox "
                   "operation returns AGENTD_ENOTSUP, and list() reports no sandboxes",
    .config_fields = config_fields,
    .config_field_count = COUNT(config_fields),
    .profile_fields = profile_fields,
    .profile_field_count = COUNT(profile_fields),
    .init = ssh_init,
    .stop = ssh_stop,
    .fini = ssh_fini,
    .vtable = &vtable,
};
