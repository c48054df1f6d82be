/* WAL checkpoints off the loop thread (checkpoint.h). */
#include "events/checkpoint.h"

#include <stdlib.h>
#include <string.h>

struct host_checkpointer {
    uv_loop_t *loop;
    host_db_t *db;      /* the host's connection: loop thread only */
    char *path;         /* the database, for the pool's own connection */
    sqlite3 *bg;        /* the pool's connection: opened there, used only by
                         * the one work request in flight, else idle */
    uv_work_t work;
    int in_flight;
    int bg_rc;          /* the last background checkpoint's result */
    int stopping;       /* stopped with work in flight: freed by after_work */
    int last_queued;    /* WAL pages when the last background pass was queued */
    host_checkpointer_stats_t stats;
};

static void destroy(host_checkpointer_t *cp)
{
    sqlite3_close(cp->bg);
    free(cp->path);
    free(cp);
}

/* Thread pool. */
static void on_work(uv_work_t *w)
{
    host_checkpointer_t *cp = w->data;
    if (cp->bg == NULL &&
        sqlite3_open_v2(cp->path, &cp->bg, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        cp->bg_rc = SQLITE_CANTOPEN;
        sqlite3_close(cp->bg);
        cp->bg = NULL;
        return;
    }
    cp->bg_rc = sqlite3_wal_checkpoint_v2(cp->bg, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
}

static void after_work(uv_work_t *w, int status)
{
    host_checkpointer_t *cp = w->data;
    cp->in_flight = 0;
    if (status == 0 && cp->bg_rc == SQLITE_OK)
        cp->stats.background++;
    else
        cp->stats.failed++;
    if (cp->stopping)
        destroy(cp);
}

/* After each commit of the host connection, with the WAL's size in pages
 * (frames since its last restart). */
static int on_wal(void *ud, sqlite3 *db, const char *name, int pages)
{
    host_checkpointer_t *cp = ud;
    if (pages < cp->last_queued)
        cp->last_queued = 0; /* the WAL restarted */
    if (cp->in_flight)
        return SQLITE_OK;
    if (pages >= HOST_CKPT_FOREGROUND_PAGES) {
        /* The bound: what the background passes left (see the header). */
        if (sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL) ==
            SQLITE_OK)
            cp->stats.foreground++;
        cp->last_queued = 0;
        return SQLITE_OK;
    }
    if (pages >= HOST_CKPT_PAGES && pages >= cp->last_queued + HOST_CKPT_PAGES) {
        cp->work.data = cp;
        if (uv_queue_work(cp->loop, &cp->work, on_work, after_work) == 0) {
            cp->in_flight = 1;
            cp->last_queued = pages;
        }
    }
    return SQLITE_OK;
}

int host_checkpointer_start(uv_loop_t *loop, host_db_t *db, host_checkpointer_t **out,
                            agentd_err_t *err)
{
    *out = NULL;
    if (!sqlite3_threadsafe())
        return 0;
    host_checkpointer_t *cp = calloc(1, sizeof *cp);
    if (cp == NULL || (cp->path = strdup(db->path)) == NULL) {
        free(cp);
        return agentd_err_set(err, AGENTD_ENOMEM, "event log: out of memory");
    }
    cp->loop = loop;
    cp->db = db;
    /* Replaces SQLite's own checkpointing hook on this connection. */
    sqlite3_wal_hook(db->sql, on_wal, cp);
    *out = cp;
    return 0;
}

void host_checkpointer_stop(host_checkpointer_t *cp)
{
    if (cp == NULL)
        return;
    sqlite3_wal_autocheckpoint(cp->db->sql, HOST_CKPT_PAGES);
    if (cp->in_flight)
        cp->stopping = 1;
    else
        destroy(cp);
}

void host_checkpointer_stats(const host_checkpointer_t *cp, host_checkpointer_stats_t *out)
{
    if (cp == NULL) {
        host_checkpointer_stats_t zero = {0};
        *out = zero;
        return;
    }
    *out = cp->stats;
}
