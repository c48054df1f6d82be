#include "sessions/runtime.h"

#include "plugins/registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "secrets/secrets.h"
#include "store/checkpointer.h"

/* Audit -> event log: a read for a session becomes its "secret.read" event
 * (reads without a session are in the audit table and the log already). */
static void on_secret_read(void *ud, const char *name, const char *scope,
                           const host_secret_use_t *use)
{
    host_runtime_t *rt = ud;
    if (use == NULL || use->session == NULL || rt->log == NULL)
        return;
    json_t *d = json_pack("{s:s, s:s, s:s, s:s?, s:s?}", "name", name, "scope", scope,
                          "session", use->session, "plugin", use->plugin, "purpose",
                          use->purpose);
    char *text = d != NULL ? json_dumps(d, JSON_COMPACT) : NULL;
    agentd_err_t err = {{0}};
    if (text == NULL || host_event_log_append(rt->log, use->session, "secret.read", text,
                                              strlen(text), NULL, 0, NULL, &err) != 0)
        host_log(&rt->ctx->log, AGENTD_LOG_WARN, "secrets",
                 "secret.read event for session %s not recorded: %s", use->session,
                 text == NULL ? "out of memory" : err.msg);
    free(text);
    json_decref(d);
}

static int open_secrets(host_ctx_t *ctx, host_runtime_t *rt, agentd_err_t *err)
{
    char *env_key = getenv(HOST_SECRETS_ENV_MASTER_KEY);
    host_secrets_opts_t so = {
        .data_dir = ctx->config->data_dir,
        .master_key_file = host_secrets_config_master_key_file(ctx->config),
        .master_key_env = env_key != NULL && env_key[0] != '\0' ? env_key : NULL,
        .log = &ctx->log,
    };
    int rc = host_secrets_open(rt->db, &so, &rt->secrets, err);
    if (env_key != NULL) { /* never inherited, nor left in /proc/<pid>/environ */
        OPENSSL_cleanse(env_key, strlen(env_key));
        unsetenv(HOST_SECRETS_ENV_MASTER_KEY);
    }
    if (rc != 0)
        return rc;
    ctx->secrets = rt->secrets;
    host_secrets_set_audit(rt->secrets, on_secret_read, rt);
    uv_mutex_lock(&ctx->log.mu); /* plugins may log from their threads */
    ctx->log.redact = host_redact_log_hook;
    ctx->log.redact_ud = host_secrets_redact_source(rt->secrets);
    uv_mutex_unlock(&ctx->log.mu);
    return 0;
}

/* Every ${secret:NAME} the configuration holds must name a stored secret
 * before anything starts: agent.api_key and each loaded plugin's settings. */
static int check_config_refs(host_ctx_t *ctx, host_runtime_t *rt, agentd_err_t *err)
{
    const char *key = ctx->config->agent.api_key;
    int rc = 0;
    if (key != NULL && host_secrets_has_refs(key, strlen(key)))
        rc = host_secrets_check_refs(rt->secrets, key, strlen(key), "config agent.api_key",
                                     NULL, err);
    host_registry_t *reg = ctx->registry;
    for (size_t i = 0; rc == 0 && reg != NULL && i < reg->count; i++) {
        host_plugin_t *p = reg->items[i];
        char *json = NULL;
        host_diags_t diags = {0};
        if (p->status != HOST_PLUGIN_LOADED ||
            host_config_plugin_settings(ctx->config, p->id, p->desc.config_fields,
                                        p->desc.config_field_count, &json, &diags) != 0) {
            host_diags_free(&diags);
            continue;
        }
        char where[160];
        snprintf(where, sizeof where, "config plugins.settings.%s", p->id);
        if (host_secrets_has_refs(json, strlen(json)))
            rc = host_secrets_check_refs(rt->secrets, json, strlen(json), where, NULL, err);
        free(json);
        host_diags_free(&diags);
    }
    return rc;
}

/* Checkpoints off the loop (store/checkpointer.h); without the thread the
 * database still works, with SQLite's checkpoints inside commits. */
static void start_checkpointer(host_ctx_t *ctx, host_runtime_t *rt)
{
    host_db_checkpointer_opts_t o = {
        .max_wal_bytes = (uint64_t)ctx->config->events.wal_max_mb * 1024 * 1024,
    };
    agentd_err_t err = {{0}};
    if (host_db_checkpointer_start(rt->db, &o, &err) != 0)
        host_log(&ctx->log, AGENTD_LOG_WARN, "runtime",
                 "checkpoints stay inside commits (no background checkpointer): %s", err.msg);
}

int host_runtime_open(host_ctx_t *ctx, host_runtime_t *rt, agentd_err_t *err)
{
    memset(rt, 0, sizeof *rt);
    rt->ctx = ctx;
    const char *data = ctx->config->data_dir;
    int rc = host_mkdir_p(data, 0700);
    if (rc != 0)
        return agentd_err_set(err, AGENTD_EIO, "data_dir %s cannot be created: %s", data,
                              strerror(-rc));
    char path[4096];
    snprintf(path, sizeof path, "%s/agentd.db", data);
    rc = host_db_open(path, &rt->db, err);
    if (rc == 0)
        start_checkpointer(ctx, rt);
    if (rc == 0)
        rc = open_secrets(ctx, rt, err);
    if (rc == 0)
        rc = check_config_refs(ctx, rt, err);
    host_event_log_opts_t opts = {
        .max_age_s = (uint64_t)ctx->config->events.retention_days * 86400u,
        .max_events = ctx->config->events.max_per_session,
    };
    if (rc == 0)
        rc = host_event_log_open(&ctx->loop, rt->db, &opts, &rt->log, err);
    if (rc == 0)
        rc = host_sessions_open(ctx, rt->db, rt->log, &rt->sessions, err);
    if (rc != 0)
        host_runtime_close(rt);
    return rc;
}

void host_runtime_shutdown(host_runtime_t *rt, void (*done)(void *ud), void *ud)
{
    if (rt->sessions == NULL) {
        done(ud);
        return;
    }
    host_sessions_shutdown(rt->sessions, done, ud);
}

void host_runtime_close(host_runtime_t *rt)
{
    host_sessions_close(rt->sessions);
    if (rt->log != NULL)
        host_event_log_close(rt->log);
    if (rt->secrets != NULL) {
        uv_mutex_lock(&rt->ctx->log.mu);
        rt->ctx->log.redact = NULL;
        rt->ctx->log.redact_ud = NULL;
        uv_mutex_unlock(&rt->ctx->log.mu);
        rt->ctx->secrets = NULL;
        host_secrets_close(rt->secrets);
    }
    host_db_close(rt->db);
    memset(rt, 0, sizeof *rt);
}
