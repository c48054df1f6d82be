/* WAL checkpoints off the loop thread (host/events/checkpoint.h): under a
 * steady stream of commits the checkpoints run in the thread pool, the WAL
 * stays bounded (the loop thread checkpoints itself past
 * HOST_CKPT_FOREGROUND_PAGES), nothing committed is lost, and stopping with
 * a checkpoint in flight frees everything once the loop has run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "events/checkpoint.h"

typedef struct fixture {
    uv_loop_t loop;
    host_db_t *db;
    char dir[64];
    char path[96], wal[104];
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    strcpy(f->dir, "/tmp/agentd-ckpt-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/agentd.db", f->dir);
    snprintf(f->wal, sizeof f->wal, "%s-wal", f->path);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    agentd_err_t err = {{0}};
    assert_int_equal(host_db_open(f->path, &f->db, &err), 0);
    assert_int_equal(host_db_exec(f->db, "CREATE TABLE t(id INTEGER PRIMARY KEY, b BLOB)", &err), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    host_db_close(f->db);
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* One transaction of `rows` rows of ~4 KiB: about as many WAL pages. */
static void commit_rows(fixture_t *f, int rows)
{
    agentd_err_t err = {{0}};
    assert_int_equal(host_db_exec(f->db, "BEGIN IMMEDIATE", &err), 0);
    for (int i = 0; i < rows; i++)
        assert_int_equal(host_db_exec(f->db, "INSERT INTO t(b) VALUES(zeroblob(4000))", &err), 0);
    assert_int_equal(host_db_exec(f->db, "COMMIT", &err), 0);
}

static long long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

static long long count_rows(fixture_t *f)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(f->db->sql, "SELECT count(*) FROM t", -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    long long n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

static void test_background_and_bounded(void **state)
{
    fixture_t *f = *state;
    agentd_err_t err = {{0}};
    host_checkpointer_t *cp = NULL;
    assert_int_equal(host_checkpointer_start(&f->loop, f->db, &cp, &err), 0);
    assert_non_null(cp); /* this SQLite is thread-safe */
    host_checkpointer_stats_t s;
    /* Commits without a pause, as a busy loop makes them: the loop only
     * polls (never waits) between them. Past twice the bound. */
    int rows = 0, per = 40;
    while (rows < 2 * HOST_CKPT_FOREGROUND_PAGES) {
        commit_rows(f, per);
        rows += per;
        uv_run(&f->loop, UV_RUN_NOWAIT);
    }
    host_checkpointer_stats(cp, &s);
    assert_true(s.background >= 1);
    assert_true(s.foreground >= 1);
    /* The WAL never held much more than the bound (it is a file reused from
     * its start after a restart, so its size is its high-water mark). */
    long long page = 4096 + 24; /* a WAL frame */
    long long wal = file_size(f->wal);
    assert_true(wal > 0);
    assert_true(wal <= (HOST_CKPT_FOREGROUND_PAGES + 4 * per + 64) * page);
    assert_int_equal(count_rows(f), rows);
    host_checkpointer_stop(cp);
}

static void test_stop_in_flight(void **state)
{
    fixture_t *f = *state;
    agentd_err_t err = {{0}};
    host_checkpointer_t *cp = NULL;
    assert_int_equal(host_checkpointer_start(&f->loop, f->db, &cp, &err), 0);
    assert_non_null(cp);
    commit_rows(f, HOST_CKPT_PAGES + 10); /* queues one */
    host_checkpointer_stop(cp);           /* before it has run */
    /* The connection goes on committing (SQLite checkpoints on its own
     * again); nothing is lost. */
    commit_rows(f, 20);
    assert_int_equal(count_rows(f), HOST_CKPT_PAGES + 30);
    /* teardown runs the loop: the checkpoint's completion frees it (ASan,
     * valgrind) */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_background_and_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_in_flight, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
