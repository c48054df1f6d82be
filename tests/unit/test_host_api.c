/* The host API table a plugin receives: timers, post from other threads,
 * the thread pool, fd polls, processes with stdio streams, the pump's
 * backpressure and integrity, events and the state directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/context.h"
#include "core/pump.h"
#include "core/stream.h"
#include "plugins/registry.h"

typedef struct fixture {
    host_ctx_t ctx;
    struct agentd_host host;
    const agentd_host_api_t *api;
    char data_dir[64];
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    host_config_t *cfg = NULL;
    host_diags_t diags = {0};
    assert_int_equal(host_config_load(NULL, &cfg, &diags), 0);
    host_diags_free(&diags);
    strcpy(f->data_dir, "/tmp/agentd-unit-XXXXXX");
    assert_non_null(mkdtemp(f->data_dir));
    free(cfg->data_dir);
    cfg->data_dir = strdup(f->data_dir);
    FILE *devnull = fopen("/dev/null", "w");
    assert_int_equal(host_ctx_init(&f->ctx, cfg, devnull), 0);
    f->host.ctx = &f->ctx;
    f->api = host_api_table();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    FILE *out = f->ctx.log.out;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->data_dir);
    free(f->host.state_dir);
    host_ctx_close(&f->ctx);
    fclose(out);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static void run(fixture_t *f)
{
    uv_run(&f->ctx.loop, UV_RUN_DEFAULT);
}

/* ---- timers ------------------------------------------------------------- */

typedef struct tick {
    fixture_t *f;
    agentd_timer_t *t;
    int fired;
} tick_t;

static void on_tick(void *ud)
{
    tick_t *t = ud;
    if (++t->fired == 3)
        t->f->api->timer_close(t->t);
}

static void test_timer_repeats_until_closed(void **state)
{
    fixture_t *f = *state;
    tick_t t = {.f = f};
    assert_int_equal(f->api->timer_start(&f->host, 1, 1, on_tick, &t, &t.t), 0);
    run(f);
    assert_int_equal(t.fired, 3);
    assert_int_equal(f->api->timer_start(&f->host, 1, 0, NULL, &t, &t.t), AGENTD_EINVAL);
}

/* ---- post from another thread ------------------------------------------- */

typedef struct posted {
    fixture_t *f;
    uv_thread_t loop_thread, ran_on;
    int ran;
} posted_t;

static void on_posted(void *ud)
{
    posted_t *p = ud;
    p->ran_on = uv_thread_self();
    p->ran++;
}

static void poster(void *arg)
{
    posted_t *p = arg;
    assert_int_equal(p->f->api->post(&p->f->host, on_posted, p), 0);
}

/* A post keeps nothing alive (host.h); the test holds a timer until the
 * posted callback has run. */
static void until_posted(uv_timer_t *t)
{
    posted_t *p = t->data;
    if (p->ran)
        uv_close((uv_handle_t *)t, NULL);
}

static void test_post_runs_on_the_loop_thread(void **state)
{
    fixture_t *f = *state;
    posted_t p = {.f = f, .loop_thread = uv_thread_self()};
    uv_timer_t guard;
    uv_timer_init(&f->ctx.loop, &guard);
    guard.data = &p;
    uv_timer_start(&guard, until_posted, 1, 1);
    uv_thread_t th;
    assert_int_equal(uv_thread_create(&th, poster, &p), 0);
    run(f);
    uv_thread_join(&th);
    assert_int_equal(p.ran, 1);
    assert_true(uv_thread_equal(&p.ran_on, &p.loop_thread));
}

/* ---- thread pool: work, then after on the loop; cancel ------------------ */

typedef struct job {
    uv_sem_t *gate;
    int worked, after_status, afters;
} job_t;

static void work_blocking(void *ud)
{
    job_t *j = ud;
    if (j->gate != NULL)
        uv_sem_wait(j->gate);
    j->worked = 1;
}

static void after_work(void *ud, int status)
{
    job_t *j = ud;
    j->after_status = status;
    j->afters++;
}

static void test_queue_work_and_cancel(void **state)
{
    fixture_t *f = *state;
    enum { POOL = 4 }; /* libuv's default pool size: occupy every thread */
    uv_sem_t gate;
    uv_sem_init(&gate, 0);
    job_t busy[POOL] = {{0}}, queued = {0};
    for (int i = 0; i < POOL; i++) {
        busy[i].gate = &gate;
        assert_int_equal(f->api->queue_work(&f->host, work_blocking, after_work, &busy[i], NULL), 0);
    }
    agentd_work_t *w;
    assert_int_equal(f->api->queue_work(&f->host, work_blocking, after_work, &queued, &w), 0);
    assert_int_equal(f->api->cancel_work(w), 0);
    for (int i = 0; i < POOL; i++)
        uv_sem_post(&gate);
    run(f);
    uv_sem_destroy(&gate);
    for (int i = 0; i < POOL; i++) {
        assert_int_equal(busy[i].worked, 1);
        assert_int_equal(busy[i].afters, 1);
        assert_int_equal(busy[i].after_status, 0);
    }
    assert_int_equal(queued.worked, 0);
    assert_int_equal(queued.afters, 1);
    assert_int_equal(queued.after_status, AGENTD_ECANCELED);
}

/* ---- fd polls ----------------------------------------------------------- */

typedef struct polled {
    fixture_t *f;
    agentd_poll_t *p;
    unsigned revents;
    char byte;
} polled_t;

static void on_poll(void *ud, int fd, unsigned revents, int status)
{
    polled_t *p = ud;
    assert_int_equal(status, 0);
    p->revents = revents;
    assert_int_equal(read(fd, &p->byte, 1), 1);
    p->f->api->poll_close(p->p);
}

static void test_poll_reports_readable(void **state)
{
    fixture_t *f = *state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    polled_t p = {.f = f};
    assert_int_equal(f->api->poll_start(&f->host, fds[0], AGENTD_POLL_READ, on_poll, &p, &p.p), 0);
    assert_int_equal(write(fds[1], "x", 1), 1);
    run(f);
    assert_true(p.revents & AGENTD_POLL_READ);
    assert_int_equal(p.byte, 'x');
    close(fds[0]);
    close(fds[1]);
}

/* ---- processes and streams ---------------------------------------------- */

typedef struct child {
    fixture_t *f;
    agentd_process_t *proc;
    agentd_spawn_io_t io;
    char out[256], err[256];
    size_t out_len, err_len;
    int64_t status;
    int term_signal, exited, open_streams;
} child_t;

static void on_child_exit(void *ud, int64_t status, int term_signal)
{
    child_t *c = ud;
    c->status = status;
    c->term_signal = term_signal;
    c->exited = 1;
    c->f->api->process_close(c->proc);
}

static void collect(child_t *c, agentd_stream_t *s, char *buf, size_t *len, const char *data,
                    size_t n, int status)
{
    if (status != 0) {
        assert_int_equal(status, AGENTD_EOF);
        s->ops->close(s->impl, NULL, NULL);
        c->open_streams--;
        return;
    }
    size_t room = 255 - *len;
    memcpy(buf + *len, data, n < room ? n : room);
    *len += n < room ? n : room;
}

static void on_out(void *ud, const char *data, size_t n, int status)
{
    child_t *c = ud;
    collect(c, &c->io.out, c->out, &c->out_len, data, n, status);
}

static void on_err(void *ud, const char *data, size_t n, int status)
{
    child_t *c = ud;
    collect(c, &c->io.err, c->err, &c->err_len, data, n, status);
}

static void test_spawn_with_stdio(void **state)
{
    fixture_t *f = *state;
    const char *argv[] = {"sh", "-c", "read x; echo got:$x; echo oops >&2; exit 3", NULL};
    const char *env[] = {"PATH=/usr/bin:/bin", NULL};
    agentd_spawn_opts_t o = {.size = sizeof o, .file = "sh", .argv = argv, .env = env,
                             .flags = AGENTD_SPAWN_STDIN | AGENTD_SPAWN_STDOUT |
                                      AGENTD_SPAWN_STDERR};
    child_t c = {.f = f, .io.size = sizeof c.io, .open_streams = 2};
    agentd_err_t err = {{0}};
    assert_int_equal(f->api->spawn(&f->host, &o, on_child_exit, &c, &c.proc, &c.io, &err), 0);
    assert_true(c.io.pid > 0);
    assert_int_equal(c.io.in.ops->write(c.io.in.impl, "hello\n", 6, NULL, NULL), 0);
    assert_int_equal(c.io.in.ops->shutdown(c.io.in.impl), 0);
    c.io.out.ops->read_start(c.io.out.impl, on_out, &c);
    c.io.err.ops->read_start(c.io.err.impl, on_err, &c);
    c.io.in.ops->close(c.io.in.impl, NULL, NULL);
    run(f);
    assert_int_equal(c.exited, 1);
    assert_int_equal(c.status, 3);
    assert_int_equal(c.open_streams, 0);
    assert_string_equal(c.out, "got:hello\n");
    assert_string_equal(c.err, "oops\n");
}

static void test_spawn_failures_say_why(void **state)
{
    fixture_t *f = *state;
    const char *argv[] = {"agentd-no-such-program", NULL};
    agentd_spawn_opts_t o = {.size = sizeof o, .file = argv[0], .argv = argv};
    agentd_process_t *p = NULL;
    agentd_err_t err = {{0}};
    assert_int_equal(f->api->spawn(&f->host, &o, NULL, NULL, &p, NULL, &err), AGENTD_ENOENT);
    assert_non_null(strstr(err.msg, "agentd-no-such-program"));
    agentd_spawn_opts_t small = {.size = 4};
    assert_int_equal(f->api->spawn(&f->host, &small, NULL, NULL, &p, NULL, &err), AGENTD_EINVAL);
    run(f);
}

static void on_group_exit(void *ud, int64_t status, int term_signal)
{
    child_t *c = ud;
    c->term_signal = term_signal;
    c->exited = 1;
    c->f->api->process_close(c->proc);
}

static void kill_soon(void *ud)
{
    child_t *c = ud;
    assert_int_equal(c->f->api->process_kill(c->proc, SIGTERM), 0);
}

static void test_kill_reaches_the_whole_group(void **state)
{
    fixture_t *f = *state;
    char pidfile[128];
    snprintf(pidfile, sizeof pidfile, "%s/grandchild.pid", f->data_dir);
    char script[256];
    snprintf(script, sizeof script, "sleep 300 & echo $! > %s; wait", pidfile);
    const char *argv[] = {"/bin/sh", "-c", script, NULL};
    agentd_spawn_opts_t o = {.size = sizeof o, .file = "/bin/sh", .argv = argv,
                             .flags = AGENTD_SPAWN_NEW_GROUP};
    child_t c = {.f = f};
    assert_int_equal(f->api->spawn(&f->host, &o, on_group_exit, &c, &c.proc, NULL, NULL), 0);
    /* Wait for the grandchild to exist (its pid file), then kill the group. */
    FILE *pf = NULL;
    for (int i = 0; i < 5000 && pf == NULL; i++) {
        pf = fopen(pidfile, "r");
        if (pf != NULL && fgetc(pf) == EOF) {
            fclose(pf);
            pf = NULL;
        }
        if (pf == NULL)
            usleep(1000);
    }
    assert_non_null(pf);
    rewind(pf);
    int grandchild = 0;
    assert_int_equal(fscanf(pf, "%d", &grandchild), 1);
    fclose(pf);
    f->api->post(&f->host, kill_soon, &c);
    run(f);
    assert_int_equal(c.term_signal, SIGTERM);
    /* The grandchild got the signal too: it is gone (or a zombie of init). */
    int alive = 1;
    for (int i = 0; i < 5000 && alive; i++) {
        char path[64], st = 0;
        snprintf(path, sizeof path, "/proc/%d/stat", grandchild);
        FILE *s = fopen(path, "r");
        if (s == NULL || fscanf(s, "%*d %*s %c", &st) != 1 || st == 'Z')
            alive = 0;
        if (s != NULL)
            fclose(s);
        if (alive)
            usleep(1000);
    }
    assert_false(alive);
}

/* ---- the pump: every byte, in order, with bounded queues ----------------- */

typedef struct piped {
    fixture_t *f;
    child_t producer, consumer;
    host_pump_t pump;
    int pump_status, pump_done;
} piped_t;

static void on_pumped(void *ud, int status)
{
    piped_t *p = ud;
    p->pump_done = 1;
    p->pump_status = status;
    p->producer.io.out.ops->close(p->producer.io.out.impl, NULL, NULL);
    p->consumer.io.in.ops->close(p->consumer.io.in.impl, NULL, NULL);
}

static void on_consumer_out(void *ud, const char *data, size_t n, int status)
{
    child_t *c = ud;
    collect(c, &c->io.out, c->out, &c->out_len, data, n, status);
}

static void test_pump_moves_every_byte(void **state)
{
    fixture_t *f = *state;
    piped_t p = {.f = f};
    /* 64 MiB, far past the high-water mark: the pump must pause the
     * producer whenever the consumer lags, and lose nothing. */
    const char *prod[] = {"sh", "-c", "head -c 67108864 /dev/zero", NULL};
    const char *cons2[] = {"wc", "-c", NULL};
    const char *env[] = {"PATH=/usr/bin:/bin", NULL};
    agentd_spawn_opts_t po = {.size = sizeof po, .file = "sh", .argv = prod, .env = env,
                              .flags = AGENTD_SPAWN_STDOUT};
    agentd_spawn_opts_t co = {.size = sizeof co, .file = "wc", .argv = cons2, .env = env,
                              .flags = AGENTD_SPAWN_STDIN | AGENTD_SPAWN_STDOUT};
    p.producer = (child_t){.f = f, .io.size = sizeof p.producer.io};
    p.consumer = (child_t){.f = f, .io.size = sizeof p.consumer.io, .open_streams = 1};
    assert_int_equal(f->api->spawn(&f->host, &po, on_child_exit, &p.producer, &p.producer.proc,
                                   &p.producer.io, NULL), 0);
    assert_int_equal(f->api->spawn(&f->host, &co, on_child_exit, &p.consumer, &p.consumer.proc,
                                   &p.consumer.io, NULL), 0);
    assert_int_equal(host_pump_start(&p.pump, p.producer.io.out, p.consumer.io.in,
                                     HOST_PUMP_SHUTDOWN_ON_EOF, on_pumped, &p), 0);
    p.consumer.io.out.ops->read_start(p.consumer.io.out.impl, on_consumer_out, &p.consumer);
    run(f);
    assert_int_equal(p.pump_done, 1);
    assert_int_equal(p.pump_status, 0);
    assert_int_equal(atol(p.consumer.out), 67108864L);
    assert_int_equal(p.consumer.status, 0);
}

/* ---- events and state dir ----------------------------------------------- */

static void test_emit_event_checks_json(void **state)
{
    fixture_t *f = *state;
    agentd_err_t err = {{0}};
    host_plugin_t pl = {.id = "fixture", .kind = AGENTD_KIND_SANDBOX};
    f->host.plugin = &pl;
    const char *ok = "{\"host\":\"example.com\",\"port\":443}";
    assert_int_equal(f->api->emit_event(&f->host, NULL, "sandbox.network_refused", ok,
                                        strlen(ok), &err), 0);
    /* A plugin speaks for its own kind only: never as the host. */
    static const char *const spoofs[] = {"session.state", "permission.decided", "agent.text",
                                         "vcs.pushed", "sandbox.", "sandboxes.x", "sandbox"};
    for (size_t i = 0; i < sizeof spoofs / sizeof spoofs[0]; i++) {
        assert_int_equal(f->api->emit_event(&f->host, NULL, spoofs[i], ok, strlen(ok), &err),
                         AGENTD_EINVAL);
        assert_non_null(strstr(err.msg, "sandbox.<what>"));
    }
    assert_int_equal(f->api->emit_event(&f->host, NULL, "x.y", "[1]", 3, &err), AGENTD_EINVAL);
    assert_non_null(strstr(err.msg, "not a JSON object"));
    assert_int_equal(f->api->emit_event(&f->host, NULL, "x.y", "{", 1, &err), AGENTD_EINVAL);
    f->host.plugin = NULL;
}

static void test_state_dir_is_private(void **state)
{
    fixture_t *f = *state;
    const char *dir = f->api->state_dir(&f->host);
    assert_non_null(dir);
    struct stat st;
    assert_int_equal(stat(dir, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_ptr_equal(dir, f->api->state_dir(&f->host));
    assert_int_equal(strncmp(dir, f->data_dir, strlen(f->data_dir)), 0);
}

static void test_secret_get_without_store_is_a_clear_error(void **state)
{
    fixture_t *f = *state;
    char *value = (char *)1;
    size_t len = 99;
    agentd_err_t err = {{0}};
    assert_int_equal(f->api->secret_get(&f->host, "GITHUB_TOKEN", NULL, &value, &len, &err),
                     AGENTD_ENOENT);
    assert_null(value);
    assert_int_equal(len, 0);
    assert_non_null(strstr(err.msg, "GITHUB_TOKEN"));
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_timer_repeats_until_closed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_post_runs_on_the_loop_thread, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_work_and_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_poll_reports_readable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spawn_with_stdio, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spawn_failures_say_why, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill_reaches_the_whole_group, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pump_moves_every_byte, setup, teardown),
        cmocka_unit_test_setup_teardown(test_emit_event_checks_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_dir_is_private, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secret_get_without_store_is_a_clear_error, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
