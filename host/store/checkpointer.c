/* WAL checkpoints on a thread of their own (checkpointer.h). */
#include "store/checkpointer.h"

#include <limits.h>
#include <stdlib.h>

#include <uv.h>

#define DEFAULT_EVERY 1000
#define DEFAULT_MAX_WAL_BYTES (64u * 1024 * 1024)

struct host_db_checkpointer {
    sqlite3 *sql; /* the thread's connection */
    uv_thread_t thread;
    uv_mutex_t mu;
    uv_cond_t cond;
    /* under mu */
    int requested, stopping, running;
    host_db_checkpointer_stats_t stats;
    /* loop thread only */
    int every, max_wal;
    int next_at; /* log size (pages) at which the thread is asked next */
};

static void run(void *arg)
{
    host_db_checkpointer_t *ck = arg;
    uv_mutex_lock(&ck->mu);
    for (;;) {
        while (!ck->requested && !ck->stopping)
            uv_cond_wait(&ck->cond, &ck->mu);
        if (ck->stopping)
            break;
        ck->requested = 0;
        ck->running = 1;
        uv_mutex_unlock(&ck->mu);
        int rc = sqlite3_wal_checkpoint_v2(ck->sql, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        uv_mutex_lock(&ck->mu);
        ck->running = 0;
        if (rc == SQLITE_OK)
            ck->stats.background++;
        else if (rc != SQLITE_BUSY)
            ck->stats.failed++;
    }
    uv_mutex_unlock(&ck->mu);
}

/* SQLite's WAL hook, on the loop thread after each commit: pages is the
 * log's size now. */
static int on_commit(void *ud, sqlite3 *sql, const char *name, int pages)
{
    host_db_checkpointer_t *ck = ud;
    if (pages < ck->next_at - ck->every)
        ck->next_at = ck->every; /* the log started over */
    if (pages >= ck->max_wal) {
        /* PASSIVE returns at once (SQLITE_BUSY) if the thread is at it;
         * then the next commit tries again, and the thread is not asked
         * for more until the log has started over. */
        int rc = sqlite3_wal_checkpoint_v2(sql, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        uv_mutex_lock(&ck->mu);
        if (rc == SQLITE_OK)
            ck->stats.inline_runs++;
        else if (rc != SQLITE_BUSY)
            ck->stats.failed++;
        uv_mutex_unlock(&ck->mu);
        return SQLITE_OK;
    }
    if (pages >= ck->next_at) {
        ck->next_at = pages + ck->every;
        uv_mutex_lock(&ck->mu);
        ck->requested = 1;
        uv_cond_signal(&ck->cond);
        uv_mutex_unlock(&ck->mu);
    }
    return SQLITE_OK;
}

static int page_size(sqlite3 *sql)
{
    sqlite3_stmt *st = NULL;
    int size = 4096;
    if (sqlite3_prepare_v2(sql, "PRAGMA page_size", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) > 0)
        size = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return size;
}

static void free_ck(host_db_checkpointer_t *ck)
{
    sqlite3_close(ck->sql);
    uv_cond_destroy(&ck->cond);
    uv_mutex_destroy(&ck->mu);
    free(ck);
}

int host_db_checkpointer_start(host_db_t *db, const host_db_checkpointer_opts_t *opts,
                               agentd_err_t *err)
{
    if (db->ckpt != NULL)
        return 0;
    host_db_checkpointer_t *ck = calloc(1, sizeof *ck);
    if (ck == NULL)
        return agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    ck->every = opts != NULL && opts->every_pages > 0 ? opts->every_pages : DEFAULT_EVERY;
    ck->next_at = ck->every;
    if (uv_mutex_init(&ck->mu) != 0) {
        free(ck);
        return agentd_err_set(err, AGENTD_ENOMEM, "checkpointer: no mutex");
    }
    if (uv_cond_init(&ck->cond) != 0) {
        uv_mutex_destroy(&ck->mu);
        free(ck);
        return agentd_err_set(err, AGENTD_ENOMEM, "checkpointer: no condition variable");
    }
    /* Its own connection: SQLite connections are not shared between
     * threads here (the loop's is opened without a mutex). */
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(db->path, &ck->sql, flags, NULL) != SQLITE_OK ||
        sqlite3_exec(ck->sql, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL) != SQLITE_OK) {
        agentd_err_set(err, AGENTD_EIO, "%s: checkpointer: %s", db->path,
                       ck->sql != NULL ? sqlite3_errmsg(ck->sql) : "cannot open");
        free_ck(ck);
        return AGENTD_EIO;
    }
    uint64_t max = opts != NULL && opts->max_wal_bytes > 0 ? opts->max_wal_bytes
                                                           : DEFAULT_MAX_WAL_BYTES;
    uint64_t pages = max / (uint64_t)page_size(ck->sql);
    ck->max_wal = pages > (uint64_t)INT_MAX ? INT_MAX : (int)pages;
    if (uv_thread_create(&ck->thread, run, ck) != 0) {
        free_ck(ck);
        return agentd_err_set(err, AGENTD_EIO, "%s: checkpointer: no thread", db->path);
    }
    db->ckpt = ck;
    sqlite3_wal_hook(db->sql, on_commit, ck);
    return 0;
}

void host_db_checkpointer_stop(host_db_t *db)
{
    host_db_checkpointer_t *ck = db->ckpt;
    if (ck == NULL)
        return;
    uv_mutex_lock(&ck->mu);
    ck->stopping = 1;
    uv_cond_signal(&ck->cond);
    uv_mutex_unlock(&ck->mu);
    uv_thread_join(&ck->thread);
    db->ckpt = NULL;
    sqlite3_wal_autocheckpoint(db->sql, DEFAULT_EVERY); /* SQLite's hook again */
    free_ck(ck);
}

void host_db_checkpointer_stats(const host_db_t *db, host_db_checkpointer_stats_t *out)
{
    host_db_checkpointer_t *ck = db->ckpt;
    *out = (host_db_checkpointer_stats_t){0};
    if (ck == NULL)
        return;
    uv_mutex_lock(&ck->mu);
    *out = ck->stats;
    uv_mutex_unlock(&ck->mu);
}
