/*
 * The durable event log over SQLite (store/db.h).
 *
 * Life of an event: append() gives it the session's next seq and queues it
 * (pending); the loop's check phase commits every pending event in one
 * transaction (so a burst of lines costs one commit, not one each) and
 * moves them to the ready queue; then they are fanned out to the listeners
 * and freed. A listener that appends starts the next batch, which the next
 * iteration commits: a uv_idle handle, running only while something is
 * pending, keeps that iteration from blocking in poll, so no batch waits
 * for unrelated I/O (appends made from a timer or before uv_run need it
 * too: the check phase of their iteration has already run or comes after a
 * poll that may block).
 *
 * Tables: event_streams maps a session id to a small integer (sid) so that
 * the events rows and their (sid, seq) index stay small; events keeps the
 * normalized data beside the raw line. The last seq of a session is read
 * from the index the first time the session appends after open, so seqs
 * continue across restarts.
 *
 * Failure: if a commit fails (disk full, I/O error), the batch is dropped
 * unreported and the log turns read-only: nothing is ever reported that is
 * not stored, and no seq is reused for a different event.
 */
#include "events/event_log.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "events/json_check.h"

#define DEFAULT_MAX_BATCH 4096
#define PRUNE_EVERY_MS 60000
#define MAX_SESSION_ID 128
#define MAX_TYPE 64
#define FIRST_BUCKETS 64

static const host_db_migration_t MIGRATIONS[] = {
    {1, "CREATE TABLE event_streams ("
        "  sid INTEGER PRIMARY KEY,"
        "  session_id TEXT NOT NULL UNIQUE);"
        "CREATE TABLE events ("
        "  id INTEGER PRIMARY KEY,"      /* global append order */
        "  sid INTEGER NOT NULL,"        /* event_streams.sid */
        "  seq INTEGER NOT NULL,"
        "  ts_ms INTEGER NOT NULL,"
        "  type TEXT NOT NULL,"
        "  data TEXT NOT NULL,"          /* a JSON object */
        "  raw BLOB);"                   /* the agent's line, bytes as read */
        "CREATE UNIQUE INDEX events_sid_seq ON events(sid, seq);"},
};

/* Prepared once, reused for the log's life. */
enum {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_INSERT,
    ST_INSERT_MANY,
    ST_NEW_STREAM,
    ST_FIND_STREAM,
    ST_READ,
    ST_OLDEST,
    ST_STREAMS,
    ST_AGE_CUT,
    ST_DELETE_UPTO,
    ST_PURGE_EVENTS,
    ST_PURGE_STREAM,
    ST_COUNT
};

/* A batch is stored INSERT_ROWS rows per statement while it lasts: one
 * statement's fixed cost (cursors opened and closed, the program's start
 * and halt) was more than a third of a row's. */
#define INSERT_ROWS 16
#define ROW "(?,?,?,?,?,?)"
#define ROWS_4 ROW "," ROW "," ROW "," ROW
#define ROWS_16 ROWS_4 "," ROWS_4 "," ROWS_4 "," ROWS_4

static const char *const SQL[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_INSERT] = "INSERT INTO events(sid, seq, ts_ms, type, data, raw) VALUES" ROW,
    [ST_INSERT_MANY] = "INSERT INTO events(sid, seq, ts_ms, type, data, raw) VALUES" ROWS_16,
    [ST_NEW_STREAM] = "INSERT INTO event_streams(session_id) VALUES(?)",
    [ST_FIND_STREAM] = "SELECT sid, (SELECT max(seq) FROM events e WHERE e.sid = s.sid) "
                       "FROM event_streams s WHERE session_id = ?",
    [ST_READ] = "SELECT seq, ts_ms, type, data, raw FROM events "
                "WHERE sid = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
    [ST_OLDEST] = "SELECT min(seq) FROM events WHERE sid = ?",
    [ST_STREAMS] = "SELECT sid, (SELECT max(seq) FROM events e WHERE e.sid = s.sid) "
                   "FROM event_streams s",
    /* The first event young enough to keep: everything before it goes.
     * Walking from the oldest costs what retention deletes anyway, and
     * needs no index on ts_ms. */
    [ST_AGE_CUT] = "SELECT seq FROM events WHERE sid = ?1 AND seq > ?2 AND ts_ms >= ?3 "
                   "ORDER BY seq LIMIT 1",
    [ST_DELETE_UPTO] = "DELETE FROM events WHERE sid = ?1 AND seq <= ?2",
    [ST_PURGE_EVENTS] = "DELETE FROM events WHERE sid = ?",
    [ST_PURGE_STREAM] = "DELETE FROM event_streams WHERE sid = ?",
};

/* What the log remembers of a session between appends: ~50 bytes plus the
 * id. */
typedef struct sess {
    struct sess *next;      /* hash chain */
    int64_t sid;            /* event_streams row; 0 until its first commit */
    uint64_t last;          /* last seq handed out */
    uint64_t committed;     /* last seq stored */
    uint32_t hash;
    char id[];
} sess_t;

/* An appended event: one allocation with its strings after it. */
typedef struct node {
    struct node *next;
    sess_t *sess;           /* while pending */
    size_t size;
    host_event_t ev;
    char text[];
} node_t;

struct host_event_listener {
    host_event_listener_t *next;
    host_event_listener_fn fn;
    void *ud;
    uint64_t added_at;      /* events fanned out when it was added */
    int dead;               /* unlistened during a fan-out; freed after it */
};

typedef struct queue {
    node_t *head;
    node_t **tail;
    size_t count;
} queue_t;

struct host_event_log {
    uv_loop_t *loop;
    host_db_t *db;
    host_event_log_opts_t opts;
    uv_check_t check;
    uv_idle_t idle;
    uv_timer_t prune_timer;
    int open_handles;

    sess_t **buckets;
    size_t nbuckets, nsess;

    queue_t pending;        /* appended, not committed */
    queue_t ready;          /* committed, not fanned out */
    size_t queued_bytes;

    host_event_listener_t *listeners;
    uint64_t fanned;
    int fanning;
    int close_pending;      /* close() was called by a listener */
    int closed;
    int dead_listeners;
    int read_busy;          /* ST_READ is stepping (a reader's callback runs) */

    sqlite3_stmt *st[ST_COUNT];

    int failed;
    agentd_err_t failure;
    host_event_log_error_fn on_error;
    void *on_error_ud;
    host_event_log_stats_t stats;
};

/* ---- small helpers ------------------------------------------------------ */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint32_t hash_id(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static void queue_init(queue_t *q)
{
    q->head = NULL;
    q->tail = &q->head;
    q->count = 0;
}

static void queue_push(queue_t *q, node_t *n)
{
    n->next = NULL;
    *q->tail = n;
    q->tail = &n->next;
    q->count++;
}

/* Moves all of src to the end of dst. */
static void queue_splice(queue_t *dst, queue_t *src)
{
    if (src->head == NULL)
        return;
    *dst->tail = src->head;
    dst->tail = src->tail;
    dst->count += src->count;
    queue_init(src);
}

static void queue_free(host_event_log_t *log, queue_t *q)
{
    node_t *n = q->head;
    while (n != NULL) {
        node_t *next = n->next;
        log->queued_bytes -= n->size;
        free(n);
        n = next;
    }
    queue_init(q);
}

/* The database's text for the last failure, into err with a prefix. */
static int db_error(host_event_log_t *log, agentd_err_t *err, const char *what)
{
    return agentd_err_set(err, AGENTD_EIO, "event log: %s: %s (%s)", what,
                          sqlite3_errmsg(log->db->sql), log->db->path);
}

/* Steps a statement that returns no row, and resets it. */
static int exec_st(host_event_log_t *log, int which, agentd_err_t *err, const char *what)
{
    sqlite3_stmt *st = log->st[which];
    int rc = sqlite3_step(st);
    int ret = 0;
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        ret = db_error(log, err, what);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return ret;
}

static void rollback(host_event_log_t *log)
{
    if (!sqlite3_get_autocommit(log->db->sql))
        exec_st(log, ST_ROLLBACK, NULL, "rollback");
}

/* A write transaction of our own, or AGENTD_EBUSY when the connection is
 * inside someone else's (another part of the host between its BEGIN and
 * COMMIT) or another process holds the write lock: nothing is lost, the
 * caller tries again later. */
static int begin(host_event_log_t *log, agentd_err_t *err)
{
    if (!sqlite3_get_autocommit(log->db->sql))
        return agentd_err_set(err, AGENTD_EBUSY,
                              "event log: a transaction is open on the database; "
                              "events wait for the next iteration");
    sqlite3_stmt *st = log->st[ST_BEGIN];
    int rc = sqlite3_step(st);
    int ret = 0;
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
        ret = agentd_err_set(err, AGENTD_EBUSY, "event log: the database is locked (%s)",
                             log->db->path);
    else if (rc != SQLITE_DONE)
        ret = db_error(log, err, "cannot begin a transaction");
    sqlite3_reset(st);
    return ret;
}

static void report(host_event_log_t *log, int code, int fatal, const char *msg)
{
    if (log->on_error != NULL)
        log->on_error(log->on_error_ud, code, fatal, msg);
}

/* ---- sessions ----------------------------------------------------------- */

static sess_t *sess_find(const host_event_log_t *log, const char *id, uint32_t h)
{
    for (sess_t *s = log->buckets[h & (log->nbuckets - 1)]; s != NULL; s = s->next)
        if (s->hash == h && strcmp(s->id, id) == 0)
            return s;
    return NULL;
}

static void sess_grow(host_event_log_t *log)
{
    size_t n = log->nbuckets * 2;
    sess_t **b = calloc(n, sizeof *b);
    if (b == NULL)
        return; /* longer chains, still correct */
    for (size_t i = 0; i < log->nbuckets; i++) {
        sess_t *s = log->buckets[i];
        while (s != NULL) {
            sess_t *next = s->next;
            s->next = b[s->hash & (n - 1)];
            b[s->hash & (n - 1)] = s;
            s = next;
        }
    }
    free(log->buckets);
    log->buckets = b;
    log->nbuckets = n;
}

/* The stored state of a session: its sid and last seq (0, 0 if it has no
 * events). */
static int stream_lookup(host_event_log_t *log, const char *id, int64_t *sid, uint64_t *last,
                         agentd_err_t *err)
{
    sqlite3_stmt *st = log->st[ST_FIND_STREAM];
    *sid = 0;
    *last = 0;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *sid = sqlite3_column_int64(st, 0);
        *last = (uint64_t)sqlite3_column_int64(st, 1);
    }
    int ret = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_error(log, err, "cannot read");
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return ret;
}

/* The in-memory state of a session, loaded from the database the first
 * time. */
static int sess_get(host_event_log_t *log, const char *id, sess_t **out, agentd_err_t *err)
{
    uint32_t h = hash_id(id);
    sess_t *s = sess_find(log, id, h);
    if (s != NULL) {
        *out = s;
        return 0;
    }
    int64_t sid;
    uint64_t last;
    int rc = stream_lookup(log, id, &sid, &last, err);
    if (rc != 0)
        return rc;
    size_t len = strlen(id);
    s = malloc(sizeof *s + len + 1);
    if (s == NULL)
        return agentd_err_set(err, AGENTD_ENOMEM, "event log: out of memory");
    memcpy(s->id, id, len + 1);
    s->sid = sid;
    s->last = s->committed = last;
    s->hash = h;
    if (log->nsess >= log->nbuckets)
        sess_grow(log);
    sess_t **b = &log->buckets[h & (log->nbuckets - 1)];
    s->next = *b;
    *b = s;
    log->nsess++;
    *out = s;
    return 0;
}

static void sess_remove(host_event_log_t *log, const char *id)
{
    uint32_t h = hash_id(id);
    for (sess_t **p = &log->buckets[h & (log->nbuckets - 1)]; *p != NULL; p = &(*p)->next) {
        if ((*p)->hash == h && strcmp((*p)->id, id) == 0) {
            sess_t *s = *p;
            *p = s->next;
            free(s);
            log->nsess--;
            return;
        }
    }
}

/* ---- commit and fan-out ------------------------------------------------- */

static void on_idle(uv_idle_t *h)
{
    (void)h; /* only there so that poll does not block while events wait */
}

/* The idle handle runs while events wait, to be stored or to be handed
 * out: an early commit inside append() leaves nothing pending but events
 * ready, and they must not wait for I/O either. */
static void update_idle(host_event_log_t *log)
{
    if (log->pending.head != NULL || log->ready.head != NULL)
        uv_idle_start(&log->idle, on_idle);
    else
        uv_idle_stop(&log->idle);
}

/* The log turns read-only: the batch was not stored, so it is dropped
 * unreported, and no later event may take seqs that were handed out. */
static int fail(host_event_log_t *log, const agentd_err_t *cause, agentd_err_t *err)
{
    log->failed = 1;
    snprintf(log->failure.msg, sizeof log->failure.msg,
             "%.380s; %zu event(s) not stored; the event log refuses appends until agentd "
             "restarts",
             cause->msg, log->pending.count);
    queue_free(log, &log->pending);
    update_idle(log);
    report(log, AGENTD_EIO, 1, log->failure.msg);
    return agentd_err_set(err, AGENTD_EIO, "%s", log->failure.msg);
}

/* The session's event_streams row, made on its first commit. */
static int ensure_stream(host_event_log_t *log, sess_t *s, agentd_err_t *err)
{
    if (s->sid != 0)
        return 0;
    sqlite3_stmt *st = log->st[ST_NEW_STREAM];
    sqlite3_bind_text(st, 1, s->id, -1, SQLITE_STATIC);
    int rc = exec_st(log, ST_NEW_STREAM, err, "cannot store events");
    if (rc == 0)
        s->sid = sqlite3_last_insert_rowid(log->db->sql);
    return rc;
}

/* Binds one event as the row whose first parameter is p. */
static void bind_row(sqlite3_stmt *st, int p, const node_t *n)
{
    sqlite3_bind_int64(st, p, n->sess->sid);
    sqlite3_bind_int64(st, p + 1, (sqlite3_int64)n->ev.seq);
    sqlite3_bind_int64(st, p + 2, (sqlite3_int64)n->ev.ts_ms);
    sqlite3_bind_text(st, p + 3, n->ev.type, -1, SQLITE_STATIC);
    sqlite3_bind_text64(st, p + 4, n->ev.data_json, n->ev.data_len, SQLITE_STATIC, SQLITE_UTF8);
    if (n->ev.raw != NULL)
        sqlite3_bind_blob64(st, p + 5, n->ev.raw, n->ev.raw_len, SQLITE_STATIC);
}

/* Inserts the events from *n on, INSERT_ROWS at a time when there are as
 * many, else one; *n moves past them. Rows are inserted in list order
 * either way, so ids follow append order. */
static int insert(host_event_log_t *log, node_t **n, agentd_err_t *err)
{
    node_t *k = *n;
    int rows = 0;
    while (k != NULL && rows < INSERT_ROWS) {
        k = k->next;
        rows++;
    }
    int which = rows == INSERT_ROWS ? ST_INSERT_MANY : ST_INSERT;
    if (which == ST_INSERT)
        rows = 1;
    sqlite3_stmt *st = log->st[which];
    for (int r = 0; r < rows; r++, *n = (*n)->next)
        bind_row(st, 1 + 6 * r, *n);
    return exec_st(log, which, err, "cannot store events");
}

/* Stores every pending event in one transaction and moves them to the
 * ready queue. AGENTD_EBUSY: not now, nothing lost. AGENTD_EIO: the log
 * has failed (see fail()). */
static int commit(host_event_log_t *log, agentd_err_t *err)
{
    if (log->pending.head == NULL)
        return 0;
    agentd_err_t cause;
    int rc = begin(log, &cause);
    if (rc == AGENTD_EBUSY)
        return agentd_err_set(err, rc, "%s", cause.msg);
    /* Sessions that got their sid in this transaction lose it if it rolls
     * back; harmless, as a failed log stores nothing more. */
    for (node_t *n = log->pending.head; rc == 0 && n != NULL; n = n->next)
        rc = ensure_stream(log, n->sess, &cause);
    for (node_t *n = log->pending.head; rc == 0 && n != NULL;)
        rc = insert(log, &n, &cause);
    if (rc == 0)
        rc = exec_st(log, ST_COMMIT, &cause, "cannot commit events");
    if (rc != 0) {
        rollback(log);
        return fail(log, &cause, err);
    }
    for (node_t *n = log->pending.head; n != NULL; n = n->next) {
        n->sess->committed = n->ev.seq;
        n->sess = NULL;
    }
    log->stats.commits++;
    log->stats.committed += log->pending.count;
    queue_splice(&log->ready, &log->pending);
    return 0;
}


static void sweep_listeners(host_event_log_t *log)
{
    host_event_listener_t **p = &log->listeners;
    while (*p != NULL) {
        if ((*p)->dead) {
            host_event_listener_t *l = *p;
            *p = l->next;
            free(l);
        } else {
            p = &(*p)->next;
        }
    }
    log->dead_listeners = 0;
}

/* Hands every committed event to the listeners, in commit order. Not
 * re-entered: events committed by a listener (through flush) join the
 * queue this loop is draining. */
static void fan_out(host_event_log_t *log)
{
    if (log->fanning)
        return;
    log->fanning = 1;
    node_t *n;
    while ((n = log->ready.head) != NULL) {
        log->ready.head = n->next;
        if (log->ready.head == NULL)
            log->ready.tail = &log->ready.head;
        log->ready.count--;
        uint64_t no = ++log->fanned;
        /* A listener added while this event goes out starts with the next
         * one; one removed is only marked, so the walk stays valid. */
        for (host_event_listener_t *l = log->listeners; l != NULL; l = l->next)
            if (!l->dead && l->added_at < no)
                l->fn(l->ud, &n->ev);
        log->stats.fanned_out++;
        log->queued_bytes -= n->size;
        free(n);
        if (log->close_pending)
            break;
    }
    log->fanning = 0;
    if (log->dead_listeners)
        sweep_listeners(log);
    if (log->close_pending)
        host_event_log_close(log);
}

static void on_check(uv_check_t *h)
{
    host_event_log_t *log = h->data;
    if (log->closed)
        return;
    commit(log, NULL); /* a failure is reported through on_error */
    fan_out(log);
    if (!log->closed) /* a listener may have closed the log */
        update_idle(log);
}

static void on_prune_timer(uv_timer_t *h)
{
    host_event_log_t *log = h->data;
    agentd_err_t err;
    int rc = host_event_log_prune(log, &err);
    if (rc != 0 && rc != AGENTD_EBUSY)
        report(log, rc, 0, err.msg);
}

/* ---- open and close ----------------------------------------------------- */

static void on_handle_closed(uv_handle_t *h)
{
    host_event_log_t *log = h->data;
    if (--log->open_handles == 0)
        free(log);
}

static void free_state(host_event_log_t *log)
{
    queue_free(log, &log->pending);
    queue_free(log, &log->ready);
    while (log->listeners != NULL) {
        host_event_listener_t *l = log->listeners;
        log->listeners = l->next;
        free(l);
    }
    for (size_t i = 0; log->buckets != NULL && i < log->nbuckets; i++) {
        while (log->buckets[i] != NULL) {
            sess_t *s = log->buckets[i];
            log->buckets[i] = s->next;
            free(s);
        }
    }
    free(log->buckets);
    log->buckets = NULL;
    for (int i = 0; i < ST_COUNT; i++) {
        sqlite3_finalize(log->st[i]);
        log->st[i] = NULL;
    }
}

int host_event_log_open(uv_loop_t *loop, host_db_t *db, const host_event_log_opts_t *opts,
                        host_event_log_t **out, agentd_err_t *err)
{
    *out = NULL;
    if (loop == NULL || db == NULL)
        return agentd_err_set(err, AGENTD_EINVAL, "event log: no loop or database");
    int rc = host_db_migrate(db, "events", MIGRATIONS, sizeof MIGRATIONS / sizeof MIGRATIONS[0],
                             err);
    if (rc != 0)
        return rc;
    host_event_log_t *log = calloc(1, sizeof *log);
    if (log == NULL)
        return agentd_err_set(err, AGENTD_ENOMEM, "event log: out of memory");
    log->loop = loop;
    log->db = db;
    if (opts != NULL)
        log->opts = *opts;
    if (log->opts.max_batch == 0)
        log->opts.max_batch = DEFAULT_MAX_BATCH;
    queue_init(&log->pending);
    queue_init(&log->ready);
    log->nbuckets = FIRST_BUCKETS;
    log->buckets = calloc(log->nbuckets, sizeof *log->buckets);
    if (log->buckets == NULL) {
        free(log);
        return agentd_err_set(err, AGENTD_ENOMEM, "event log: out of memory");
    }
    for (int i = 0; i < ST_COUNT; i++) {
        if (sqlite3_prepare_v3(db->sql, SQL[i], -1, SQLITE_PREPARE_PERSISTENT, &log->st[i],
                               NULL) != SQLITE_OK) {
            rc = db_error(log, err, "cannot prepare statements");
            free_state(log);
            free(log);
            return rc;
        }
    }
    /* The check handle is always active but must not keep the loop alive;
     * the idle handle does, while events wait, so they are committed before
     * uv_run returns. The retention timer keeps nothing alive either. */
    uv_check_init(loop, &log->check);
    uv_idle_init(loop, &log->idle);
    uv_timer_init(loop, &log->prune_timer);
    log->check.data = log->idle.data = log->prune_timer.data = log;
    log->open_handles = 3;
    uv_check_start(&log->check, on_check);
    uv_unref((uv_handle_t *)&log->check);
    if (log->opts.max_age_s != 0 || log->opts.max_events != 0) {
        uv_timer_start(&log->prune_timer, on_prune_timer, PRUNE_EVERY_MS, PRUNE_EVERY_MS);
        uv_unref((uv_handle_t *)&log->prune_timer);
    }
    *out = log;
    return 0;
}

void host_event_log_close(host_event_log_t *log)
{
    if (log == NULL || log->closed)
        return;
    if (log->fanning) {
        /* From a listener: finished when the fan-out loop unwinds. */
        log->close_pending = 1;
        return;
    }
    log->closed = 1;
    size_t waiting = log->pending.count;
    agentd_err_t err;
    if (commit(log, &err) == AGENTD_EBUSY) {
        char msg[AGENTD_ERR_MAX];
        snprintf(msg, sizeof msg, "%.400s; %zu event(s) not stored at close", err.msg, waiting);
        report(log, AGENTD_EIO, 1, msg);
    }
    /* The database may be closed as soon as this returns: the statements go
     * now; only the handles' memory waits for their close callbacks. */
    free_state(log);
    uv_close((uv_handle_t *)&log->check, on_handle_closed);
    uv_close((uv_handle_t *)&log->idle, on_handle_closed);
    uv_close((uv_handle_t *)&log->prune_timer, on_handle_closed);
}

/* ---- appending ---------------------------------------------------------- */

static int valid_session_id(const char *id)
{
    size_t n = 0;
    for (; id[n] != '\0'; n++)
        if ((unsigned char)id[n] <= 0x20 || (unsigned char)id[n] >= 0x7f)
            return 0;
    return n > 0 && n <= MAX_SESSION_ID;
}

static int valid_type(const char *t)
{
    size_t n = 0;
    for (; t[n] != '\0'; n++) {
        char c = t[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return n > 0 && n <= MAX_TYPE;
}

static node_t *node_new(const char *session_id, const char *type, const char *data,
                        size_t data_len, const char *raw, size_t raw_len)
{
    size_t sid_len = strlen(session_id), type_len = strlen(type);
    size_t text = sid_len + type_len + 3;
    if (data_len > SIZE_MAX / 2 || raw_len > SIZE_MAX / 2 - text - data_len - sizeof(node_t))
        return NULL;
    text += data_len + (raw != NULL ? raw_len + 1 : 0);
    node_t *n = malloc(sizeof *n + text);
    if (n == NULL)
        return NULL;
    n->size = sizeof *n + text;
    char *p = n->text;
    /* Each string NUL-terminated, so listeners may use them as C strings. */
    n->ev.session_id = memcpy(p, session_id, sid_len + 1);
    p += sid_len + 1;
    n->ev.type = memcpy(p, type, type_len + 1);
    p += type_len + 1;
    memcpy(p, data, data_len);
    p[data_len] = '\0';
    n->ev.data_json = p;
    n->ev.data_len = data_len;
    p += data_len + 1;
    n->ev.raw = NULL;
    n->ev.raw_len = 0;
    if (raw != NULL) {
        if (raw_len > 0)
            memcpy(p, raw, raw_len);
        p[raw_len] = '\0';
        n->ev.raw = p;
        n->ev.raw_len = raw_len;
    }
    return n;
}

static int append(host_event_log_t *log, const char *session_id, const char *type,
                  const char *data_json, size_t data_len, const char *raw, size_t raw_len,
                  uint64_t *seq, int trusted, agentd_err_t *err)
{
    if (seq != NULL)
        *seq = 0;
    if (log->closed || log->close_pending)
        return agentd_err_set(err, AGENTD_ECLOSED, "event log: closed");
    if (log->failed)
        return agentd_err_set(err, AGENTD_EIO, "%s", log->failure.msg);
    if (session_id == NULL || !valid_session_id(session_id))
        return agentd_err_set(err, AGENTD_EINVAL,
                              "event log: a session id is 1 to %d printable ASCII characters",
                              MAX_SESSION_ID);
    if (type == NULL || !valid_type(type))
        return agentd_err_set(err, AGENTD_EINVAL,
                              "event log: event type '%.*s' is not 1 to %d of [A-Za-z0-9._-]",
                              MAX_TYPE, type != NULL ? type : "", MAX_TYPE);
    assert(!trusted || (data_json != NULL && host_json_is_object(data_json, data_len)));
    if (data_json == NULL || (!trusted && !host_json_is_object(data_json, data_len)))
        return agentd_err_set(err, AGENTD_EINVAL,
                              "event log: the data of a %s event is not a JSON object", type);
    if (raw == NULL && raw_len != 0)
        return agentd_err_set(err, AGENTD_EINVAL, "event log: raw is NULL but raw_len is not 0");
    sess_t *s = NULL;
    int rc = sess_get(log, session_id, &s, err);
    if (rc != 0)
        return rc;
    node_t *n = node_new(session_id, type, data_json, data_len, raw, raw_len);
    if (n == NULL)
        return agentd_err_set(err, AGENTD_ENOMEM, "event log: out of memory");
    n->sess = s;
    n->ev.seq = ++s->last;
    n->ev.ts_ms = now_ms();
    queue_push(&log->pending, n);
    uv_idle_start(&log->idle, on_idle); /* a no-op when it runs already */
    log->queued_bytes += n->size;
    if (seq != NULL)
        *seq = n->ev.seq;
    /* A full batch is stored now; its fan-out still waits for the check
     * phase, so listeners never run inside an append. */
    if (log->pending.count >= log->opts.max_batch) {
        rc = commit(log, err);
        if (rc == AGENTD_EIO) {
            if (seq != NULL)
                *seq = 0;
            return rc;
        }
    }
    return 0;
}

int host_event_log_append(host_event_log_t *log, const char *session_id, const char *type,
                          const char *data_json, size_t data_len, const char *raw,
                          size_t raw_len, uint64_t *seq, agentd_err_t *err)
{
    return append(log, session_id, type, data_json, data_len, raw, raw_len, seq, 0, err);
}

int host_event_log_append_trusted(host_event_log_t *log, const char *session_id,
                                  const char *type, const char *data_json, size_t data_len,
                                  const char *raw, size_t raw_len, uint64_t *seq,
                                  agentd_err_t *err)
{
    return append(log, session_id, type, data_json, data_len, raw, raw_len, seq, 1, err);
}

int host_event_log_flush(host_event_log_t *log, agentd_err_t *err)
{
    if (log->closed || log->close_pending)
        return agentd_err_set(err, AGENTD_ECLOSED, "event log: closed");
    int rc = commit(log, err);
    fan_out(log);
    if (log->closed)
        return rc;
    update_idle(log);
    if (rc == 0 && log->failed)
        rc = agentd_err_set(err, AGENTD_EIO, "%s", log->failure.msg);
    return rc;
}

/* ---- listeners ---------------------------------------------------------- */

int host_event_log_listen(host_event_log_t *log, host_event_listener_fn fn, void *ud,
                          host_event_listener_t **out)
{
    if (out != NULL)
        *out = NULL;
    if (fn == NULL)
        return AGENTD_EINVAL;
    host_event_listener_t *l = calloc(1, sizeof *l);
    if (l == NULL)
        return AGENTD_ENOMEM;
    l->fn = fn;
    l->ud = ud;
    l->added_at = log->fanned;
    host_event_listener_t **p = &log->listeners;
    while (*p != NULL)
        p = &(*p)->next;
    *p = l;
    if (out != NULL)
        *out = l;
    return 0;
}

void host_event_log_unlisten(host_event_log_t *log, host_event_listener_t *l)
{
    if (l == NULL)
        return;
    if (log->fanning) {
        l->dead = 1;
        log->dead_listeners = 1;
        return;
    }
    for (host_event_listener_t **p = &log->listeners; *p != NULL; p = &(*p)->next) {
        if (*p == l) {
            *p = l->next;
            free(l);
            return;
        }
    }
}

/* ---- reading ------------------------------------------------------------ */

/* The session's sid and last committed seq, without caching a session that
 * only readers ask about. */
static int stream_state(host_event_log_t *log, const char *id, int64_t *sid, uint64_t *last,
                        agentd_err_t *err)
{
    sess_t *s = sess_find(log, id, hash_id(id));
    if (s == NULL)
        return stream_lookup(log, id, sid, last, err);
    *sid = s->sid;
    *last = s->committed;
    return 0;
}

static int oldest_seq(host_event_log_t *log, int64_t sid, uint64_t *oldest, agentd_err_t *err)
{
    sqlite3_stmt *st = log->st[ST_OLDEST];
    sqlite3_bind_int64(st, 1, sid);
    int rc = sqlite3_step(st);
    *oldest = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(st, 0) : 0;
    int ret = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_error(log, err, "cannot read");
    sqlite3_reset(st);
    return ret;
}

int host_event_log_read(host_event_log_t *log, const char *session_id, uint64_t since,
                        size_t limit, host_event_listener_fn fn, void *ud, uint64_t *last,
                        agentd_err_t *err)
{
    if (last != NULL)
        *last = since;
    if (session_id == NULL || fn == NULL)
        return agentd_err_set(err, AGENTD_EINVAL, "event log: no session or callback");
    int64_t sid;
    uint64_t newest, oldest = 0;
    int rc = stream_state(log, session_id, &sid, &newest, err);
    if (rc != 0)
        return rc;
    if (since > newest)
        return agentd_err_set(err, AGENTD_EINVAL,
                              "event log: cursor %llu is past the last event of session %s "
                              "(seq %llu)",
                              (unsigned long long)since, session_id, (unsigned long long)newest);
    if (since == newest)
        return 0;
    if ((rc = oldest_seq(log, sid, &oldest, err)) != 0)
        return rc;
    if (since + 1 < oldest)
        return agentd_err_set(err, AGENTD_ELIMIT,
                              "cursor too old: events %llu to %llu of session %s were removed "
                              "by retention; the oldest retained is seq %llu (read from "
                              "since=%llu)",
                              (unsigned long long)since + 1, (unsigned long long)oldest - 1,
                              session_id, (unsigned long long)oldest,
                              (unsigned long long)oldest - 1);
    /* A reader's callback may read again (a subscriber catching up): the
     * nested read gets a statement of its own. */
    sqlite3_stmt *st = log->st[ST_READ];
    int own = 0;
    if (log->read_busy) {
        if (sqlite3_prepare_v2(log->db->sql, SQL[ST_READ], -1, &st, NULL) != SQLITE_OK)
            return db_error(log, err, "cannot read");
        own = 1;
    } else {
        log->read_busy = 1;
    }
    sqlite3_bind_int64(st, 1, sid);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)since);
    sqlite3_bind_int64(st, 3, limit > 0 && limit < INT64_MAX ? (sqlite3_int64)limit : -1);
    host_event_t ev = {.session_id = session_id};
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        ev.seq = (uint64_t)sqlite3_column_int64(st, 0);
        ev.ts_ms = (uint64_t)sqlite3_column_int64(st, 1);
        ev.type = (const char *)sqlite3_column_text(st, 2);
        ev.data_json = (const char *)sqlite3_column_text(st, 3);
        ev.data_len = (size_t)sqlite3_column_bytes(st, 3);
        if (sqlite3_column_type(st, 4) == SQLITE_NULL) {
            ev.raw = NULL;
            ev.raw_len = 0;
        } else {
            ev.raw = sqlite3_column_blob(st, 4);
            ev.raw_len = (size_t)sqlite3_column_bytes(st, 4);
            if (ev.raw == NULL)
                ev.raw = ""; /* an empty line, not a missing one */
        }
        if (ev.type == NULL || ev.data_json == NULL) {
            rc = SQLITE_NOMEM;
            break;
        }
        fn(ud, &ev);
        if (last != NULL)
            *last = ev.seq;
    }
    int ret = rc == SQLITE_DONE ? 0 : db_error(log, err, "cannot read");
    if (own) {
        sqlite3_finalize(st);
    } else {
        sqlite3_reset(st);
        log->read_busy = 0;
    }
    return ret;
}

uint64_t host_event_log_last_seq(host_event_log_t *log, const char *session_id)
{
    int64_t sid;
    uint64_t last = 0;
    if (session_id == NULL || stream_state(log, session_id, &sid, &last, NULL) != 0)
        return 0;
    return last;
}

/* ---- retention ---------------------------------------------------------- */

/* The highest seq to delete in one session: what exceeds max_events, and
 * the prefix older than max_age_s; never the session's last event. Only a
 * prefix is ever deleted, so "the oldest retained seq" stays meaningful
 * even if the wall clock went backwards. */
static int prune_cut(host_event_log_t *log, int64_t sid, uint64_t last, uint64_t min_ts,
                     uint64_t *cut, agentd_err_t *err)
{
    uint64_t c = 0;
    if (log->opts.max_events != 0 && last > log->opts.max_events)
        c = last - log->opts.max_events;
    if (log->opts.max_age_s != 0) {
        sqlite3_stmt *st = log->st[ST_AGE_CUT];
        sqlite3_bind_int64(st, 1, sid);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)c);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)min_ts);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            uint64_t keep = (uint64_t)sqlite3_column_int64(st, 0);
            if (keep - 1 > c)
                c = keep - 1;
        } else if (rc == SQLITE_DONE) {
            c = last; /* all old: clamped below */
        }
        int ret = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_error(log, err, "cannot prune");
        sqlite3_reset(st);
        if (ret != 0)
            return ret;
    }
    *cut = c >= last ? last - 1 : c;
    return 0;
}

int host_event_log_prune(host_event_log_t *log, agentd_err_t *err)
{
    if (log->opts.max_age_s == 0 && log->opts.max_events == 0)
        return 0;
    uint64_t now = now_ms(), age_ms = log->opts.max_age_s * 1000u;
    uint64_t min_ts = age_ms / 1000u == log->opts.max_age_s && age_ms < now ? now - age_ms : 0;
    int rc = begin(log, err);
    if (rc != 0)
        return rc;
    sqlite3_stmt *streams = log->st[ST_STREAMS];
    uint64_t deleted = 0;
    int step = SQLITE_DONE;
    while (rc == 0 && (step = sqlite3_step(streams)) == SQLITE_ROW) {
        if (sqlite3_column_type(streams, 1) == SQLITE_NULL)
            continue; /* no events */
        int64_t sid = sqlite3_column_int64(streams, 0);
        uint64_t last = (uint64_t)sqlite3_column_int64(streams, 1), cut;
        rc = prune_cut(log, sid, last, min_ts, &cut, err);
        if (rc != 0 || cut == 0)
            continue;
        sqlite3_bind_int64(log->st[ST_DELETE_UPTO], 1, sid);
        sqlite3_bind_int64(log->st[ST_DELETE_UPTO], 2, (sqlite3_int64)cut);
        rc = exec_st(log, ST_DELETE_UPTO, err, "cannot prune");
        if (rc == 0)
            deleted += (uint64_t)sqlite3_changes(log->db->sql);
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = db_error(log, err, "cannot prune");
    sqlite3_reset(streams);
    if (rc == 0)
        rc = exec_st(log, ST_COMMIT, err, "cannot commit pruning");
    if (rc != 0) {
        rollback(log);
        return rc;
    }
    log->stats.pruned += deleted;
    return 0;
}

int host_event_log_purge(host_event_log_t *log, const char *session_id, agentd_err_t *err)
{
    if (session_id == NULL)
        return agentd_err_set(err, AGENTD_EINVAL, "event log: no session");
    /* Its pending events are stored first, or they would outlive the
     * purge. */
    int rc = commit(log, err);
    if (rc != 0)
        return rc;
    int64_t sid;
    uint64_t last;
    if ((rc = stream_state(log, session_id, &sid, &last, err)) != 0)
        return rc;
    if (sid != 0) {
        if ((rc = begin(log, err)) != 0)
            return rc;
        sqlite3_bind_int64(log->st[ST_PURGE_EVENTS], 1, sid);
        rc = exec_st(log, ST_PURGE_EVENTS, err, "cannot purge");
        if (rc == 0) {
            sqlite3_bind_int64(log->st[ST_PURGE_STREAM], 1, sid);
            rc = exec_st(log, ST_PURGE_STREAM, err, "cannot purge");
        }
        if (rc == 0)
            rc = exec_st(log, ST_COMMIT, err, "cannot commit purge");
        if (rc != 0) {
            rollback(log);
            return rc;
        }
    }
    sess_remove(log, session_id);
    return 0;
}

/* ---- status ------------------------------------------------------------- */

void host_event_log_on_error(host_event_log_t *log, host_event_log_error_fn fn, void *ud)
{
    log->on_error = fn;
    log->on_error_ud = ud;
}

int host_event_log_status(const host_event_log_t *log, agentd_err_t *err)
{
    if (!log->failed)
        return 0;
    return agentd_err_set(err, AGENTD_EIO, "%s", log->failure.msg);
}

void host_event_log_stats(const host_event_log_t *log, host_event_log_stats_t *out)
{
    *out = log->stats;
    out->pending = log->pending.count;
    out->sessions = log->nsess;
    size_t mem = sizeof *log + log->nbuckets * sizeof *log->buckets + log->queued_bytes;
    for (size_t i = 0; i < log->nbuckets; i++)
        for (const sess_t *s = log->buckets[i]; s != NULL; s = s->next)
            mem += sizeof *s + strlen(s->id) + 1;
    for (const host_event_listener_t *l = log->listeners; l != NULL; l = l->next)
        mem += sizeof *l;
    out->memory = mem;
}
