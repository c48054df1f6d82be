/* WAL checkpoints off the loop (store/checkpointer.h): with the
 * checkpointer, commits no longer checkpoint inside themselves (SQLite's
 * automatic checkpoint at 1000 pages is gone: the log grows past it) and
 * the thread checkpoints instead; at max_wal_bytes the committing thread
 * checkpoints itself and the log starts over, so its file stays bounded;
 * stopping gives SQLite its automatic checkpoints back; nothing committed
 * is lost on the way. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/checkpointer.h"
#include "store/db.h"

#define ROW_BYTES 3000 /* about a page per commit */

typedef struct fixture {
    host_db_t *db;
    char dir[64];
    char path[96];
    char wal[112];
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    strcpy(f->dir, "/tmp/agentd-ckpt-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/agentd.db", f->dir);
    snprintf(f->wal, sizeof f->wal, "%s-wal", f->path);
    agentd_err_t err = {{0}};
    assert_int_equal(host_db_open(f->path, &f->db, &err), 0);
    assert_int_equal(host_db_exec(f->db, "CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB)", &err),
                     0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    host_db_close(f->db);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* n transactions of one row each, as the event log commits under load. */
static void commit_rows(fixture_t *f, int n)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(f->db->sql, "INSERT INTO t (b) VALUES (?)", -1, &st, NULL),
                     SQLITE_OK);
    static unsigned char blob[ROW_BYTES];
    for (int i = 0; i < n; i++) {
        memset(blob, i & 0xff, sizeof blob);
        sqlite3_bind_blob(st, 1, blob, sizeof blob, SQLITE_STATIC);
        assert_int_equal(sqlite3_step(st), SQLITE_DONE);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
}

static long long rows(fixture_t *f)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(f->db->sql, "SELECT count(*) FROM t", -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    long long n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

static long long wal_bytes(fixture_t *f)
{
    struct stat sb;
    return stat(f->wal, &sb) == 0 ? (long long)sb.st_size : 0;
}

static void wait_background(fixture_t *f, uint64_t at_least)
{
    struct timespec end, now;
    clock_gettime(CLOCK_MONOTONIC, &end);
    end.tv_sec += 10;
    host_db_checkpointer_stats_t s;
    for (;;) {
        host_db_checkpointer_stats(f->db, &s);
        if (s.background >= at_least)
            return;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec > end.tv_sec || (now.tv_sec == end.tv_sec && now.tv_nsec > end.tv_nsec))
            fail_msg("no background checkpoint within 10 s (%llu)",
                     (unsigned long long)s.background);
        usleep(2000);
    }
}

static void without_it_sqlite_checkpoints_in_commits(void **state)
{
    fixture_t *f = *state;
    commit_rows(f, 2500);
    /* SQLite's own checkpoint at 1000 pages restarts the log (one
     * connection, nothing to wait for): the file stays near 4 MB. */
    assert_true(wal_bytes(f) < 1100LL * 4096);
    assert_int_equal(rows(f), 2500);
}

static void commits_leave_checkpoints_to_the_thread(void **state)
{
    fixture_t *f = *state;
    agentd_err_t err = {{0}};
    host_db_checkpointer_opts_t o = {.every_pages = 200, .max_wal_bytes = 256ull << 20};
    assert_int_equal(host_db_checkpointer_start(f->db, &o, &err), 0);
    commit_rows(f, 2500);
    wait_background(f, 1);
    host_db_checkpointer_stats_t s;
    host_db_checkpointer_stats(f->db, &s);
    assert_int_equal(s.inline_runs, 0);
    assert_int_equal(s.failed, 0);
    /* No commit checkpointed (and restarted) the log at 1000 pages. */
    assert_true(wal_bytes(f) > 2000LL * 4096);
    assert_int_equal(rows(f), 2500);
}

static void at_the_cap_the_loop_checkpoints_and_the_log_starts_over(void **state)
{
    fixture_t *f = *state;
    agentd_err_t err = {{0}};
    /* The thread is never asked here (every_pages beyond the cap), so that
     * the bound is exact: the cap plus one commit. With the thread at
     * work it is the cap plus what comes while its checkpoint runs. */
    host_db_checkpointer_opts_t o = {.every_pages = 1000000, .max_wal_bytes = 1 << 20};
    assert_int_equal(host_db_checkpointer_start(f->db, &o, &err), 0);
    commit_rows(f, 3000); /* about 12 MB through the log */
    host_db_checkpointer_stats_t s;
    host_db_checkpointer_stats(f->db, &s);
    assert_true(s.inline_runs >= 5);
    assert_int_equal(s.background, 0);
    assert_int_equal(s.failed, 0);
    long long size = wal_bytes(f);
    if (size > 32 + (256 + 8) * (4096 + 24)) /* header, frames: cap + the last commits */
        fail_msg("the log grew to %lld bytes with a 1 MiB cap", size);
    assert_int_equal(rows(f), 3000);
}

static void stopping_gives_sqlite_its_checkpoints_back(void **state)
{
    fixture_t *f = *state;
    agentd_err_t err = {{0}};
    host_db_checkpointer_opts_t o = {.every_pages = 100, .max_wal_bytes = 256ull << 20};
    assert_int_equal(host_db_checkpointer_start(f->db, &o, &err), 0);
    commit_rows(f, 500);
    host_db_checkpointer_stop(f->db);
    assert_null(f->db->ckpt);
    host_db_checkpointer_stop(f->db); /* twice: no-op */
    commit_rows(f, 3000);
    /* SQLite's checkpoint ran inside a commit again and restarted the log
     * (it is overwritten from its start, never longer than it was). */
    long long before = wal_bytes(f);
    commit_rows(f, 3000);
    assert_true(wal_bytes(f) <= before);
    assert_int_equal(rows(f), 6500);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(without_it_sqlite_checkpoints_in_commits, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(commits_leave_checkpoints_to_the_thread, setup, teardown),
        cmocka_unit_test_setup_teardown(at_the_cap_the_loop_checkpoints_and_the_log_starts_over,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(stopping_gives_sqlite_its_checkpoints_back, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
