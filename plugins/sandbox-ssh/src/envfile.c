/* A sandbox's environment as the profile wrote it (`${secret:NAME}`
 * references unresolved), kept in the plugin's state directory
 * (<state>/env/<sandbox id>.json, mode 0600) from create to removal, so that
 * a sandbox adopted after a restart gives its commands the same environment
 * (its secrets read again, audited) as one this agentd created. Loop
 * thread; the files are small. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "ssh.h"

static int env_path(ssh_plugin_t *pl, const char *id, char *buf, size_t n, int mkdir_too)
{
    const char *dir = pl->api->state_dir(pl->host);
    if (dir == NULL || id == NULL || strchr(id, '/') != NULL || id[0] == '.')
        return -1;
    if (mkdir_too) {
        snprintf(buf, n, "%s/env", dir);
        if (mkdir(buf, 0700) != 0 && errno != EEXIST)
            return -1;
    }
    return snprintf(buf, n, "%s/env/%s.json", dir, id) < (int)n ? 0 : -1;
}

int ssh_envfile_save(ssh_plugin_t *pl, const char *id, const char *const *src)
{
    char path[PATH_MAX], tmp[PATH_MAX + 8];
    if (env_path(pl, id, path, sizeof path, 1) != 0)
        return AGENTD_EIO;
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && src != NULL && src[i] != NULL; i++)
        if (json_array_append_new(arr, json_string(src[i])) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    if (arr == NULL)
        return AGENTD_ENOMEM;
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int rc = json_dump_file(arr, tmp, JSON_COMPACT) == 0 && chmod(tmp, 0600) == 0 &&
                     rename(tmp, path) == 0
                 ? 0
                 : AGENTD_EIO;
    if (rc != 0)
        unlink(tmp);
    json_decref(arr);
    return rc;
}

char **ssh_envfile_load(ssh_plugin_t *pl, const char *id)
{
    char path[PATH_MAX];
    json_t *arr = env_path(pl, id, path, sizeof path, 0) == 0 ? json_load_file(path, 0, NULL)
                                                              : NULL;
    size_t n = json_array_size(arr), k = 0, i;
    char **env = calloc(n + 1, sizeof *env);
    json_t *v;
    json_array_foreach(arr, i, v) {
        if (env == NULL || !json_is_string(v))
            continue;
        if ((env[k] = strdup(json_string_value(v))) == NULL) {
            ssh_strv_free(env);
            env = NULL;
        } else {
            k++;
        }
    }
    json_decref(arr);
    return env;
}

void ssh_envfile_remove(ssh_plugin_t *pl, const char *id)
{
    char path[PATH_MAX];
    if (env_path(pl, id, path, sizeof path, 0) == 0)
        unlink(path);
}
