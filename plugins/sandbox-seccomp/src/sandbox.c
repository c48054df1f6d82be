/*
 * A sandbox's life: create (cgroup, egress proxy, environment, timeout,
 * and a probe run of the helper that proves every isolation step works),
 * signal, and destroy. Any step that fails undoes the ones before it and
 * fails create with the step's reason: the sandbox never runs weaker than
 * configured.
 */
#define _GNU_SOURCE
#include "sandbox.h"

#include "state.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* Host paths a workspace may not be (or be inside): the sandbox's system
 * view and the kernel's file systems. */
static const char *const forbidden_roots[] = {"/usr", "/etc", "/bin", "/sbin", "/lib",
                                              "/lib32", "/lib64", "/proc", "/sys", "/dev",
                                              "/boot", "/run"};

static void sb_free(agentd_sandbox_t *sb)
{
    const agentd_host_api_t *api = sb->plugin->api;
    api->timer_close(sb->timeout);
    sbx_proxy_stop(sb->proxy);
    /* A cgroup that still holds processes keeps its state directory, so
     * list() and reap() find it later. */
    int cg_gone = sb->cg == NULL || sbx_cgroup_remove(sb->cg) == 0;
    sbx_cgroup_free(sb->cg);
    if (sb->dir != NULL && cg_gone)
        sbx_state_remove(sb->dir);
    sbx_env_free(sb->env);
    sbx_allowlist_free(&sb->allow);
    sbx_profile_free(&sb->prof);
    free(sb->proxy_path);
    free(sb->dir);
    free(sb->workspace);
    free(sb->session_id);
    free(sb->id);
    free(sb);
}

static int valid_id(const char *id)
{
    size_t n = id != NULL ? strlen(id) : 0;
    if (n == 0 || n > 64)
        return 0;
    for (const char *p = id; *p != '\0'; p++)
        if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) && *p != '-')
            return 0;
    return 1;
}

static int check_workspace(agentd_sandbox_t *sb, const char *path, agentd_err_t *err)
{
    char real[PATH_MAX];
    struct stat st;
    if (path == NULL || realpath(path, real) == NULL || stat(real, &st) < 0 ||
        !S_ISDIR(st.st_mode))
        return agentd_err_set(err, AGENTD_EINVAL, "workspace %s is not a directory: %s",
                              path ? path : "(none)", strerror(errno));
    if (strcmp(real, "/") == 0)
        return agentd_err_set(err, AGENTD_EINVAL, "workspace cannot be /");
    for (size_t i = 0; i < sizeof forbidden_roots / sizeof *forbidden_roots; i++) {
        size_t n = strlen(forbidden_roots[i]);
        if (strncmp(real, forbidden_roots[i], n) == 0 && (real[n] == '/' || real[n] == '\0'))
            return agentd_err_set(err, AGENTD_EINVAL,
                                  "workspace %s lies in %s, which the sandbox shows "
                                  "read-only or not at all",
                                  real, forbidden_roots[i]);
    }
    sb->workspace = strdup(real);
    return sb->workspace ? 0 : agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
}

/* A model API on the host's loopback gets a port forward inside, so a
 * client that ignores HTTP_PROXY still reaches it (through the proxy). */
static void plan_forward(agentd_sandbox_t *sb, const char *url)
{
    const char *p = url ? strstr(url, "://") : NULL;
    if (p == NULL)
        return;
    p += 3;
    char hostport[280];
    size_t n = strcspn(p, "/?#");
    if (n == 0 || n >= sizeof hostport)
        return;
    memcpy(hostport, p, n);
    hostport[n] = '\0';
    char host[256];
    uint16_t port;
    int any;
    if (sbx_split_hostport(hostport, host, sizeof host, &port, &any) < 0 || any)
        return; /* no explicit port: not a local test server */
    struct in_addr a4;
    int loop = strcmp(host, "localhost") == 0 || strcmp(host, "::1") == 0 ||
               (inet_pton(AF_INET, host, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127);
    if (!loop || port == sb->prof.proxy_port)
        return;
    sb->fwd.port = port;
    snprintf(sb->fwd.target, sizeof sb->fwd.target, strchr(host, ':') ? "[%s]:%u" : "%s:%u",
             host, (unsigned)port);
}

static int build_allowlist(agentd_sandbox_t *sb, const agentd_sandbox_spec_t *spec,
                           agentd_err_t *err)
{
    char msg[300];
    for (char **p = sb->prof.egress_allow; *p != NULL; p++)
        if (sbx_allowlist_add(&sb->allow, *p, msg, sizeof msg) < 0)
            return agentd_err_set(err, AGENTD_ECONFIG, "%s", msg);
    for (const char *const *p = spec->egress_allow; p != NULL && *p != NULL; p++)
        if (sbx_allowlist_add(&sb->allow, *p, msg, sizeof msg) < 0)
            return agentd_err_set(err, AGENTD_ECONFIG, "%s", msg);
    if (spec->model_api_url != NULL &&
        sbx_allowlist_add_url(&sb->allow, spec->model_api_url, msg, sizeof msg) < 0)
        return agentd_err_set(err, AGENTD_ECONFIG, "%s", msg);
    plan_forward(sb, spec->model_api_url);
    return 0;
}

/* A refused connection: an event in the session's log, or a log line. */
static void on_refused(void *ud, const char *host, unsigned port, const char *reason)
{
    agentd_sandbox_t *sb = ud;
    const agentd_host_api_t *api = sb->plugin->api;
    api->log(sb->plugin->host, AGENTD_LOG_WARN,
             "sandbox %s: network refused: %s:%u: %s", sb->id, host, port, reason);
    if (sb->session_id == NULL)
        return;
    char *data = sbx_refusal_json(sb->id, host, port, reason);
    if (data != NULL)
        api->emit_event(sb->plugin->host, sb->session_id, "sandbox.network_refused", data,
                        strlen(data), NULL);
    free(data);
}

static int start_proxy(agentd_sandbox_t *sb, agentd_err_t *err)
{
    if (sb->allow.count == 0)
        return 0; /* no network at all: no proxy, no socket inside */
    if (asprintf(&sb->proxy_path, "%s/proxy.sock", sb->dir) < 0)
        return agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    sbx_proxy_opts_t o = {sb->plugin->api, sb->plugin->host, sb->proxy_path, &sb->allow,
                          on_refused, sb, &sb->plugin->work_in_flight};
    return sbx_proxy_start(&o, &sb->proxy, err);
}

static void kill_all(agentd_sandbox_t *sb)
{
    sbx_cgroup_kill(sb->cg);
    for (agentd_exec_t *ex = sb->execs; ex != NULL; ex = ex->next)
        if (!ex->exited)
            sb->plugin->api->process_kill(ex->proc, SIGKILL);
}

static void on_timeout(void *ud)
{
    agentd_sandbox_t *sb = ud;
    sb->plugin->api->log(sb->plugin->host, AGENTD_LOG_WARN,
                         "sandbox %s: wall-clock timeout of %llu s reached; killing it",
                         sb->id, (unsigned long long)sb->timeout_s);
    if (sb->session_id != NULL) {
        char data[160];
        snprintf(data, sizeof data, "{\"sandbox_id\":\"%s\",\"timeout_s\":%llu}", sb->id,
                 (unsigned long long)sb->timeout_s);
        sb->plugin->api->emit_event(sb->plugin->host, sb->session_id, "sandbox.timeout", data,
                                    strlen(data), NULL);
    }
    sb->expired = 1;
    kill_all(sb);
}

static void apply_limits(agentd_sandbox_t *sb, const agentd_sandbox_spec_t *spec)
{
    sb->memory_bytes = spec->memory_bytes ? spec->memory_bytes : sb->prof.memory_mb << 20;
    sb->pids_max = spec->pids_max ? spec->pids_max : sb->prof.pids_max;
    sb->cpu_millicores = spec->cpu_millicores ? spec->cpu_millicores : sb->prof.cpu_millicores;
    sb->timeout_s = spec->timeout_s ? spec->timeout_s : sb->prof.timeout_minutes * 60ull;
}

/* Everything but the probe; undone by sb_free on failure. */
static int setup(agentd_sandbox_t *sb, const agentd_sandbox_spec_t *spec, agentd_err_t *err)
{
    sbx_plugin_t *pl = sb->plugin;
    int rc = sbx_profile_parse(spec->profile_json, spec->profile_len, &sb->prof, err);
    if (rc == 0)
        rc = check_workspace(sb, spec->workspace, err);
    if (rc == 0)
        rc = build_allowlist(sb, spec, err);
    if (rc < 0)
        return rc;
    apply_limits(sb, spec);
    sb->created_ms = (uint64_t)time(NULL) * 1000u;
    if ((rc = sbx_state_create(pl->state_dir, sb, err)) < 0)
        return rc;
    sbx_cg_limits_t lim = {sb->memory_bytes, sb->pids_max, sb->cpu_millicores};
    char name[96];
    snprintf(name, sizeof name, "agentd-sbx-%s", sb->id);
    if ((rc = sbx_cgroup_create(pl->cgroup_parent, name, &lim, &sb->cg, err)) < 0)
        return rc;
    if ((rc = start_proxy(sb, err)) < 0)
        return rc;
    if ((sb->env = sbx_env_build(sb, spec)) == NULL)
        return agentd_err_set(err, AGENTD_ENOMEM, "environment: out of memory");
    rc = pl->api->timer_start(pl->host, sb->timeout_s * 1000u, 0, on_timeout, sb, &sb->timeout);
    return rc < 0 ? agentd_err_set(err, rc, "timeout timer: %s", agentd_strerror(rc)) : 0;
}

static void link_sandbox(agentd_sandbox_t *sb)
{
    sb->next = sb->plugin->sandboxes;
    sb->plugin->sandboxes = sb;
}

static void unlink_sandbox(agentd_sandbox_t *sb)
{
    for (agentd_sandbox_t **p = &sb->plugin->sandboxes; *p != NULL; p = &(*p)->next)
        if (*p == sb) {
            *p = sb->next;
            return;
        }
}

/* create's completion, reported from the loop (never inside create). */
typedef struct created {
    agentd_sandbox_t *sb;
    agentd_sandbox_create_cb cb;
    void *ud;
} created_t;

static void report_created(void *ud)
{
    created_t *c = ud;
    agentd_sandbox_create_cb cb = c->cb;
    void *cb_ud = c->ud;
    agentd_sandbox_t *sb = c->sb;
    free(c);
    cb(cb_ud, 0, sb, NULL);
}

/* The probe said yes or no. */
static void probe_done(void *ud, agentd_sandbox_t *sb, int status, const char *msg)
{
    created_t *c = ud;
    if (status == 0) {
        link_sandbox(sb);
        report_created(c);
        return;
    }
    c->cb(c->ud, status, NULL, msg);
    free(c);
    sb_free(sb);
}

int sbx_sandbox_create(sbx_plugin_t *pl, const agentd_sandbox_spec_t *spec,
                       agentd_sandbox_create_cb cb, void *ud, agentd_err_t *err)
{
    if (spec == NULL || !valid_id(spec->sandbox_id))
        return agentd_err_set(err, AGENTD_EINVAL, "sandbox id must be 1..64 of [a-z0-9-]");
    agentd_sandbox_t *sb = calloc(1, sizeof *sb);
    created_t *c = calloc(1, sizeof *c);
    if (sb == NULL || c == NULL || (sb->id = strdup(spec->sandbox_id)) == NULL ||
        (spec->session_id != NULL && (sb->session_id = strdup(spec->session_id)) == NULL)) {
        free(c);
        if (sb != NULL)
            free(sb->id);
        free(sb);
        return agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    }
    sb->plugin = pl;
    *c = (created_t){sb, cb, ud};
    int rc = setup(sb, spec, err);
    if (rc == 0 && sb->prof.verify_on_create)
        rc = sbx_probe_start(sb, probe_done, c, err);
    else if (rc == 0 && (rc = sbx_defer(pl, report_created, c)) == 0)
        link_sandbox(sb);
    if (rc < 0) {
        free(c);
        sb_free(sb);
    }
    return rc;
}

int sbx_sandbox_signal(agentd_sandbox_t *sb, agentd_sandbox_signal_t sig, agentd_err_t *err)
{
    switch (sig) {
    case AGENTD_SIG_PAUSE:
    case AGENTD_SIG_RESUME:
        return sbx_cgroup_freeze(sb->cg, sig == AGENTD_SIG_PAUSE, err);
    case AGENTD_SIG_INTERRUPT:
    case AGENTD_SIG_TERMINATE:
        for (agentd_exec_t *ex = sb->execs; ex != NULL; ex = ex->next)
            if (!ex->exited)
                sb->plugin->api->process_kill(ex->proc,
                                              sig == AGENTD_SIG_INTERRUPT ? SIGINT : SIGTERM);
        return 0;
    case AGENTD_SIG_KILL:
        kill_all(sb);
        return 0;
    }
    return agentd_err_set(err, AGENTD_EINVAL, "unknown signal %d", (int)sig);
}

/* Detach from the host-side state and hand the cgroup and directory to a
 * teardown that waits for the last process. */
static int release(agentd_sandbox_t *sb, agentd_done_cb cb, void *ud)
{
    unlink_sandbox(sb);
    kill_all(sb);
    for (agentd_exec_t *ex = sb->execs; ex != NULL; ex = ex->next)
        ex->sb = NULL;
    sb->execs = NULL;
    sbx_cgroup_t *cg = sb->cg;
    char *dir = sb->dir;
    sb->cg = NULL;
    sb->dir = NULL;
    sbx_plugin_t *pl = sb->plugin;
    sb_free(sb);
    return sbx_teardown(pl, cg, dir, cb, ud);
}

int sbx_sandbox_destroy(agentd_sandbox_t *sb, agentd_done_cb cb, void *ud, agentd_err_t *err)
{
    int rc = release(sb, cb, ud);
    return rc < 0 ? agentd_err_set(err, rc, "destroy: %s", agentd_strerror(rc)) : 0;
}

void sbx_sandbox_kill_now(agentd_sandbox_t *sb)
{
    unlink_sandbox(sb);
    kill_all(sb);
    for (agentd_exec_t *ex = sb->execs; ex != NULL; ex = ex->next)
        ex->sb = NULL;
    sb_free(sb); /* the cgroup is removed if already empty, else reaped later */
}
