/*
 * The host's durable runtime: the database, the event log and the session
 * layer over them, opened together in the data directory and closed in the
 * reverse order. `agentd serve` and `agentd run` both use it.
 *
 * Thread: loop thread.
 */
#ifndef AGENTD_HOST_RUNTIME_H
#define AGENTD_HOST_RUNTIME_H

#include "core/context.h"
#include "events/event_log.h"
#include "sessions/sessions.h"
#include "store/db.h"

typedef struct host_runtime {
    host_ctx_t *ctx;
    host_db_t *db;
    struct host_secrets *secrets;
    host_event_log_t *log;
    host_sessions_t *sessions;
} host_runtime_t;

/* Creates the data directory (0700) and opens <data_dir>/agentd.db, the
 * event log (retention from the config's "events") and the sessions. */
int host_runtime_open(host_ctx_t *ctx, host_runtime_t *rt, agentd_err_t *err);

/* Stops every agent (stop escalation), then calls done. */
void host_runtime_shutdown(host_runtime_t *rt, void (*done)(void *ud), void *ud);

/* Flushes the event log and closes everything. */
void host_runtime_close(host_runtime_t *rt);

#endif
