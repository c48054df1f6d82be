/*
 * WAL checkpoints of the host database off the loop thread.
 *
 * SQLite checkpoints a WAL database from inside the COMMIT that takes the
 * WAL past 1000 pages, on the committing thread: the pages are copied into
 * the database file between two fsyncs, milliseconds during which the loop
 * serves no one (with synchronous=NORMAL these fsyncs are the only ones;
 * they keep the database intact across a power loss). The checkpointer
 * takes that over for the host's connection: past HOST_CKPT_PAGES pages it
 * runs a PASSIVE checkpoint on a connection of its own in libuv's thread
 * pool, which neither blocks the loop's writers nor waits for them. The
 * same fsyncs happen, on another thread; what is committed is exactly as
 * durable as before.
 *
 * A checkpoint that runs while the loop commits cannot let SQLite restart
 * the WAL from its beginning (new frames keep arriving behind it), so under
 * a steady stream of commits the WAL would only grow. Past
 * HOST_CKPT_FOREGROUND_PAGES, and with no checkpoint in the pool, the loop
 * thread checkpoints itself, as SQLite would have: what is left to copy by
 * then is what came after the last background pass, and the WAL restarts.
 *
 * Thread: start and stop on the loop thread; the hook runs on it (SQLite
 * calls it after each commit of the host connection). Needs a thread-safe
 * SQLite build (sqlite3_threadsafe() != 0); without one, start leaves
 * SQLite's own checkpoints in place and returns 0 with *out NULL.
 */
#ifndef AGENTD_HOST_CHECKPOINT_H
#define AGENTD_HOST_CHECKPOINT_H

#include <uv.h>

#include <agentd/abi.h>

#include "store/db.h"

#define HOST_CKPT_PAGES 1000             /* SQLite's own threshold */
#define HOST_CKPT_FOREGROUND_PAGES 16000 /* ~64 MiB of WAL at 4 KiB pages */

typedef struct host_checkpointer host_checkpointer_t;

typedef struct host_checkpointer_stats {
    uint64_t background;  /* checkpoints run in the thread pool */
    uint64_t foreground;  /* run on the loop thread (the WAL bound) */
    uint64_t failed;      /* background ones SQLite refused (busy, I/O) */
} host_checkpointer_stats_t;

/* Takes over db's checkpoints. Errors: AGENTD_ENOMEM. */
int host_checkpointer_start(uv_loop_t *loop, host_db_t *db, host_checkpointer_t **out,
                            agentd_err_t *err);

/* Gives the checkpoints back to SQLite (its default, 1000 pages) before db
 * is closed. A background checkpoint still running finishes on its own
 * connection; its memory goes when its completion has run on the loop. */
void host_checkpointer_stop(host_checkpointer_t *cp);

void host_checkpointer_stats(const host_checkpointer_t *cp, host_checkpointer_stats_t *out);

#endif /* AGENTD_HOST_CHECKPOINT_H */
