/* The durable event log: seq continuity across reopen, one transaction per
 * loop iteration, fan-out after the commit and in order, listeners that
 * append or unlisten, reads with since/limit, retention and "cursor too
 * old", purge, and the failure mode (an injected SQLite error, a full
 * disk): no fan-out, AGENTD_EIO with the cause, nothing more accepted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "events/event_log.h"

typedef struct fixture {
    uv_loop_t loop;
    host_db_t *db;
    host_event_log_t *log;
    char dir[64];
    char path[96];
} fixture_t;

static void open_log(fixture_t *f, const host_event_log_opts_t *opts)
{
    agentd_err_t err = {{0}};
    assert_int_equal(host_db_open(f->path, &f->db, &err), 0);
    int rc = host_event_log_open(&f->loop, f->db, opts, &f->log, &err);
    if (rc != 0)
        fail_msg("open: %s", err.msg);
}

static void close_log(fixture_t *f)
{
    host_event_log_close(f->log);
    f->log = NULL;
    host_db_close(f->db);
    f->db = NULL;
    /* The log's handles finish closing on the loop. */
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    strcpy(f->dir, "/tmp/agentd-evlog-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/agentd.db", f->dir);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    open_log(f, NULL);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    if (f->log != NULL)
        close_log(f);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static void reopen(fixture_t *f, const host_event_log_opts_t *opts)
{
    close_log(f);
    open_log(f, opts);
}

static uint64_t append(fixture_t *f, const char *session, const char *type, const char *data)
{
    uint64_t seq = 0;
    agentd_err_t err = {{0}};
    int rc = host_event_log_append(f->log, session, type, data, strlen(data), NULL, 0, &seq,
                                   &err);
    if (rc != 0)
        fail_msg("append: %s", err.msg);
    return seq;
}

static void run(fixture_t *f)
{
    uv_run(&f->loop, UV_RUN_DEFAULT);
}

static host_event_log_stats_t stats(fixture_t *f)
{
    host_event_log_stats_t s;
    host_event_log_stats(f->log, &s);
    return s;
}

/* ---- a recorder of events (listeners and readers) ----------------------- */

typedef struct seen {
    fixture_t *f;
    const char *name;
    size_t n;
    uint64_t seq[256];
    char session[256][16];
    char type[256][32];
    char data[256][64];
    uint64_t commits_then[256];   /* commits done when it was called */
    size_t pending_then[256];
    char *order;                  /* shared log of "name:seq " across listeners */
    size_t *order_len;
} seen_t;

static void on_event(void *ud, const host_event_t *ev)
{
    seen_t *s = ud;
    assert_true(s->n < 256);
    s->seq[s->n] = ev->seq;
    snprintf(s->session[s->n], sizeof s->session[0], "%s", ev->session_id);
    snprintf(s->type[s->n], sizeof s->type[0], "%s", ev->type);
    assert_int_equal(strlen(ev->data_json), ev->data_len);
    snprintf(s->data[s->n], sizeof s->data[0], "%.*s", (int)ev->data_len, ev->data_json);
    assert_true(ev->ts_ms > 1600000000000ull || ev->ts_ms == 1000); /* 1000: aged by a test */
    if (s->f != NULL && s->f->log != NULL) {
        host_event_log_stats_t st = stats(s->f);
        s->commits_then[s->n] = st.commits;
        s->pending_then[s->n] = st.pending;
    }
    if (s->order != NULL)
        *s->order_len += (size_t)sprintf(s->order + *s->order_len, "%s:%llu ", s->name,
                                         (unsigned long long)ev->seq);
    s->n++;
}

static int read_all(fixture_t *f, const char *session, uint64_t since, size_t limit,
                    seen_t *out, uint64_t *last, agentd_err_t *err)
{
    memset(out, 0, sizeof *out);
    return host_event_log_read(f->log, session, since, limit, on_event, out, last, err);
}

/* ---- basics ------------------------------------------------------------- */

static void test_append_read(void **state)
{
    fixture_t *f = *state;
    agentd_err_t err;
    uint64_t seq;
    assert_int_equal(append(f, "s1", "session.state", "{\"state\":\"running\"}"), 1);
    /* The raw line is kept as bytes: invalid UTF-8 and NUL included. */
    const char raw[] = "{\"type\":\"x\"}\xff\x00z";
    assert_int_equal(host_event_log_append(f->log, "s1", "agent.output", "{\"text\":\"x\"}", 12,
                                           raw, sizeof raw - 1, &seq, &err),
                     0);
    assert_int_equal(seq, 2);
    assert_int_equal(host_event_log_append(f->log, "s1", "agent.output", "{}", 2, "", 0, &seq,
                                           &err),
                     0);
    assert_int_equal(append(f, "s2", "agent.text", "{\"text\":\"hi\"}"), 1);
    /* Not committed yet: readers and last_seq see nothing. */
    assert_int_equal(host_event_log_last_seq(f->log, "s1"), 0);
    seen_t s;
    uint64_t last;
    assert_int_equal(read_all(f, "s1", 0, 0, &s, &last, &err), 0);
    assert_int_equal(s.n, 0);
    run(f);
    assert_int_equal(host_event_log_last_seq(f->log, "s1"), 3);
    assert_int_equal(host_event_log_last_seq(f->log, "s2"), 1);
    assert_int_equal(host_event_log_last_seq(f->log, "nobody"), 0);

    assert_int_equal(read_all(f, "s1", 0, 0, &s, &last, &err), 0);
    assert_int_equal(s.n, 3);
    assert_int_equal(last, 3);
    assert_string_equal(s.type[0], "session.state");
    assert_string_equal(s.data[0], "{\"state\":\"running\"}");
    assert_string_equal(s.session[0], "s1");
    assert_int_equal(s.seq[2], 3);
}

static void check_raw(void *ud, const host_event_t *ev)
{
    int *n = ud;
    static const char raw[] = "{\"type\":\"x\"}\xff\x00z";
    if (ev->seq == 1) {
        assert_null(ev->raw);
        assert_int_equal(ev->raw_len, 0);
    } else if (ev->seq == 2) {
        assert_int_equal(ev->raw_len, sizeof raw - 1);
        assert_memory_equal(ev->raw, raw, sizeof raw - 1);
    } else {
        assert_non_null(ev->raw); /* an empty line is not a missing one */
        assert_int_equal(ev->raw_len, 0);
    }
    (*n)++;
}

static void test_raw_kept(void **state)
{
    fixture_t *f = *state;
    agentd_err_t err;
    const char raw[] = "{\"type\":\"x\"}\xff\x00z";
    append(f, "s1", "a.b", "{}");
    assert_int_equal(host_event_log_append(f->log, "s1", "a.b", "{}", 2, raw, sizeof raw - 1,
                                           NULL, &err),
                     0);
    assert_int_equal(host_event_log_append(f->log, "s1", "a.b", "{}", 2, "", 0, NULL, &err), 0);
    /* Listeners get the same as readers. */
    int live = 0, stored = 0;
    assert_int_equal(host_event_log_listen(f->log, check_raw, &live, NULL), 0);
    run(f);
    assert_int_equal(live, 3);
    assert_int_equal(host_event_log_read(f->log, "s1", 0, 0, check_raw, &stored, NULL, &err), 0);
    assert_int_equal(stored, 3);
}

static void test_invalid(void **state)
{
    fixture_t *f = *state;
    agentd_err_t err;
    const char *bad_data[] = {"", "[]", "{", "{\"a\":}", "{\"a\":1} x", "\"str\"",
                              "{\"a\":\"\xff\"}", "{'a':1}", "{\"a\":01}"};
    for (size_t i = 0; i < sizeof bad_data / sizeof bad_data[0]; i++)
        assert_int_equal(host_event_log_append(f->log, "s", "t", bad_data[i],
                                               strlen(bad_data[i]), NULL, 0, NULL, &err),
                         AGENTD_EINVAL);
    assert_int_equal(host_event_log_append(f->log, "", "t", "{}", 2, NULL, 0, NULL, &err),
                     AGENTD_EINVAL);
    assert_int_equal(host_event_log_append(f->log, "a b", "t", "{}", 2, NULL, 0, NULL, &err),
                     AGENTD_EINVAL);
    assert_int_equal(host_event_log_append(f->log, "s", "bad type", "{}", 2, NULL, 0, NULL,
                                           &err),
                     AGENTD_EINVAL);
    assert_int_equal(host_event_log_append(f->log, "s", NULL, "{}", 2, NULL, 0, NULL, &err),
                     AGENTD_EINVAL);
    assert_int_equal(host_event_log_append(f->log, "s", "t", "{}", 2, NULL, 5, NULL, &err),
                     AGENTD_EINVAL);
    /* Nothing was taken: the first valid event is seq 1. */
    assert_int_equal(append(f, "s", "t", " {\"ok\": [1, 2.5e3, true, null, \"\\u00e9\"]} "), 1);
}

/* The host's own JSON (append_trusted): stored and handed out byte for
 * byte like a checked append, in the same seq order, raw line kept; the
 * other checks (session id, type, raw) still apply. */
static void test_append_trusted(void **state)
{
    fixture_t *f = *state;
    agentd_err_t err;
    uint64_t seq = 0;
    const char data[] = "{\"text\":\"caf\\u00E9 \\\"q\\\"\"}";
    const char raw[] = "{\"type\":\"assistant\"}\xff";
    assert_int_equal(append(f, "s1", "a.b", "{}"), 1);
    assert_int_equal(host_event_log_append_trusted(f->log, "s1", "agent.text", data,
                                                   sizeof data - 1, raw, sizeof raw - 1, &seq,
                                                   &err),
                     0);
    assert_int_equal(seq, 2);
    assert_int_equal(host_event_log_append_trusted(f->log, "a b", "agent.text", "{}", 2, NULL, 0,
                                                   NULL, &err),
                     AGENTD_EINVAL);
    assert_int_equal(host_event_log_append_trusted(f->log, "s1", "bad type", "{}", 2, NULL, 0,
                                                   NULL, &err),
                     AGENTD_EINVAL);
    assert_int_equal(host_event_log_append_trusted(f->log, "s1", "t", "{}", 2, NULL, 3, NULL,
                                                   &err),
                     AGENTD_EINVAL);
    assert_int_equal(append(f, "s1", "a.b", "{\"n\":3}"), 3);
    run(f);
    seen_t s;
    uint64_t last;
    assert_int_equal(read_all(f, "s1", 0, 0, &s, &last, &err), 0);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.type[1], "agent.text");
    assert_string_equal(s.data[1], data);
    assert_int_equal(s.seq[2], 3);
}

/* A batch larger than one multi-row INSERT, with sessions new to the
 * database in it and rows with and without a raw line: every event is
 * stored once, with its own session, seq, data and raw, in append order. */
static void check_batch_raw(void *ud, const host_event_t *ev)
{
    int *n = ud;
    char want[32];
    snprintf(want, sizeof want, "r%llu", (unsigned long long)ev->seq);
    if (ev->seq % 3 == 0) {
        assert_null(ev->raw);
    } else {
        assert_int_equal(ev->raw_len, strlen(want));
        assert_memory_equal(ev->raw, want, ev->raw_len);
    }
    (*n)++;
}

static void test_big_batch(void **state)
{
    fixture_t *f = *state;
    agentd_err_t err;
    const char *sessions[] = {"b1", "b2", "b3"};
    uint64_t next[3] = {0, 0, 0};
    for (int i = 0; i < 53; i++) {
        int k = i % 7 == 0 ? 2 : i % 2; /* b3 now and then */
        char data[64], raw[32];
        uint64_t seq = next[k] + 1;
        snprintf(data, sizeof data, "{\"i\":%d,\"s\":\"%s\"}", i, sessions[k]);
        snprintf(raw, sizeof raw, "r%llu", (unsigned long long)seq);
        assert_int_equal(host_event_log_append(f->log, sessions[k], "t.x", data, strlen(data),
                                               seq % 3 == 0 ? NULL : raw,
                                               seq % 3 == 0 ? 0 : strlen(raw), &seq, &err),
                         0);
        assert_int_equal(seq, ++next[k]);
    }
    assert_int_equal(stats(f).commits, 0);
    run(f);
    assert_int_equal(stats(f).commits, 1);
    assert_int_equal(stats(f).committed, 53);
    int i = 0;
    for (int k = 0; k < 3; k++) {
        seen_t s;
        uint64_t last;
        assert_int_equal(read_all(f, sessions[k], 0, 0, &s, &last, &err), 0);
        assert_int_equal(s.n, next[k]);
        for (size_t j = 0; j < s.n; j++) {
            assert_int_equal(s.seq[j], j + 1);
            assert_non_null(strstr(s.data[j], sessions[k]));
        }
        int raws = 0;
        assert_int_equal(host_event_log_read(f->log, sessions[k], 0, 0, check_batch_raw, &raws,
                                             NULL, &err),
                         0);
        assert_int_equal(raws, (int)next[k]);
        i += (int)s.n;
    }
    assert_int_equal(i, 53);
    /* Append order across sessions is the rows' order (their ids). */
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(f->db->sql, "SELECT data FROM events ORDER BY id", -1,
                                        &st, NULL),
                     SQLITE_OK);
    for (int k = 0; k < 53; k++) {
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        char want[16];
        snprintf(want, sizeof want, "{\"i\":%d,", k);
        assert_memory_equal(sqlite3_column_text(st, 0), want, strlen(want));
    }
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
}

/* ---- seq across restarts ------------------------------------------------ */

static void test_seq_survives_reopen(void **state)
{
    fixture_t *f = *state;
    for (int i = 0; i < 3; i++)
        append(f, "s1", "t", "{}");
    append(f, "s2", "t", "{}");
    append(f, "s2", "t", "{}");
    run(f);
    reopen(f, NULL);
    /* Loaded lazily: nothing in memory until asked. */
    assert_int_equal(stats(f).sessions, 0);
    assert_int_equal(host_event_log_last_seq(f->log, "s1"), 3);
    assert_int_equal(append(f, "s1", "t", "{}"), 4);
    assert_int_equal(append(f, "s2", "t", "{}"), 3);
    assert_int_equal(append(f, "s3", "t", "{}"), 1);
    /* Closing commits what is pending. */
    reopen(f, NULL);
    assert_int_equal(append(f, "s1", "t", "{}"), 5);
    assert_int_equal(append(f, "s2", "t", "{}"), 4);
    assert_int_equal(append(f, "s3", "t", "{}"), 2);
    run(f);
    seen_t s;
    agentd_err_t err;
    assert_int_equal(read_all(f, "s1", 0, 0, &s, NULL, &err), 0);
    assert_int_equal(s.n, 5);
    for (size_t i = 0; i < s.n; i++)
        assert_int_equal(s.seq[i], i + 1); /* gapless */
}

/* ---- batching and fan-out ----------------------------------------------- */

static void test_one_commit_per_iteration(void **state)
{
    fixture_t *f = *state;
    char order[4096] = "";
    size_t order_len = 0;
    seen_t a = {.f = f, .name = "a", .order = order, .order_len = &order_len};
    seen_t b = {.f = f, .name = "b", .order = order, .order_len = &order_len};
    assert_int_equal(host_event_log_listen(f->log, on_event, &a, NULL), 0);
    assert_int_equal(host_event_log_listen(f->log, on_event, &b, NULL), 0);
    for (int i = 0; i < 50; i++)
        append(f, i % 2 ? "s1" : "s2", "t", "{}");
    assert_int_equal(stats(f).commits, 0);
    assert_int_equal(a.n, 0); /* nothing before the commit */
    run(f);
    host_event_log_stats_t st = stats(f);
    assert_int_equal(st.commits, 1);
    assert_int_equal(st.committed, 50);
    assert_int_equal(st.fanned_out, 50);
    assert_int_equal(a.n, 50);
    assert_int_equal(b.n, 50);
    for (size_t i = 0; i < 50; i++) {
        assert_int_equal(a.commits_then[i], 1); /* called after the commit */
        assert_int_equal(a.seq[i], i / 2 + 1);  /* in append order */
        assert_string_equal(a.session[i], i % 2 ? "s1" : "s2");
    }
    /* Each event goes to a, then b, before the next event. */
    assert_memory_equal(order, "a:1 b:1 a:1 b:1 a:2 b:2 a:2 b:2 ", 32);
}

/* Events appended from a timer (before the poll phase) must not wait for
 * I/O: here a 10 s timer is the only other thing on the loop. */
typedef struct timer_case {
    fixture_t *f;
    uv_timer_t kick, keepalive;
    int appends, seen;
    uint64_t appended_at, seen_at;
} timer_case_t;

static void on_kick(uv_timer_t *t)
{
    timer_case_t *c = t->data;
    c->appended_at = uv_hrtime();
    for (int i = 0; i < c->appends; i++)
        append(c->f, "s", "t", "{}");
}

static void on_timer_event(void *ud, const host_event_t *ev)
{
    timer_case_t *c = ud;
    (void)ev;
    c->seen_at = uv_hrtime();
    if (++c->seen == c->appends)
        uv_close((uv_handle_t *)&c->keepalive, NULL);
}

static void no_wait_case(fixture_t *f, int appends)
{
    timer_case_t c = {.f = f, .appends = appends};
    c.kick.data = &c;
    uv_timer_init(&f->loop, &c.kick);
    uv_timer_init(&f->loop, &c.keepalive);
    uv_timer_start(&c.kick, on_kick, 1, 0);
    uv_timer_start(&c.keepalive, on_kick, 10000, 0);
    assert_int_equal(host_event_log_listen(f->log, on_timer_event, &c, NULL), 0);
    run(f);
    assert_int_equal(c.seen, appends);
    assert_true(c.seen_at - c.appended_at < 1000000000ull);
    uv_close((uv_handle_t *)&c.kick, NULL);
    run(f);
}

static void test_no_wait_for_io(void **state)
{
    no_wait_case(*state, 1);
}

/* The same when the batch filled inside append(): stored at once, nothing
 * pending, and still handed out without waiting. */
static void test_no_wait_after_early_commit(void **state)
{
    fixture_t *f = *state;
    host_event_log_opts_t o = {.max_batch = 4};
    reopen(f, &o);
    no_wait_case(f, 4);
    assert_int_equal(stats(f).commits, 1);
}

static void test_early_commit(void **state)
{
    fixture_t *f = *state;
    host_event_log_opts_t o = {.max_batch = 10};
    reopen(f, &o);
    seen_t a = {.f = f};
    assert_int_equal(host_event_log_listen(f->log, on_event, &a, NULL), 0);
    for (int i = 0; i < 25; i++)
        append(f, "s", "t", "{}");
    host_event_log_stats_t st = stats(f);
    assert_int_equal(st.commits, 2); /* stored as the batches filled */
    assert_int_equal(st.pending, 5);
    assert_int_equal(a.n, 0);        /* but listeners never run inside append */
    assert_int_equal(host_event_log_last_seq(f->log, "s"), 20);
    run(f);
    assert_int_equal(stats(f).commits, 3);
    assert_int_equal(a.n, 25);
    for (size_t i = 0; i < 25; i++)
        assert_int_equal(a.seq[i], i + 1);
}

/* A listener that appends (the session manager turning agent.result into
 * session.state) starts the next batch; one that unlistens itself stops. */
typedef struct reactor {
    fixture_t *f;
    host_event_listener_t *self;
    int calls;
    int stop_after;
    seen_t *seen;
} reactor_t;

static void on_react(void *ud, const host_event_t *ev)
{
    reactor_t *r = ud;
    r->calls++;
    if (strcmp(ev->type, "agent.result") == 0) {
        uint64_t seq = append(r->f, ev->session_id, "session.state", "{\"state\":\"idle\"}");
        assert_int_equal(seq, ev->seq + 2); /* after the event already pending */
    }
    if (r->calls == r->stop_after)
        host_event_log_unlisten(r->f->log, r->self);
}

static void test_listener_appends(void **state)
{
    fixture_t *f = *state;
    reactor_t r = {.f = f, .stop_after = 3};
    seen_t all = {.f = f};
    assert_int_equal(host_event_log_listen(f->log, on_react, &r, &r.self), 0);
    assert_int_equal(host_event_log_listen(f->log, on_event, &all, NULL), 0);
    append(f, "s", "agent.text", "{}");
    append(f, "s", "agent.result", "{}");
    append(f, "s", "agent.text", "{}");
    run(f);
    host_event_log_stats_t st = stats(f);
    assert_int_equal(st.commits, 2);
    assert_int_equal(all.n, 4);
    assert_string_equal(all.type[3], "session.state");
    assert_int_equal(all.seq[3], 4);
    assert_int_equal(all.commits_then[2], 1);
    assert_int_equal(all.commits_then[3], 2); /* in the next batch */
    assert_int_equal(r.calls, 3);             /* unlistened after three */
    append(f, "s", "agent.result", "{}");
    run(f);
    assert_int_equal(r.calls, 3);
    assert_int_equal(all.n, 5);
}

/* Listeners added during a fan-out start with the next event; a listener
 * removed during it is not called again, even for the same event. */
typedef struct juggler {
    fixture_t *f;
    host_event_listener_t *victim;
    seen_t *late;
    int added;
} juggler_t;

static void on_juggle(void *ud, const host_event_t *ev)
{
    juggler_t *j = ud;
    (void)ev;
    if (j->victim != NULL) {
        host_event_log_unlisten(j->f->log, j->victim);
        j->victim = NULL;
    }
    if (!j->added) {
        j->added = 1;
        assert_int_equal(host_event_log_listen(j->f->log, on_event, j->late, NULL), 0);
    }
}

static void test_listen_unlisten_during_fanout(void **state)
{
    fixture_t *f = *state;
    seen_t victim = {.f = f}, late = {.f = f};
    juggler_t j = {.f = f, .late = &late};
    assert_int_equal(host_event_log_listen(f->log, on_juggle, &j, NULL), 0);
    assert_int_equal(host_event_log_listen(f->log, on_event, &victim, &j.victim), 0);
    append(f, "s", "t", "{}");
    append(f, "s", "t", "{}");
    run(f);
    assert_int_equal(victim.n, 0);
    assert_int_equal(late.n, 1);
    assert_int_equal(late.seq[0], 2);
}

/* flush() commits and fans out at once, also from inside a listener. */
typedef struct flusher {
    fixture_t *f;
    int done;
} flusher_t;

static void on_flush_inside(void *ud, const host_event_t *ev)
{
    flusher_t *fl = ud;
    if (fl->done++ == 0) {
        append(fl->f, ev->session_id, "t", "{}");
        agentd_err_t err;
        assert_int_equal(host_event_log_flush(fl->f->log, &err), 0);
        assert_int_equal(stats(fl->f).commits, 3); /* stored now... */
        assert_int_equal(stats(fl->f).fanned_out, 1); /* ...handed out after this one */
    }
}

static void test_flush(void **state)
{
    fixture_t *f = *state;
    seen_t a = {.f = f};
    agentd_err_t err;
    assert_int_equal(host_event_log_listen(f->log, on_event, &a, NULL), 0);
    append(f, "s", "t", "{}");
    assert_int_equal(host_event_log_flush(f->log, &err), 0);
    assert_int_equal(a.n, 1);
    assert_int_equal(stats(f).commits, 1);
    assert_int_equal(host_event_log_flush(f->log, &err), 0); /* nothing: no commit */
    assert_int_equal(stats(f).commits, 1);
    run(f); /* nothing left for the loop */
    assert_int_equal(a.n, 1);

    flusher_t fl = {.f = f};
    assert_int_equal(host_event_log_listen(f->log, on_flush_inside, &fl, NULL), 0);
    append(f, "s", "t", "{}");
    run(f);
    assert_int_equal(fl.done, 2);
    assert_int_equal(a.n, 3);
    assert_int_equal(a.seq[2], 3);
}

/* Another part of the host is between BEGIN and COMMIT on the shared
 * connection: the batch waits, nothing is lost or failed. */
static void test_busy_connection(void **state)
{
    fixture_t *f = *state;
    agentd_err_t err;
    seen_t a = {.f = f};
    assert_int_equal(host_event_log_listen(f->log, on_event, &a, NULL), 0);
    assert_int_equal(host_db_exec(f->db, "BEGIN", &err), 0);
    append(f, "s", "t", "{}");
    uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_int_equal(host_event_log_flush(f->log, &err), AGENTD_EBUSY);
    assert_int_equal(a.n, 0);
    assert_int_equal(stats(f).pending, 1);
    assert_int_equal(host_db_exec(f->db, "COMMIT", &err), 0);
    run(f);
    assert_int_equal(a.n, 1);
    assert_int_equal(host_event_log_status(f->log, &err), 0);
}

/* A listener may close the log (a shutdown started by an event). */
typedef struct closer {
    fixture_t *f;
    int calls;
} closer_t;

static void on_close_inside(void *ud, const host_event_t *ev)
{
    closer_t *c = ud;
    if (++c->calls == 2) {
        host_event_log_close(c->f->log);
        agentd_err_t err;
        assert_int_equal(host_event_log_append(c->f->log, ev->session_id, "t", "{}", 2, NULL, 0,
                                               NULL, &err),
                         AGENTD_ECLOSED);
        assert_int_equal(host_event_log_flush(c->f->log, &err), AGENTD_ECLOSED);
    }
}

static void test_close_from_listener(void **state)
{
    fixture_t *f = *state;
    closer_t c = {.f = f};
    seen_t after = {0};
    assert_int_equal(host_event_log_listen(f->log, on_close_inside, &c, NULL), 0);
    assert_int_equal(host_event_log_listen(f->log, on_event, &after, NULL), 0);
    for (int i = 0; i < 3; i++)
        append(f, "s", "t", "{}");
    run(f);
    assert_int_equal(c.calls, 2);
    assert_int_equal(after.n, 2); /* the event being handed out still reaches all */
    f->log = NULL;
    host_db_close(f->db);
    open_log(f, NULL);
    assert_int_equal(host_event_log_last_seq(f->log, "s"), 3); /* all stored */
}

/* ---- reading ------------------------------------------------------------ */

static void test_read_since_limit(void **state)
{
    fixture_t *f = *state;
    for (int i = 0; i < 10; i++)
        append(f, "s", "t", "{}");
    run(f);
    seen_t s;
    uint64_t last;
    agentd_err_t err;
    assert_int_equal(read_all(f, "s", 5, 3, &s, &last, &err), 0);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.seq[0], 6);
    assert_int_equal(last, 8);
    assert_int_equal(read_all(f, "s", last, 0, &s, &last, &err), 0);
    assert_int_equal(s.n, 2);
    assert_int_equal(last, 10);
    assert_int_equal(read_all(f, "s", 10, 0, &s, &last, &err), 0);
    assert_int_equal(s.n, 0);
    assert_int_equal(last, 10);
    /* A cursor from the future (a log restored from an older copy) is an
     * error, not an empty answer that would skip the events to come. */
    assert_int_equal(read_all(f, "s", 11, 0, &s, &last, &err), AGENTD_EINVAL);
    assert_non_null(strstr(err.msg, "past the last event"));
    assert_int_equal(read_all(f, "unknown", 0, 0, &s, &last, &err), 0);
    assert_int_equal(s.n, 0);
}

/* A reader's callback may read again and append; with max_batch 1 the
 * append commits while the outer read is still stepping. */
typedef struct nested {
    fixture_t *f;
    int outer, inner;
} nested_t;

static void on_inner(void *ud, const host_event_t *ev)
{
    nested_t *n = ud;
    (void)ev;
    n->inner++;
}

static void on_outer(void *ud, const host_event_t *ev)
{
    nested_t *n = ud;
    agentd_err_t err;
    n->outer++;
    assert_int_equal(host_event_log_read(n->f->log, ev->session_id, 0, 0, on_inner, n, NULL,
                                         &err),
                     0);
    append(n->f, "other", "t", "{}");
}

static void test_nested_read(void **state)
{
    fixture_t *f = *state;
    host_event_log_opts_t o = {.max_batch = 1};
    reopen(f, &o);
    for (int i = 0; i < 3; i++)
        append(f, "s", "t", "{}");
    run(f);
    nested_t n = {.f = f};
    agentd_err_t err;
    assert_int_equal(host_event_log_read(f->log, "s", 0, 0, on_outer, &n, NULL, &err), 0);
    assert_int_equal(n.outer, 3);
    assert_int_equal(n.inner, 9);
    run(f);
    assert_int_equal(host_event_log_last_seq(f->log, "other"), 3);
}

/* ---- retention ---------------------------------------------------------- */

static void test_retention_max_events(void **state)
{
    fixture_t *f = *state;
    host_event_log_opts_t o = {.max_events = 5};
    reopen(f, &o);
    for (int i = 0; i < 12; i++)
        append(f, "s", "t", "{}");
    append(f, "small", "t", "{}");
    run(f);
    agentd_err_t err;
    assert_int_equal(host_event_log_prune(f->log, &err), 0);
    assert_int_equal(stats(f).pruned, 7);
    seen_t s;
    uint64_t last = 99;
    assert_int_equal(read_all(f, "s", 0, 0, &s, &last, &err), AGENTD_ELIMIT);
    assert_int_equal(last, 0);
    assert_int_equal(s.n, 0);
    assert_non_null(strstr(err.msg, "cursor too old"));
    assert_non_null(strstr(err.msg, "oldest retained is seq 8"));
    assert_int_equal(read_all(f, "s", 6, 0, &s, &last, &err), AGENTD_ELIMIT);
    assert_int_equal(read_all(f, "s", 7, 0, &s, &last, &err), 0);
    assert_int_equal(s.n, 5);
    assert_int_equal(s.seq[0], 8);
    assert_int_equal(read_all(f, "small", 0, 0, &s, &last, &err), 0);
    assert_int_equal(s.n, 1);
    /* seq goes on from 12, across a reopen too. */
    reopen(f, &o);
    assert_int_equal(append(f, "s", "t", "{}"), 13);
    run(f);
}

static void test_retention_max_age(void **state)
{
    fixture_t *f = *state;
    host_event_log_opts_t o = {.max_age_s = 3600};
    reopen(f, &o);
    for (int i = 0; i < 10; i++) {
        append(f, "s", "t", "{}");
        append(f, "old", "t", "{}");
    }
    run(f);
    agentd_err_t err;
    /* Age them: s's first six, and all of "old". */
    assert_int_equal(host_db_exec(f->db,
                                  "UPDATE events SET ts_ms = 1000 WHERE (seq <= 6 AND sid = "
                                  "(SELECT sid FROM event_streams WHERE session_id = 's')) OR "
                                  "sid = (SELECT sid FROM event_streams WHERE session_id = 'old')",
                                  &err),
                     0);
    assert_int_equal(host_event_log_prune(f->log, &err), 0);
    seen_t s;
    uint64_t last;
    assert_int_equal(read_all(f, "s", 6, 0, &s, &last, &err), 0);
    assert_int_equal(s.n, 4);
    assert_int_equal(read_all(f, "s", 5, 0, &s, &last, &err), AGENTD_ELIMIT);
    /* Never the last event, however old. */
    assert_int_equal(read_all(f, "old", 9, 0, &s, &last, &err), 0);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.seq[0], 10);
    assert_int_equal(read_all(f, "old", 8, 0, &s, &last, &err), AGENTD_ELIMIT);
    assert_non_null(strstr(err.msg, "oldest retained is seq 10"));
    assert_int_equal(host_event_log_last_seq(f->log, "old"), 10);
    assert_int_equal(stats(f).pruned, 15);
    /* Idempotent. */
    assert_int_equal(host_event_log_prune(f->log, &err), 0);
    assert_int_equal(stats(f).pruned, 15);
}

/* ---- purge -------------------------------------------------------------- */

static void test_purge(void **state)
{
    fixture_t *f = *state;
    append(f, "s1", "t", "{}");
    append(f, "s2", "t", "{}");
    run(f);
    append(f, "s1", "t", "{}"); /* still pending: stored, then purged */
    agentd_err_t err;
    assert_int_equal(host_event_log_purge(f->log, "s1", &err), 0);
    assert_int_equal(host_event_log_last_seq(f->log, "s1"), 0);
    seen_t s;
    assert_int_equal(read_all(f, "s1", 0, 0, &s, NULL, &err), 0);
    assert_int_equal(s.n, 0);
    assert_int_equal(read_all(f, "s2", 0, 0, &s, NULL, &err), 0);
    assert_int_equal(s.n, 1);
    assert_int_equal(host_event_log_purge(f->log, "never-seen", &err), 0);
    run(f);
    reopen(f, NULL);
    assert_int_equal(host_event_log_last_seq(f->log, "s1"), 0);
    assert_int_equal(append(f, "s1", "t", "{}"), 1);
    assert_int_equal(host_event_log_last_seq(f->log, "s2"), 1);
}

/* ---- failure ------------------------------------------------------------ */

typedef struct errors {
    int calls, fatal, code;
    char msg[AGENTD_ERR_MAX];
} errors_t;

static void on_error(void *ud, int code, int fatal, const char *msg)
{
    errors_t *e = ud;
    e->calls++;
    e->fatal = fatal;
    e->code = code;
    snprintf(e->msg, sizeof e->msg, "%s", msg);
}

static void expect_read_only(fixture_t *f, const char *cause)
{
    agentd_err_t err;
    uint64_t seq = 7;
    assert_int_equal(host_event_log_append(f->log, "s", "t", "{}", 2, NULL, 0, &seq, &err),
                     AGENTD_EIO);
    assert_int_equal(seq, 0);
    assert_non_null(strstr(err.msg, cause));
    assert_non_null(strstr(err.msg, "refuses appends"));
    assert_int_equal(host_event_log_status(f->log, &err), AGENTD_EIO);
    assert_int_equal(host_event_log_flush(f->log, &err), AGENTD_EIO);
}

static void test_commit_fails(void **state)
{
    fixture_t *f = *state;
    agentd_err_t err;
    errors_t e = {0};
    seen_t a = {.f = f};
    host_event_log_on_error(f->log, on_error, &e);
    assert_int_equal(host_event_log_listen(f->log, on_event, &a, NULL), 0);
    append(f, "s", "t", "{}");
    run(f);
    assert_int_equal(a.n, 1);
    /* An SQLite error on the third insert of the next batch. */
    assert_int_equal(host_db_exec(f->db,
                                  "CREATE TEMP TRIGGER boom BEFORE INSERT ON events "
                                  "WHEN NEW.type = 'test.boom' "
                                  "BEGIN SELECT RAISE(ABORT, 'injected failure'); END",
                                  &err),
                     0);
    append(f, "s", "t", "{}");
    append(f, "s2", "t", "{}");
    append(f, "s", "test.boom", "{}");
    run(f);
    /* Nothing of the failed batch was reported or stored. */
    assert_int_equal(a.n, 1);
    assert_int_equal(e.calls, 1);
    assert_int_equal(e.fatal, 1);
    assert_int_equal(e.code, AGENTD_EIO);
    assert_non_null(strstr(e.msg, "injected failure"));
    assert_non_null(strstr(e.msg, "3 event(s) not stored"));
    assert_int_equal(host_event_log_last_seq(f->log, "s"), 1);
    assert_int_equal(host_event_log_last_seq(f->log, "s2"), 0);
    expect_read_only(f, "injected failure");
    seen_t s;
    assert_int_equal(read_all(f, "s", 0, 0, &s, NULL, &err), 0); /* reads still work */
    assert_int_equal(s.n, 1);
    /* After a restart (the cause fixed) the seqs continue from what is
     * stored. */
    assert_int_equal(host_db_exec(f->db, "DROP TRIGGER boom", &err), 0);
    reopen(f, NULL);
    assert_int_equal(append(f, "s", "t", "{}"), 2);
    run(f);
}

/* A full disk, simulated by capping the database's pages, on an early
 * commit inside append(). */
static void test_disk_full(void **state)
{
    fixture_t *f = *state;
    host_event_log_opts_t o = {.max_batch = 4};
    reopen(f, &o);
    agentd_err_t err;
    errors_t e = {0};
    seen_t a = {.f = f};
    host_event_log_on_error(f->log, on_error, &e);
    assert_int_equal(host_event_log_listen(f->log, on_event, &a, NULL), 0);
    append(f, "s", "t", "{}");
    run(f);
    assert_int_equal(host_db_exec(f->db, "PRAGMA max_page_count = 1", &err), 0);
    size_t big = 256 * 1024;
    char *data = malloc(big);
    assert_non_null(data);
    memset(data, ' ', big);
    memcpy(data, "{\"x\":\"", 6);
    memset(data + 6, 'y', big - 8);
    memcpy(data + big - 2, "\"}", 2);
    int rc = 0;
    uint64_t seq = 0;
    for (int i = 0; i < 4 && rc == 0; i++)
        rc = host_event_log_append(f->log, "s", "t", data, big, NULL, 0, &seq, &err);
    free(data);
    assert_int_equal(rc, AGENTD_EIO);
    assert_int_equal(seq, 0);
    assert_non_null(strstr(err.msg, "full"));
    run(f);
    assert_int_equal(a.n, 1);
    assert_int_equal(e.calls, 1);
    expect_read_only(f, "full");
}

/* ---- memory ------------------------------------------------------------- */

static void test_idle_sessions_small(void **state)
{
    fixture_t *f = *state;
    char id[64];
    for (int i = 0; i < 1000; i++) {
        snprintf(id, sizeof id, "0b7c6a1e-%04d-4c1e-9a3f-2b6d8e1f0a7c", i);
        for (int k = 0; k < 3; k++)
            append(f, id, "agent.text", "{\"text\":\"hello\"}");
    }
    run(f);
    host_event_log_stats_t st = stats(f);
    assert_int_equal(st.sessions, 1000);
    assert_int_equal(st.pending, 0);
    size_t per = st.memory / 1000;
    print_message("event log memory: %zu bytes for 1000 idle sessions (%zu each)\n", st.memory,
                  per);
    assert_true(per < 200);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_append_read),
        T(test_raw_kept),
        T(test_invalid),
        T(test_append_trusted),
        T(test_big_batch),
        T(test_seq_survives_reopen),
        T(test_one_commit_per_iteration),
        T(test_no_wait_for_io),
        T(test_no_wait_after_early_commit),
        T(test_early_commit),
        T(test_listener_appends),
        T(test_listen_unlisten_during_fanout),
        T(test_flush),
        T(test_busy_connection),
        T(test_close_from_listener),
        T(test_read_since_limit),
        T(test_nested_read),
        T(test_retention_max_events),
        T(test_retention_max_age),
        T(test_purge),
        T(test_commit_fails),
        T(test_disk_full),
        T(test_idle_sessions_small),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
