/* Sandbox state directories (state.h). */
#define _GNU_SOURCE
#include "state.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int sbx_state_create(const char *state_dir, agentd_sandbox_t *sb, agentd_err_t *err)
{
    if (asprintf(&sb->dir, "%s/sandboxes/%s", state_dir, sb->id) < 0) {
        sb->dir = NULL;
        return agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    }
    char parent[4096];
    snprintf(parent, sizeof parent, "%s/sandboxes", state_dir);
    if ((mkdir(parent, 0700) < 0 && errno != EEXIST) || mkdir(sb->dir, 0700) < 0) {
        int e = errno;
        free(sb->dir);
        sb->dir = NULL; /* not ours to remove (it may be another sandbox's) */
        return agentd_err_set(err, e == EEXIST ? AGENTD_EEXIST : AGENTD_EIO,
                              "state directory %s/%s: %s", parent, sb->id, strerror(e));
    }
    json_t *meta = json_pack("{s:s, s:s?, s:I}", "sandbox_id", sb->id, "session_id",
                             sb->session_id, "created_ms", (json_int_t)sb->created_ms);
    char path[4200];
    snprintf(path, sizeof path, "%s/meta.json", sb->dir);
    int rc = meta != NULL ? json_dump_file(meta, path, JSON_COMPACT) : -1;
    json_decref(meta);
    if (rc < 0)
        return agentd_err_set(err, AGENTD_EIO, "state: cannot write %s", path);
    return 0;
}

void sbx_state_remove(const char *dir)
{
    static const char *const files[] = {"meta.json", "proxy.sock"};
    char path[4200];
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
}

int sbx_state_read(const char *dir, sbx_meta_t *out)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/meta.json", dir);
    memset(out, 0, sizeof *out);
    json_t *m = json_load_file(path, 0, NULL);
    const char *id = json_string_value(json_object_get(m, "sandbox_id"));
    const char *session = json_string_value(json_object_get(m, "session_id"));
    int rc = id != NULL ? 0 : -1;
    if (id != NULL)
        snprintf(out->id, sizeof out->id, "%s", id);
    if (session != NULL) {
        snprintf(out->session_id, sizeof out->session_id, "%s", session);
        out->has_session = 1;
    }
    json_int_t ms = json_integer_value(json_object_get(m, "created_ms"));
    out->created_ms = ms > 0 ? (uint64_t)ms : 0;
    json_decref(m);
    return rc;
}

char *sbx_refusal_json(const char *sandbox_id, const char *host, unsigned port,
                       const char *reason)
{
    json_t *o = json_pack("{s:s, s:s, s:i, s:s}", "sandbox_id", sandbox_id, "host", host,
                          "port", (int)port, "reason", reason);
    char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return text;
}
