/* Parsing and checking a profile. */
#define _GNU_SOURCE
#include "profile.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define FIELD(...) {.size = sizeof(agentd_config_field_t), __VA_ARGS__}

const agentd_config_field_t dk_profile_fields[] = {
    FIELD(.name = "image", .type = AGENTD_CONFIG_STRING,
          .description = "image to run, e.g. \"agentd-claude:latest\" (never pulled: it must be "
                         "on the engine); give image or template"),
    FIELD(.name = "template", .type = AGENTD_CONFIG_STRING,
          .description = "path of a Dockerfile (its folder is the build context), built by "
                         "the engine and cached by content hash; instead of image"),
    FIELD(.name = "memory_mb", .type = AGENTD_CONFIG_INT, .default_json = "4096", .min = 64,
          .max = 1048576, .description = "memory limit of the container, MiB"),
    FIELD(.name = "cpus", .type = AGENTD_CONFIG_NUMBER, .default_json = "2",
          .description = "CPU limit in cores, fractions allowed (e.g. 1.5); 0.01 to 1024"),
    FIELD(.name = "pids_max", .type = AGENTD_CONFIG_INT, .default_json = "512", .min = 16,
          .max = 1048576, .description = "most processes and threads in the container"),
    FIELD(.name = "network_mode", .type = AGENTD_CONFIG_STRING, .default_json = "\"bridge\"",
          .description = "\"bridge\", \"none\", \"host\" (shares the host's network and "
                         "loopback: trusted local setups only) or a user-defined network"),
    FIELD(.name = "user", .type = AGENTD_CONFIG_STRING,
          .description = "user in the container (uid[:gid] or a name); unset: the image's "
                         "user if it is not root, else 1000:1000"),
    FIELD(.name = "read_only_root", .type = AGENTD_CONFIG_BOOL, .default_json = "true",
          .description = "read-only root filesystem (the workspace and /tmp stay writable)"),
    FIELD(.name = "timeout_minutes", .type = AGENTD_CONFIG_INT, .default_json = "60", .min = 1,
          .max = 240, .description = "wall-clock limit of a sandbox, then it is killed"),
    FIELD(.name = "env", .type = AGENTD_CONFIG_STRING_LIST, .default_json = "[]",
          .description = "\"K=V\" for every command; a value may be \"${secret:NAME}\""),
    FIELD(.name = "mounts", .type = AGENTD_CONFIG_STRING_LIST, .default_json = "[]",
          .description = "extra bind mounts \"host_path:container_path[:ro]\"; a docker "
                         "socket is always refused"),
    FIELD(.name = "seccomp_profile", .type = AGENTD_CONFIG_STRING,
          .description = "seccomp profile JSON file; unset: the engine's default profile"),
    FIELD(.name = "tmp_mb", .type = AGENTD_CONFIG_INT, .default_json = "512", .min = 1,
          .max = 1048576, .description = "size of the writable /tmp (tmpfs), MiB"),
};
_Static_assert(sizeof dk_profile_fields / sizeof dk_profile_fields[0] == DK_PROFILE_FIELD_COUNT,
               "DK_PROFILE_FIELD_COUNT");

static int fail(agentd_err_t *err, const char *name, const char *field, const char *fmt, ...)
    AGENTD_PRINTF(4, 5);
static int fail(agentd_err_t *err, const char *name, const char *field, const char *fmt, ...)
{
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return agentd_err_set(err, AGENTD_ECONFIG, "profile \"%s\": %s: %s", name, field, msg);
}

static char *dup_str(json_t *o, const char *key, int *oom)
{
    const char *s = json_string_value(json_object_get(o, key));
    if (s == NULL || s[0] == '\0')
        return NULL;
    char *c = strdup(s);
    if (c == NULL)
        *oom = 1;
    return c;
}

static int valid_env(const char *kv)
{
    const char *eq = strchr(kv, '=');
    if (eq == NULL || eq == kv || !(isalpha((unsigned char)kv[0]) || kv[0] == '_'))
        return 0;
    for (const char *p = kv; p < eq; p++)
        if (!isalnum((unsigned char)*p) && *p != '_')
            return 0;
    return 1;
}

static int valid_network(const char *n)
{
    if (strncmp(n, "container:", 10) == 0)
        return 0; /* another container's namespaces: not ours to share */
    for (const char *p = n; *p != '\0'; p++)
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '.')
            return 0;
    return n[0] != '\0';
}

int dk_mount_exposes_socket(const char *src, const char *engine_socket)
{
    char real[PATH_MAX], sock[PATH_MAX];
    if (realpath(src, real) == NULL)
        snprintf(real, sizeof real, "%s", src);
    static const char *const known[] = {"/var/run/docker.sock", "/run/docker.sock"};
    const char *socks[3] = {known[0], known[1], NULL};
    if (engine_socket != NULL)
        socks[2] = realpath(engine_socket, sock) != NULL ? sock : engine_socket;
    for (size_t i = 0; i < 3; i++) {
        if (socks[i] == NULL)
            continue;
        size_t n = strlen(real);
        if (strcmp(real, "/") == 0 || strcmp(real, socks[i]) == 0 ||
            (strncmp(socks[i], real, n) == 0 && socks[i][n] == '/'))
            return 1;
    }
    const char *base = strrchr(real, '/');
    base = base != NULL ? base + 1 : real;
    struct stat st;
    return strstr(base, "docker.sock") != NULL ||
           (stat(real, &st) == 0 && S_ISSOCK(st.st_mode) && strstr(base, "docker") != NULL);
}

static int parse_mount(const char *s, dk_mount_t *m)
{
    char *copy = strdup(s);
    if (copy == NULL)
        return -2;
    char *dst = strchr(copy, ':');
    char *opt = dst != NULL ? strchr(dst + 1, ':') : NULL;
    if (dst != NULL)
        *dst++ = '\0';
    if (opt != NULL)
        *opt++ = '\0';
    int ok = dst != NULL && copy[0] == '/' && dst[0] == '/' &&
             (opt == NULL || strcmp(opt, "ro") == 0 || strcmp(opt, "rw") == 0);
    if (ok) {
        m->src = strdup(copy);
        m->dst = strdup(dst);
        m->read_only = opt != NULL && strcmp(opt, "ro") == 0;
        if (m->src == NULL || m->dst == NULL) {
            free(m->src);
            free(m->dst);
            free(copy);
            return -2;
        }
    }
    free(copy);
    return ok ? 0 : -1;
}

static int parse_lists(json_t *o, const char *name, const char *engine_socket, dk_profile_t *p,
                       agentd_err_t *err)
{
    json_t *env = json_object_get(o, "env"), *mounts = json_object_get(o, "mounts"), *v;
    size_t i;
    p->env = calloc(json_array_size(env) + 1, sizeof *p->env);
    p->mounts = calloc(json_array_size(mounts) + 1, sizeof *p->mounts);
    if (p->env == NULL || p->mounts == NULL)
        return agentd_err_set(err, AGENTD_ENOMEM, "profile \"%s\": out of memory", name);
    json_array_foreach(env, i, v) {
        const char *s = json_string_value(v);
        if (s == NULL || !valid_env(s))
            return fail(err, name, "env", "\"%.200s\" is not K=V with a variable name K",
                        s ? s : "");
        if ((p->env[i] = strdup(s)) == NULL)
            return agentd_err_set(err, AGENTD_ENOMEM, "profile \"%s\": out of memory", name);
    }
    json_array_foreach(mounts, i, v) {
        const char *s = json_string_value(v);
        int rc = s != NULL ? parse_mount(s, &p->mounts[i]) : -1;
        if (rc == -2)
            return agentd_err_set(err, AGENTD_ENOMEM, "profile \"%s\": out of memory", name);
        if (rc < 0)
            return fail(err, name, "mounts",
                        "\"%.200s\" is not host_path:container_path[:ro|rw] with absolute "
                        "paths", s ? s : "");
        p->mount_count = i + 1;
        if (dk_mount_exposes_socket(p->mounts[i].src, engine_socket))
            return fail(err, name, "mounts",
                        "\"%s\" would put a docker socket in the sandbox (refused)", s);
    }
    return 0;
}

int dk_profile_parse(const char *json, size_t len, const char *name, const char *engine_socket,
                     dk_profile_t *p, agentd_err_t *err)
{
    memset(p, 0, sizeof *p);
    if (name == NULL)
        name = "(unnamed)";
    json_error_t jerr;
    json_t *o = json != NULL ? json_loadb(json, len, 0, &jerr) : NULL;
    if (!json_is_object(o)) {
        json_decref(o);
        return agentd_err_set(err, AGENTD_ECONFIG, "profile \"%s\": settings are not a JSON "
                                                   "object", name);
    }
    int oom = 0, rc = 0;
    p->image = dup_str(o, "image", &oom);
    p->template_path = dup_str(o, "template", &oom);
    p->network_mode = dup_str(o, "network_mode", &oom);
    p->user = dup_str(o, "user", &oom);
    p->seccomp_profile = dup_str(o, "seccomp_profile", &oom);
    json_t *v;
    p->memory_mb = (v = json_object_get(o, "memory_mb")) ? json_integer_value(v) : 4096;
    p->cpus = (v = json_object_get(o, "cpus")) ? json_number_value(v) : 2.0;
    p->pids_max = (v = json_object_get(o, "pids_max")) ? json_integer_value(v) : 512;
    p->timeout_minutes = (v = json_object_get(o, "timeout_minutes")) ? json_integer_value(v) : 60;
    p->tmp_mb = (v = json_object_get(o, "tmp_mb")) ? json_integer_value(v) : 512;
    v = json_object_get(o, "read_only_root");
    p->read_only_root = v == NULL || json_is_true(v);
    if (oom)
        rc = agentd_err_set(err, AGENTD_ENOMEM, "profile \"%s\": out of memory", name);
    else if ((p->image == NULL) == (p->template_path == NULL))
        rc = agentd_err_set(err, AGENTD_ECONFIG,
                            "profile \"%s\": image, template: give exactly one of them", name);
    else if (p->template_path != NULL && p->template_path[0] != '/')
        rc = fail(err, name, "template", "\"%s\" is not an absolute path", p->template_path);
    else if (!(p->cpus >= 0.01 && p->cpus <= 1024))
        rc = fail(err, name, "cpus", "must be between 0.01 and 1024");
    else if (p->memory_mb < 64 || p->memory_mb > 1048576)
        rc = fail(err, name, "memory_mb", "must be between 64 and 1048576");
    else if (p->pids_max < 16 || p->pids_max > 1048576)
        rc = fail(err, name, "pids_max", "must be between 16 and 1048576");
    else if (p->timeout_minutes < 1 || p->timeout_minutes > 240)
        rc = fail(err, name, "timeout_minutes", "must be between 1 and 240");
    else if (p->tmp_mb < 1 || p->tmp_mb > 1048576)
        rc = fail(err, name, "tmp_mb", "must be between 1 and 1048576");
    else if (p->network_mode == NULL && (p->network_mode = strdup("bridge")) == NULL)
        rc = agentd_err_set(err, AGENTD_ENOMEM, "profile \"%s\": out of memory", name);
    else if (!valid_network(p->network_mode))
        rc = fail(err, name, "network_mode",
                  "\"%s\" is not bridge, none, host or a network name", p->network_mode);
    else if (p->user != NULL && strpbrk(p->user, " \t\n\"\\") != NULL)
        rc = fail(err, name, "user", "\"%s\" is not a user name or uid[:gid]", p->user);
    else
        rc = parse_lists(o, name, engine_socket, p, err);
    json_decref(o);
    if (rc != 0)
        dk_profile_free(p);
    return rc;
}

void dk_profile_free(dk_profile_t *p)
{
    free(p->image);
    free(p->template_path);
    free(p->network_mode);
    free(p->user);
    free(p->seccomp_profile);
    for (size_t i = 0; p->env != NULL && p->env[i] != NULL; i++)
        free(p->env[i]);
    free(p->env);
    for (size_t i = 0; p->mounts != NULL && i < p->mount_count; i++) {
        free(p->mounts[i].src);
        free(p->mounts[i].dst);
    }
    free(p->mounts);
    memset(p, 0, sizeof *p);
}
