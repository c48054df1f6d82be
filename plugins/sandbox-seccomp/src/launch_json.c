/*
 * The launch description for the helper (helper/launch.h), built from the
 * sandbox and one exec spec. It carries the environment, which may hold
 * secrets: it goes to the helper through its stdin only.
 */
#define _GNU_SOURCE
#include "sandbox.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static json_t *str_array(const char *const *list)
{
    json_t *a = json_array();
    for (; a != NULL && list != NULL && *list != NULL; list++)
        if (json_array_append_new(a, json_string(*list)) < 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

/* The base environment plus the exec's own variables (which win). */
static json_t *env_array(const agentd_sandbox_t *sb, const agentd_exec_spec_t *spec)
{
    json_t *a = str_array((const char *const *)sb->env);
    for (const char *const *kv = spec->env; a != NULL && kv != NULL && *kv != NULL; kv++) {
        const char *eq = strchr(*kv, '=');
        if (eq == NULL)
            continue;
        size_t i;
        json_t *v;
        json_array_foreach(a, i, v)
        {
            if (strncmp(json_string_value(v), *kv, (size_t)(eq - *kv) + 1) == 0) {
                json_array_remove(a, i);
                break;
            }
        }
        json_array_append_new(a, json_string(*kv));
    }
    return a;
}

static json_t *cgroup_array(const agentd_sandbox_t *sb)
{
    json_t *a = json_array();
    char path[1200];
    for (size_t i = 0; a != NULL && i < sb->cg->count; i++)
        if (sbx_cgroup_procs_path(sb->cg, i, path, sizeof path) == 0)
            json_array_append_new(a, json_string(path));
    return a;
}

static int add_network(json_t *o, const agentd_sandbox_t *sb)
{
    if (sb->proxy == NULL)
        return 0;
    json_t *fw = json_array();
    if (fw == NULL)
        return -1;
    if (sb->fwd.port != 0)
        json_array_append_new(fw, json_pack("{s:i, s:s}", "port", (int)sb->fwd.port,
                                            "target", sb->fwd.target));
    return json_object_set_new(o, "proxy_socket", json_string(sb->proxy_path)) |
           json_object_set_new(o, "proxy_port", json_integer(sb->prof.proxy_port)) |
           json_object_set_new(o, "forwards", fw);
}

/* The daemon's data directory (<data dir>/plugins/<id> is our state
 * directory) when it lies inside the workspace, as with `agentd sandbox
 * exec` run from a directory holding ./var. */
static json_t *hidden_paths(const agentd_sandbox_t *sb)
{
    json_t *a = json_array();
    char data_dir[4096];
    snprintf(data_dir, sizeof data_dir, "%s", sb->plugin->state_dir);
    for (int i = 0; i < 2; i++) {
        char *slash = strrchr(data_dir, '/');
        if (slash != NULL && slash != data_dir)
            *slash = '\0';
    }
    size_t n = strlen(sb->workspace);
    if (a != NULL && strncmp(data_dir, sb->workspace, n) == 0 && data_dir[n] == '/')
        json_array_append_new(a, json_string(data_dir));
    return a;
}

static json_t *rlimits(const agentd_sandbox_t *sb)
{
    return json_pack("{s:I, s:I, s:I}", "fsize", (json_int_t)(sb->prof.file_size_mb << 20),
                     "nofile", (json_int_t)sb->prof.open_files, "core", (json_int_t)0);
}

char *sbx_launch_json(const agentd_sandbox_t *sb, const agentd_exec_spec_t *spec, int probe,
                      size_t *len)
{
    const sbx_plugin_t *pl = sb->plugin;
    json_t *o = json_pack(
        "{s:s, s:i, s:b, s:o, s:o, s:s, s:s, s:i, s:i, s:i, s:i, s:o, s:o, s:o, s:s, s:I, s:o}",
        "sandbox_id", sb->id, "host_pid", (int)getpid(), "probe", probe, "argv",
        str_array(spec != NULL ? spec->argv : NULL), "env",
        spec != NULL ? env_array(sb, spec) : str_array((const char *const *)sb->env),
        "workspace", sb->workspace, "home", sb->prof.home, "uid", (int)sb->prof.uid, "gid",
        (int)sb->prof.gid, "host_uid", (int)pl->host_uid, "host_gid", (int)pl->host_gid,
        "ro_paths", str_array((const char *const *)sb->prof.ro_paths), "protected_paths",
        str_array((const char *const *)sb->prof.protected_paths), "cgroup_procs",
        cgroup_array(sb), "hostname", sb->prof.hostname, "tmp_bytes",
        (json_int_t)(sb->prof.tmp_size_mb << 20), "rlimits", rlimits(sb));
    if (o == NULL)
        return NULL;
    json_object_set_new(o, "hidden_paths", hidden_paths(sb));
    json_object_set_new(o, "seccomp", json_pack("[s, s]", pl->seccomp_hex[0],
                                                pl->seccomp_hex[1]));
    if (spec != NULL && spec->cwd != NULL)
        json_object_set_new(o, "cwd", json_string(spec->cwd));
    char *text = add_network(o, sb) == 0 ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (text != NULL)
        *len = strlen(text);
    return text;
}
