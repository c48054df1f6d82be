/*
 * The host's embedded database: one SQLite file (<data_dir>/agentd.db) in
 * WAL mode, used on the loop thread only. Each part of the host (secrets,
 * the event log, sessions) owns its tables and brings its schema as a list
 * of migrations under its own component name; host_db_migrate applies the
 * ones not applied yet, each in a transaction.
 *
 * Errors: 0 or a negative AGENTD_E* code, with text in err.
 */
#ifndef AGENTD_HOST_DB_H
#define AGENTD_HOST_DB_H

#include <sqlite3.h>

#include <agentd/abi.h>

typedef struct host_db {
    sqlite3 *sql;
    char *path;
    struct host_db_checkpointer *ckpt; /* checkpointer.h; NULL: SQLite's own */
} host_db_t;

/* One schema step: SQL run in a transaction, numbered from 1. */
typedef struct host_db_migration {
    int version;
    const char *sql;
} host_db_migration_t;

/* Opens (creating with mode 0600) the database at path: WAL, foreign keys,
 * synchronous=NORMAL (durable across a process crash; an fsync per
 * checkpoint), a busy timeout. Returns 0, AGENTD_EIO or AGENTD_ENOMEM. */
int host_db_open(const char *path, host_db_t **out, agentd_err_t *err);
/* Stops its checkpointer (checkpointer.h), if any, then closes. */
void host_db_close(host_db_t *db);

/* Applies the component's migrations newer than its recorded version, in
 * order. A database newer than the code (a recorded version above the
 * last step) is refused with AGENTD_EVERSION. */
int host_db_migrate(host_db_t *db, const char *component, const host_db_migration_t *steps,
                    size_t count, agentd_err_t *err);

/* Runs SQL with no result rows; text of a failure in err. */
int host_db_exec(host_db_t *db, const char *sql, agentd_err_t *err);

#endif /* AGENTD_HOST_DB_H */
