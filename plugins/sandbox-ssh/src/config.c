/*
 * The plugin's settings (plugins.settings.sandbox-ssh) and a profile's
 * (sandboxes.<name>). The host has checked the declared types and filled
 * the defaults; the `hosts` object is ours to check, and every error names
 * the field.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "ssh.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t ssh_strv_len(const char *const *v)
{
    size_t n = 0;
    while (v != NULL && v[n] != NULL)
        n++;
    return n;
}

void ssh_strv_free(char **v)
{
    for (size_t i = 0; v != NULL && v[i] != NULL; i++) {
        explicit_bzero(v[i], strlen(v[i]));
        free(v[i]);
    }
    free(v);
}

char **ssh_strv_dup(const char *const *v)
{
    size_t n = ssh_strv_len(v);
    char **out = calloc(n + 1, sizeof *out);
    for (size_t i = 0; out != NULL && i < n; i++)
        if ((out[i] = strdup(v[i])) == NULL) {
            ssh_strv_free(out);
            return NULL;
        }
    return out;
}

char *ssh_secret_ref_name(const char *value)
{
    size_t n = value != NULL ? strlen(value) : 0;
    if (n < 11 || strncmp(value, "${secret:", 9) != 0 || value[n - 1] != '}')
        return NULL;
    char *name = strndup(value + 9, n - 10);
    if (name == NULL)
        return NULL;
    for (const char *p = name; *p; p++)
        if (*p == '}' || *p == '{' || *p == '$') {
            free(name);
            return NULL;
        }
    return name;
}

/* A JSON array of strings (checked) as a NULL-terminated vector. */
static int string_list(json_t *a, char ***out, const char *field, agentd_err_t *err)
{
    if (a != NULL && !json_is_array(a))
        return agentd_err_set(err, AGENTD_EINVAL, "%s must be a list of strings", field);
    size_t n = json_array_size(a);
    char **v = calloc(n + 1, sizeof *v);
    if (v == NULL)
        return agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const char *s = json_string_value(json_array_get(a, i));
        if (s == NULL || (v[i] = strdup(s)) == NULL) {
            ssh_strv_free(v);
            return agentd_err_set(err, s == NULL ? AGENTD_EINVAL : AGENTD_ENOMEM,
                                  "%s[%zu] must be a string", field, i);
        }
    }
    *out = v;
    return 0;
}

static int safe_chars(const char *s, const char *extra)
{
    if (s == NULL || *s == '\0')
        return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || strchr(extra, *p) != NULL))
            return 0;
    return 1;
}

static int host_str(json_t *o, const char *name, const char *key, const char *extra,
                    char **out, agentd_err_t *err)
{
    json_t *v = json_object_get(o, key);
    const char *s = json_string_value(v);
    if (s == NULL || !safe_chars(s, extra))
        return agentd_err_set(err, AGENTD_EINVAL,
                              "plugins.settings." SSH_PLUGIN_ID ".hosts.%s.%s is required: a "
                              "non-empty string of letters, digits and \"%s\"",
                              name, key, extra);
    if ((*out = strdup(s)) == NULL)
        return agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    return 0;
}

static int host_int(json_t *o, const char *name, const char *key, json_int_t def,
                    json_int_t min, json_int_t max, json_int_t *out, agentd_err_t *err)
{
    json_t *v = json_object_get(o, key);
    if (v == NULL) {
        *out = def;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return agentd_err_set(err, AGENTD_EINVAL,
                              "plugins.settings." SSH_PLUGIN_ID ".hosts.%s.%s must be an "
                              "integer from %lld to %lld",
                              name, key, (long long)min, (long long)max);
    *out = json_integer_value(v);
    return 0;
}

static const char *const host_keys[] = {"address", "port", "user", "root", "labels",
                                        "capacity", "enabled", "key", NULL};

static int read_host(ssh_plugin_t *pl, const char *name, json_t *o, agentd_err_t *err)
{
    if (!json_is_object(o) || !safe_chars(name, "-_."))
        return agentd_err_set(err, AGENTD_EINVAL,
                              "plugins.settings." SSH_PLUGIN_ID ".hosts.%s must be an object "
                              "and its name letters, digits, '-', '_' or '.'",
                              name);
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        int known = 0;
        for (size_t i = 0; host_keys[i] != NULL; i++)
            known |= strcmp(k, host_keys[i]) == 0;
        if (!known)
            return agentd_err_set(err, AGENTD_EINVAL,
                                  "plugins.settings." SSH_PLUGIN_ID ".hosts.%s.%s: unknown "
                                  "field (known: address, port, user, root, labels, "
                                  "capacity, enabled, key)",
                                  name, k);
    }
    ssh_host_t *h = calloc(1, sizeof *h);
    ssh_host_t **hosts = realloc(pl->hosts, (pl->nhosts + 1) * sizeof *hosts);
    if (h == NULL || hosts == NULL) {
        free(h);
        if (hosts != NULL)
            pl->hosts = hosts;
        return agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    }
    pl->hosts = hosts;
    pl->hosts[pl->nhosts++] = h;
    h->pl = pl;
    h->index = (unsigned)pl->nhosts - 1;
    json_int_t port, cap;
    char field[160];
    snprintf(field, sizeof field, "plugins.settings." SSH_PLUGIN_ID ".hosts.%s.labels", name);
    int rc;
    if ((h->name = strdup(name)) == NULL)
        return agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    if ((rc = host_str(o, name, "address", "-.:_", &h->address, err)) != 0 ||
        (rc = host_str(o, name, "user", "-._", &h->user, err)) != 0 ||
        (rc = host_str(o, name, "root", "-._/", &h->root, err)) != 0 ||
        (rc = host_int(o, name, "port", 22, 1, 65535, &port, err)) != 0 ||
        (rc = host_int(o, name, "capacity", 4, 1, 10000, &cap, err)) != 0 ||
        (rc = string_list(json_object_get(o, "labels"), &h->labels, field, err)) != 0)
        return rc;
    if (h->root[0] != '/' || strstr(h->root, "..") != NULL || strcmp(h->root, "/") == 0)
        return agentd_err_set(err, AGENTD_EINVAL,
                              "plugins.settings." SSH_PLUGIN_ID ".hosts.%s.root must be an "
                              "absolute directory other than / without \"..\"",
                              name);
    json_t *en = json_object_get(o, "enabled");
    if (en != NULL && !json_is_boolean(en))
        return agentd_err_set(err, AGENTD_EINVAL,
                              "plugins.settings." SSH_PLUGIN_ID ".hosts.%s.enabled must be "
                              "true or false",
                              name);
    h->enabled = en == NULL || json_is_true(en);
    h->port = (int)port;
    h->capacity = (unsigned)cap;
    json_t *key = json_object_get(o, "key");
    if (key != NULL && (h->key_secret = ssh_secret_ref_name(json_string_value(key))) == NULL)
        return agentd_err_set(err, AGENTD_EINVAL,
                              "plugins.settings." SSH_PLUGIN_ID ".hosts.%s.key must be a "
                              "secret reference \"${secret:NAME}\" (the value is not shown)",
                              name);
    char cm[64];
    snprintf(cm, sizeof cm, "/cm-%u", h->index);
    if ((h->cm_path = malloc(strlen(pl->state_dir) + sizeof cm)) == NULL)
        return agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    strcpy(h->cm_path, pl->state_dir);
    strcat(h->cm_path, cm);
    return 0;
}

static json_int_t int_or(json_t *o, const char *key, json_int_t def)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? json_integer_value(v) : def;
}

static int read_keys(ssh_plugin_t *pl, json_t *o, agentd_err_t *err)
{
    const char *key = json_string_value(json_object_get(o, "key"));
    const char *file = json_string_value(json_object_get(o, "key_file"));
    if (key != NULL && (pl->key_secret = ssh_secret_ref_name(key)) == NULL)
        return agentd_err_set(err, AGENTD_EINVAL,
                              "plugins.settings." SSH_PLUGIN_ID ".key must be a secret "
                              "reference \"${secret:NAME}\"");
    if (file != NULL && file[0] != '/')
        return agentd_err_set(err, AGENTD_EINVAL,
                              "plugins.settings." SSH_PLUGIN_ID ".key_file must be an "
                              "absolute path");
    if (file != NULL && (pl->key_file = strdup(file)) == NULL)
        return agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    if (key != NULL && file != NULL)
        return agentd_err_set(err, AGENTD_EINVAL,
                              "plugins.settings." SSH_PLUGIN_ID ": set key or key_file, not "
                              "both");
    return 0;
}

int ssh_config_read(ssh_plugin_t *pl, const char *json, size_t len, agentd_err_t *err)
{
    json_error_t jerr;
    json_t *o = json != NULL && len > 0 ? json_loadb(json, len, 0, &jerr) : json_object();
    if (!json_is_object(o)) {
        json_decref(o);
        return agentd_err_set(err, AGENTD_EINVAL,
                              "plugins.settings." SSH_PLUGIN_ID " must be an object");
    }
    pl->tofu = json_is_true(json_object_get(o, "trust_on_first_use"));
    pl->repo_cache = !json_is_false(json_object_get(o, "repo_cache"));
    pl->connect_timeout_s = (unsigned)int_or(o, "connect_timeout_s", 10);
    pl->retry_max = (unsigned)int_or(o, "retry_max", 5);
    pl->health_interval_s = (unsigned)int_or(o, "health_interval_s", 30);
    pl->control_persist_s = (unsigned)int_or(o, "control_persist_s", 300);
    pl->setup_timeout_s = (unsigned)int_or(o, "setup_timeout_s", 600);
    pl->backoff_base_ms = (uint64_t)int_or(o, "retry_backoff_ms", 200);
    pl->backoff_max_ms = (uint64_t)int_or(o, "retry_backoff_max_ms", 30000);
    const char *kh = json_string_value(json_object_get(o, "known_hosts"));
    int rc = read_keys(pl, o, err);
    if (rc == 0 && kh != NULL && kh[0] != '/')
        rc = agentd_err_set(err, AGENTD_EINVAL,
                            "plugins.settings." SSH_PLUGIN_ID ".known_hosts must be an "
                            "absolute path");
    if (rc == 0 && kh == NULL && !pl->tofu && json_object_size(json_object_get(o, "hosts")) > 0)
        rc = agentd_err_set(err, AGENTD_EINVAL,
                            "plugins.settings." SSH_PLUGIN_ID ".known_hosts is required: host "
                            "keys are verified against it (or set trust_on_first_use)");
    if (rc == 0) {
        if (kh != NULL)
            pl->known_hosts = strdup(kh);
        else if (asprintf(&pl->known_hosts, "%s/known_hosts", pl->state_dir) < 0)
            pl->known_hosts = NULL;
        if (pl->known_hosts == NULL)
            rc = agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    }
    json_t *hosts = json_object_get(o, "hosts");
    const char *name;
    json_t *h;
    if (rc == 0 && hosts != NULL && !json_is_object(hosts))
        rc = agentd_err_set(err, AGENTD_EINVAL,
                            "plugins.settings." SSH_PLUGIN_ID ".hosts must be an object");
    if (rc == 0 && json_object_size(hosts) > 64)
        rc = agentd_err_set(err, AGENTD_EINVAL,
                            "plugins.settings." SSH_PLUGIN_ID ".hosts: at most 64 hosts");
    json_object_foreach(hosts, name, h) {
        if (rc == 0)
            rc = read_host(pl, name, h, err);
    }
    for (size_t i = 0; rc == 0 && i < pl->nhosts; i++)
        if (pl->hosts[i]->key_secret == NULL && pl->key_secret == NULL && pl->key_file == NULL)
            rc = agentd_err_set(err, AGENTD_EINVAL,
                                "plugins.settings." SSH_PLUGIN_ID ".hosts.%s has no key: set "
                                "key (\"${secret:NAME}\") or key_file, or the host's own key",
                                pl->hosts[i]->name);
    json_decref(o);
    return rc;
}

void ssh_hosts_free(ssh_plugin_t *pl)
{
    for (size_t i = 0; i < pl->nhosts; i++) {
        ssh_host_t *h = pl->hosts[i];
        free(h->name);
        free(h->address);
        free(h->user);
        free(h->root);
        ssh_strv_free(h->labels);
        free(h->key_secret);
        free(h->cm_path);
        free(h);
    }
    free(pl->hosts);
    pl->hosts = NULL;
    pl->nhosts = 0;
}

ssh_host_t *ssh_host_find(ssh_plugin_t *pl, const char *name)
{
    for (size_t i = 0; i < pl->nhosts; i++)
        if (strcmp(pl->hosts[i]->name, name) == 0)
            return pl->hosts[i];
    return NULL;
}

int ssh_profile_read(ssh_profile_t *p, const char *json, size_t len, agentd_err_t *err)
{
    memset(p, 0, sizeof *p);
    json_t *o = json != NULL && len > 0 ? json_loadb(json, len, 0, NULL) : json_object();
    if (!json_is_object(o)) {
        json_decref(o);
        return agentd_err_set(err, AGENTD_EINVAL, "the profile's settings are not an object");
    }
    int rc = string_list(json_object_get(o, "hosts"), &p->hosts, "hosts", err);
    if (rc == 0)
        rc = string_list(json_object_get(o, "labels"), &p->labels, "labels", err);
    if (rc == 0)
        rc = string_list(json_object_get(o, "env"), &p->env, "env", err);
    for (size_t i = 0; rc == 0 && p->env[i] != NULL; i++)
        if (strchr(p->env[i], '=') == NULL || p->env[i][0] == '=')
            rc = agentd_err_set(err, AGENTD_EINVAL, "env[%zu] must be \"NAME=VALUE\"", i);
    p->timeout_minutes = (unsigned)int_or(o, "timeout_minutes", 60);
    const char *repo = json_string_value(json_object_get(o, "repository"));
    if (rc == 0 && repo != NULL && repo[0] != '\0' && (p->repository = strdup(repo)) == NULL)
        rc = agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    json_decref(o);
    if (rc != 0)
        ssh_profile_clear(p);
    return rc;
}

void ssh_profile_clear(ssh_profile_t *p)
{
    ssh_strv_free(p->hosts);
    ssh_strv_free(p->labels);
    ssh_strv_free(p->env);
    free(p->repository);
    memset(p, 0, sizeof *p);
}
