/*
 * sandbox-seccomp: the descriptor, the plugin's own settings, and the
 * sandbox vtable as thin calls into sandbox.c, exec.c and reap.c.
 */
#define _GNU_SOURCE
#include "sandbox.h"

#include "../common/seccomp_policy.h"

#include <agentd/agentd.h>

#include <dlfcn.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HELPER_NAME "agentd-sandbox-helper"
/* Installed beside the plugin: <plugin dir>/sandbox-seccomp.d/ */
#define HELPER_SUBDIR "sandbox-seccomp.d"

static const agentd_config_field_t config_fields[] = {
    {sizeof(agentd_config_field_t), "host_uid", AGENTD_CONFIG_INT, 0, "65534",
     "host uid that sandboxes run as when agentd runs as root (never 0); an unprivileged "
     "agentd runs them as itself",
     1, 2147483647},
    {sizeof(agentd_config_field_t), "host_gid", AGENTD_CONFIG_INT, 0, "65534",
     "host gid that sandboxes run as when agentd runs as root (never 0)", 1, 2147483647},
    {sizeof(agentd_config_field_t), "cgroup_parent", AGENTD_CONFIG_STRING, 0, "\"\"",
     "cgroup (path from the hierarchy's root) under which sandbox cgroups are made; "
     "empty: the daemon's own cgroup",
     0, 0},
    {sizeof(agentd_config_field_t), "helper", AGENTD_CONFIG_STRING, 0, "\"\"",
     "path of agentd-sandbox-helper; empty: " HELPER_SUBDIR "/ beside the plugin", 0, 0},
};

/* The helper installed beside this shared object, found from our own path
 * so the build tree and the install tree both work. */
static char *default_helper(void)
{
    Dl_info info;
    if (dladdr((const void *)&config_fields, &info) == 0 || info.dli_fname == NULL)
        return NULL;
    char *so = realpath(info.dli_fname, NULL);
    if (so == NULL)
        return NULL;
    char *slash = strrchr(so, '/');
    *slash = '\0';
    char *path = NULL;
    if (asprintf(&path, "%s/" HELPER_SUBDIR "/" HELPER_NAME, so) < 0)
        path = NULL;
    free(so);
    return path;
}

static int read_config(sbx_plugin_t *pl, const char *json, size_t len, agentd_err_t *err)
{
    json_t *o = json != NULL && len > 0 ? json_loadb(json, len, 0, NULL) : json_object();
    json_int_t uid = json_integer_value(json_object_get(o, "host_uid"));
    json_int_t gid = json_integer_value(json_object_get(o, "host_gid"));
    const char *parent = json_string_value(json_object_get(o, "cgroup_parent"));
    const char *helper = json_string_value(json_object_get(o, "helper"));
    pl->host_uid = uid > 0 ? (uid_t)uid : 65534;
    pl->host_gid = gid > 0 ? (gid_t)gid : 65534;
    pl->cgroup_parent = strdup(parent != NULL ? parent : "");
    pl->helper = helper != NULL && helper[0] != '\0' ? strdup(helper) : default_helper();
    json_decref(o);
    if (pl->cgroup_parent == NULL || pl->helper == NULL)
        return agentd_err_set(err, AGENTD_ENOMEM, "cannot locate the helper (out of memory)");
    if (access(pl->helper, X_OK) < 0)
        return agentd_err_set(err, AGENTD_ENOENT,
                              "helper %s is missing or not executable (install it beside the "
                              "plugin or set plugins.settings.sandbox-seccomp.helper)",
                              pl->helper);
    return 0;
}

/* The system call filters, compiled once for every sandbox, as hex. */
static int compile_filters(sbx_plugin_t *pl, agentd_err_t *err)
{
    sbx_bpf_t bpf[2];
    char msg[200];
    if (sbx_seccomp_compile(bpf, msg, sizeof msg) < 0)
        return agentd_err_set(err, AGENTD_EIO, "seccomp: cannot compile the filter: %s", msg);
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 2; i++) {
        pl->seccomp_hex[i] = malloc(2 * bpf[i].len + 1);
        for (size_t k = 0; pl->seccomp_hex[i] != NULL && k < bpf[i].len; k++) {
            pl->seccomp_hex[i][2 * k] = digits[bpf[i].code[k] >> 4];
            pl->seccomp_hex[i][2 * k + 1] = digits[bpf[i].code[k] & 15];
        }
        if (pl->seccomp_hex[i] != NULL)
            pl->seccomp_hex[i][2 * bpf[i].len] = '\0';
    }
    sbx_bpf_free(&bpf[0]);
    sbx_bpf_free(&bpf[1]);
    if (pl->seccomp_hex[0] == NULL || pl->seccomp_hex[1] == NULL)
        return agentd_err_set(err, AGENTD_ENOMEM, "seccomp: out of memory");
    return 0;
}

static void plugin_free(sbx_plugin_t *pl)
{
    free(pl->seccomp_hex[0]);
    free(pl->seccomp_hex[1]);
    free(pl->helper);
    free(pl->state_dir);
    free(pl->cgroup_parent);
    free(pl);
}

static int plugin_init(const agentd_host_api_t *api, agentd_host_t *host,
                       const char *config_json, size_t config_len, void **self,
                       agentd_err_t *err)
{
    sbx_plugin_t *pl = calloc(1, sizeof *pl);
    if (pl == NULL)
        return agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    pl->api = api;
    pl->host = host;
    int rc = read_config(pl, config_json, config_len, err);
    if (rc == 0)
        rc = compile_filters(pl, err);
    const char *dir = rc == 0 ? api->state_dir(host) : NULL;
    if (rc == 0 && (dir == NULL || (pl->state_dir = realpath(dir, NULL)) == NULL))
        rc = agentd_err_set(err, AGENTD_EIO, "no usable state directory (%s)",
                            dir ? dir : "none");
    if (rc < 0) {
        plugin_free(pl);
        return rc;
    }
    *self = pl;
    return 0;
}

/* stop() is done once no proxy DNS lookup, teardown or killed helper is in
 * flight (their completions run plugin code: the plugin must not be
 * unloaded before). */
static void stop_tick(void *ud)
{
    sbx_plugin_t *pl = ud;
    if (pl->work_in_flight > 0 || pl->teardowns != NULL || pl->dying != NULL)
        return;
    pl->api->timer_close(pl->stop_timer);
    pl->stop_timer = NULL;
    pl->stop_done(pl->stop_ud, 0);
}

/* Shutting down: everything in every sandbox dies now, and stop is done
 * once their cgroups and state directories are gone. */
static void plugin_stop(void *self, agentd_done_cb done, void *ud)
{
    sbx_plugin_t *pl = self;
    while (pl->sandboxes != NULL)
        sbx_sandbox_destroy(pl->sandboxes, NULL, NULL, NULL); /* always unlinks it */
    pl->stop_done = done;
    pl->stop_ud = ud;
    if ((pl->work_in_flight == 0 && pl->teardowns == NULL && pl->dying == NULL) ||
        pl->api->timer_start(pl->host, 10, 10, stop_tick, pl, &pl->stop_timer) < 0)
        done(ud, 0);
}

static void plugin_fini(void *self)
{
    sbx_plugin_t *pl = self;
    pl->api->timer_close(pl->stop_timer);
    sbx_teardown_cancel_all(pl);
    sbx_exec_forget_dying(pl);
    while (pl->sandboxes != NULL)
        sbx_sandbox_kill_now(pl->sandboxes);
    plugin_free(pl);
}

static int vt_create(void *self, const agentd_sandbox_spec_t *spec,
                     agentd_sandbox_create_cb cb, void *ud, agentd_err_t *err)
{
    return sbx_sandbox_create(self, spec, cb, ud, err);
}

static int vt_exec(void *self, agentd_sandbox_t *sb, const agentd_exec_spec_t *spec,
                   agentd_exec_exit_cb exit_cb, void *ud, agentd_exec_t **out,
                   agentd_exec_io_t *io, agentd_err_t *err)
{
    if (spec == NULL || spec->argv == NULL || spec->argv[0] == NULL)
        return agentd_err_set(err, AGENTD_EINVAL, "exec: empty argv");
    if (spec->flags & AGENTD_EXEC_TTY)
        return agentd_err_set(err, AGENTD_ENOTSUP, "exec: no pseudo-terminal support yet");
    if (sb->expired)
        return agentd_err_set(err, AGENTD_ETIMEDOUT, "exec: the sandbox's timeout has passed");
    return sbx_exec_start(sb, spec, 0, exit_cb, ud, out, io, err);
}

static int vt_exec_signal(void *self, agentd_exec_t *ex, agentd_sandbox_signal_t sig,
                          agentd_err_t *err)
{
    return sbx_exec_signal(ex, sig, err);
}

static void vt_exec_release(void *self, agentd_exec_t *ex)
{
    sbx_exec_release(ex);
}

static int vt_signal(void *self, agentd_sandbox_t *sb, agentd_sandbox_signal_t sig,
                     agentd_err_t *err)
{
    return sbx_sandbox_signal(sb, sig, err);
}

static int vt_destroy(void *self, agentd_sandbox_t *sb, agentd_done_cb cb, void *ud,
                      agentd_err_t *err)
{
    return sbx_sandbox_destroy(sb, cb, ud, err);
}

static int vt_list(void *self, agentd_sandbox_list_cb cb, void *ud, agentd_err_t *err)
{
    return sbx_list(self, cb, ud, err);
}

static int vt_reap(void *self, const char *id, agentd_done_cb cb, void *ud,
                   agentd_err_t *err)
{
    return sbx_reap(self, id, cb, ud, err);
}

static const agentd_sandbox_vtable_t vtable = {
    .size = sizeof(agentd_sandbox_vtable_t),
    .capabilities = AGENTD_SANDBOX_CAP_PAUSE | AGENTD_SANDBOX_CAP_EGRESS,
    .create = vt_create,
    .exec = vt_exec,
    .exec_signal = vt_exec_signal,
    .exec_release = vt_exec_release,
    .signal = vt_signal,
    .destroy = vt_destroy,
    .list = vt_list,
    .reap = vt_reap,
};

AGENTD_EXPORT const agentd_plugin_t agentd_plugin = {
    AGENTD_PLUGIN_HEADER,
    .kind = AGENTD_KIND_SANDBOX,
    .id = "sandbox-seccomp",
    .version = "0.1.0",
    .description = "local process sandbox: user/mount/pid/net/ipc/uts namespaces, seccomp, "
                   "cgroups, an egress allowlist proxy",
    .limitations = "Linux only; no copy_in/copy_out (the workspace is a host directory); "
                   "no adopt after a restart (list and reap only); /tmp and the process "
                   "table are per exec, not per sandbox; a protected path that does not "
                   "exist when the sandbox starts is not protected; no pseudo-terminal "
                   "(AGENTD_EXEC_TTY)",
    .config_fields = config_fields,
    .config_field_count = sizeof config_fields / sizeof config_fields[0],
    .profile_fields = sbx_profile_fields,
    .profile_field_count = SBX_PROFILE_FIELD_COUNT,
    .init = plugin_init,
    .stop = plugin_stop,
    .fini = plugin_fini,
    .vtable = &vtable,
};
