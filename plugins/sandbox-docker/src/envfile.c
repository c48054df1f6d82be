/* A sandbox's profile environment, kept in the plugin's state directory
 * (<state>/env/<sandbox id>.json, mode 0600) from create to destroy, so that
 * a sandbox adopted after a restart gives its commands the same environment
 * as one this agentd created. The values are kept as the profile wrote them:
 * `${secret:NAME}` references stay references and are resolved at each exec.
 * Loop thread; the files are small. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "dk.h"

static int env_path(dk_plugin_t *pl, const char *id, char *buf, size_t n, int mkdir_too)
{
    const char *dir = pl->api->state_dir(pl->host);
    if (dir == NULL || !dk_valid_id(id))
        return -1;
    if (mkdir_too) {
        snprintf(buf, n, "%s/env", dir);
        if (mkdir(buf, 0700) != 0 && errno != EEXIST)
            return -1;
    }
    return snprintf(buf, n, "%s/env/%s.json", dir, id) < (int)n ? 0 : -1;
}

int dk_envfile_save(dk_plugin_t *pl, const char *id, char *const *env)
{
    char path[PATH_MAX], tmp[PATH_MAX + 8];
    if (env_path(pl, id, path, sizeof path, 1) != 0)
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

char **dk_envfile_load(dk_plugin_t *pl, const char *id)
{
    char path[PATH_MAX];
    json_t *arr = env_path(pl, id, path, sizeof path, 0) == 0 ? json_load_file(path, 0, NULL)
                                                              : NULL;
    char **env = dk_strv_dup(NULL);
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) {
        const char *one[] = {json_string_value(v), NULL};
        if (env != NULL && one[0] != NULL)
            env = dk_strv_concat(env, one);
    }
    json_decref(arr);
    return env;
}

void dk_envfile_remove(dk_plugin_t *pl, const char *id)
{
    char path[PATH_MAX];
    if (env_path(pl, id, path, sizeof path, 0) == 0)
        unlink(path);
}
