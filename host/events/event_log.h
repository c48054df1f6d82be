/*
 * The durable event log. Every event of every session is appended here
 * first; it gets the session's next sequence number (gapless, from 1), is
 * committed to SQLite (the host's database, store/db.h), and only after the
 * commit is it handed to listeners (the API's subscribers, notifier plugins,
 * `agentd run`'s printer). Nothing is reported to anyone before it is
 * durable, so a `kill -9` at any moment loses no event anyone saw.
 *
 * Appends made during one loop iteration are committed together in one
 * transaction at the end of the iteration (a uv_check handle), then fanned
 * out in append order. host_event_log_flush commits at once (shutdown,
 * tests).
 *
 * Retention: per session, events older than max_age_s or beyond max_events
 * are deleted (never the newest); a reader asking for events after a seq
 * that is no longer retained gets AGENTD_ELIMIT ("cursor too old"), never a
 * silent skip.
 *
 * Thread: loop thread. Ownership: appended strings are copied; events passed
 * to listeners and readers are borrowed for the call.
 */
#ifndef AGENTD_HOST_EVENT_LOG_H
#define AGENTD_HOST_EVENT_LOG_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include <agentd/abi.h>

#include "store/db.h"

typedef struct host_event {
    const char *session_id;
    uint64_t seq;           /* 1, 2, 3... per session */
    uint64_t ts_ms;         /* wall clock at append, ms since the epoch */
    const char *type;       /* "agent.text", "session.state", ... */
    const char *data_json;  /* a JSON object */
    size_t data_len;
    const char *raw;        /* the agent's raw line, or NULL */
    size_t raw_len;
} host_event_t;

typedef struct host_event_log_opts {
    uint64_t max_age_s;     /* 0: keep forever */
    uint64_t max_events;    /* per session; 0: no limit */
    size_t max_batch;       /* appends per transaction before an early commit
                             * within the same iteration; 0: 4096 */
} host_event_log_opts_t;

typedef struct host_event_log host_event_log_t;

/* Called once per committed event, in commit order. */
typedef void (*host_event_listener_fn)(void *ud, const host_event_t *ev);
typedef struct host_event_listener host_event_listener_t;

/* Creates the log's tables in db (migrations, component "events"). */
int host_event_log_open(uv_loop_t *loop, host_db_t *db, const host_event_log_opts_t *opts,
                        host_event_log_t **out, agentd_err_t *err);
/* Commits what is pending, then frees the log (listeners are dropped). */
void host_event_log_close(host_event_log_t *log);

/* Queues an event for the session; data_json must be a JSON object. The
 * assigned seq is returned in *seq (may be NULL) but the event reaches
 * listeners and readers only after its commit. Errors: AGENTD_EINVAL,
 * AGENTD_ENOMEM, AGENTD_EIO (a previous commit failed: the log is
 * read-only until restart, and says so in err). */
int host_event_log_append(host_event_log_t *log, const char *session_id, const char *type,
                          const char *data_json, size_t data_len, const char *raw,
                          size_t raw_len, uint64_t *seq, agentd_err_t *err);

/* host_event_log_append for data the host encoded itself from a JSON
 * object (json_dumps of a json_t object, host/agent/json_text.h), which is
 * therefore not checked again: the caller vouches that data_json is one
 * JSON object (debug builds assert it). Never for text that came from
 * outside (a plugin's event, anything read): those go through
 * host_event_log_append and its check. */
int host_event_log_append_trusted(host_event_log_t *log, const char *session_id,
                                  const char *type, const char *data_json, size_t data_len,
                                  const char *raw, size_t raw_len, uint64_t *seq,
                                  agentd_err_t *err);

/* Commits pending appends now and fans them out. */
int host_event_log_flush(host_event_log_t *log, agentd_err_t *err);

int host_event_log_listen(host_event_log_t *log, host_event_listener_fn fn, void *ud,
                          host_event_listener_t **out);
/* Safe to call from inside a listener. */
void host_event_log_unlisten(host_event_log_t *log, host_event_listener_t *l);

/* Calls fn for each committed event of the session with seq > since, in
 * order, at most `limit` of them (0: all); *last receives the last seq
 * delivered (or since). Errors: AGENTD_ELIMIT when events after `since`
 * were dropped by retention (err names the oldest retained seq),
 * AGENTD_EIO. */
int host_event_log_read(host_event_log_t *log, const char *session_id, uint64_t since,
                        size_t limit, host_event_listener_fn fn, void *ud, uint64_t *last,
                        agentd_err_t *err);

/* The session's last committed seq (0 if none). */
uint64_t host_event_log_last_seq(host_event_log_t *log, const char *session_id);

/* Applies retention now (the log also does it on its own every minute). */
int host_event_log_prune(host_event_log_t *log, agentd_err_t *err);

/* Deletes every event of a session (session deleted with purge). */
int host_event_log_purge(host_event_log_t *log, const char *session_id, agentd_err_t *err);

/* ---- additions (not in the first contract; nothing above changed) -------- */

/* Notes on the functions above, as implemented:
 * - host_event_log_close may be called from a listener: the event being
 *   handed out reaches the remaining listeners, then the log closes (what
 *   is committed but not handed out yet is dropped, as listeners are).
 *   Afterwards appends and flushes return AGENTD_ECLOSED. Its handles free
 *   the log's memory on the next turn of the loop.
 * - host_event_log_read returns AGENTD_EINVAL for a `since` past the
 *   session's last stored seq (a client that saw events the database lost),
 *   and host_event_log_flush AGENTD_EBUSY while another part of the host
 *   holds a transaction open on the shared connection (the batch waits).
 * - Listeners never run inside host_event_log_append; a batch that fills
 *   (max_batch) is committed inside it and handed out at the end of the
 *   loop's turn. */

/* Told about a failure the caller of the failing call cannot see: a
 * batch commit from the loop's check phase (fatal: 1, the log is then
 * read-only and every append returns AGENTD_EIO with the same text) or the
 * minute's retention pass (fatal: 0). msg names the cause. */
typedef void (*host_event_log_error_fn)(void *ud, int code, int fatal, const char *msg);
void host_event_log_on_error(host_event_log_t *log, host_event_log_error_fn fn, void *ud);

/* 0 while the log accepts appends; after a failed commit, AGENTD_EIO with
 * the cause in err. */
int host_event_log_status(const host_event_log_t *log, agentd_err_t *err);

typedef struct host_event_log_stats {
    uint64_t commits;       /* transactions that stored events */
    uint64_t committed;     /* events stored */
    uint64_t fanned_out;    /* events handed to listeners */
    uint64_t pruned;        /* events deleted by retention */
    size_t pending;         /* appended, not committed yet */
    size_t sessions;        /* sessions known in memory */
    size_t memory;          /* bytes the log holds in memory (its own
                             * allocations; SQLite's cache not included) */
} host_event_log_stats_t;
void host_event_log_stats(const host_event_log_t *log, host_event_log_stats_t *out);

#endif /* AGENTD_HOST_EVENT_LOG_H */
