/* A sandbox's environment kept for adopt (plugin_envfile.h). */
#define _GNU_SOURCE
#include "plugin_envfile.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include <agentd/abi.h>

static int env_path(const char *dir, const char *id, char *buf, size_t n, int mkdir_too)
{
    if (dir == NULL || id == NULL || id[0] == '\0' || id[0] == '.' || strchr(id, '/') != NULL)
        return -1;
    if (mkdir_too) {
        snprintf(buf, n, "%s/env", dir);
        if (mkdir(buf, 0700) != 0 && errno != EEXIST)
            return -1;
    }
    return snprintf(buf, n, "%s/env/%s.json", dir, id) < (int)n ? 0 : -1;
}

int plugin_envfile_save(const char *state_dir, const char *id, const char *const *env)
{
    char path[PATH_MAX], tmp[PATH_MAX + 8];
    if (env_path(state_dir, id, path, sizeof path, 1) != 0)
        return AGENTD_EIO;
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && env != NULL && env[i] != NULL; i++)
        if (json_array_append_new(arr, json_string(env[i])) != 0) {
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

char **plugin_envfile_load(const char *state_dir, const char *id)
{
    char path[PATH_MAX];
    json_t *arr = env_path(state_dir, id, path, sizeof path, 0) == 0
                      ? json_load_file(path, 0, NULL)
                      : NULL;
    size_t n = json_array_size(arr), k = 0, i;
    char **env = calloc(n + 1, sizeof *env);
    json_t *v;
    json_array_foreach(arr, i, v) {
        if (env == NULL || !json_is_string(v))
            continue;
        if ((env[k] = strdup(json_string_value(v))) != NULL) {
            k++;
            continue;
        }
        while (k > 0)
            free(env[--k]);
        free(env);
        env = NULL;
    }
    json_decref(arr);
    return env;
}

void plugin_envfile_remove(const char *state_dir, const char *id)
{
    char path[PATH_MAX];
    if (env_path(state_dir, id, path, sizeof path, 0) == 0)
        unlink(path);
}
