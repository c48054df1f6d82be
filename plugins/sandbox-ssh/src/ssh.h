/*
 * sandbox-ssh: the plugin's state and the contracts between its files.
 *
 *   config.c     settings and profiles (hosts, keys, limits)
 *   agent.c      a private ssh-agent holding the key (never on disk, never argv)
 *   transport.c  the ssh command line, one ControlMaster per host, retries
 *   failure.c    what an ssh failure means; the exponential backoff
 *   rcmd.c       one remote script over the pooled connection, output collected
 *   health.c     periodic checks that mark hosts down and back up
 *   placement.c  least-loaded enabled host with capacity and labels
 *   sandbox.c    remote session directories (owner lock), timeout, signals, destroy
 *   repocache.c  a bare mirror per repository per host, worktrees from it
 *   exec.c       a command with streamed stdio over a multiplexed channel
 *   list.c       list/adopt/reap of session directories after a restart
 *   shell.c      quoting for the remote POSIX shell, a growable string
 *
 * Threads: everything runs on the loop thread. Memory: the C library's
 * allocator; every allocation is checked. Scripts sent to a remote host go
 * over the ssh process's stdin, never its argv (they may carry env values).
 */
#ifndef SSH_PLUGIN_H
#define SSH_PLUGIN_H

#include <agentd/plugin.h>
#include <agentd/sandbox.h>

#include <stddef.h>
#include <stdint.h>

#define SSH_PLUGIN_ID "sandbox-ssh"

/* ---- shell.c --------------------------------------------------------------- */

typedef struct ssh_str {
    char *s;
    size_t len, cap;
    int failed; /* an allocation failed: the text is incomplete */
} ssh_str_t;

void ssh_str_add(ssh_str_t *b, const char *text);
void ssh_str_addn(ssh_str_t *b, const char *text, size_t n);
void ssh_str_addf(ssh_str_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends text as one single-quoted word for a POSIX shell; a newline
 * becomes '"$nl"' (the script defines nl first, see SSH_SCRIPT_PRELUDE). */
void ssh_str_quote(ssh_str_t *b, const char *text);
/* Wipes and frees (the text may hold secret env values). */
void ssh_str_free(ssh_str_t *b);

/* Every remote script starts with this: nl holds a newline. */
#define SSH_SCRIPT_PRELUDE "nl=$(printf '\\nx'); nl=${nl%x}\n"

/* 64-bit FNV-1a of text as 16 hex digits (repository cache names). */
void ssh_hash_hex(const char *text, char out[17]);

/* ---- config.c -------------------------------------------------------------- */

typedef enum ssh_host_state {
    SSH_HOST_DOWN = 0,      /* no connection; health checks try again */
    SSH_HOST_CONNECTING,
    SSH_HOST_UP,
    SSH_HOST_REFUSED        /* host key or authentication refused: no retry */
} ssh_host_state_t;

typedef struct ssh_plugin ssh_plugin_t;
typedef struct ssh_waiter ssh_waiter_t;

typedef struct ssh_host {
    ssh_plugin_t *pl;
    unsigned index;
    char *name, *address, *user, *root;
    int port;
    char **labels;          /* NULL-terminated */
    unsigned capacity;      /* concurrent sandboxes */
    int enabled;
    char *key_secret;       /* the host's own key: secret name, or NULL */

    ssh_host_state_t state;
    char reason[300];       /* why it is down or refused */
    unsigned load;          /* sandboxes placed here */
    char *cm_path;          /* ControlPath of the master */
    agentd_process_t *master;     /* the connection probe in flight */
    agentd_stream_t master_err;
    int64_t probe_status;
    int probe_signal;
    int used;                     /* a master may be alive: `ssh -O exit` at stop */
    char master_msg[1024];  /* the probe's stderr, for classification */
    size_t master_msg_len;
    agentd_timer_t *ready_timer;  /* the probe's deadline */
    agentd_timer_t *retry_timer;  /* backoff before the next attempt */
    uint64_t connect_started_ms;
    unsigned attempt;
    unsigned retries_left;
    ssh_waiter_t *waiters;  /* want the connection */
    int checking;           /* a health check is in flight */
} ssh_host_t;

typedef struct ssh_profile {
    char **hosts;           /* NULL-terminated, may be empty */
    char **labels;
    char **env;             /* "K=V"; a value may be ${secret:NAME} */
    unsigned timeout_minutes;
    char *repository;       /* URL to check out into the workspace, or NULL */
} ssh_profile_t;

int ssh_config_read(ssh_plugin_t *pl, const char *json, size_t len, agentd_err_t *err);
int ssh_profile_read(ssh_profile_t *p, const char *json, size_t len, agentd_err_t *err);
void ssh_profile_clear(ssh_profile_t *p);
void ssh_hosts_free(ssh_plugin_t *pl);
ssh_host_t *ssh_host_find(ssh_plugin_t *pl, const char *name);
/* The name of a ${secret:NAME} reference (exactly that form), or NULL. */
char *ssh_secret_ref_name(const char *value);
char **ssh_strv_dup(const char *const *v);
void ssh_strv_free(char **v);
size_t ssh_strv_len(const char *const *v);

/* ---- the plugin ------------------------------------------------------------ */

typedef struct ssh_rcmd ssh_rcmd_t;

struct ssh_plugin {
    const agentd_host_api_t *api;
    agentd_host_t *host;
    char *state_dir;        /* 0700 */
    char *instance;         /* this agentd's id, marks its session dirs */
    char *agent_sock;
    char *known_hosts;
    char *key_secret;       /* plugin-wide key: secret name, or NULL */
    char *key_file;
    int tofu;
    unsigned connect_timeout_s, retry_max, health_interval_s, control_persist_s;
    unsigned setup_timeout_s;
    int repo_cache;
    uint64_t backoff_base_ms, backoff_max_ms;

    ssh_host_t **hosts;
    size_t nhosts;

    /* agent.c */
    int agent_state;        /* 0 none, 1 starting, 2 ready, -1 failed */
    char agent_msg[300];
    int agent_pid;                  /* the daemonized ssh-agent */
    agentd_process_t *starting;     /* ssh-agent before it forked */
    char agent_out[256];
    size_t agent_out_len;
    agentd_stream_t agent_stdout;
    agentd_process_t *adding;       /* ssh-add running */
    struct add_run *adding_run;
    size_t keys_loaded;
    ssh_waiter_t *agent_waiters;

    agentd_timer_t *health_timer;
    agentd_sandbox_t *sandboxes;
    agentd_exec_t *dying;           /* released, ssh not exited yet */
    ssh_rcmd_t *rcmds;              /* remote scripts in flight */
    struct ssh_orphan *orphans;     /* from the last list() */
    unsigned lists_in_flight;
    unsigned removals;              /* destroys and reaps in flight */
    unsigned creates;               /* creates and adopts in flight */
    unsigned processes;             /* agent, masters, ssh-add alive */
    agentd_timer_t *stop_timer;
    agentd_done_cb stop_done;
    void *stop_ud;
    int stopping;
};

/* ---- agent.c --------------------------------------------------------------- */

/* A callback waiting for the agent or a connection: status 0 or a negative
 * code with msg. Runs once. */
typedef void (*ssh_ready_cb)(void *ud, int status, const char *msg);
struct ssh_waiter {
    ssh_waiter_t *next;
    ssh_ready_cb cb;
    void *ud;
};

/* Start the private agent and load every key into it, once. */
int ssh_agent_ensure(ssh_plugin_t *pl, ssh_ready_cb cb, void *ud);
void ssh_agent_shutdown(ssh_plugin_t *pl, int force);
void ssh_agent_kill_stale(ssh_plugin_t *pl);
/* Run every waiter of the list with status/msg, emptying it. */
void ssh_waiters_fire(ssh_waiter_t **list, int status, const char *msg);
int ssh_waiter_add(ssh_waiter_t **list, ssh_ready_cb cb, void *ud);

/* ---- transport.c ----------------------------------------------------------- */

/* The ssh argv for one multiplexed command to h (remote command: the
 * bootstrap that reads the script from stdin). NULL-terminated, malloc'd. */
char **ssh_client_argv(ssh_host_t *h);
/* The environment of every ssh process: SSH_AUTH_SOCK and PATH only. */
char **ssh_client_env(ssh_plugin_t *pl);
/* Make sure h has a live master; cb runs once (maybe before this returns
 * when the host is already up). Retries connection failures with backoff;
 * never retries a refused host key or authentication. */
int ssh_host_connect(ssh_host_t *h, ssh_ready_cb cb, void *ud);
/* The connection is gone: mark h down with reason, end its master and fail
 * what runs on it. */
void ssh_host_mark_down(ssh_host_t *h, const char *reason);
void ssh_host_close(ssh_host_t *h, int force);
/* `ssh -O exit` for h (a short process counted in pl->processes). */
void ssh_master_exit(ssh_host_t *h);
/* Does the stderr of ssh say the host key or authentication was refused? */
int ssh_classify_refusal(const char *msg, char *why, size_t why_len);
uint64_t ssh_backoff_ms(const ssh_plugin_t *pl, unsigned attempt);

/* ---- rcmd.c ---------------------------------------------------------------- */

/* A remote script finished: status 0 and exit_code, or a negative status
 * (could not run: timeout, spawn failure). out/err are borrowed for the
 * call (NUL-terminated, err trimmed). */
typedef void (*ssh_rcmd_cb)(void *ud, int status, int exit_code, const char *out,
                            const char *err);
/* Run script (without the prelude) on h's pooled connection. */
int ssh_rcmd_run(ssh_host_t *h, const char *script, uint64_t timeout_ms, ssh_rcmd_cb cb,
                 void *ud, agentd_err_t *err);
/* fini: kill and free everything in flight (callbacks run with
 * AGENTD_ECANCELED). */
void ssh_rcmd_cancel_all(ssh_plugin_t *pl);
/* Send the stdin frame: "<len>\n" then the script. */
int ssh_send_script(const agentd_stream_t *in, const ssh_str_t *script);

/* ---- health.c -------------------------------------------------------------- */

int ssh_health_start(ssh_plugin_t *pl);
void ssh_health_stop(ssh_plugin_t *pl);

/* ---- placement.c ----------------------------------------------------------- */

/* The least-loaded enabled host the profile allows, that has the labels
 * and free capacity, and is not in `skip` (hosts already tried, by index
 * bit). Up hosts are preferred to down ones. NULL: none, why in msg. */
ssh_host_t *ssh_place(ssh_plugin_t *pl, const ssh_profile_t *prof, uint64_t skip, char *msg,
                      size_t msg_len);

/* ---- sandbox.c ------------------------------------------------------------- */

struct agentd_sandbox {
    ssh_plugin_t *pl;
    agentd_sandbox_t *next;
    ssh_host_t *host;
    char *id, *session_id;
    char *dir;              /* remote: <root>/<id> */
    char *local_workspace;  /* host path the runner uses, translated */
    char **env;             /* profile env (resolved) + spec env */
    char **env_src;         /* the same as configured: secrets unresolved */
    struct ssh_sig *sigs;   /* signals in order: the first is in flight */
    agentd_exec_t *execs;
    unsigned exec_seq;
    agentd_timer_t *timeout;
    uint64_t created_ms;
    int expired, destroying, paused;
};

int ssh_sandbox_create(ssh_plugin_t *pl, const agentd_sandbox_spec_t *spec,
                       agentd_sandbox_create_cb cb, void *ud, agentd_err_t *err);
/* Handle for an existing remote directory (adopt). */
agentd_sandbox_t *ssh_sandbox_new(ssh_plugin_t *pl, ssh_host_t *h, const char *id,
                                  const char *session_id);
int ssh_sandbox_signal(agentd_sandbox_t *sb, agentd_sandbox_signal_t sig, agentd_err_t *err);
int ssh_sandbox_destroy(agentd_sandbox_t *sb, agentd_done_cb cb, void *ud, agentd_err_t *err);
/* Remove a session directory of this instance on h (destroy, reap). */
int ssh_remove_dir(ssh_host_t *h, const char *id, agentd_done_cb cb, void *ud,
                   agentd_err_t *err);
/* env := env_src with every ${secret:NAME} value read now (create, adopt). */
int ssh_env_resolve(ssh_plugin_t *pl, agentd_sandbox_t *sb, agentd_err_t *err);


/* Free without waiting for the remote side (fini). */
void ssh_sandbox_forget(agentd_sandbox_t *sb);
/* The host went down: fail every execution of its sandboxes now. */
void ssh_sandboxes_host_down(ssh_plugin_t *pl, ssh_host_t *h);
/* Signal number for a sandbox signal, and its name for kill(1). */
const char *ssh_signal_name(agentd_sandbox_signal_t sig);
/* A script that sends signal `name` to every process whose environment
 * holds var=value (twice, to catch forks in flight). */
void ssh_script_kill_marked(ssh_str_t *b, const char *name, const char *var,
                            const char *value);

/* ---- repocache.c ----------------------------------------------------------- */

/* The script that fills or refreshes the host's mirror of url and checks a
 * workspace out of it at `workspace`; prints "agentd-cache=hit|miss". */
void ssh_script_repo_checkout(ssh_str_t *b, const ssh_host_t *h, const char *url,
                              const char *workspace);

/* ---- exec.c ---------------------------------------------------------------- */

struct agentd_exec {
    ssh_plugin_t *pl;
    agentd_sandbox_t *sb;   /* NULL once the sandbox is gone */
    agentd_exec_t *next;
    agentd_exec_t *next_dying;
    ssh_host_t *host;
    unsigned seq;
    agentd_process_t *proc;
    int exited, released;
    int probing;            /* exit held back while the host is asked */
    int sent_signal;        /* the signal we had delivered, for the exit */
    char *host_down;        /* the reason, when the host went down */
    agentd_exec_exit_cb exit_cb;
    void *ud;
};

int ssh_exec_start(agentd_sandbox_t *sb, const agentd_exec_spec_t *spec,
                   agentd_exec_exit_cb exit_cb, void *ud, agentd_exec_t **out,
                   agentd_exec_io_t *io, agentd_err_t *err);
int ssh_exec_signal(agentd_exec_t *ex, agentd_sandbox_signal_t sig, agentd_err_t *err);
void ssh_exec_release(agentd_exec_t *ex);
/* End the local ssh of ex (the host is down or the sandbox is going). */
void ssh_exec_abort(agentd_exec_t *ex, const char *reason);
void ssh_exec_forget_dying(ssh_plugin_t *pl);

/* ---- list.c ---------------------------------------------------------------- */

typedef struct ssh_orphan {
    struct ssh_orphan *next;
    char *id, *session_id;
    ssh_host_t *host;
} ssh_orphan_t;

int ssh_list(ssh_plugin_t *pl, agentd_sandbox_list_cb cb, void *ud, agentd_err_t *err);
int ssh_adopt(ssh_plugin_t *pl, const char *id, agentd_sandbox_create_cb cb, void *ud,
              agentd_err_t *err);
int ssh_reap(ssh_plugin_t *pl, const char *id, agentd_done_cb cb, void *ud,
             agentd_err_t *err);
void ssh_orphans_free(ssh_plugin_t *pl);

/* ---- defer (plugin.c) ------------------------------------------------------ */

/* Run cb on the loop soon (a 0 ms timer), never inside the caller. */
int ssh_defer(ssh_plugin_t *pl, void (*cb)(void *ud), void *ud);
uint64_t ssh_wall_ms(void);

#endif
