#include "store/db.h"

#include "store/checkpointer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int host_db_exec(host_db_t *db, const char *sql, agentd_err_t *err)
{
    char *msg = NULL;
    if (sqlite3_exec(db->sql, sql, NULL, NULL, &msg) == SQLITE_OK)
        return 0;
    int rc = agentd_err_set(err, AGENTD_EIO, "%s: %s", db->path, msg != NULL ? msg : "error");
    sqlite3_free(msg);
    return rc;
}

int host_db_open(const char *path, host_db_t **out, agentd_err_t *err)
{
    *out = NULL;
    /* Create it private before SQLite does, with whatever umask we have. */
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return agentd_err_set(err, AGENTD_EIO, "%s: cannot open: %s", path, strerror(errno));
    close(fd);
    host_db_t *db = calloc(1, sizeof *db);
    if (db == NULL || (db->path = strdup(path)) == NULL) {
        free(db);
        return agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    }
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path, &db->sql, flags, NULL) != SQLITE_OK) {
        agentd_err_set(err, AGENTD_EIO, "%s: %s", path,
                       db->sql != NULL ? sqlite3_errmsg(db->sql) : "cannot open");
        host_db_close(db);
        return AGENTD_EIO;
    }
    sqlite3_busy_timeout(db->sql, 5000);
    int rc = host_db_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                              "PRAGMA foreign_keys=ON;"
                              "CREATE TABLE IF NOT EXISTS schema_versions ("
                              " component TEXT PRIMARY KEY, version INTEGER NOT NULL);",
                          err);
    if (rc != 0) {
        host_db_close(db);
        return rc;
    }
    *out = db;
    return 0;
}

void host_db_close(host_db_t *db)
{
    if (db == NULL)
        return;
    host_db_checkpointer_stop(db);
    sqlite3_close(db->sql);
    free(db->path);
    free(db);
}

static int current_version(host_db_t *db, const char *component, int *version)
{
    sqlite3_stmt *st = NULL;
    *version = 0;
    if (sqlite3_prepare_v2(db->sql, "SELECT version FROM schema_versions WHERE component = ?",
                           -1, &st, NULL) != SQLITE_OK)
        return AGENTD_EIO;
    sqlite3_bind_text(st, 1, component, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : AGENTD_EIO;
}

static int apply(host_db_t *db, const char *component, const host_db_migration_t *m,
                 agentd_err_t *err)
{
    if (host_db_exec(db, "BEGIN IMMEDIATE", err) != 0)
        return AGENTD_EIO;
    int rc = host_db_exec(db, m->sql, err);
    sqlite3_stmt *st = NULL;
    if (rc == 0 &&
        sqlite3_prepare_v2(db->sql, "INSERT INTO schema_versions(component, version) "
                                    "VALUES(?, ?) ON CONFLICT(component) DO UPDATE SET "
                                    "version = excluded.version", -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, component, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 2, m->version);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = agentd_err_set(err, AGENTD_EIO, "%s: %s", db->path, sqlite3_errmsg(db->sql));
    } else if (rc == 0) {
        rc = agentd_err_set(err, AGENTD_EIO, "%s: %s", db->path, sqlite3_errmsg(db->sql));
    }
    sqlite3_finalize(st);
    if (rc != 0) {
        host_db_exec(db, "ROLLBACK", NULL);
        return rc;
    }
    return host_db_exec(db, "COMMIT", err);
}

int host_db_migrate(host_db_t *db, const char *component, const host_db_migration_t *steps,
                    size_t count, agentd_err_t *err)
{
    int version;
    if (current_version(db, component, &version) != 0)
        return agentd_err_set(err, AGENTD_EIO, "%s: %s", db->path, sqlite3_errmsg(db->sql));
    int newest = count > 0 ? steps[count - 1].version : 0;
    if (version > newest)
        return agentd_err_set(err, AGENTD_EVERSION,
                              "%s: the %s schema is at version %d, newer than this agentd "
                              "knows (%d); use a newer agentd with this data directory",
                              db->path, component, version, newest);
    for (size_t i = 0; i < count; i++) {
        if (steps[i].version <= version)
            continue;
        int rc = apply(db, component, &steps[i], err);
        if (rc != 0)
            return rc;
    }
    return 0;
}
