/*
 * sandbox-seccomp through the sandbox vtable, as the session runner will use
 * it (what `agentd sandbox exec` cannot reach): pause and resume, interrupt,
 * the timeout, destroy with a command running, refused connections as
 * session events, and list/reap of a sandbox an earlier daemon left.
 *
 * The plugin is loaded by the host's own registry and called through the
 * host API. Each check waits for a condition (with a deadline), never a
 * fixed time. Prints "N passed, N failed"; exit 77 when not root.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "sandbox_host.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

typedef struct t {
    test_sandbox_host_t h;
    char tmp[128], ws[160];
    int passed, failed;
    /* the sandbox and command under test */
    agentd_sandbox_t *sb;
    int create_status;
    char create_msg[512];
    agentd_exec_t *ex;
    agentd_exec_io_t io;
    char out[8192];
    size_t out_len;
    int out_eof, exited, destroyed, destroy_status, listed, reaped;
    int64_t exit_code;
    int exit_signal;
    char events[4096];
    char listing[1024];
} t_t;

static void check(t_t *t, int ok, const char *what)
{
    if (ok)
        t->passed++;
    else
        t->failed++;
    printf("%s: %s\n", ok ? "ok  " : "FAIL", what);
    fflush(stdout);
}

/* Run the loop until *flag or `ms` pass; returns *flag. */
static int wait_until(t_t *t, const int *flag, unsigned ms)
{
    uint64_t end = uv_hrtime() + (uint64_t)ms * 1000000u;
    while (!*flag && uv_hrtime() < end)
        uv_run(&t->h.ctx.loop, UV_RUN_NOWAIT), usleep(1000);
    return *flag;
}

static int out_has(t_t *t, const char *s)
{
    return strstr(t->out, s) != NULL;
}

static int sink(void *ud, const char *session, const char *type, const char *data, size_t len)
{
    t_t *t = ud;
    size_t n = strlen(t->events);
    snprintf(t->events + n, sizeof t->events - n, "%s %s %.*s\n", session, type, (int)len,
             data);
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
        .model_api_url = "http://127.0.0.1:9", .timeout_s = timeout_s};
    agentd_err_t err = {{0}};
    t->sb = NULL;
    t->create_status = 0;
    if (t->h.vt->create(t->h.self, &spec, on_created, t, &err) != 0) {
        printf("create: %s\n", err.msg);
        return -1;
    }
    wait_until(t, &t->create_status, 10000);
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
    size_t room = sizeof t->out - 1 - t->out_len;
    len = len < room ? len : room;
    memcpy(t->out + t->out_len, data, len);
    t->out_len += len;
    t->out[t->out_len] = '\0';
}

static void on_exit_cb(void *ud, int64_t code, int sig)
{
    t_t *t = ud;
    t->exited = 1;
    t->exit_code = code;
    t->exit_signal = sig;
}

static int run(t_t *t, const char *const *argv)
{
    agentd_exec_spec_t spec = {.size = sizeof spec, .argv = argv};
    agentd_err_t err = {{0}};
    t->out_len = 0;
    t->out[0] = '\0';
    t->out_eof = t->exited = 0;
    t->io.size = sizeof t->io;
    if (t->h.vt->exec(t->h.self, t->sb, &spec, on_exit_cb, t, &t->ex, &t->io, &err) != 0) {
        printf("exec: %s\n", err.msg);
        return -1;
    }
    t->io.in.ops->shutdown(t->io.in.impl);
    t->io.out.ops->read_start(t->io.out.impl, on_out, t);
    return 0;
}

static void release(t_t *t)
{
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
    if (t->h.vt->destroy(t->h.self, t->sb, on_destroyed, t, NULL) == 0)
        wait_until(t, &t->destroyed, 15000);
    t->sb = NULL;
}

/* The sandbox's freezer.state, from the cgroup of a process in it. */
static int frozen_state(const char *id, char *buf, size_t len)
{
    char path[512];
    snprintf(path, sizeof path, "/sys/fs/cgroup/freezer/agentd-sbx-%s/freezer.state", id);
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        snprintf(path, sizeof path, "/sys/fs/cgroup/agentd-sbx-%s/cgroup.freeze", id);
        f = fopen(path, "re");
    }
    if (f == NULL || fgets(buf, (int)len, f) == NULL) {
        if (f)
            fclose(f);
        return -1;
    }
    fclose(f);
    buf[strcspn(buf, "\n")] = '\0';
    return 0;
}

static void test_pause_resume_interrupt(t_t *t)
{
    static const char *const argv[] = {
        "/bin/sh", "-c",
        "trap 'echo interrupted; exit 5' INT; i=0; while :; do i=$((i+1)); echo tick$i; "
        "sleep 0.02; done",
        NULL};
    if (create(t, "api-pause", NULL, 0) != 0 || run(t, argv) != 0) {
        check(t, 0, "pause: sandbox runs");
        return;
    }
    int ticking = 0;
    uint64_t end = uv_hrtime() + 10000000000ull;
    while (!(ticking = out_has(t, "tick2")) && uv_hrtime() < end)
        uv_run(&t->h.ctx.loop, UV_RUN_NOWAIT), usleep(1000);
    check(t, ticking, "pause: the command is running");
    agentd_err_t err = {{0}};
    check(t, t->h.vt->signal(t->h.self, t->sb, AGENTD_SIG_PAUSE, &err) == 0, "pause accepted");
    char state[32] = "";
    int frozen = 0;
    end = uv_hrtime() + 5000000000ull;
    while (!(frozen = frozen_state("api-pause", state, sizeof state) == 0 &&
                      (strcmp(state, "FROZEN") == 0 || strcmp(state, "1") == 0)) &&
           uv_hrtime() < end)
        usleep(1000);
    check(t, frozen, "pause: the cgroup is frozen");
    check(t, t->h.vt->signal(t->h.self, t->sb, AGENTD_SIG_RESUME, &err) == 0, "resume accepted");
    frozen_state("api-pause", state, sizeof state);
    check(t, strcmp(state, "THAWED") == 0 || strcmp(state, "0") == 0, "resume: thawed");
    size_t seen = t->out_len;
    end = uv_hrtime() + 5000000000ull;
    while (t->out_len == seen && uv_hrtime() < end)
        uv_run(&t->h.ctx.loop, UV_RUN_NOWAIT), usleep(1000);
    check(t, t->out_len > seen, "resume: output continues");
    check(t, t->h.vt->exec_signal(t->h.self, t->ex, AGENTD_SIG_INTERRUPT, &err) == 0,
          "interrupt accepted");
    wait_until(t, &t->exited, 10000);
    wait_until(t, &t->out_eof, 10000);
    check(t, t->exited && t->exit_code == 5 && out_has(t, "interrupted"),
          "interrupt: SIGINT reached the command's trap");
    release(t);
    destroy(t);
    check(t, t->destroyed && t->destroy_status == 0, "destroy after exit");
}

static void test_timeout(t_t *t)
{
    static const char *const argv[] = {"/bin/sh", "-c",
                                       "trap '' INT TERM; echo up; sleep 100", NULL};
    t->events[0] = '\0';
    if (create(t, "api-timeout", "session-timeout", 1) != 0 || run(t, argv) != 0) {
        check(t, 0, "timeout: sandbox runs");
        return;
    }
    wait_until(t, &t->exited, 15000);
    check(t, t->exited && t->exit_signal == SIGKILL, "timeout: SIGKILL after timeout_s");
    check(t, strstr(t->events, "session-timeout sandbox.timeout") != NULL,
          "timeout: sandbox.timeout event");
    wait_until(t, &t->out_eof, 5000);
    release(t);
    destroy(t);
}

static void test_destroy_running_and_events(t_t *t)
{
    static const char *const argv[] = {"/usr/bin/python3", SBX_PROBES, "connect",
                                       "example.com:443", NULL};
    static const char *const sleeper[] = {"/bin/sh", "-c", "echo up; sleep 100 & wait", NULL};
    t->events[0] = '\0';
    if (create(t, "api-events", "session-1", 0) != 0 || run(t, argv) != 0) {
        check(t, 0, "events: sandbox runs");
        return;
    }
    wait_until(t, &t->exited, 20000);
    wait_until(t, &t->out_eof, 5000);
    check(t, out_has(t, "403 Forbidden"), "refused CONNECT answered 403");
    check(t, strstr(t->events, "session-1 sandbox.network_refused") != NULL &&
                 strstr(t->events, "\"host\":\"example.com\"") != NULL &&
                 strstr(t->events, "\"port\":443") != NULL,
          "refused connection is a sandbox.network_refused event of the session");
    release(t);
    if (run(t, sleeper) != 0)
        return;
    while (!out_has(t, "up") && !t->exited)
        uv_run(&t->h.ctx.loop, UV_RUN_ONCE);
    destroy(t);
    check(t, t->destroyed && t->destroy_status == 0, "destroy with a command running");
    wait_until(t, &t->exited, 5000);
    check(t, t->exited && t->exit_signal == SIGKILL, "the running command was killed");
    release(t);
    struct stat st;
    check(t, stat("/sys/fs/cgroup/pids/agentd-sbx-api-events", &st) < 0 &&
                 stat("/sys/fs/cgroup/agentd-sbx-api-events", &st) < 0,
          "its cgroup is gone");
}

/* Children of ours that are helpers: alive (state != Z) or zombies. */
static void count_helpers(int *alive, int *zombies)
{
    *alive = *zombies = 0;
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL) {
        char path[300], buf[512];
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "re");
        if (f == NULL)
            continue;
        char *got = fgets(buf, sizeof buf, f);
        fclose(f);
        char *close_paren = got != NULL ? strrchr(buf, ')') : NULL;
        char state;
        int ppid;
        if (close_paren == NULL || strstr(buf, "(agentd-sandbox") == NULL ||
            sscanf(close_paren + 2, "%c %d", &state, &ppid) != 2 || ppid != getpid())
            continue;
        if (state == 'Z')
            (*zombies)++;
        else
            (*alive)++;
    }
    if (d != NULL)
        closedir(d);
}

static int no_helper_left(void)
{
    int alive, zombies;
    count_helpers(&alive, &zombies);
    return alive == 0 && zombies == 0;
}

/* Releasing a command that still runs kills it, and the helper is reaped:
 * a long-running daemon must not collect zombies. */
static void test_release_running(t_t *t)
{
    static const char *const argv[] = {"/bin/sh", "-c", "echo up; exec sleep 100", NULL};
    if (create(t, "api-release", NULL, 0) != 0 || run(t, argv) != 0) {
        check(t, 0, "release: sandbox runs");
        return;
    }
    while (!out_has(t, "up") && !t->exited)
        uv_run(&t->h.ctx.loop, UV_RUN_ONCE);
    release(t);
    int gone = 0;
    uint64_t end = uv_hrtime() + 10000000000ull;
    while (!(gone = no_helper_left()) && uv_hrtime() < end)
        uv_run(&t->h.ctx.loop, UV_RUN_NOWAIT), usleep(1000);
    check(t, gone, "release of a running command: helper killed and reaped, no zombie");
    destroy(t);
    check(t, t->destroyed && t->destroy_status == 0, "destroy after release");
}

static void on_list(void *ud, const agentd_sandbox_info_t *info, int status)
{
    t_t *t = ud;
    if (info == NULL) {
        t->listed = 1;
        return;
    }
    size_t n = strlen(t->listing);
    snprintf(t->listing + n, sizeof t->listing - n, "%s=%s ", info->sandbox_id, info->state);
}

static void on_reaped(void *ud, int status)
{
    t_t *t = ud;
    t->reaped = status == 0 ? 1 : -1;
}

/* What a daemon that died leaves: a state directory and a cgroup with a
 * process in it (made here by hand, as the plugin would have). */
static int make_orphan(t_t *t, pid_t *pid)
{
    *pid = -1;
    char dir[256], path[512];
    snprintf(dir, sizeof dir, "%s/var/plugins/sandbox-seccomp/sandboxes/orphan-1", t->tmp);
    snprintf(path, sizeof path, "%s/meta.json", dir);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "mkdir -p %s && echo '{\"sandbox_id\":\"orphan-1\","
             "\"created_ms\":1}' > %s", dir, path);
    if (system(cmd) != 0)
        return -1;
    *pid = fork();
    if (*pid == 0) {
        execl("/bin/sleep", "sleep", "300", (char *)NULL);
        _exit(127);
    }
    static const char *const ctrls[] = {"memory", "pids", "cpu", "freezer"};
    for (size_t i = 0; i < 4; i++) {
        char own[256] = "", line[512];
        FILE *f = fopen("/proc/self/cgroup", "re");
        while (f != NULL && fgets(line, sizeof line, f) != NULL) {
            char *c = strchr(line, ':');
            if (c != NULL && strncmp(c + 1, ctrls[i], strlen(ctrls[i])) == 0 &&
                c[1 + strlen(ctrls[i])] == ':') {
                snprintf(own, sizeof own, "%s", c + 2 + strlen(ctrls[i]));
                own[strcspn(own, "\n")] = '\0';
            }
        }
        if (f)
            fclose(f);
        snprintf(path, sizeof path, "/sys/fs/cgroup/%s%s/agentd-sbx-orphan-1", ctrls[i],
                 strcmp(own, "/") == 0 ? "" : own);
        mkdir(path, 0755);
        snprintf(cmd, sizeof cmd, "echo %d > %s/cgroup.procs", (int)*pid, path);
        if (system(cmd) != 0)
            return -1;
    }
    return 0;
}

static void test_list_and_reap(t_t *t)
{
    pid_t pid = -1;
    if (getenv("SBX_SKIP_ORPHAN") != NULL || access("/sys/fs/cgroup/pids", F_OK) != 0) {
        printf("skip: list/reap test covers the cgroup v1 layout\n");
        return;
    }
    check(t, make_orphan(t, &pid) == 0, "orphan made");
    t->listing[0] = '\0';
    t->listed = 0;
    check(t, t->h.vt->list(t->h.self, on_list, t, NULL) == 0, "list accepted");
    wait_until(t, &t->listed, 5000);
    check(t, t->listed && strstr(t->listing, "orphan-1=running") != NULL, "list finds the orphan running");
    t->reaped = 0;
    check(t, t->h.vt->reap(t->h.self, "orphan-1", on_reaped, t, NULL) == 0, "reap accepted");
    wait_until(t, &t->reaped, 15000);
    check(t, t->reaped == 1, "reap done");
    int status = 0;
    check(t, waitpid(pid, &status, 0) == pid && WIFSIGNALED(status) &&
                 WTERMSIG(status) == SIGKILL, "the orphan's process was killed");
    t->listing[0] = '\0';
    t->listed = 0;
    t->h.vt->list(t->h.self, on_list, t, NULL);
    wait_until(t, &t->listed, 5000);
    check(t, t->listed && strstr(t->listing, "orphan-1") == NULL, "list no longer has it");
}

static int open_host(t_t *t)
{
    char *cfg_text = NULL;
    if (asprintf(&cfg_text,
                 "{\"data_dir\": \"%s/var\", \"log\": {\"level\": \"warn\", \"format\": "
                 "\"text\"}, \"plugins\": {\"dirs\": [\"%s\"], \"load\": "
                 "[\"sandbox-seccomp\"]}, \"sandboxes\": {\"t\": {\"plugin\": "
                 "\"sandbox-seccomp\", \"ro_paths\": [\"%s\"]}}, \"default_sandbox\": \"t\"}",
                 t->tmp, SBX_PLUGIN_DIR, SBX_TEST_DIR) < 0)
        return -1;
    int rc = test_sandbox_host_open_text(&t->h, cfg_text, "<test>", "t");
    free(cfg_text);
    if (rc != 0)
        return -1;
    t->h.ctx.event_sink = sink;
    t->h.ctx.event_sink_ud = t;
    return 0;
}

int main(void)
{
    if (geteuid() != 0) {
        fprintf(stderr, "SKIPPED: needs root (cgroups)\n");
        return 77;
    }
    t_t *t = calloc(1, sizeof *t);
    if (t == NULL)
        return 1;
    snprintf(t->tmp, sizeof t->tmp, "/tmp/sbx-api-test-%d", (int)getpid());
    snprintf(t->ws, sizeof t->ws, "%s/ws", t->tmp);
    if (mkdir(t->tmp, 0755) != 0 || mkdir(t->ws, 0755) != 0 || open_host(t) != 0)
        return 1;
    test_pause_resume_interrupt(t);
    test_timeout(t);
    test_destroy_running_and_events(t);
    test_list_and_reap(t);
    test_release_running(t);
    /* The daemon stops with a sandbox running: the plugin's stop kills it
     * and is done only once its cgroup is gone. */
    static const char *const sleeper[] = {"/bin/sh", "-c", "echo up; exec sleep 100", NULL};
    int running = create(t, "api-stop", NULL, 0) == 0 && run(t, sleeper) == 0;
    while (running && !out_has(t, "up") && !t->exited)
        uv_run(&t->h.ctx.loop, UV_RUN_ONCE);
    int stopped = test_sandbox_host_stop(&t->h, 5000);
    struct stat st;
    check(t, running && stopped && stat("/sys/fs/cgroup/pids/agentd-sbx-api-stop", &st) < 0 &&
                 stat("/sys/fs/cgroup/agentd-sbx-api-stop", &st) < 0,
          "stop: the running sandbox is killed and its cgroup removed");
    wait_until(t, &t->exited, 5000);
    check(t, t->exited && t->exit_signal == SIGKILL, "stop: its command was killed");
    if (running)
        release(t);
    test_sandbox_host_close(&t->h);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", t->tmp);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", t->tmp);
    printf("%d passed, %d failed\n", t->passed, t->failed);
    int rc = t->failed == 0 ? 0 : 1;
    free(t);
    return rc;
}
