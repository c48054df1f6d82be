/*
 * sandbox-docker through the sandbox vtable, as the session runner uses it
 * (what `agentd sandbox exec` cannot reach). The plugin is loaded by the
 * host's own registry from the config given; each subcommand is one
 * scenario, driven by the Python tests (test_vtable.py):
 *
 *   dk_vtable_driver CONFIG WORKSPACE control     pause/resume, interrupt,
 *                                                 terminate, backpressure,
 *                                                 release of a running command
 *   dk_vtable_driver CONFIG WORKSPACE timeout     the wall-clock timeout
 *   dk_vtable_driver CONFIG WORKSPACE leave ID    make a sandbox, start a
 *                                                 command, and die (a crash)
 *   dk_vtable_driver CONFIG WORKSPACE adopt ID    a restarted host adopts it
 *   dk_vtable_driver CONFIG WORKSPACE reap ID     ... or reaps it
 *   dk_vtable_driver CONFIG WORKSPACE session ID  create for a session and
 *                                                 print its events
 *   dk_vtable_driver CONFIG WORKSPACE copy DIR    copy_in DIR/copy-src, copy_out
 *                                                 into DIR
 *
 * Prints "ok: ..." / "FAIL: ..." lines, "event TYPE DATA" lines, and exits
 * with the number of failures. Each wait polls a condition with a deadline.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "sandbox_host.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

typedef struct t {
    test_sandbox_host_t h;
    const char *ws;
    int failed;
    agentd_sandbox_t *sb;
    int create_status;
    char create_msg[600];
    agentd_exec_t *ex;
    agentd_exec_io_t io;
    char *out;
    size_t out_len;
    int out_eof, err_eof, exited, destroyed, destroy_status, listed, reaped;
    int64_t exit_code;
    int exit_signal;
    char listing[4096];
} t_t;

static void check(t_t *t, int ok, const char *what)
{
    if (!ok)
        t->failed++;
    printf("%s: %s\n", ok ? "ok" : "FAIL", what);
    fflush(stdout);
}

static int wait_until(t_t *t, const int *flag, unsigned ms)
{
    uint64_t end = uv_hrtime() + (uint64_t)ms * 1000000u;
    while (!*flag && uv_hrtime() < end)
        uv_run(&t->h.ctx.loop, UV_RUN_NOWAIT), usleep(1000);
    return *flag;
}

static int out_has(t_t *t, const char *s)
{
    return t->out != NULL && memmem(t->out, t->out_len, s, strlen(s)) != NULL;
}

static int wait_out(t_t *t, const char *s, unsigned ms)
{
    uint64_t end = uv_hrtime() + (uint64_t)ms * 1000000u;
    while (!out_has(t, s) && uv_hrtime() < end)
        uv_run(&t->h.ctx.loop, UV_RUN_NOWAIT), usleep(1000);
    return out_has(t, s);
}

static int sink(void *ud, const char *session, const char *type, const char *data, size_t len)
{
    (void)ud;
    printf("event %s %s %.*s\n", session, type, (int)len, data);
    fflush(stdout);
    return 0;
}

static void on_created(void *ud, int status, agentd_sandbox_t *sb, const char *msg)
{
    t_t *t = ud;
    t->sb = sb;
    t->create_status = status == 0 ? 1 : status;
    snprintf(t->create_msg, sizeof t->create_msg, "%s", msg ? msg : "");
}

static int create(t_t *t, const char *id, const char *session, uint32_t timeout_s)
{
    agentd_sandbox_spec_t spec = {
        .size = sizeof spec, .sandbox_id = id, .session_id = session,
        .profile_name = t->h.prof.name, .profile_json = t->h.prof.settings_json,
        .profile_len = strlen(t->h.prof.settings_json), .workspace = t->ws,
        .timeout_s = timeout_s};
    agentd_err_t err = {{0}};
    t->sb = NULL;
    t->create_status = 0;
    if (t->h.vt->create(t->h.self, &spec, on_created, t, &err) != 0) {
        printf("create: %s\n", err.msg);
        return -1;
    }
    wait_until(t, &t->create_status, 60000);
    if (t->create_status != 1)
        printf("create: %d %s\n", t->create_status, t->create_msg);
    return t->create_status == 1 ? 0 : -1;
}

static void on_out(void *ud, const char *data, size_t len, int status)
{
    t_t *t = ud;
    if (status < 0) {
        t->out_eof = 1;
        return;
    }
    char *b = realloc(t->out, t->out_len + len + 1);
    if (b == NULL)
        abort();
    memcpy(b + t->out_len, data, len);
    t->out = b;
    t->out_len += len;
    b[t->out_len] = '\0';
}

static void on_err(void *ud, const char *data, size_t len, int status)
{
    t_t *t = ud;
    if (status < 0)
        t->err_eof = 1;
    else
        fprintf(stderr, "[cmd stderr] %.*s", (int)len, data);
}

static void on_exit_cb(void *ud, int64_t code, int sig)
{
    t_t *t = ud;
    t->exited = 1;
    t->exit_code = code;
    t->exit_signal = sig;
}

static int run(t_t *t, const char *script)
{
    const char *argv[] = {"/bin/sh", "-c", script, NULL};
    agentd_exec_spec_t spec = {.size = sizeof spec, .argv = argv};
    agentd_err_t err = {{0}};
    free(t->out);
    t->out = NULL;
    t->out_len = 0;
    t->out_eof = t->err_eof = t->exited = 0;
    t->io.size = sizeof t->io;
    if (t->h.vt->exec(t->h.self, t->sb, &spec, on_exit_cb, t, &t->ex, &t->io, &err) != 0) {
        printf("exec: %s\n", err.msg);
        return -1;
    }
    t->io.in.ops->shutdown(t->io.in.impl);
    t->io.out.ops->read_start(t->io.out.impl, on_out, t);
    t->io.err.ops->read_start(t->io.err.impl, on_err, t);
    return 0;
}

static void release(t_t *t)
{
    if (t->ex == NULL)
        return;
    t->h.vt->exec_release(t->h.self, t->ex);
    t->io.in.ops->close(t->io.in.impl, NULL, NULL);
    t->io.out.ops->close(t->io.out.impl, NULL, NULL);
    t->io.err.ops->close(t->io.err.impl, NULL, NULL);
    t->ex = NULL;
}

static void on_destroyed(void *ud, int status)
{
    t_t *t = ud;
    t->destroyed = 1;
    t->destroy_status = status;
}

static void destroy(t_t *t)
{
    t->destroyed = 0;
    if (t->sb != NULL && t->h.vt->destroy(t->h.self, t->sb, on_destroyed, t, NULL) == 0)
        wait_until(t, &t->destroyed, 30000);
    t->sb = NULL;
}

static void on_list(void *ud, const agentd_sandbox_info_t *info, int status)
{
    t_t *t = ud;
    if (info == NULL) {
        t->listed = status == 0 ? 1 : -1;
        return;
    }
    size_t n = strlen(t->listing);
    snprintf(t->listing + n, sizeof t->listing - n, "%s=%s ", info->sandbox_id, info->state);
}

static const char *list(t_t *t)
{
    t->listing[0] = '\0';
    t->listed = 0;
    if (t->h.vt->list(t->h.self, on_list, t, NULL) == 0)
        wait_until(t, &t->listed, 30000);
    printf("listing: %s\n", t->listing);
    return t->listing;
}

static int listed_as(t_t *t, const char *id, const char *state)
{
    char want[200];
    snprintf(want, sizeof want, "%s=%s ", id, state);
    return strstr(list(t), want) != NULL;
}

/* How many `sleep 1000` run in the container (the init's sleep is not one). */
#define SLEEPERS                                                                        \
    "n=0; for d in /proc/[0-9]*; do tr '\\000' ' ' < $d/cmdline 2>/dev/null | "        \
    "grep -q '^sleep 1000' && n=$((n+1)); done; echo sleepers=$n"

/* ---- scenarios ------------------------------------------------------------- */

static void scenario_control(t_t *t)
{
    if (create(t, "vt-control", NULL, 0) != 0) {
        check(t, 0, "create");
        return;
    }
    run(t, "trap 'echo interrupted; exit 5' INT; i=0; while :; do i=$((i+1)); echo tick$i; "
           "sleep 0.05; done");
    check(t, wait_out(t, "tick3", 20000), "a command runs and its output streams");
    agentd_err_t err = {{0}};
    check(t, t->h.vt->signal(t->h.self, t->sb, AGENTD_SIG_PAUSE, &err) == 0, "pause accepted");
    int paused = 0;
    for (int i = 0; i < 100 && !(paused = listed_as(t, "vt-control", "paused")); i++)
        usleep(50000);
    check(t, paused, "pause: the container is paused");
    /* Paused: nothing more arrives (what was in flight may still land). */
    uint64_t end = uv_hrtime() + 300000000ull;
    while (uv_hrtime() < end)
        uv_run(&t->h.ctx.loop, UV_RUN_NOWAIT), usleep(1000);
    size_t seen = t->out_len;
    end = uv_hrtime() + 700000000ull;
    while (uv_hrtime() < end)
        uv_run(&t->h.ctx.loop, UV_RUN_NOWAIT), usleep(1000);
    check(t, t->out_len == seen, "pause: no output while paused");
    check(t, t->h.vt->signal(t->h.self, t->sb, AGENTD_SIG_RESUME, &err) == 0, "resume accepted");
    end = uv_hrtime() + 10000000000ull;
    while (t->out_len == seen && uv_hrtime() < end)
        uv_run(&t->h.ctx.loop, UV_RUN_NOWAIT), usleep(1000);
    check(t, t->out_len > seen, "resume: output continues");
    int running = 0;
    for (int i = 0; i < 100 && !(running = listed_as(t, "vt-control", "running")); i++)
        usleep(50000);
    check(t, running, "resume: the container runs");
    check(t, t->h.vt->exec_signal(t->h.self, t->ex, AGENTD_SIG_INTERRUPT, &err) == 0,
          "interrupt accepted");
    wait_until(t, &t->exited, 20000);
    wait_until(t, &t->out_eof, 5000);
    check(t, t->exited && t->exit_code == 5 && out_has(t, "interrupted"),
          "interrupt: SIGINT reached the command's trap, exit code collected");
    release(t);

    /* stop during a turn: the runner's escalation, TERM to every process */
    run(t, "trap 'echo terminated; exit 7' TERM; echo up; while :; do sleep 0.05; done");
    check(t, wait_out(t, "up", 20000), "second command runs");
    check(t, t->h.vt->signal(t->h.self, t->sb, AGENTD_SIG_TERMINATE, &err) == 0,
          "terminate accepted");
    wait_until(t, &t->exited, 20000);
    check(t, t->exited && t->exit_code == 7 && out_has(t, "terminated"),
          "terminate: SIGTERM reached the command");
    release(t);

    /* backpressure: stop reading, then read again; nothing is lost */
    run(t, "head -c 3000000 /dev/zero | tr '\\000' 'x'; echo END");
    uint64_t start = uv_hrtime();
    while (t->out_len < 100000 && uv_hrtime() - start < 20000000000ull)
        uv_run(&t->h.ctx.loop, UV_RUN_NOWAIT), usleep(500);
    t->io.out.ops->read_stop(t->io.out.impl);
    size_t at_stop = t->out_len;
    end = uv_hrtime() + 500000000ull;
    while (uv_hrtime() < end)
        uv_run(&t->h.ctx.loop, UV_RUN_NOWAIT), usleep(1000);
    check(t, t->out_len == at_stop && !t->exited,
          "backpressure: no data while the reader says not now, and the command waits");
    t->io.out.ops->read_start(t->io.out.impl, on_out, t);
    wait_until(t, &t->out_eof, 30000);
    wait_until(t, &t->exited, 10000);
    check(t, t->out_len == 3000000 + 4 && out_has(t, "END") && t->exit_code == 0,
          "backpressure: every byte arrives after read_start");
    release(t);

    /* stdin: what is written reaches the command, then EOF */
    {
        const char *argv[] = {"/bin/sh", "-c", "cat; echo done", NULL};
        agentd_exec_spec_t spec = {.size = sizeof spec, .argv = argv};
        free(t->out);
        t->out = NULL;
        t->out_len = 0;
        t->out_eof = t->exited = 0;
        t->io.size = sizeof t->io;
        int rc = t->h.vt->exec(t->h.self, t->sb, &spec, on_exit_cb, t, &t->ex, &t->io, &err);
        check(t, rc == 0, "exec with stdin");
        t->io.in.ops->write(t->io.in.impl, "line one\n", 9, NULL, NULL);
        t->io.in.ops->shutdown(t->io.in.impl);
        t->io.out.ops->read_start(t->io.out.impl, on_out, t);
        t->io.err.ops->read_start(t->io.err.impl, on_err, t);
        wait_until(t, &t->exited, 20000);
        wait_until(t, &t->out_eof, 5000);
        check(t, out_has(t, "line one\ndone"), "stdin reaches the command, then its EOF");
        release(t);
    }

    /* release of a running command kills it */
    run(t, "echo up; exec sleep 1000");
    check(t, wait_out(t, "up", 20000), "a long command runs");
    release(t);
    run(t, SLEEPERS);
    int gone = 0;
    for (int i = 0; i < 50 && !gone; i++) {
        wait_until(t, &t->exited, 10000);
        gone = out_has(t, "sleepers=0");
        if (!gone) {
            release(t);
            usleep(100000);
            run(t, SLEEPERS);
        }
    }
    check(t, gone || out_has(t, "sleepers=0"), "release: the running command was killed");
    release(t);
    destroy(t);
    check(t, t->destroyed && t->destroy_status == 0, "destroy");
    check(t, !listed_as(t, "vt-control", "exited") && strstr(t->listing, "vt-control") == NULL,
          "destroy: the container is gone");
}

static void scenario_timeout(t_t *t)
{
    if (create(t, "vt-timeout", "session-timeout", 2) != 0) {
        check(t, 0, "create");
        return;
    }
    run(t, "trap '' INT TERM; echo up; sleep 100");
    check(t, wait_out(t, "up", 20000), "command runs");
    wait_until(t, &t->exited, 30000);
    check(t, t->exited && t->exit_signal == SIGKILL, "timeout: killed after timeout_s");
    agentd_err_t err = {{0}};
    agentd_exec_t *ex2 = NULL;
    const char *argv[] = {"/bin/true", NULL};
    agentd_exec_spec_t spec = {.size = sizeof spec, .argv = argv};
    agentd_exec_io_t io2 = {.size = sizeof io2};
    check(t, t->h.vt->exec(t->h.self, t->sb, &spec, on_exit_cb, t, &ex2, &io2, &err) ==
                 AGENTD_ETIMEDOUT, "timeout: no more commands");
    wait_until(t, &t->out_eof, 5000);
    release(t);
    destroy(t);
    check(t, t->destroyed && t->destroy_status == 0, "destroy after timeout");
}

static void scenario_leave(t_t *t, const char *id)
{
    if (create(t, id, "session-left", 0) != 0) {
        check(t, 0, "create");
        return;
    }
    run(t, "echo before-restart > /tmp/state; echo up; exec sleep 1000");
    check(t, wait_out(t, "up", 20000), "command runs");
    printf("leaving %s\n", id);
    fflush(stdout);
    _exit(t->failed); /* a crash: nothing cleaned up */
}

static void scenario_adopt(t_t *t, const char *id)
{
    check(t, listed_as(t, id, "running"), "list after restart: running");
    t->create_status = 0;
    agentd_err_t err = {{0}};
    check(t, t->h.vt->adopt(t->h.self, id, on_created, t, &err) == 0, "adopt accepted");
    wait_until(t, &t->create_status, 30000);
    check(t, t->create_status == 1 && t->sb != NULL, "adopted");
    if (t->sb == NULL) {
        printf("adopt: %s\n", t->create_msg);
        return;
    }
    run(t, "cat /tmp/state; " SLEEPERS);
    wait_until(t, &t->exited, 20000);
    wait_until(t, &t->out_eof, 5000);
    check(t, out_has(t, "before-restart"), "the adopted container is the same one");
    check(t, out_has(t, "sleepers=1"), "the command started before the restart still runs");
    release(t);
    destroy(t);
    check(t, t->destroyed && t->destroy_status == 0, "destroy the adopted sandbox");
    check(t, strstr(list(t), id) == NULL, "gone after destroy");
}

static void on_reaped(void *ud, int status)
{
    t_t *t = ud;
    t->reaped = status == 0 ? 1 : -1;
}

static void scenario_reap(t_t *t, const char *id)
{
    check(t, listed_as(t, id, "running"), "list after restart: the orphan is running");
    t->reaped = 0;
    check(t, t->h.vt->reap(t->h.self, id, on_reaped, t, NULL) == 0, "reap accepted");
    wait_until(t, &t->reaped, 30000);
    check(t, t->reaped == 1, "reaped");
    check(t, strstr(list(t), id) == NULL, "list no longer has it");
    t->create_status = 0;
    agentd_err_t err = {{0}};
    if (t->h.vt->adopt(t->h.self, id, on_created, t, &err) == 0)
        wait_until(t, &t->create_status, 30000);
    check(t, t->create_status == AGENTD_ENOENT, "a reaped sandbox cannot be adopted");
}

static void on_copied(void *ud, int status)
{
    t_t *t = ud;
    t->reaped = status == 0 ? 1 : status; /* reuses the reap flag */
}

/* copy_in of a folder and copy_out of a file and a folder, through the
 * archive endpoints; CONFIG's profile decides bind or volume. */
static void scenario_copy(t_t *t, const char *host_dir)
{
    if (create(t, "vt-copy", NULL, 0) != 0) {
        check(t, 0, "create");
        return;
    }
    agentd_err_t err = {{0}};
    char src[600], dst[600], back[600], back_dir[600];
    snprintf(src, sizeof src, "%s/copy-src", host_dir);
    snprintf(dst, sizeof dst, "%s/incoming", t->ws);
    snprintf(back, sizeof back, "%s/copied-back.txt", host_dir);
    snprintf(back_dir, sizeof back_dir, "%s/copied-back-dir", host_dir);
    t->reaped = 0;
    check(t, t->h.vt->copy_in(t->h.self, t->sb, src, dst, on_copied, t, &err) == 0,
          "copy_in accepted");
    wait_until(t, &t->reaped, 30000);
    check(t, t->reaped == 1, "copy_in done");
    run(t, "cat incoming/a.txt incoming/sub/b.txt; echo made-inside > incoming/new.txt; "
           "echo changed > incoming/a.txt");
    wait_until(t, &t->exited, 20000);
    wait_until(t, &t->out_eof, 5000);
    check(t, out_has(t, "alpha\nbeta\n"), "the copied files are in the sandbox");
    release(t);
    char from[700];
    snprintf(from, sizeof from, "%s/new.txt", dst);
    t->reaped = 0;
    check(t, t->h.vt->copy_out(t->h.self, t->sb, from, back, on_copied, t, &err) == 0,
          "copy_out of a file accepted");
    wait_until(t, &t->reaped, 30000);
    check(t, t->reaped == 1, "copy_out of a file done");
    t->reaped = 0;
    check(t, t->h.vt->copy_out(t->h.self, t->sb, dst, back_dir, on_copied, t, &err) == 0,
          "copy_out of a folder accepted");
    wait_until(t, &t->reaped, 30000);
    check(t, t->reaped == 1, "copy_out of a folder done");
    t->reaped = 0;
    check(t, t->h.vt->copy_in(t->h.self, t->sb, "relative", dst, on_copied, t, &err) ==
                 AGENTD_EINVAL, "copy_in refuses a relative path");
    destroy(t);
    check(t, t->destroyed && t->destroy_status == 0, "destroy");
}

static void scenario_session(t_t *t, const char *id)
{
    int rc = create(t, id, "session-events", 0);
    printf("create: %s %s\n", rc == 0 ? "ok" : "failed", t->create_msg);
    if (rc == 0) {
        run(t, "cat pre-ran 2>/dev/null || echo no-pre-ran");
        wait_until(t, &t->exited, 20000);
        wait_until(t, &t->out_eof, 5000);
        printf("output: %s\n", t->out != NULL ? t->out : "");
        release(t);
        destroy(t);
    }
    check(t, 1, "session scenario ran");
}

static int open_host(t_t *t, const char *config)
{
    if (test_sandbox_host_open_file(&t->h, config, "test") != 0)
        return -1;
    t->h.ctx.event_sink = sink;
    t->h.ctx.event_sink_ud = t;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s CONFIG WORKSPACE SCENARIO [ID]\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    t_t *t = calloc(1, sizeof *t);
    if (t == NULL || open_host(t, argv[1]) != 0)
        return 100;
    t->ws = argv[2];
    const char *s = argv[3], *id = argc > 4 ? argv[4] : "vt-one";
    if (strcmp(s, "control") == 0)
        scenario_control(t);
    else if (strcmp(s, "timeout") == 0)
        scenario_timeout(t);
    else if (strcmp(s, "leave") == 0)
        scenario_leave(t, id);
    else if (strcmp(s, "adopt") == 0)
        scenario_adopt(t, id);
    else if (strcmp(s, "reap") == 0)
        scenario_reap(t, id);
    else if (strcmp(s, "copy") == 0)
        scenario_copy(t, id);
    else if (strcmp(s, "session") == 0)
        scenario_session(t, id);
    else
        check(t, 0, "known scenario");
    test_sandbox_host_stop(&t->h, 10000);
    test_sandbox_host_close(&t->h);
    free(t->out);
    int failed = t->failed;
    free(t);
    return failed;
}
