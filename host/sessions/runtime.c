#include "sessions/runtime.h"

#include <stdio.h>
#include <string.h>

int host_runtime_open(host_ctx_t *ctx, host_runtime_t *rt, agentd_err_t *err)
{
    memset(rt, 0, sizeof *rt);
    const char *data = ctx->config->data_dir;
    int rc = host_mkdir_p(data, 0700);
    if (rc != 0)
        return agentd_err_set(err, AGENTD_EIO, "data_dir %s cannot be created: %s", data,
                              strerror(-rc));
    char path[4096];
    snprintf(path, sizeof path, "%s/agentd.db", data);
    rc = host_db_open(path, &rt->db, err);
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
    host_db_close(rt->db);
    memset(rt, 0, sizeof *rt);
}
