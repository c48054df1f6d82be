/*
 * Running a command: one helper process per exec, spawned through the host
 * (never a fork of the daemon). The helper's stdio pipes are the command's:
 * the launch frame goes first on its stdin, then whatever the host writes.
 */
#define _GNU_SOURCE
#include "sandbox.h"

#include "../helper/launch.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

static void unlink_dying(agentd_exec_t *ex)
{
    for (agentd_exec_t **p = &ex->plugin->dying; *p != NULL; p = &(*p)->next_dying)
        if (*p == ex) {
            *p = ex->next_dying;
            return;
        }
}

static void on_helper_exit(void *ud, int64_t exit_status, int term_signal)
{
    agentd_exec_t *ex = ud;
    ex->exited = 1;
    if (ex->released) {
        /* Closed only now that it is reaped: closing a running process's
         * handle would leave a zombie in the daemon. */
        unlink_dying(ex);
        ex->api->process_close(ex->proc);
        free(ex);
        return;
    }
    if (ex->exit_cb != NULL)
        ex->exit_cb(ex->ud, exit_status, term_signal);
}

/* Queue the launch frame on the helper's stdin. */
static int send_frame(const agentd_stream_t *in, char *json, size_t len, agentd_err_t *err)
{
    size_t total = 8 + len;
    char *frame = malloc(total);
    if (frame == NULL)
        return agentd_err_set(err, AGENTD_ENOMEM, "exec: out of memory");
    memcpy(frame, SBX_FRAME_MAGIC, 4);
    for (int i = 0; i < 4; i++)
        frame[4 + i] = (char)((len >> (8 * i)) & 0xff);
    memcpy(frame + 8, json, len);
    int rc = in->ops->write(in->impl, frame, total, NULL, NULL);
    explicit_bzero(frame, total); /* the stream copied it; it may hold secrets */
    free(frame);
    if (rc < 0)
        return agentd_err_set(err, rc, "exec: cannot send the launch description to the "
                              "helper: %s", agentd_strerror(rc));
    return 0;
}

static int spawn_helper(agentd_sandbox_t *sb, agentd_exec_t *ex, agentd_spawn_io_t *sio,
                        agentd_err_t *err)
{
    const sbx_plugin_t *pl = sb->plugin;
    const char *argv[] = {pl->helper, NULL};
    const char *env[] = {NULL};
    agentd_spawn_opts_t opts = {
        .size = sizeof opts,
        .file = pl->helper,
        .argv = argv,
        .env = env,
        .cwd = "/",
        /* Its own group: a terminal's Ctrl-C reaches the daemon, which
         * decides; the helper forwards what the plugin sends it. */
        .flags = AGENTD_SPAWN_STDIN | AGENTD_SPAWN_STDOUT | AGENTD_SPAWN_STDERR |
                 AGENTD_SPAWN_NEW_GROUP,
    };
    memset(sio, 0, sizeof *sio);
    sio->size = sizeof *sio;
    return pl->api->spawn(pl->host, &opts, on_helper_exit, ex, &ex->proc, sio, err);
}

static void close_stream(agentd_stream_t *s)
{
    if (s->ops != NULL)
        s->ops->close(s->impl, NULL, NULL);
}

int sbx_exec_start(agentd_sandbox_t *sb, const agentd_exec_spec_t *spec, int probe,
                   agentd_exec_exit_cb exit_cb, void *ud, agentd_exec_t **out,
                   agentd_exec_io_t *io, agentd_err_t *err)
{
    size_t len = 0;
    char *json = sbx_launch_json(sb, spec, probe, &len);
    agentd_exec_t *ex = calloc(1, sizeof *ex);
    if (json == NULL || ex == NULL) {
        free(json);
        free(ex);
        return agentd_err_set(err, AGENTD_ENOMEM, "exec: out of memory");
    }
    ex->api = sb->plugin->api;
    ex->plugin = sb->plugin;
    ex->sb = sb;
    ex->exit_cb = exit_cb;
    ex->ud = ud;
    agentd_spawn_io_t sio;
    int rc = spawn_helper(sb, ex, &sio, err);
    int spawned = rc == 0;
    if (spawned && (rc = send_frame(&sio.in, json, len, err)) < 0) {
        close_stream(&sio.in);
        close_stream(&sio.out);
        close_stream(&sio.err);
        sbx_exec_release(ex); /* kills the helper; freed when it is reaped */
    }
    explicit_bzero(json, len);
    free(json);
    if (rc < 0) {
        if (!spawned)
            free(ex);
        return rc;
    }
    ex->pid = sio.pid;
    io->in = sio.in;
    io->out = sio.out;
    io->err = sio.err;
    ex->next = sb->execs;
    sb->execs = ex;
    *out = ex;
    return 0;
}

int sbx_exec_signal(agentd_exec_t *ex, agentd_sandbox_signal_t sig, agentd_err_t *err)
{
    if (ex->exited)
        return agentd_err_set(err, AGENTD_ENOENT, "the command has exited");
    if (sig == AGENTD_SIG_PAUSE || sig == AGENTD_SIG_RESUME) {
        if (ex->sb == NULL)
            return agentd_err_set(err, AGENTD_ENOENT, "the sandbox is gone");
        /* One cgroup per sandbox: pausing a command pauses its sandbox. */
        return sbx_sandbox_signal(ex->sb, sig, err);
    }
    static const int signo[] = {[AGENTD_SIG_INTERRUPT] = SIGINT,
                                [AGENTD_SIG_TERMINATE] = SIGTERM,
                                [AGENTD_SIG_KILL] = SIGKILL};
    if ((unsigned)sig >= sizeof signo / sizeof *signo || signo[sig] == 0)
        return agentd_err_set(err, AGENTD_EINVAL, "unknown signal %d", (int)sig);
    /* The helper forwards INT and TERM inside; KILL ends the helper, and
     * with it (parent-death signal, pid namespace) everything it started. */
    int rc = ex->api->process_kill(ex->proc, signo[sig]);
    return rc < 0 ? agentd_err_set(err, rc, "signal: %s", agentd_strerror(rc)) : 0;
}

static void unlink_exec(agentd_exec_t *ex)
{
    if (ex->sb == NULL)
        return;
    for (agentd_exec_t **p = &ex->sb->execs; *p != NULL; p = &(*p)->next)
        if (*p == ex) {
            *p = ex->next;
            break;
        }
}

void sbx_exec_release(agentd_exec_t *ex)
{
    if (ex == NULL)
        return;
    unlink_exec(ex);
    if (!ex->exited && ex->api->process_kill(ex->proc, SIGKILL) == 0) {
        /* Its exit frees it; the helper's death takes the sandbox's
         * processes with it. */
        ex->released = 1;
        ex->exit_cb = NULL;
        ex->sb = NULL;
        ex->next_dying = ex->plugin->dying;
        ex->plugin->dying = ex;
        return;
    }
    ex->api->process_close(ex->proc);
    free(ex);
}

void sbx_exec_forget_dying(sbx_plugin_t *pl)
{
    while (pl->dying != NULL) {
        agentd_exec_t *ex = pl->dying;
        pl->dying = ex->next_dying;
        ex->api->process_close(ex->proc);
        free(ex);
    }
}
