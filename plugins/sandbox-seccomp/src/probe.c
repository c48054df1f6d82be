/*
 * The create-time probe: the helper runs every setup step (namespaces,
 * mounts, privileges, seccomp, cgroup join, relay) and exits instead of
 * running a command. create succeeds only if it exits 0; otherwise it fails
 * with the helper's own message, which names the step.
 */
#define _GNU_SOURCE
#include "sandbox.h"

#include "../helper/fail.h"

#include <stdlib.h>
#include <string.h>

struct sbx_probe {
    agentd_sandbox_t *sb;
    agentd_exec_t *ex;
    agentd_exec_io_t io;
    sbx_probe_done_cb done;
    void *ud;
    char msg[AGENTD_ERR_MAX];
    size_t msg_len;
    int open_streams;  /* stdout and stderr not at EOF yet */
    int exited;
    int64_t status;
    int signal;
};

static void finish(sbx_probe_t *p)
{
    if (!p->exited || p->open_streams > 0)
        return;
    agentd_sandbox_t *sb = p->sb;
    p->io.in.ops->close(p->io.in.impl, NULL, NULL);
    p->io.out.ops->close(p->io.out.impl, NULL, NULL);
    p->io.err.ops->close(p->io.err.impl, NULL, NULL);
    sbx_exec_release(p->ex);
    sb->probe = NULL;
    int ok = p->status == 0 && p->signal == 0;
    char *m = p->msg;
    if (strncmp(m, SBX_FAIL_PREFIX, strlen(SBX_FAIL_PREFIX)) == 0)
        m += strlen(SBX_FAIL_PREFIX);
    m[strcspn(m, "\n")] = '\0';
    char text[AGENTD_ERR_MAX + 64];
    if (!ok && m[0] == '\0')
        snprintf(text, sizeof text, "sandbox setup failed: the helper %s %d",
                 p->signal ? "was killed by signal" : "exited with status",
                 p->signal ? p->signal : (int)p->status);
    else
        snprintf(text, sizeof text, "sandbox setup failed: %s", m);
    sbx_probe_done_cb done = p->done;
    void *ud = p->ud;
    free(p);
    done(ud, sb, ok ? 0 : AGENTD_EPERM, ok ? NULL : text);
}

static void on_helper_exit(void *ud, int64_t status, int signal)
{
    sbx_probe_t *p = ud;
    p->exited = 1;
    p->status = status;
    p->signal = signal;
    finish(p);
}

static void on_stderr(void *ud, const char *data, size_t len, int status)
{
    sbx_probe_t *p = ud;
    if (status < 0) {
        p->open_streams--;
        finish(p);
        return;
    }
    size_t room = sizeof p->msg - 1 - p->msg_len;
    if (len > room)
        len = room;
    memcpy(p->msg + p->msg_len, data, len);
    p->msg_len += len;
    p->msg[p->msg_len] = '\0';
}

static void on_stdout(void *ud, const char *data, size_t len, int status)
{
    sbx_probe_t *p = ud;
    if (status < 0) {
        p->open_streams--;
        finish(p);
    }
}

int sbx_probe_start(agentd_sandbox_t *sb, sbx_probe_done_cb done, void *ud, agentd_err_t *err)
{
    sbx_probe_t *p = calloc(1, sizeof *p);
    if (p == NULL)
        return agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    *p = (sbx_probe_t){.sb = sb, .done = done, .ud = ud, .open_streams = 2};
    p->io.size = sizeof p->io;
    int rc = sbx_exec_start(sb, NULL, 1, on_helper_exit, p, &p->ex, &p->io, err);
    if (rc < 0) {
        free(p);
        return rc;
    }
    sb->probe = p;
    /* EOF after the launch frame (close would cancel the queued frame). */
    p->io.in.ops->shutdown(p->io.in.impl);
    p->io.out.ops->read_start(p->io.out.impl, on_stdout, p);
    p->io.err.ops->read_start(p->io.err.impl, on_stderr, p);
    return 0;
}
