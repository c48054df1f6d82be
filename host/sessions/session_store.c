/* Sessions and their accepted messages in the host's database. The events
 * themselves live in the event log; these rows are what the host needs to
 * rebuild its state after a restart. */
#include <stdlib.h>
#include <string.h>

#include "sessions/session_internal.h"

static const host_db_migration_t migrations[] = {
    {1, "CREATE TABLE sessions ("
        " id TEXT PRIMARY KEY,"
        " created_ms INTEGER NOT NULL,"
        " updated_ms INTEGER NOT NULL,"
        " state TEXT NOT NULL,"
        " settings TEXT NOT NULL,"
        " dir TEXT NOT NULL,"
        " workspace TEXT NOT NULL,"
        " own_workspace INTEGER NOT NULL,"
        " claude_session_id TEXT,"
        " cost_usd REAL NOT NULL DEFAULT 0,"
        " input_tokens INTEGER NOT NULL DEFAULT 0,"
        " output_tokens INTEGER NOT NULL DEFAULT 0,"
        " turns INTEGER NOT NULL DEFAULT 0);"
        "CREATE TABLE session_messages ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,"
        " ts_ms INTEGER NOT NULL,"
        " text TEXT NOT NULL,"
        " delivered INTEGER NOT NULL DEFAULT 0);"
        "CREATE INDEX session_messages_pending ON session_messages(session_id, delivered);"},
};

int session_store_open(host_sessions_t *m, agentd_err_t *err)
{
    return host_db_migrate(m->db, "sessions", migrations,
                           sizeof migrations / sizeof migrations[0], err);
}

static int step_done(host_sessions_t *m, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE)
        return 0;
    host_log(&m->ctx->log, AGENTD_LOG_ERROR, "sessions", "database: %s",
             sqlite3_errmsg(m->db->sql));
    return AGENTD_EIO;
}

int session_store_save(host_session_t *s)
{
    sqlite3_stmt *st;
    host_sessions_t *m = s->mgr;
    if (sqlite3_prepare_v2(m->db->sql,
                           "INSERT INTO sessions(id, created_ms, updated_ms, state, settings, dir,"
                           " workspace, own_workspace, claude_session_id, cost_usd, input_tokens,"
                           " output_tokens, turns) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)"
                           " ON CONFLICT(id) DO UPDATE SET updated_ms=excluded.updated_ms,"
                           " state=excluded.state, settings=excluded.settings,"
                           " claude_session_id=excluded.claude_session_id,"
                           " cost_usd=excluded.cost_usd, input_tokens=excluded.input_tokens,"
                           " output_tokens=excluded.output_tokens, turns=excluded.turns",
                           -1, &st, NULL) != SQLITE_OK)
        return AGENTD_EIO;
    char *settings = json_dumps(s->settings, JSON_COMPACT);
    sqlite3_bind_text(st, 1, s->id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)s->created_ms);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)s->updated_ms);
    sqlite3_bind_text(st, 4, host_session_state_name(s->state), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, settings != NULL ? settings : "{}", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 6, s->dir, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, s->workspace, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 8, s->own_workspace);
    if (s->claude_session_id != NULL)
        sqlite3_bind_text(st, 9, s->claude_session_id, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 9);
    sqlite3_bind_double(st, 10, s->cost_usd);
    sqlite3_bind_int64(st, 11, (sqlite3_int64)s->input_tokens);
    sqlite3_bind_int64(st, 12, (sqlite3_int64)s->output_tokens);
    sqlite3_bind_int64(st, 13, (sqlite3_int64)s->turns);
    free(settings);
    return step_done(m, st);
}

static host_session_state_t state_from_name(const char *name)
{
    for (int i = HOST_SESSION_PENDING; i <= HOST_SESSION_INTERRUPTED; i++)
        if (strcmp(host_session_state_name((host_session_state_t)i), name) == 0)
            return (host_session_state_t)i;
    return HOST_SESSION_INTERRUPTED;
}

static char *col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t != NULL ? strdup((const char *)t) : NULL;
}

static void load_queue(host_session_t *s)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->mgr->db->sql,
                           "SELECT id, text FROM session_messages WHERE session_id = ? AND"
                           " delivered = 0 ORDER BY id", -1, &st, NULL) != SQLITE_OK)
        return;
    sqlite3_bind_text(st, 1, s->id, -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW) {
        session_msg_t *msg = calloc(1, sizeof *msg);
        if (msg == NULL || (msg->text = col_text(st, 1)) == NULL) {
            free(msg);
            break;
        }
        msg->id = sqlite3_column_int64(st, 0);
        if (s->queue_tail != NULL)
            s->queue_tail->next = msg;
        else
            s->queue = msg;
        s->queue_tail = msg;
    }
    sqlite3_finalize(st);
}

/* Defined in sessions.c: links a loaded session into the manager. */
host_session_t *session_adopt_loaded(host_sessions_t *m, const char *id, json_t *settings);

int session_store_load_all(host_sessions_t *m, agentd_err_t *err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(m->db->sql,
                           "SELECT id, created_ms, updated_ms, state, settings, dir, workspace,"
                           " own_workspace, claude_session_id, cost_usd, input_tokens,"
                           " output_tokens, turns FROM sessions ORDER BY created_ms, id",
                           -1, &st, NULL) != SQLITE_OK)
        return agentd_err_set(err, AGENTD_EIO, "sessions: %s", sqlite3_errmsg(m->db->sql));
    int rc = 0;
    while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
        json_error_t jerr;
        json_t *settings = json_loads((const char *)sqlite3_column_text(st, 4), 0, &jerr);
        host_session_t *s = settings != NULL
                                ? session_adopt_loaded(m, (const char *)sqlite3_column_text(st, 0),
                                                       settings)
                                : NULL;
        if (s == NULL) {
            json_decref(settings);
            rc = agentd_err_set(err, AGENTD_ENOMEM, "sessions: cannot load a session");
            break;
        }
        s->created_ms = (uint64_t)sqlite3_column_int64(st, 1);
        s->updated_ms = (uint64_t)sqlite3_column_int64(st, 2);
        s->state = state_from_name((const char *)sqlite3_column_text(st, 3));
        s->dir = col_text(st, 5);
        s->workspace = col_text(st, 6);
        s->own_workspace = sqlite3_column_int(st, 7);
        s->claude_session_id = col_text(st, 8);
        s->cost_usd = sqlite3_column_double(st, 9);
        s->input_tokens = (uint64_t)sqlite3_column_int64(st, 10);
        s->output_tokens = (uint64_t)sqlite3_column_int64(st, 11);
        s->turns = (uint64_t)sqlite3_column_int64(st, 12);
        load_queue(s);
    }
    sqlite3_finalize(st);
    return rc;
}

int64_t session_store_add_message(host_session_t *s, const char *text)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->mgr->db->sql,
                           "INSERT INTO session_messages(session_id, ts_ms, text) VALUES(?,?,?)",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, s->id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)s->updated_ms);
    sqlite3_bind_text(st, 3, text, -1, SQLITE_STATIC);
    if (step_done(s->mgr, st) != 0)
        return -1;
    return sqlite3_last_insert_rowid(s->mgr->db->sql);
}

void session_store_message_delivered(host_session_t *s, int64_t msg_id)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->mgr->db->sql,
                           "UPDATE session_messages SET delivered = 1 WHERE id = ?", -1, &st,
                           NULL) != SQLITE_OK)
        return;
    sqlite3_bind_int64(st, 1, msg_id);
    step_done(s->mgr, st);
}

int session_store_delete(host_session_t *s)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->mgr->db->sql, "DELETE FROM sessions WHERE id = ?", -1, &st,
                           NULL) != SQLITE_OK)
        return AGENTD_EIO;
    sqlite3_bind_text(st, 1, s->id, -1, SQLITE_STATIC);
    return step_done(s->mgr, st);
}
