/* Profile settings (profile.h). */
#define _GNU_SOURCE
#include "profile.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROTECTED_DEFAULT \
    "[\".git/hooks\", \".git/config\", \".claude/settings.json\", " \
    "\".claude/settings.local.json\", \".mcp.json\"]"

#define FIELD(n, t, d, desc, lo, hi) \
    {sizeof(agentd_config_field_t), n, t, 0, d, desc, lo, hi}

const agentd_config_field_t sbx_profile_fields[SBX_PROFILE_FIELD_COUNT] = {
    FIELD("memory_mb", AGENTD_CONFIG_INT, "2048",
          "memory limit of the whole sandbox (cgroup), MiB; the OOM killer acts inside it",
          16, 1048576),
    FIELD("pids_max", AGENTD_CONFIG_INT, "512",
          "most processes and threads alive in the sandbox at once (cgroup pids)", 8, 65536),
    FIELD("cpu_millicores", AGENTD_CONFIG_INT, "2000",
          "CPU time limit, 1000 = one core (cgroup cpu quota)", 10, 1024000),
    FIELD("file_size_mb", AGENTD_CONFIG_INT, "1024",
          "largest file a process may write, MiB (RLIMIT_FSIZE)", 1, 1048576),
    FIELD("open_files", AGENTD_CONFIG_INT, "1024",
          "open file descriptors per process (RLIMIT_NOFILE)", 16, 1048576),
    FIELD("timeout_minutes", AGENTD_CONFIG_INT, "60",
          "wall-clock lifetime of a sandbox; then everything in it gets SIGKILL", 1, 240),
    FIELD("tmp_size_mb", AGENTD_CONFIG_INT, "512",
          "size of the private /tmp and of the home directory (tmpfs, counted as memory)",
          1, 65536),
    FIELD("egress_allow", AGENTD_CONFIG_STRING_LIST, "[]",
          "host:port patterns the sandbox may reach through the egress proxy "
          "(\"api.example.com:443\", \"*.example.com:443\", \"10.0.0.5:*\"); empty: none "
          "but the model API",
          0, 0),
    FIELD("env_passthrough", AGENTD_CONFIG_STRING_LIST, "[\"LANG\", \"LC_ALL\", \"TERM\", \"TZ\"]",
          "names of the daemon's environment variables passed into the sandbox", 0, 0),
    FIELD("env", AGENTD_CONFIG_OBJECT, "{}",
          "variables set in the sandbox, {\"NAME\": \"value\"}", 0, 0),
    FIELD("ro_paths", AGENTD_CONFIG_STRING_LIST, "[]",
          "extra host paths shown read-only at the same path (tool chains, caches)", 0, 0),
    FIELD("protected_paths", AGENTD_CONFIG_STRING_LIST, PROTECTED_DEFAULT,
          "workspace-relative paths kept read-only although the workspace is writable", 0, 0),
    FIELD("uid", AGENTD_CONFIG_INT, "1000", "user id of the agent inside the sandbox", 1,
          65533),
    FIELD("gid", AGENTD_CONFIG_INT, "1000", "group id of the agent inside the sandbox", 1,
          65533),
    FIELD("hostname", AGENTD_CONFIG_STRING, "\"sandbox\"", "host name inside the sandbox", 0,
          0),
    FIELD("home", AGENTD_CONFIG_STRING, "\"/home/agent\"",
          "HOME inside the sandbox: a private, writable tmpfs", 0, 0),
    FIELD("proxy_port", AGENTD_CONFIG_INT, "3128",
          "port of the egress proxy on the sandbox's loopback (HTTP_PROXY, HTTPS_PROXY)", 1,
          65535),
    FIELD("verify_on_create", AGENTD_CONFIG_BOOL, "true",
          "create() sets up a complete sandbox once and fails if any step fails, instead of "
          "the first exec failing",
          0, 0),
};
_Static_assert(sizeof sbx_profile_fields / sizeof sbx_profile_fields[0] ==
                   SBX_PROFILE_FIELD_COUNT,
               "SBX_PROFILE_FIELD_COUNT must match the fields");

/* The profile with every missing key at its default. */
static json_t *with_defaults(json_t *given)
{
    json_t *all = json_object();
    if (all == NULL)
        return NULL;
    for (uint32_t i = 0; i < SBX_PROFILE_FIELD_COUNT; i++) {
        const agentd_config_field_t *f = &sbx_profile_fields[i];
        json_t *v = json_loads(f->default_json, JSON_DECODE_ANY, NULL);
        if (v == NULL || json_object_set_new(all, f->name, v) < 0) {
            json_decref(all);
            return NULL;
        }
    }
    if (json_object_update(all, given) < 0) {
        json_decref(all);
        return NULL;
    }
    return all;
}

static int get_list(json_t *obj, const char *key, char ***out)
{
    json_t *arr = json_object_get(obj, key);
    size_t n = json_array_size(arr);
    if (!json_is_array(arr) || (*out = calloc(n + 1, sizeof **out)) == NULL)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const char *s = json_string_value(json_array_get(arr, i));
        if (s == NULL || ((*out)[i] = strdup(s)) == NULL)
            return -1;
    }
    return 0;
}

static int get_env(json_t *obj, char ***out)
{
    json_t *env = json_object_get(obj, "env");
    size_t n = json_object_size(env), i = 0;
    const char *k;
    json_t *v;
    if (!json_is_object(env) || (*out = calloc(n + 1, sizeof **out)) == NULL)
        return -1;
    json_object_foreach(env, k, v)
    {
        if (!json_is_string(v) || strchr(k, '=') != NULL || k[0] == '\0')
            return -1;
        if (asprintf(&(*out)[i++], "%s=%s", k, json_string_value(v)) < 0)
            return (*out)[i - 1] = NULL, -1;
    }
    return 0;
}

static uint64_t get_int(json_t *obj, const char *key)
{
    json_int_t v = json_integer_value(json_object_get(obj, key));
    return v > 0 ? (uint64_t)v : 0;
}

static int fill(json_t *o, sbx_profile_t *p)
{
    p->memory_mb = get_int(o, "memory_mb");
    p->pids_max = (uint32_t)get_int(o, "pids_max");
    p->cpu_millicores = (uint32_t)get_int(o, "cpu_millicores");
    p->file_size_mb = get_int(o, "file_size_mb");
    p->open_files = get_int(o, "open_files");
    p->timeout_minutes = (uint32_t)get_int(o, "timeout_minutes");
    p->tmp_size_mb = get_int(o, "tmp_size_mb");
    p->uid = (uint32_t)get_int(o, "uid");
    p->gid = (uint32_t)get_int(o, "gid");
    p->proxy_port = (uint16_t)get_int(o, "proxy_port");
    p->verify_on_create = json_is_true(json_object_get(o, "verify_on_create"));
    const char *h = json_string_value(json_object_get(o, "hostname"));
    const char *home = json_string_value(json_object_get(o, "home"));
    if (h == NULL || home == NULL || home[0] != '/' || (p->hostname = strdup(h)) == NULL ||
        (p->home = strdup(home)) == NULL)
        return -1;
    if (get_list(o, "egress_allow", &p->egress_allow) < 0 ||
        get_list(o, "env_passthrough", &p->env_passthrough) < 0 || get_env(o, &p->env) < 0 ||
        get_list(o, "ro_paths", &p->ro_paths) < 0 ||
        get_list(o, "protected_paths", &p->protected_paths) < 0)
        return -1;
    return p->uid != 0 && p->gid != 0 && p->timeout_minutes != 0 ? 0 : -1;
}

int sbx_profile_parse(const char *json, size_t len, sbx_profile_t *out, agentd_err_t *err)
{
    memset(out, 0, sizeof *out);
    json_error_t jerr;
    json_t *given = json != NULL ? json_loadb(json, len, 0, &jerr) : json_object();
    if (!json_is_object(given)) {
        json_decref(given);
        return agentd_err_set(err, AGENTD_ECONFIG, "profile is not a JSON object");
    }
    json_t *all = with_defaults(given);
    json_decref(given);
    int rc = all != NULL ? fill(all, out) : -1;
    json_decref(all);
    if (rc < 0) {
        sbx_profile_free(out);
        return agentd_err_set(err, AGENTD_ECONFIG,
                              "profile: a setting has the wrong type or value (see "
                              "`agentd plugins --verbose` for sandbox-seccomp's fields)");
    }
    return 0;
}

static void free_list(char **l)
{
    if (l == NULL)
        return;
    for (char **p = l; *p != NULL; p++)
        free(*p);
    free(l);
}

void sbx_profile_free(sbx_profile_t *p)
{
    free(p->hostname);
    free(p->home);
    free_list(p->egress_allow);
    free_list(p->env_passthrough);
    free_list(p->env);
    free_list(p->ro_paths);
    free_list(p->protected_paths);
    memset(p, 0, sizeof *p);
}
