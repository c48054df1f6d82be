/*
 * sandbox-docker: the descriptor, the plugin's own settings, and the
 * sandbox vtable as thin calls into create.c, sandbox.c, exec.c and reap.c.
 * docs/sandbox-docker.md is the operator's guide.
 */
#define _GNU_SOURCE
#include "dk.h"

#include <agentd/agentd.h>

#include <jansson.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FIELD(...) {.size = sizeof(agentd_config_field_t), __VA_ARGS__}

static const agentd_config_field_t config_fields[] = {
    FIELD(.name = "engine", .type = AGENTD_CONFIG_STRING,
          .default_json = "\"unix:///var/run/docker.sock\"",
          .description = "Docker Engine endpoint: unix:///path/to/docker.sock, or "
                         "tcp://host:2376 for a remote engine (use the tls_* fields)"),
    FIELD(.name = "api_version", .type = AGENTD_CONFIG_STRING, .default_json = "\"auto\"",
          .description = "Engine API version to speak, e.g. \"1.41\"; \"auto\" negotiates "
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
                         "copied in and out through the archive endpoints) or \"auto\" (bind "
                         "for unix://, volume for tcp://)"),
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

/* This installation's mark on its containers: a hash of its state
 * directory, so two agentd on one engine never reap each other's. */
static int make_owner(dk_plugin_t *pl, agentd_err_t *err)
{
    const char *dir = pl->api->state_dir(pl->host);
    char real[PATH_MAX];
    if (dir == NULL || realpath(dir, real) == NULL)
        return agentd_err_set(err, AGENTD_EIO, "no usable state directory (%s)",
                              dir ? dir : "none");
    unsigned char sum[32];
    unsigned len = 0;
    if (EVP_Digest(real, strlen(real), sum, &len, EVP_sha256(), NULL) != 1)
        return agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    for (int i = 0; i < 8; i++)
        snprintf(pl->owner + 2 * i, 3, "%02x", sum[i]);
    return 0;
}

static int read_config(dk_plugin_t *pl, const char *json, size_t len, agentd_err_t *err)
{
    json_t *o = json != NULL && len > 0 ? json_loadb(json, len, 0, NULL) : json_object();
    const char *mode = json_string_value(json_object_get(o, "workspace_mode"));
    json_t *verify = json_object_get(o, "tls_verify");
    json_t *t = json_object_get(o, "request_timeout_s"), *rm = json_object_get(o, "retry_max"),
           *rb = json_object_get(o, "retry_base_ms");
    dk_engine_opts_t eo = {
        .endpoint = json_string_value(json_object_get(o, "engine")),
        .api_version = json_string_value(json_object_get(o, "api_version")),
        .tls_ca = json_string_value(json_object_get(o, "tls_ca")),
        .tls_cert = json_string_value(json_object_get(o, "tls_cert")),
        .tls_key = json_string_value(json_object_get(o, "tls_key")),
        .tls_verify = verify == NULL || json_is_true(verify),
        .timeout_s = t ? (long)json_integer_value(t) : 30,
        .retry_max = rm ? (unsigned)json_integer_value(rm) : 5,
        .retry_base_ms = rb ? (uint32_t)json_integer_value(rb) : 200,
    };
    int rc = 0;
    const char *ep = eo.endpoint != NULL ? eo.endpoint : "unix://";
    if (mode == NULL || strcmp(mode, "auto") == 0)
        pl->bind_workspace = strncmp(ep, "unix://", 7) == 0; /* tcp: another machine */
    else if (strcmp(mode, "bind") == 0)
        pl->bind_workspace = 1;
    else if (strcmp(mode, "volume") == 0)
        pl->bind_workspace = 0;
    else
        rc = agentd_err_set(err, AGENTD_ECONFIG,
                            "workspace_mode: \"%s\" is not bind, volume or auto", mode);
    if (rc == 0)
        rc = dk_engine_init(&pl->engine, &eo, err);
    json_decref(o);
    return rc;
}

static int plugin_init(const agentd_host_api_t *api, agentd_host_t *host,
                       const char *config_json, size_t config_len, void **self,
                       agentd_err_t *err)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return agentd_err_set(err, AGENTD_EIO, "libcurl did not initialise");
    dk_plugin_t *pl = calloc(1, sizeof *pl);
    if (pl == NULL) {
        curl_global_cleanup();
        return agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    }
    pl->api = api;
    pl->host = host;
    int rc = read_config(pl, config_json, config_len, err);
    if (rc == 0 && (rc = make_owner(pl, err)) != 0)
        dk_engine_free(&pl->engine);
    if (rc != 0) {
        free(pl);
        curl_global_cleanup();
        return rc;
    }
    *self = pl;
    return 0;
}

static int busy(const dk_plugin_t *pl)
{
    return pl->ops_in_flight > 0;
}

static void stop_tick(void *ud)
{
    dk_plugin_t *pl = ud;
    if (busy(pl))
        return;
    pl->api->timer_close(pl->stop_timer);
    pl->stop_timer = NULL;
    pl->stop_done(pl->stop_ud, 0);
}

static void ignore(void *ud, int status)
{
    (void)ud, (void)status;
}

/* Shutting down: every container of this daemon is removed; stop is done
 * once the engine answered (or its retries gave up). */
static void plugin_stop(void *self, agentd_done_cb done, void *ud)
{
    dk_plugin_t *pl = self;
    while (pl->sandboxes != NULL)
        if (dk_sandbox_destroy(pl->sandboxes, ignore, NULL, NULL) != 0)
            break;
    pl->stop_done = done;
    pl->stop_ud = ud;
    if (!busy(pl) || pl->api->timer_start(pl->host, 10, 10, stop_tick, pl, &pl->stop_timer) < 0)
        done(ud, 0);
}

static void plugin_fini(void *self)
{
    dk_plugin_t *pl = self;
    pl->api->timer_close(pl->stop_timer);
    atomic_store(&pl->engine.stopping, 1);
    while (pl->sandboxes != NULL) {
        agentd_sandbox_t *sb = pl->sandboxes;
        pl->sandboxes = sb->next;
        for (agentd_exec_t *ex = sb->execs; ex != NULL; ex = ex->next)
            ex->sb = NULL;
        dk_sandbox_free(sb);
    }
    dk_conn_forget_all(pl);
    dk_engine_free(&pl->engine);
    free(pl);
    curl_global_cleanup();
}

static int vt_create(void *self, const agentd_sandbox_spec_t *spec,
                     agentd_sandbox_create_cb cb, void *ud, agentd_err_t *err)
{
    return dk_sandbox_create(self, spec, cb, ud, err);
}

static int vt_exec(void *self, agentd_sandbox_t *sb, const agentd_exec_spec_t *spec,
                   agentd_exec_exit_cb exit_cb, void *ud, agentd_exec_t **out,
                   agentd_exec_io_t *io, agentd_err_t *err)
{
    (void)self;
    if (spec == NULL || spec->argv == NULL || spec->argv[0] == NULL)
        return agentd_err_set(err, AGENTD_EINVAL, "exec: empty argv");
    if (spec->flags & AGENTD_EXEC_TTY)
        return agentd_err_set(err, AGENTD_ENOTSUP, "exec: no pseudo-terminal support yet");
    return dk_exec_start(sb, spec, exit_cb, ud, out, io, err);
}

static int vt_exec_signal(void *self, agentd_exec_t *ex, agentd_sandbox_signal_t sig,
                          agentd_err_t *err)
{
    (void)self;
    return dk_exec_signal(ex, sig, err);
}

static void vt_exec_release(void *self, agentd_exec_t *ex)
{
    (void)self;
    dk_exec_release(ex);
}

static int vt_signal(void *self, agentd_sandbox_t *sb, agentd_sandbox_signal_t sig,
                     agentd_err_t *err)
{
    (void)self;
    return dk_sandbox_signal(sb, sig, err);
}

static int vt_copy_in(void *self, agentd_sandbox_t *sb, const char *host_path,
                      const char *sandbox_path, agentd_done_cb cb, void *ud, agentd_err_t *err)
{
    (void)self;
    return dk_copy_in(sb, host_path, sandbox_path, cb, ud, err);
}

static int vt_copy_out(void *self, agentd_sandbox_t *sb, const char *sandbox_path,
                       const char *host_path, agentd_done_cb cb, void *ud, agentd_err_t *err)
{
    (void)self;
    return dk_copy_out(sb, sandbox_path, host_path, cb, ud, err);
}

static int vt_destroy(void *self, agentd_sandbox_t *sb, agentd_done_cb cb, void *ud,
                      agentd_err_t *err)
{
    (void)self;
    return dk_sandbox_destroy(sb, cb != NULL ? cb : ignore, ud, err);
}

static int vt_list(void *self, agentd_sandbox_list_cb cb, void *ud, agentd_err_t *err)
{
    return dk_list(self, cb, ud, err);
}

static int vt_adopt(void *self, const char *id, agentd_sandbox_create_cb cb, void *ud,
                    agentd_err_t *err)
{
    return dk_adopt(self, id, cb, ud, err);
}

static int vt_reap(void *self, const char *id, agentd_done_cb cb, void *ud, agentd_err_t *err)
{
    return dk_reap(self, id, cb, ud, err);
}

static const agentd_sandbox_vtable_t vtable = {
    .size = sizeof(agentd_sandbox_vtable_t),
    .capabilities = AGENTD_SANDBOX_CAP_PAUSE | AGENTD_SANDBOX_CAP_ADOPT | AGENTD_SANDBOX_CAP_COPY,
    .create = vt_create,
    .exec = vt_exec,
    .exec_signal = vt_exec_signal,
    .exec_release = vt_exec_release,
    .signal = vt_signal,
    .copy_in = vt_copy_in,
    .copy_out = vt_copy_out,
    .destroy = vt_destroy,
    .list = vt_list,
    .adopt = vt_adopt,
    .reap = vt_reap,
};

AGENTD_EXPORT const agentd_plugin_t agentd_plugin = {
    AGENTD_PLUGIN_HEADER,
    .kind = AGENTD_KIND_SANDBOX,
    .id = "sandbox-docker",
    .version = "0.2.0",
    .description = "sessions in containers on a Docker engine, through the Docker Engine API",
    .limitations = "copy_in/copy_out reach only the workspace and mounts (the root is "
                   "read-only); a volume workspace comes back to the host only when the "
                   "sandbox is destroyed or reaped; no egress allowlist (use "
                   "network_mode); no pseudo-terminal; an adopted sandbox's commands get only "
                   "the environment given at exec",
    .config_fields = config_fields,
    .config_field_count = sizeof config_fields / sizeof config_fields[0],
    .profile_fields = dk_profile_fields,
    .profile_field_count = DK_PROFILE_FIELD_COUNT,
    .init = plugin_init,
    .stop = plugin_stop,
    .fini = plugin_fini,
    .vtable = &vtable,
};
