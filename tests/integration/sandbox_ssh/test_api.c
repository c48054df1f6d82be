/*
 * sandbox-ssh through the sandbox vtable, as the host uses it, for what the
 * session runtime does not exercise: after an agentd crash, list() finds
 * the sandboxes it left (state "running"), adopt() takes one over (commands
 * run in it, its files are there) and reap() removes another; another
 * agentd instance (its own data dir) on the same hosts neither lists nor
 * reaps them, nor takes their directory; per-command signals (interrupt)
 * report the signal. The sshd hosts, keys and config
 * come from test_api.py, which also checks from outside that no remote
 * process or directory is left.
 *
 *   test_ssh_api CONFIG OTHER_INSTANCE_CONFIG   (exit 0: every check passed)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "sandbox_host.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#define CHECK(cond, ...)                                   \
    do {                                                   \
        if (!(cond)) {                                     \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                  \
            fputc('\n', stderr);                           \
            exit(1);                                       \
        }                                                  \
    } while (0)

typedef struct t {
    test_sandbox_host_t h;
    /* the step in flight */
    int done, status;
    agentd_sandbox_t *sb;
    char out[4096];
    size_t out_len;
    int out_open, exited;
    int64_t code;
    int sig;
    agentd_exec_t *ex;
    agentd_exec_io_t io;
    char listed[16][128];
    char states[16][16];
    int nlisted;
} t_t;

static void open_host(t_t *t, const char *config)
{
    CHECK(test_sandbox_host_open_file(&t->h, config, NULL) == 0, "cannot load the config");
}

static void close_host(t_t *t)
{
    test_sandbox_host_stop(&t->h, 10000);
    test_sandbox_host_close(&t->h);
}

static void wait_done(t_t *t, const char *what)
{
    uint64_t deadline = uv_hrtime() + 60ull * 1000000000ull;
    while (!t->done && uv_hrtime() < deadline)
        uv_run(&t->h.ctx.loop, UV_RUN_ONCE);
    CHECK(t->done, "timed out waiting for %s", what);
    t->done = 0;
}

static void on_created(void *ud, int status, agentd_sandbox_t *sb, const char *msg)
{
    t_t *t = ud;
    t->status = status;
    t->sb = sb;
    t->done = 1;
    snprintf(t->out, sizeof t->out, "%s", msg != NULL ? msg : "");
    if (status != 0)
        fprintf(stderr, "create/adopt: %s\n", msg ? msg : "");
}

static void on_done(void *ud, int status)
{
    t_t *t = ud;
    t->status = status;
    t->done = 1;
}

static void on_listed(void *ud, const agentd_sandbox_info_t *info, int status)
{
    t_t *t = ud;
    if (info == NULL) {
        t->status = status;
        t->done = 1;
        return;
    }
    if (t->nlisted < 16) {
        snprintf(t->listed[t->nlisted], sizeof t->listed[0], "%s", info->sandbox_id);
        snprintf(t->states[t->nlisted], sizeof t->states[0], "%s", info->state);
        t->nlisted++;
    }
}

static void maybe_exec_done(t_t *t)
{
    if (t->exited && !t->out_open)
        t->done = 1;
}

static void on_out(void *ud, const char *data, size_t len, int status)
{
    t_t *t = ud;
    if (status != 0) {
        t->out_open = 0;
        maybe_exec_done(t);
        return;
    }
    size_t room = sizeof t->out - 1 - t->out_len;
    memcpy(t->out + t->out_len, data, len < room ? len : room);
    t->out_len += len < room ? len : room;
    t->out[t->out_len] = '\0';
    if (strstr(t->out, "ready\n") != NULL && !t->exited)
        t->done = 2; /* the command is running */
}

static void on_exit_cb(void *ud, int64_t code, int sig)
{
    t_t *t = ud;
    t->exited = 1;
    t->code = code;
    t->sig = sig;
    maybe_exec_done(t);
}

static int try_create(t_t *t, const char *id)
{
    agentd_sandbox_spec_t spec = {
        .size = sizeof spec, .sandbox_id = id, .profile_name = t->h.prof.name,
        .profile_json = t->h.prof.settings_json, .profile_len = strlen(t->h.prof.settings_json),
        .workspace = "/nonexistent-local-ws", .model_api_url = "http://127.0.0.1:9"};
    agentd_err_t err = {{0}};
    CHECK(t->h.vt->create(t->h.self, &spec, on_created, t, &err) == 0, "create: %s", err.msg);
    wait_done(t, "create");
    return t->status;
}

static void create(t_t *t, const char *id)
{
    agentd_sandbox_spec_t spec = {
        .size = sizeof spec, .sandbox_id = id, .profile_name = t->h.prof.name,
        .profile_json = t->h.prof.settings_json, .profile_len = strlen(t->h.prof.settings_json),
        .workspace = "/nonexistent-local-ws", .model_api_url = "http://127.0.0.1:9"};
    agentd_err_t err = {{0}};
    CHECK(t->h.vt->create(t->h.self, &spec, on_created, t, &err) == 0, "create: %s", err.msg);
    wait_done(t, "create");
    CHECK(t->status == 0, "create %s failed", id);
}

/* Start a command; returns once it printed "ready" (or ended). */
static void start(t_t *t, const char *script)
{
    const char *argv[] = {"/bin/sh", "-c", script, NULL};
    agentd_exec_spec_t spec = {.size = sizeof spec, .argv = argv};
    agentd_err_t err = {{0}};
    t->out_len = 0;
    t->out[0] = '\0';
    t->exited = 0;
    t->out_open = 1;
    t->io.size = sizeof t->io;
    CHECK(t->h.vt->exec(t->h.self, t->sb, &spec, on_exit_cb, t, &t->ex, &t->io, &err) == 0,
          "exec: %s", err.msg);
    t->io.in.ops->shutdown(t->io.in.impl);
    t->io.out.ops->read_start(t->io.out.impl, on_out, t);
    wait_done(t, script);
}

static void finish(t_t *t)
{
    while (!(t->exited && !t->out_open))
        wait_done(t, "the command's end");
    t->h.vt->exec_release(t->h.self, t->ex);
    t->io.in.ops->close(t->io.in.impl, NULL, NULL);
    t->io.out.ops->close(t->io.out.impl, NULL, NULL);
    t->io.err.ops->close(t->io.err.impl, NULL, NULL);
    t->ex = NULL;
}

static void list(t_t *t)
{
    agentd_err_t err = {{0}};
    t->nlisted = 0;
    CHECK(t->h.vt->list(t->h.self, on_listed, t, &err) == 0, "list: %s", err.msg);
    wait_done(t, "list");
    CHECK(t->status == 0, "list failed: %s", agentd_strerror(t->status));
}

static const char *state_of(t_t *t, const char *id)
{
    for (int i = 0; i < t->nlisted; i++)
        if (strcmp(t->listed[i], id) == 0)
            return t->states[i];
    return NULL;
}

/* The "crashed agentd": two sandboxes with a command running in each,
 * then _exit without any cleanup. */
static void crash(const char *config, const char *a, const char *b)
{
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        t_t *t = calloc(1, sizeof *t);
        open_host(t, config);
        create(t, a);
        start(t, "echo kept > marker; echo ready; exec sleep 300");
        create(t, b);
        start(t, "echo ready; exec sleep 301");
        fflush(NULL);
        _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the crashing agentd failed (%d)", st);
}

int main(int argc, char **argv)
{
    CHECK(argc == 3, "usage: test_ssh_api CONFIG OTHER_INSTANCE_CONFIG");
    signal(SIGPIPE, SIG_IGN);
    char a[64], b[64];
    snprintf(a, sizeof a, "adopt-%d", (int)getpid());
    snprintf(b, sizeof b, "reap-%d", (int)getpid());
    crash(argv[1], a, b);

    /* Another agentd on the same hosts: not its directories. */
    t_t *o = calloc(1, sizeof *o);
    open_host(o, argv[2]);
    list(o);
    CHECK(state_of(o, a) == NULL && state_of(o, b) == NULL, "another instance lists them");
    agentd_err_t oerr = {{0}};
    CHECK(o->h.vt->reap(o->h.self, a, on_done, o, &oerr) == AGENTD_ENOENT,
          "another instance may reap: %s", oerr.msg);
    CHECK(try_create(o, a) != 0 && strstr(o->out, "already exists") != NULL,
          "another instance took the directory of %s: %s", a, o->out);
    close_host(o);
    free(o);
    printf("ok another instance neither lists, reaps nor takes them\n");

    t_t *t = calloc(1, sizeof *t);
    open_host(t, argv[1]);
    list(t);
    CHECK(state_of(t, a) != NULL && strcmp(state_of(t, a), "running") == 0,
          "list: %s is %s", a, state_of(t, a) ? state_of(t, a) : "missing");
    CHECK(state_of(t, b) != NULL, "list: %s missing", b);
    printf("ok list finds what the crashed agentd left (%s: running)\n", a);

    agentd_err_t err = {{0}};
    CHECK(t->h.vt->adopt(t->h.self, a, on_created, t, &err) == 0, "adopt: %s", err.msg);
    wait_done(t, "adopt");
    CHECK(t->status == 0 && t->sb != NULL, "adopt failed");
    start(t, "cat marker");
    finish(t);
    CHECK(t->code == 0 && strcmp(t->out, "kept\n") == 0, "adopted sandbox: %s", t->out);
    printf("ok adopt: commands run in the adopted sandbox, its files are there\n");

    start(t, "echo ready; exec sleep 200");
    CHECK(t->h.vt->exec_signal(t->h.self, t->ex, AGENTD_SIG_INTERRUPT, &err) == 0, "interrupt: %s",
          err.msg);
    finish(t);
    CHECK(t->sig == SIGINT, "interrupt: exit %lld signal %d", (long long)t->code, t->sig);
    printf("ok interrupt reports SIGINT\n");

    CHECK(t->h.vt->reap(t->h.self, a, on_done, t, &err) != 0, "reap of an adopted sandbox");
    CHECK(t->h.vt->reap(t->h.self, b, on_done, t, &err) == 0, "reap: %s", err.msg);
    wait_done(t, "reap");
    CHECK(t->status == 0, "reap failed: %s", agentd_strerror(t->status));
    CHECK(t->h.vt->destroy(t->h.self, t->sb, on_done, t, &err) == 0, "destroy: %s", err.msg);
    wait_done(t, "destroy");
    CHECK(t->status == 0, "destroy failed: %s", agentd_strerror(t->status));
    list(t);
    CHECK(state_of(t, a) == NULL && state_of(t, b) == NULL, "still listed after reap/destroy");
    printf("ok reap and destroy remove them\n");
    close_host(t);
    free(t);
    return 0;
}
