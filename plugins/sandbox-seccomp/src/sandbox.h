/*
 * The plugin's state: the plugin itself, its sandboxes and their
 * executions. A sandbox is host-side state shared by its executions: the
 * cgroup (limits, freezer, kill), the egress proxy and its allowlist, the
 * base environment and the timeout. Each execution is one helper process
 * (helper/main.c) that builds the namespaces, the file system view and the
 * filter afresh and runs one command; so /tmp and the process table are
 * per execution, the workspace, limits and network policy per sandbox.
 */
#ifndef SBX_SANDBOX_H
#define SBX_SANDBOX_H

#include "allowlist.h"
#include "cgroups.h"
#include "egress_proxy.h"
#include "profile.h"

#include <agentd/plugin.h>
#include <agentd/sandbox.h>

#include <sys/types.h>

typedef struct sbx_plugin {
    const agentd_host_api_t *api;
    agentd_host_t *host;
    char *helper;          /* path of agentd-sandbox-helper */
    char *state_dir;       /* absolute: <state_dir>/sandboxes/<id>/ */
    char *cgroup_parent;   /* "" : the daemon's own cgroup */
    uid_t host_uid;        /* sandboxes' identity when the daemon is root */
    gid_t host_gid;
    char *seccomp_hex[2];  /* the compiled filters, for every launch */
    agentd_sandbox_t *sandboxes;
    agentd_exec_t *dying;      /* released, killed, exit not seen yet */
    unsigned work_in_flight;   /* DNS lookups of the proxies */
    struct teardown *teardowns; /* destroys and reaps still waiting (reap.c) */
    agentd_timer_t *stop_timer; /* stop() waiting for them */
    agentd_done_cb stop_done;
    void *stop_ud;
} sbx_plugin_t;

/* A model API on the host's loopback, reachable inside at the same port. */
typedef struct sbx_fwd {
    uint16_t port;
    char target[300];
} sbx_fwd_t;

struct agentd_exec {
    const agentd_host_api_t *api;
    sbx_plugin_t *plugin;
    agentd_sandbox_t *sb;  /* NULL once the sandbox is gone */
    agentd_exec_t *next;
    agentd_exec_t *next_dying;
    int released;          /* released before it exited: freed at its exit */
    agentd_process_t *proc;
    int pid;
    int exited;
    agentd_exec_exit_cb exit_cb;
    void *ud;
};

typedef struct sbx_probe sbx_probe_t;

struct agentd_sandbox {
    sbx_plugin_t *plugin;
    agentd_sandbox_t *next;
    char *id;
    char *session_id;
    char *dir;             /* per-sandbox state directory */
    char *workspace;       /* real path */
    sbx_profile_t prof;
    uint64_t memory_bytes, timeout_s;
    uint32_t pids_max, cpu_millicores;
    char **env;            /* base environment, NULL-terminated */
    sbx_allowlist_t allow;
    sbx_fwd_t fwd;         /* fwd.port 0: none */
    sbx_cgroup_t *cg;
    sbx_proxy_t *proxy;
    char *proxy_path;
    agentd_timer_t *timeout;
    agentd_exec_t *execs;
    sbx_probe_t *probe;
    uint64_t created_ms;
    int expired;           /* the timeout fired: no more execs */
};

/* sandbox.c */
int sbx_sandbox_create(sbx_plugin_t *pl, const agentd_sandbox_spec_t *spec,
                       agentd_sandbox_create_cb cb, void *ud, agentd_err_t *err);
int sbx_sandbox_signal(agentd_sandbox_t *sb, agentd_sandbox_signal_t sig, agentd_err_t *err);
int sbx_sandbox_destroy(agentd_sandbox_t *sb, agentd_done_cb cb, void *ud, agentd_err_t *err);
/* Kill everything at once and free, without waiting (plugin stop/fini). */
void sbx_sandbox_kill_now(agentd_sandbox_t *sb);

/* reap.c: the sandboxes a previous daemon left (state directories). */
int sbx_list(sbx_plugin_t *pl, agentd_sandbox_list_cb cb, void *ud, agentd_err_t *err);
int sbx_reap(sbx_plugin_t *pl, const char *id, agentd_done_cb cb, void *ud,
             agentd_err_t *err);
/* Wait (on host timers) until `cg` is empty, then remove it and `dir`,
 * then call cb. Takes ownership of cg and dir. */
int sbx_teardown(sbx_plugin_t *pl, sbx_cgroup_t *cg, char *dir, agentd_done_cb cb,
                 void *ud);
/* fini: end every waiting teardown now (cb gets AGENTD_ECANCELED). */
void sbx_teardown_cancel_all(sbx_plugin_t *pl);

/* probe.c: run the helper once in probe mode (every setup step, no
 * command); done runs once with 0 or the failure and the helper's message. */
typedef void (*sbx_probe_done_cb)(void *ud, agentd_sandbox_t *sb, int status,
                                  const char *msg);
int sbx_probe_start(agentd_sandbox_t *sb, sbx_probe_done_cb done, void *ud,
                    agentd_err_t *err);

/* defer.c: run cb on the loop soon (a 0 ms timer). */
int sbx_defer(sbx_plugin_t *pl, void (*cb)(void *ud), void *ud);

/* exec.c */
int sbx_exec_start(agentd_sandbox_t *sb, const agentd_exec_spec_t *spec, int probe,
                   agentd_exec_exit_cb exit_cb, void *ud, agentd_exec_t **out,
                   agentd_exec_io_t *io, agentd_err_t *err);
int sbx_exec_signal(agentd_exec_t *ex, agentd_sandbox_signal_t sig, agentd_err_t *err);
void sbx_exec_release(agentd_exec_t *ex);
/* fini: let go of released execs whose exit was not seen yet. */
void sbx_exec_forget_dying(sbx_plugin_t *pl);

/* launch_json.c: the helper's launch description (helper/launch.h). */
char *sbx_launch_json(const agentd_sandbox_t *sb, const agentd_exec_spec_t *spec, int probe,
                      size_t *len);

/* env.c: the sandbox's base environment. */
char **sbx_env_build(const agentd_sandbox_t *sb, const agentd_sandbox_spec_t *spec);
void sbx_env_free(char **env);

#endif
