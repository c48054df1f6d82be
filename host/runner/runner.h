/*
 * The runner: one agent process (the Claude Code CLI) in a fresh sandbox of
 * a profile, with its stdout split into lines, stdin written line by line,
 * and the watchdogs that guard against the CLI's known failure modes:
 *
 *   - no output for idle_timeout_ms while a turn is running: the process
 *     tree is ended and the reason recorded;
 *   - no exit within exit_deadline_ms after stdin was closed: killed;
 *   - stop: an `interrupt` control request, then SIGTERM to the whole tree
 *     after stop_grace_ms, then SIGKILL after stop_grace_ms more. on_exit
 *     runs only once the process has exited and the sandbox is destroyed,
 *     so nothing of the agent is left when it does (no more tokens spent).
 *
 * The runner knows nothing of sessions or events: it hands lines to its
 * owner and reports the exit with a reason.
 *
 * Thread: loop thread. Lifetime: host_runner_free after on_exit (or
 * instead of it, which kills and forgets).
 */
#ifndef AGENTD_HOST_RUNNER_H
#define AGENTD_HOST_RUNNER_H

#include <stddef.h>
#include <stdint.h>

#include "core/context.h"
#include "plugins/registry.h"

typedef struct host_runner host_runner_t;

typedef struct host_runner_opts {
    host_plugin_t *plugin;          /* a loaded sandbox plugin */
    const char *profile_name;
    const char *profile_json;       /* validated profile settings */
    const char *sandbox_id;
    const char *session_id;         /* may be NULL */
    const char *workspace;          /* host path */
    const char *const *argv;        /* the agent's command line: no secrets */
    const char *const *env;         /* "K=V" for the agent (secrets only here) */
    const char *model_api_url;      /* reachable from inside the sandbox */
    uint32_t timeout_s;             /* sandbox wall clock */
    uint64_t idle_timeout_ms;       /* no output during a turn; 0: off */
    uint64_t exit_deadline_ms;      /* after close_stdin */
    uint64_t stop_grace_ms;         /* each step of stop's escalation */
    size_t max_line_bytes;          /* longer stdout lines are cut */
    agentd_sandbox_t *reuse;        /* an existing sandbox of this plugin to run
                                     * in (its id is sandbox_id) instead of
                                     * creating one; the runner owns it from
                                     * here (kept or destroyed at the end) */
    int keep;                       /* at the end, keep the sandbox for the
                                     * next run (host_runner_kept_sandbox)
                                     * unless it had to be killed whole */
} host_runner_opts_t;

typedef struct host_runner_cbs {
    /* The sandbox is up and the agent started (status 0), or could not be
     * (then on_exit follows with the reason). */
    void (*on_started)(void *ud, int status, const char *msg);
    /* One stdout line, without its newline. */
    void (*on_line)(void *ud, const char *line, size_t len, int truncated);
    /* One stderr line (diagnostics of the CLI), without its newline; lines
     * over 64 KiB are cut. */
    void (*on_stderr)(void *ud, const char *line, size_t len);
    /* The agent is gone and its sandbox destroyed. reason is NULL for a
     * normal exit, else why the runner ended it ("stopped", "no output for
     * 30 s", ...). Runs once. */
    void (*on_exit)(void *ud, int64_t exit_status, int term_signal, const char *reason);
} host_runner_cbs_t;

/* Creates the sandbox and starts the agent. Returns 0 (then on_started and
 * eventually on_exit run) or a negative code with err set (nothing runs). */
int host_runner_start(host_ctx_t *ctx, const host_runner_opts_t *opts,
                      const host_runner_cbs_t *cbs, void *ud, host_runner_t **out,
                      agentd_err_t *err);

/* Writes one line (a newline is added) to the agent's stdin. Errors:
 * AGENTD_ESTATE (not running or stdin closed), AGENTD_EAGAIN (stdin is
 * backed up past its limit; the caller keeps the line and retries),
 * AGENTD_ENOMEM. */
int host_runner_write_line(host_runner_t *r, const char *line, size_t len);

/* A turn started (arms the idle watchdog) or ended (disarms it). */
void host_runner_turn(host_runner_t *r, int running);

/* Sends `{"type":"control_request","request":{"subtype":"interrupt"}}`. */
int host_runner_interrupt(host_runner_t *r);

/* Ends stdin; the agent must exit within exit_deadline_ms. */
void host_runner_close_stdin(host_runner_t *r);

/* Stops the agent with escalation (see above); reason is recorded. */
void host_runner_stop(host_runner_t *r, const char *reason);

/* Pause or resume every process of the agent's sandbox. */
int host_runner_pause(host_runner_t *r, int pause, agentd_err_t *err);

int host_runner_running(const host_runner_t *r);

/* With opts.keep, in on_exit: the sandbox, still alive, now the caller's
 * (NULL if it was destroyed: killed whole, failed to start). Once. */
agentd_sandbox_t *host_runner_kept_sandbox(host_runner_t *r);

/* Forgets the runner; if the agent still runs it is killed and its sandbox
 * destroyed in the background, and no callback runs. */
void host_runner_free(host_runner_t *r);

#endif /* AGENTD_HOST_RUNNER_H */
