/*
 * WAL checkpoints off the loop thread, for the daemon's database.
 *
 * SQLite copies a WAL database's log back into the database file (a
 * checkpoint) from inside the commit that takes the log past 1000 pages,
 * and fsyncs both files there: a stall of the committing thread, measured
 * at about 6 ms on the development machine, several times a second while
 * agents stream. With a checkpointer, the loop's connection no longer
 * checkpoints on its own: after each commit, SQLite's WAL hook tells a
 * thread of ours, which checkpoints (PASSIVE: it never makes a writer wait)
 * on a connection of its own.
 *
 * The log starts over from its beginning only at a write that finds all of
 * it copied back, which a steady stream of commits may never give a
 * background checkpoint: so once the log holds max_wal_bytes, the loop
 * checkpoints at the end of its commit itself (a stall, once per
 * max_wal_bytes rather than once per 1000 pages), and the next write
 * restarts the log. That bounds the log's size.
 *
 * Thread: create, close and the hook on the loop thread (the thread that
 * uses db->sql); the checkpointer's own thread touches only its own
 * connection and the fields under its mutex. Lifetime: close before the
 * database is closed (host_db_close does).
 */
#ifndef AGENTD_HOST_CHECKPOINTER_H
#define AGENTD_HOST_CHECKPOINTER_H

#include <stdint.h>

#include <agentd/abi.h>

#include "store/db.h"

typedef struct host_db_checkpointer host_db_checkpointer_t;

typedef struct host_db_checkpointer_opts {
    int every_pages;   /* checkpoint in the background each time the log grew
                        * this much; 0: 1000 (SQLite's own default) */
    uint64_t max_wal_bytes; /* the loop checkpoints itself at this size (in
                             * pages of the database's size); 0: 64 MiB */
} host_db_checkpointer_opts_t;

typedef struct host_db_checkpointer_stats {
    uint64_t background;  /* checkpoints run by the thread */
    uint64_t inline_runs; /* checkpoints the loop ran itself (log at its cap) */
    uint64_t failed;      /* checkpoints that returned an error (retried later) */
} host_db_checkpointer_stats_t;

/* Starts the thread, opens its connection to db->path and takes over the
 * WAL hook of db->sql (SQLite's automatic checkpoints stop). Errors:
 * AGENTD_EIO (its connection cannot be opened), AGENTD_ENOMEM; the
 * database then keeps SQLite's own checkpoints. */
int host_db_checkpointer_start(host_db_t *db, const host_db_checkpointer_opts_t *opts,
                               agentd_err_t *err);

/* Stops the thread (waiting for a checkpoint under way), closes its
 * connection and gives the WAL hook back to SQLite's automatic checkpoints.
 * No-op when none was started. */
void host_db_checkpointer_stop(host_db_t *db);

void host_db_checkpointer_stats(const host_db_t *db, host_db_checkpointer_stats_t *out);

#endif /* AGENTD_HOST_CHECKPOINTER_H */
