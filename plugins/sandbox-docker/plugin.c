/*
 * sandbox-docker: sessions in containers on a Docker engine, local or
 * remote, through the Docker Engine API (issue 8).
 *
 * STUB. It loads, declares the settings the real backend will take, and
 * answers every sandbox operation with AGENTD_ENOTSUP and a message naming
 * what is missing. list() completes with nothing found (this stub never
 * creates a container), so a restarted host can still ask it. It declares
 * no capabilities, so the optional copy_in/copy_out/adopt stay unset.
 */
#include <agentd/agentd.h>

#define PLUGIN_ID "sandbox-docker"
#define PLUGIN_ISSUE "issue 8"

typedef struct docker {
    const agentd_host_api_t *api;
    agentd_host_t *host;
    unsigned pending;        /* list results posted, not yet delivered */
    agentd_done_cb stop_cb;  /* set by stop() while results are pending */
    void *stop_ud;
} docker_t;

/* A list() result waiting for the loop: there is nothing to report, only
 * the final status. */
typedef struct list_done {
    docker_t *d;
    agentd_sandbox_list_cb cb;
    void *ud;
} list_done_t;

/* ---- settings ------------------------------------------------------------ */

#define FIELD(...) {.size = sizeof(agentd_config_field_t), __VA_ARGS__}

/* plugins.settings.sandbox-docker */
static const agentd_config_field_t config_fields[] = {
    FIELD(.name = "engine", .type = AGENTD_CONFIG_STRING,
          .default_json = "\"unix:///var/run/docker.sock\"",
          .description = "Docker Engine endpoint: unix:///path/to/docker.sock, or "
                         "tcp://host:2376 for a remote engine (use the tls_* fields)"),
    FIELD(.name = "api_version", .type = AGENTD_CONFIG_STRING, .default_json = "\"auto\"",
          .description = "Engine API version to speak, e.g. \"1.43\"; \"auto\" negotiates "
                         "it with GET /version"),
    FIELD(.name = "tls_ca", .type = AGENTD_CONFIG_STRING,
          .description = "PEM file of the CA that signed a tcp:// engine's certificate"),
    FIELD(.name = "tls_cert", .type = AGENTD_CONFIG_STRING,
          .description = "PEM client certificate for a tcp:// engine"),
    FIELD(.name = "tls_key", .type = AGENTD_CONFIG_STRING,
          .description = "PEM client private key for a tcp:// engine (a file readable only "
                         "by agentd's user)"),
    FIELD(.name = "tls_verify", .type = AGENTD_CONFIG_BOOL, .default_json = "true",
          .description = "verify a tcp:// engine's certificate against tls_ca"),
    FIELD(.name = "workspace_mode", .type = AGENTD_CONFIG_STRING, .default_json = "\"auto\"",
          .description = "\"bind\" (bind-mount the workspace), \"volume\" (a volume, files "
                         "copied through the archive endpoints) or \"auto\" (bind for "
                         "unix://, volume for tcp://)"),
    FIELD(.name = "request_timeout_s", .type = AGENTD_CONFIG_INT, .default_json = "30",
          .min = 1, .max = 600,
          .description = "deadline of one Engine API request (image builds excepted)"),
    FIELD(.name = "retry_max", .type = AGENTD_CONFIG_INT, .default_json = "5", .min = 0,
          .max = 20,
          .description = "retries of a transient engine error (restarting, 5xx, connection "
                         "refused) before the session fails"),
    FIELD(.name = "retry_base_ms", .type = AGENTD_CONFIG_INT, .default_json = "200",
          .min = 10, .max = 60000,
          .description = "first retry delay; doubled each retry, with jitter"),
};

/* sandboxes.<name> with "plugin": "sandbox-docker" */
static const agentd_config_field_t profile_fields[] = {
    FIELD(.name = "image", .type = AGENTD_CONFIG_STRING,
          .description = "image to run, e.g. \"agentd-claude:latest\"; give image or template"),
    FIELD(.name = "template", .type = AGENTD_CONFIG_STRING,
          .description = "path of a Dockerfile (its folder is the build context), built by "
                         "the engine and cached by content hash; instead of image"),
    FIELD(.name = "memory_mb", .type = AGENTD_CONFIG_INT, .default_json = "4096", .min = 64,
          .max = 1048576, .description = "memory limit of the container, MiB"),
    FIELD(.name = "cpus", .type = AGENTD_CONFIG_NUMBER, .default_json = "2",
          .description = "CPU limit in cores, fractions allowed (e.g. 1.5); more than 0"),
    FIELD(.name = "pids_max", .type = AGENTD_CONFIG_INT, .default_json = "512", .min = 16,
          .max = 1048576, .description = "most processes and threads in the container"),
    FIELD(.name = "network_mode", .type = AGENTD_CONFIG_STRING, .default_json = "\"bridge\"",
          .description = "\"bridge\", \"none\" or a user-defined network; \"host\" is refused"),
    FIELD(.name = "user", .type = AGENTD_CONFIG_STRING,
          .description = "user in the container (name or uid[:gid]); unset: the image's "
                         "user if it is not root, else 1000:1000"),
    FIELD(.name = "read_only_root", .type = AGENTD_CONFIG_BOOL, .default_json = "true",
          .description = "read-only root filesystem where the image allows (workspace and "
                         "/tmp stay writable)"),
    FIELD(.name = "timeout_minutes", .type = AGENTD_CONFIG_INT, .default_json = "60", .min = 1,
          .max = 240, .description = "wall-clock limit of a sandbox, then it is killed"),
    FIELD(.name = "env", .type = AGENTD_CONFIG_STRING_LIST, .default_json = "[]",
          .description = "\"K=V\" for every command; a value may be \"${secret:NAME}\""),
    FIELD(.name = "mounts", .type = AGENTD_CONFIG_STRING_LIST, .default_json = "[]",
          .description = "extra mounts \"host_path:container_path[:ro]\"; the docker "
                         "socket is always refused"),
    FIELD(.name = "seccomp_profile", .type = AGENTD_CONFIG_STRING,
          .description = "seccomp profile JSON file; unset: the engine's default profile"),
};

#define COUNT(a) ((uint32_t)(sizeof(a) / sizeof((a)[0])))

/* ---- every operation: not yet ---------------------------------------------- */

static int not_yet(agentd_err_t *err, const char *what)
{
    return agentd_err_set(err, AGENTD_ENOTSUP,
                          PLUGIN_ID ": %s is not implemented yet (this plugin is a stub; "
                                    "Docker Engine API support arrives with " PLUGIN_ISSUE ")",
                          what);
}

static int docker_create(void *self, const agentd_sandbox_spec_t *spec,
                         agentd_sandbox_create_cb cb, void *ud, agentd_err_t *err)
{
    (void)self, (void)cb, (void)ud;
    if (spec != NULL && spec->profile_name != NULL)
        return agentd_err_set(err, AGENTD_ENOTSUP,
                              PLUGIN_ID ": profile \"%s\": creating containers is not "
                                        "implemented yet (this plugin is a stub; Docker Engine "
                                        "API support arrives with " PLUGIN_ISSUE ")",
                              spec->profile_name);
    return not_yet(err, "creating containers");
}

static int docker_exec(void *self, agentd_sandbox_t *sb, const agentd_exec_spec_t *spec,
                       agentd_exec_exit_cb exit_cb, void *ud, agentd_exec_t **out,
                       agentd_exec_io_t *io, agentd_err_t *err)
{
    (void)self, (void)sb, (void)spec, (void)exit_cb, (void)ud, (void)out, (void)io;
    return not_yet(err, "running a command in a container");
}

static int docker_exec_signal(void *self, agentd_exec_t *ex, agentd_sandbox_signal_t sig,
                              agentd_err_t *err)
{
    (void)self, (void)ex, (void)sig;
    return not_yet(err, "signalling a command in a container");
}

static void docker_exec_release(void *self, agentd_exec_t *ex)
{
    /* exec never succeeds, so there is never a handle to release. */
    (void)self, (void)ex;
}

static int docker_signal(void *self, agentd_sandbox_t *sb, agentd_sandbox_signal_t sig,
                         agentd_err_t *err)
{
    (void)self, (void)sb;
    return not_yet(err, sig == AGENTD_SIG_PAUSE || sig == AGENTD_SIG_RESUME
                            ? "pausing and resuming a container"
                            : "signalling a container");
}

static int docker_destroy(void *self, agentd_sandbox_t *sb, agentd_done_cb cb, void *ud,
                          agentd_err_t *err)
{
    (void)self, (void)sb, (void)cb, (void)ud;
    return not_yet(err, "removing a container");
}

static int docker_reap(void *self, const char *sandbox_id, agentd_done_cb cb, void *ud,
                       agentd_err_t *err)
{
    (void)self, (void)cb, (void)ud;
    return agentd_err_set(err, AGENTD_ENOTSUP,
                          PLUGIN_ID ": reaping container \"%s\" is not implemented yet (this "
                                    "plugin is a stub; Docker Engine API support arrives with "
                                    PLUGIN_ISSUE ")",
                          sandbox_id != NULL ? sandbox_id : "");
}

/* ---- list: completes, with nothing found ------------------------------------ */

static void maybe_stopped(docker_t *d)
{
    if (d->pending == 0 && d->stop_cb != NULL) {
        agentd_done_cb cb = d->stop_cb;
        d->stop_cb = NULL;
        cb(d->stop_ud, 0);
    }
}

static void list_finish(void *arg)
{
    list_done_t *ld = arg;
    docker_t *d = ld->d;
    agentd_sandbox_list_cb cb = ld->cb;
    void *ud = ld->ud;
    d->api->free(d->host, ld);
    d->pending--;
    cb(ud, NULL, 0);
    maybe_stopped(d);
}

/* The result is posted rather than delivered before list() returns, so the
 * caller never sees its callback run inside its own call. */
static int docker_list(void *self, agentd_sandbox_list_cb cb, void *ud, agentd_err_t *err)
{
    docker_t *d = self;
    if (cb == NULL)
        return agentd_err_set(err, AGENTD_EINVAL, PLUGIN_ID ": list needs a callback");
    list_done_t *ld = d->api->malloc(d->host, sizeof *ld);
    if (ld == NULL)
        return agentd_err_set(err, AGENTD_ENOMEM, PLUGIN_ID ": out of memory in list");
    ld->d = d;
    ld->cb = cb;
    ld->ud = ud;
    int rc = d->api->post(d->host, list_finish, ld);
    if (rc != 0) {
        d->api->free(d->host, ld);
        return agentd_err_set(err, rc, PLUGIN_ID ": could not deliver the list result: %s",
                              agentd_strerror(rc));
    }
    d->pending++;
    return 0;
}

/* ---- lifetime --------------------------------------------------------------- */

static int docker_init(const agentd_host_api_t *api, agentd_host_t *host,
                       const char *config_json, size_t config_len, void **self,
                       agentd_err_t *err)
{
    (void)config_json, (void)config_len; /* nothing to act on until issue 8 */
    if (api == NULL || self == NULL)
        return agentd_err_set(err, AGENTD_EINVAL, PLUGIN_ID ": init without host API");
    docker_t *d = api->calloc(host, 1, sizeof *d);
    if (d == NULL)
        return agentd_err_set(err, AGENTD_ENOMEM,
                              PLUGIN_ID ": out of memory allocating the plugin state");
    d->api = api;
    d->host = host;
    api->log(host, AGENTD_LOG_DEBUG,
             "stub loaded: every sandbox operation returns \"not supported\" until " PLUGIN_ISSUE);
    *self = d;
    return 0;
}

static void docker_stop(void *self, agentd_done_cb done, void *ud)
{
    docker_t *d = self;
    d->stop_cb = done;
    d->stop_ud = ud;
    maybe_stopped(d);
}

static void docker_fini(void *self)
{
    docker_t *d = self;
    if (d != NULL)
        d->api->free(d->host, d);
}

static const agentd_sandbox_vtable_t vtable = {
    .size = sizeof(agentd_sandbox_vtable_t),
    .capabilities = 0, /* nothing works yet: no pause, copy, egress or adopt */
    .create = docker_create,
    .exec = docker_exec,
    .exec_signal = docker_exec_signal,
    .exec_release = docker_exec_release,
    .signal = docker_signal,
    .destroy = docker_destroy,
    .list = docker_list,
    .reap = docker_reap,
};

AGENTD_EXPORT const agentd_plugin_t agentd_plugin = {
    AGENTD_PLUGIN_HEADER,
    .kind = AGENTD_KIND_SANDBOX,
    .id = PLUGIN_ID,
    .version = "0.1.0",
    .description = "sessions in containers on a local or remote Docker engine, through the "
                   "Docker Engine API",
    .limitations = "stub: creating containers arrives with issue 8; every sandbox operation "
                   "returns AGENTD_ENOTSUP, and list() reports no sandboxes",
    .config_fields = config_fields,
    .config_field_count = COUNT(config_fields),
    .profile_fields = profile_fields,
    .profile_field_count = COUNT(profile_fields),
    .init = docker_init,
    .stop = docker_stop,
    .fini = docker_fini,
    .vtable = &vtable,
};
