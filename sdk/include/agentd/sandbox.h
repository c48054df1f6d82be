/*
 * agentd plugin SDK: sandbox providers (AGENTD_KIND_SANDBOX).
 *
 * One interface serves a local process sandbox, a container and a remote SSH
 * host: create a sandbox from a spec, run commands in it with stdio streams,
 * signal it, copy files in and out, destroy it, and list the sandboxes the
 * provider created so a restarted host can adopt or reap them.
 *
 * Handles: agentd_sandbox_t and agentd_exec_t are declared here and defined
 * by each plugin (struct agentd_sandbox { ... } in the plugin's own code).
 * The plugin owns their memory; a sandbox handle is valid from the create
 * callback until the destroy callback, an exec handle from a successful
 * exec until its exit callback has run and exec_release is called.
 *
 * Threads, errors, ownership: abi.h.
 */
#ifndef AGENTD_SANDBOX_H
#define AGENTD_SANDBOX_H

#include "abi.h"
#include "host.h"
#include "plugin.h"
#include "stream.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct agentd_sandbox agentd_sandbox_t; /* plugin-defined */
typedef struct agentd_exec agentd_exec_t;       /* plugin-defined */

/* What a sandbox is asked to be. Limits of 0 mean "the profile's value". */
typedef struct agentd_sandbox_spec {
    uint32_t size;                 /* sizeof(agentd_sandbox_spec_t) */
    const char *sandbox_id;        /* minor 0: host-chosen, unique, [a-z0-9-]+;
                                    * the provider labels what it creates with
                                    * it so list() can find it after a restart */
    const char *session_id;        /* minor 0: may be NULL (agentd sandbox exec) */
    const char *profile_name;      /* minor 0: the config's profile name */
    const char *profile_json;      /* minor 0: the profile's settings, validated
                                    * against profile_fields, defaults filled */
    size_t profile_len;
    const char *workspace;         /* minor 0: host path of the workspace
                                    * (the only writable place), or NULL */
    const char *const *env;        /* minor 0: "K=V" passed to every exec, on
                                    * top of what the profile passes */
    const char *const *egress_allow; /* minor 0: "host:port" patterns the
                                    * sandbox may reach ("*.example.com:443"),
                                    * NULL-terminated, on top of the profile's
                                    * own allowlist; NULL: nothing added */
    const char *model_api_url;     /* minor 0: the model API base URL, always
                                    * reachable without being listed */
    uint64_t memory_bytes;         /* minor 0 */
    uint32_t pids_max;             /* minor 0 */
    uint32_t cpu_millicores;       /* minor 0: 1000 = one core */
    uint32_t timeout_s;            /* minor 0: wall clock, then SIGKILL */
} agentd_sandbox_spec_t;

/* A command to run inside a sandbox. */
typedef struct agentd_exec_spec {
    uint32_t size;                 /* sizeof(agentd_exec_spec_t) */
    const char *const *argv;       /* minor 0: NULL-terminated; never secrets */
    const char *const *env;        /* minor 0: "K=V" added to the sandbox's */
    const char *cwd;               /* minor 0: path inside the sandbox, or NULL
                                    * for the workspace */
    uint32_t flags;                /* minor 0: AGENTD_EXEC_* */
} agentd_exec_spec_t;

/* Give the command a pseudo-terminal instead of pipes (stderr then arrives
 * on stdout). */
#define AGENTD_EXEC_TTY 0x1u

/* The command's stdio, filled by the plugin on a successful exec. The host
 * closes each stream it received with the stream's close op. */
typedef struct agentd_exec_io {
    uint32_t size;                 /* set by the host */
    agentd_stream_t in;            /* minor 0 */
    agentd_stream_t out;           /* minor 0 */
    agentd_stream_t err;           /* minor 0 */
} agentd_exec_io_t;

/* Signals for a whole sandbox or one execution. */
typedef enum agentd_sandbox_signal {
    AGENTD_SIG_PAUSE = 1,      /* freeze every process; no CPU, state kept */
    AGENTD_SIG_RESUME = 2,     /* thaw */
    AGENTD_SIG_INTERRUPT = 3,  /* SIGINT to the foreground process group */
    AGENTD_SIG_TERMINATE = 4,  /* SIGTERM to every process */
    AGENTD_SIG_KILL = 5        /* SIGKILL to every process; nothing survives */
} agentd_sandbox_signal_t;

/* Capability bits a provider declares. */
#define AGENTD_SANDBOX_CAP_PAUSE 0x1u     /* PAUSE/RESUME work */
#define AGENTD_SANDBOX_CAP_COPY 0x2u      /* copy_in/copy_out work */
#define AGENTD_SANDBOX_CAP_EGRESS 0x4u    /* egress_allow is enforced */
#define AGENTD_SANDBOX_CAP_ADOPT 0x8u     /* adopt() works after a restart */
#define AGENTD_SANDBOX_CAP_REMOTE 0x10u   /* the workspace lives elsewhere */

/* create finished: on success status is 0 and sb is the new sandbox; on
 * failure sb is NULL and msg says why (borrowed for the call). */
typedef void (*agentd_sandbox_create_cb)(void *ud, int status, agentd_sandbox_t *sb,
                                         const char *msg);

/* The command exited: exit code, or the signal that ended it. Runs once. */
typedef void (*agentd_exec_exit_cb)(void *ud, int64_t exit_status, int term_signal);

/* One sandbox the provider created, as list() reports it. Borrowed. */
typedef struct agentd_sandbox_info {
    uint32_t size;                 /* sizeof(agentd_sandbox_info_t) */
    const char *sandbox_id;        /* minor 0 */
    const char *session_id;        /* minor 0: may be NULL */
    const char *state;             /* minor 0: "running", "paused", "exited" */
    uint64_t created_ms;           /* minor 0: wall clock, ms since epoch */
} agentd_sandbox_info_t;

/* Called once per sandbox found, then once with info == NULL and the final
 * status. */
typedef void (*agentd_sandbox_list_cb)(void *ud, const agentd_sandbox_info_t *info,
                                       int status);

typedef struct agentd_sandbox_vtable {
    uint32_t size;                 /* sizeof(agentd_sandbox_vtable_t) */

    /* minor 0: AGENTD_SANDBOX_CAP_* bits. */
    uint32_t capabilities;

    /* minor 0, required: make a sandbox. Async: cb runs once. */
    int (*create)(void *self, const agentd_sandbox_spec_t *spec,
                  agentd_sandbox_create_cb cb, void *ud, agentd_err_t *err);

    /* minor 0, required: run a command. On success *out and io are set and
     * exit_cb will run exactly once. */
    int (*exec)(void *self, agentd_sandbox_t *sb, const agentd_exec_spec_t *spec,
                agentd_exec_exit_cb exit_cb, void *ud, agentd_exec_t **out,
                agentd_exec_io_t *io, agentd_err_t *err);

    /* minor 0, required: signal one command (and its descendants).
     * Errors: AGENTD_ENOENT if it already exited. */
    int (*exec_signal)(void *self, agentd_exec_t *ex, agentd_sandbox_signal_t sig,
                       agentd_err_t *err);

    /* minor 0, required: release an exec handle after its exit callback.
     * A running command is killed first. */
    void (*exec_release)(void *self, agentd_exec_t *ex);

    /* minor 0, required: signal every process in the sandbox. PAUSE/RESUME
     * return AGENTD_ENOTSUP without AGENTD_SANDBOX_CAP_PAUSE. */
    int (*signal)(void *self, agentd_sandbox_t *sb, agentd_sandbox_signal_t sig,
                  agentd_err_t *err);

    /* minor 0, optional (AGENTD_SANDBOX_CAP_COPY): copy a file or directory
     * tree between a host path and a sandbox path. Async: cb runs once. */
    int (*copy_in)(void *self, agentd_sandbox_t *sb, const char *host_path,
                   const char *sandbox_path, agentd_done_cb cb, void *ud,
                   agentd_err_t *err);
    int (*copy_out)(void *self, agentd_sandbox_t *sb, const char *sandbox_path,
                    const char *host_path, agentd_done_cb cb, void *ud,
                    agentd_err_t *err);

    /* minor 0, required: kill everything in the sandbox and remove it. The
     * handle is invalid once cb has run. cb runs once, also on failure. */
    int (*destroy)(void *self, agentd_sandbox_t *sb, agentd_done_cb cb, void *ud,
                   agentd_err_t *err);

    /* minor 0, required: list the sandboxes this provider created (and
     * that still exist), including ones from before a host restart. */
    int (*list)(void *self, agentd_sandbox_list_cb cb, void *ud, agentd_err_t *err);

    /* minor 0, optional (AGENTD_SANDBOX_CAP_ADOPT): take over a sandbox
     * found by list() after a restart; cb gets a handle as create's does. */
    int (*adopt)(void *self, const char *sandbox_id, agentd_sandbox_create_cb cb,
                 void *ud, agentd_err_t *err);

    /* minor 0, required: destroy a sandbox found by list() that nobody will
     * adopt (an orphan). cb runs once. */
    int (*reap)(void *self, const char *sandbox_id, agentd_done_cb cb, void *ud,
                agentd_err_t *err);
} agentd_sandbox_vtable_t;

#ifdef __cplusplus
}
#endif
#endif /* AGENTD_SANDBOX_H */
