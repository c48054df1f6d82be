/*
 * Making a sandbox: the image (or the template's image, built once per
 * content hash), the user, the container with every restriction, its start,
 * and the workspace's pre-execution script. All engine work runs in one
 * operation on a worker thread; any failure removes what was made and
 * names the profile and field at fault.
 */
#define _GNU_SOURCE
#include "dk.h"
#include "plugin_envfile.h"

#include <errno.h>
#include <ftw.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PRE_EXEC_SCRIPT ".agentd/pre-execution.sh"
/* The container's init keeps it alive; the engine's own init (tini) reaps
 * orphans. Signals sent to "every process" inside do not end it. */
static const char keeper[] = "trap '' INT TERM HUP; while :; do sleep 86400; done";

typedef struct create_op {
    dk_op_t op;
    agentd_sandbox_t *sb;
    dk_profile_t prof;
    agentd_sandbox_create_cb cb;
    void *ud;
    uint64_t memory_bytes;
    uint32_t pids_max, cpu_millicores;
    char **exec_env;           /* resolved, for the pre-execution script */
    char image[300];
    char template_hash[65];
    int built;
    char *container_id;
    char *pre_out;             /* muxed output of the pre-execution script */
    size_t pre_len;
    int pre_ran;
    int64_t pre_exit;
} create_op_t;

/* ---- worker steps ------------------------------------------------------------ */

static int fail_field(dk_op_t *op, int rc, const char *profile, const char *field,
                      const char *what, const char *msg)
{
    op->rc = rc;
    snprintf(op->msg, sizeof op->msg, "profile \"%.60s\": %s: %.100s: %.300s", profile, field, what, msg);
    return rc;
}

static int resolve_image(create_op_t *c, char *image_user, size_t user_len)
{
    dk_op_t *op = &c->op;
    dk_engine_t *e = &op->pl->engine;
    const char *profile = c->sb->profile_name;
    agentd_err_t err = {{0}};
    if (c->prof.template_path != NULL) {
        int rc = dk_template_image(e, profile, c->prof.template_path, c->image, sizeof c->image,
                                   &c->built, &err);
        if (rc != 0) {
            op->rc = rc;
            snprintf(op->msg, sizeof op->msg, "%s", err.msg);
            return rc;
        }
        const char *colon = strrchr(c->image, ':');
        snprintf(c->template_hash, sizeof c->template_hash, "%s", colon ? colon + 1 : "");
    } else {
        snprintf(c->image, sizeof c->image, "%s", c->prof.image);
    }
    char enc[700], path[800];
    dk_urlencode(c->image, enc, sizeof enc);
    snprintf(path, sizeof path, "/images/%s/json", enc);
    dk_resp_t r;
    int rc = dk_request_json(e, "GET", path, NULL, &r);
    if (rc == AGENTD_ENOENT)
        fail_field(op, rc, profile, c->prof.template_path ? "template" : "image", c->image,
                   "no such image on the engine (agentd never pulls: load or build it there)");
    else if (rc != 0 && r.status == 0) { /* the engine, not the image */
        op->rc = rc;
        snprintf(op->msg, sizeof op->msg, "%s", r.msg);
    } else if (rc != 0) {
        fail_field(op, rc, profile, "image", c->image, r.msg);
    }
    json_t *o = rc == 0 ? json_loads(r.body ? r.body : "", 0, NULL) : NULL;
    const char *u = json_string_value(json_object_get(json_object_get(o, "Config"), "User"));
    snprintf(image_user, user_len, "%s", u != NULL ? u : "");
    json_decref(o);
    dk_resp_free(&r);
    return rc;
}

static int is_root_user(const char *u)
{
    return u[0] == '\0' || strcmp(u, "root") == 0 || strcmp(u, "0") == 0 ||
           strncmp(u, "0:", 2) == 0 || strncmp(u, "root:", 5) == 0;
}

/* A non-root user where the image allows: the profile's, else the image's
 * unless it is root, else 1000:1000. */
static char *pick_user(const create_op_t *c, const char *image_user)
{
    if (c->prof.user != NULL)
        return strdup(c->prof.user);
    return strdup(!is_root_user(image_user) ? image_user : "1000:1000");
}

/* ---- the workspace goes to the sandbox's user -------------------------------- */

/* nftw has no user pointer; the ids travel in a thread-local pair. */
static _Thread_local uid_t chown_uid;
static _Thread_local gid_t chown_gid;

static int chown_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    (void)flag, (void)f;
    if (st->st_uid != chown_uid || st->st_gid != chown_gid)
        lchown(path, chown_uid, chown_gid);
    return 0;
}

/* When agentd runs as root and the user is numeric, the bind-mounted
 * workspace is handed to that user so the agent can write it. */
static void hand_over_workspace(const char *ws, const char *user)
{
    unsigned uid, gid;
    int n = sscanf(user, "%u:%u", &uid, &gid);
    char tail;
    if (geteuid() != 0 || n < 1 || (n == 1 && sscanf(user, "%u%c", &uid, &tail) != 1))
        return;
    if (n == 1)
        gid = uid;
    struct stat st;
    if (stat(ws, &st) == 0 && st.st_uid == uid && st.st_gid == gid)
        return;
    chown_uid = uid;
    chown_gid = gid;
    nftw(ws, chown_one, 32, FTW_PHYS | FTW_MOUNT);
}

/* ---- the container ------------------------------------------------------------- */

static int read_file(const char *path, char **out)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return -1;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t n;
    while (buf != NULL && (n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (len + 1 == cap) {
            char *b = cap < (8u << 20) ? realloc(buf, cap *= 2) : NULL;
            if (b == NULL) {
                free(buf);
                buf = NULL;
            }
            buf = b;
        }
    }
    fclose(f);
    if (buf == NULL)
        return -1;
    buf[len] = '\0';
    *out = buf;
    return 0;
}

static json_t *labels(const create_op_t *c)
{
    const agentd_sandbox_t *sb = c->sb;
    char num[32], created[32];
    snprintf(num, sizeof num, "%llu", (unsigned long long)sb->deadline_ms);
    snprintf(created, sizeof created, "%llu", (unsigned long long)sb->created_ms);
    json_t *l = json_object();
    json_object_set_new(l, DK_LABEL "owner", json_string(sb->pl->owner));
    json_object_set_new(l, DK_LABEL "sandbox", json_string(sb->id));
    if (sb->session_id != NULL)
        json_object_set_new(l, DK_LABEL "session", json_string(sb->session_id));
    json_object_set_new(l, DK_LABEL "profile", json_string(sb->profile_name));
    if (sb->workspace != NULL)
        json_object_set_new(l, DK_LABEL "workspace", json_string(sb->workspace));
    json_object_set_new(l, DK_LABEL "user", json_string(sb->user));
    if (sb->volume != NULL)
        json_object_set_new(l, DK_LABEL "volume", json_string(sb->volume));
    json_object_set_new(l, DK_LABEL "deadline_ms", json_string(num));
    json_object_set_new(l, DK_LABEL "created_ms", json_string(created));
    return l;
}

static json_t *host_config(const create_op_t *c, const char *seccomp)
{
    const dk_profile_t *p = &c->prof;
    json_t *binds = json_array(), *secopt = json_array(), *tmpfs = json_object();
    char s[PATH_MAX * 2 + 8];
    if (c->sb->workspace != NULL && c->sb->volume == NULL) {
        snprintf(s, sizeof s, "%s:%s:rw", c->sb->workspace, c->sb->workspace);
        json_array_append_new(binds, json_string(s));
    }
    for (size_t i = 0; i < p->mount_count; i++) {
        snprintf(s, sizeof s, "%s:%s:%s", p->mounts[i].src, p->mounts[i].dst,
                 p->mounts[i].read_only ? "ro" : "rw");
        json_array_append_new(binds, json_string(s));
    }
    json_array_append_new(secopt, json_string("no-new-privileges"));
    if (seccomp != NULL) {
        char *opt = NULL;
        if (asprintf(&opt, "seccomp=%s", seccomp) > 0)
            json_array_append_new(secopt, json_string(opt));
        free(opt);
    }
    snprintf(s, sizeof s, "rw,nosuid,nodev,mode=1777,size=%lldm", (long long)p->tmp_mb);
    json_object_set_new(tmpfs, "/tmp", json_string(s));
    json_t *hc = json_pack("{s:o,s:I,s:I,s:I,s:I,s:s,s:[s],s:o,s:b,s:o,s:b,s:b,s:s,s:{s:s}}",
                     "Binds", binds, "Memory", (json_int_t)c->memory_bytes,
                     "MemorySwap", (json_int_t)c->memory_bytes,
                     "NanoCpus", (json_int_t)c->cpu_millicores * 1000000,
                     "PidsLimit", (json_int_t)c->pids_max, "NetworkMode", p->network_mode,
                     "CapDrop", "ALL", "SecurityOpt", secopt, "ReadonlyRootfs",
                     p->read_only_root, "Tmpfs", tmpfs, "Init", 1, "Privileged", 0,
                     "IpcMode", "private", "LogConfig", "Type", "none");
    if (hc != NULL && c->sb->volume != NULL && c->sb->workspace != NULL)
        json_object_set_new(hc, "Mounts",
                            json_pack("[{s:s,s:s,s:s}]", "Type", "volume", "Source",
                                      c->sb->volume, "Target", c->sb->workspace));
    return hc;
}

static int make_container(create_op_t *c)
{
    dk_op_t *op = &c->op;
    dk_engine_t *e = &op->pl->engine;
    const char *profile = c->sb->profile_name;
    char *seccomp = NULL;
    if (c->prof.seccomp_profile != NULL) {
        json_t *check = NULL;
        if (read_file(c->prof.seccomp_profile, &seccomp) < 0 ||
            (check = json_loads(seccomp, 0, NULL)) == NULL) {
            free(seccomp);
            return fail_field(op, AGENTD_ECONFIG, profile, "seccomp_profile",
                              c->prof.seccomp_profile, "not a readable JSON file");
        }
        json_decref(check);
    }
    json_t *hc = host_config(c, seccomp);
    free(seccomp);
    json_t *body = json_pack("{s:s,s:[s],s:[s,s],s:s,s:o,s:b,s:b,s:o}", "Image", c->image,
                             "Entrypoint", "/bin/sh", "Cmd", "-c", keeper, "User", c->sb->user,
                             "Labels", labels(c), "AttachStdin", 0, "Tty", 0, "HostConfig", hc);
    if (body != NULL && c->sb->workspace != NULL)
        json_object_set_new(body, "WorkingDir", json_string(c->sb->workspace));
    char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (text == NULL) {
        op->rc = AGENTD_ENOMEM;
        snprintf(op->msg, sizeof op->msg, "out of memory");
        return op->rc;
    }
    char path[300];
    snprintf(path, sizeof path, "/containers/create?name=%s", c->sb->name);
    dk_resp_t r;
    int rc = dk_request_json(e, "POST", path, text, &r);
    free(text);
    json_t *o = rc == 0 ? json_loads(r.body ? r.body : "", 0, NULL) : NULL;
    const char *id = json_string_value(json_object_get(o, "Id"));
    if (rc == 0 && id != NULL) {
        c->container_id = strdup(id);
    } else if (rc == AGENTD_ESTATE) {
        op->rc = rc;
        snprintf(op->msg, sizeof op->msg, "a container named %.100s already exists: %.300s",
                 c->sb->name, r.msg);
    } else if (rc == AGENTD_EUNAVAIL || (rc != 0 && r.status == 0)) {
        op->rc = rc;
        snprintf(op->msg, sizeof op->msg, "%s", r.msg);
    } else {
        const char *field = dk_field_of(r.msg);
        fail_field(op, rc != 0 ? rc : AGENTD_EPROTO, profile, field ? field : "settings",
                   "the engine refused the container", rc != 0 ? r.msg : "no Id in its answer");
    }
    json_decref(o);
    dk_resp_free(&r);
    return op->rc;
}

static int start_container(create_op_t *c)
{
    dk_op_t *op = &c->op;
    char path[300];
    snprintf(path, sizeof path, "/containers/%s/start", c->sb->name);
    dk_resp_t r;
    int rc = dk_request_json(&op->pl->engine, "POST", path, NULL, &r);
    if (rc == AGENTD_EUNAVAIL || (rc != 0 && r.status == 0)) {
        op->rc = rc;
        snprintf(op->msg, sizeof op->msg, "%s", r.msg);
    } else if (rc != 0) {
        const char *field = dk_field_of(r.msg);
        fail_field(op, rc, c->sb->profile_name, field ? field : "image",
                   "the container did not start", r.msg);
    }
    dk_resp_free(&r);
    return rc;
}

/* Volume mode: the workspace's volume, made before the container. */
static int make_volume(create_op_t *c)
{
    dk_op_t *op = &c->op;
    json_t *body = json_pack("{s:s,s:{s:s,s:s}}", "Name", c->sb->volume, "Labels",
                             DK_LABEL "owner", op->pl->owner, DK_LABEL "sandbox", c->sb->id);
    char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    dk_resp_t r = {0};
    int rc = text != NULL ? dk_request_json(&op->pl->engine, "POST", "/volumes/create", text, &r)
                          : AGENTD_ENOMEM;
    free(text);
    if (rc != 0) {
        op->rc = rc;
        snprintf(op->msg, sizeof op->msg, "workspace volume %s: %.400s", c->sb->volume, r.msg);
    }
    dk_resp_free(&r);
    return rc;
}

/* Volume mode: the workspace's files into the volume, owned by the
 * sandbox's user (numeric), through the archive endpoint (before start). */
static int copy_in(create_op_t *c)
{
    dk_op_t *op = &c->op;
    const char *ws = c->sb->workspace;
    const char *base;
    char parent[PATH_MAX], path[400];
    dk_split_path(ws, parent, sizeof parent, &base);
    char *tar = NULL;
    size_t len = 0;
    agentd_err_t err = {{0}};
    int rc = dk_tar_as(ws, base, c->sb->user, &tar, &len, &err);
    if (rc != 0) {
        op->rc = rc;
        snprintf(op->msg, sizeof op->msg, "copy in: %.400s", err.msg);
        return rc;
    }
    /* The archive goes to the workspace's parent, so the volume's root gets
     * the user as owner too; the engine refuses that on a read-only root, so
     * a never-started copier container with the same volume receives it. */
    char copier[200];
    snprintf(copier, sizeof copier, "%s-copy", c->sb->name);
    json_t *body = json_pack("{s:s,s:[s],s:{s:s},s:{s:[{s:s,s:s,s:s}],s:s}}", "Image", c->image,
                             "Entrypoint", "/bin/true", "Labels", DK_LABEL "owner",
                             op->pl->owner, "HostConfig", "Mounts", "Type", "volume", "Source",
                             c->sb->volume, "Target", ws, "NetworkMode", "none");
    char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    dk_resp_t r = {0};
    snprintf(path, sizeof path, "/containers/create?name=%s", copier);
    rc = text != NULL ? dk_request_json(&op->pl->engine, "POST", path, text, &r) : AGENTD_ENOMEM;
    free(text);
    if (rc == 0) {
        dk_resp_free(&r);
        rc = dk_put_archive(&op->pl->engine, copier, parent, tar, len, &r);
    }
    free(tar);
    if (rc != 0) {
        op->rc = rc;
        snprintf(op->msg, sizeof op->msg, "copy in of %s: %.400s", ws, r.msg);
    }
    dk_resp_free(&r);
    snprintf(path, sizeof path, "/containers/%s?force=1", copier);
    dk_request_json(&op->pl->engine, "DELETE", path, NULL, &r);
    dk_resp_free(&r);
    return rc;
}

static void remove_volume(create_op_t *c)
{
    if (c->sb->volume == NULL)
        return;
    char path[300];
    snprintf(path, sizeof path, "/volumes/%s", c->sb->volume);
    dk_resp_t r;
    dk_request_json(&c->op.pl->engine, "DELETE", path, NULL, &r);
    dk_resp_free(&r);
}

static void remove_container(create_op_t *c)
{
    char path[300];
    snprintf(path, sizeof path, "/containers/%s?force=1&v=1", c->sb->name);
    dk_resp_t r;
    dk_request_json(&c->op.pl->engine, "DELETE", path, NULL, &r);
    dk_resp_free(&r);
}

/* ---- the pre-execution script ------------------------------------------------------ */

static int pre_execution(create_op_t *c)
{
    dk_op_t *op = &c->op;
    dk_engine_t *e = &op->pl->engine;
    char script[PATH_MAX];
    struct stat st;
    if (c->sb->workspace == NULL)
        return 0;
    snprintf(script, sizeof script, "%s/" PRE_EXEC_SCRIPT, c->sb->workspace);
    if (lstat(script, &st) != 0 || !S_ISREG(st.st_mode))
        return 0;
    c->pre_ran = 1;
    json_t *env = json_array();
    for (size_t i = 0; c->exec_env != NULL && c->exec_env[i] != NULL; i++)
        json_array_append_new(env, json_string(c->exec_env[i]));
    json_t *body = json_pack("{s:b,s:b,s:b,s:[s,s],s:s,s:s,s:o}", "AttachStdin", 0,
                             "AttachStdout", 1, "AttachStderr", 1, "Cmd", "/bin/sh", script,
                             "User", c->sb->user, "WorkingDir", c->sb->workspace, "Env", env);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    char path[300];
    snprintf(path, sizeof path, "/containers/%s/exec", c->sb->name);
    dk_resp_t r = {0};
    int rc = text != NULL ? dk_request_json(e, "POST", path, text, &r) : AGENTD_ENOMEM;
    if (text != NULL)
        explicit_bzero(text, strlen(text));
    free(text);
    json_t *o = rc == 0 ? json_loads(r.body ? r.body : "", 0, NULL) : NULL;
    char id[100] = "";
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(o, "Id")) ? json_string_value(json_object_get(o, "Id")) : "");
    json_decref(o);
    if (rc == 0) {
        snprintf(path, sizeof path, "/exec/%s/start", id);
        dk_resp_free(&r);
        static const char start[] = "{\"Detach\":false,\"Tty\":false}";
        /* The output is the answer's body, multiplexed; the deadline is the
         * sandbox's own. */
        rc = dk_request(e, "POST", path, "application/json", start, sizeof start - 1,
                        (long)c->sb->timeout_s, &r);
    }
    if (rc == 0) {
        c->pre_out = r.body;
        c->pre_len = r.len < DK_OUTPUT_MAX ? r.len : DK_OUTPUT_MAX;
        r.body = NULL;
        snprintf(path, sizeof path, "/exec/%s/json", id);
        rc = dk_request_json(e, "GET", path, NULL, &r);
        o = rc == 0 ? json_loads(r.body ? r.body : "", 0, NULL) : NULL;
        c->pre_exit = json_integer_value(json_object_get(o, "ExitCode"));
        json_decref(o);
    }
    if (rc != 0) {
        op->rc = rc;
        snprintf(op->msg, sizeof op->msg, "pre-execution script " PRE_EXEC_SCRIPT
                                          " could not run: %.400s", r.msg);
    }
    dk_resp_free(&r);
    return rc;
}

static void create_work(dk_op_t *op)
{
    create_op_t *c = (create_op_t *)op;
    char image_user[200];
    if (resolve_image(c, image_user, sizeof image_user) != 0)
        return;
    if ((c->sb->user = pick_user(c, image_user)) == NULL) {
        op->rc = AGENTD_ENOMEM;
        snprintf(op->msg, sizeof op->msg, "out of memory");
        return;
    }
    if (c->sb->workspace != NULL && op->pl->bind_workspace)
        hand_over_workspace(c->sb->workspace, c->sb->user);
    if (c->sb->volume != NULL && (make_volume(c) != 0 || copy_in(c) != 0)) {
        remove_volume(c);
        return;
    }
    if (make_container(c) != 0) {
        remove_volume(c);
        return;
    }
    if (start_container(c) != 0 ||
        pre_execution(c) != 0) {
        remove_container(c);
        remove_volume(c);
        return;
    }
    if (c->pre_ran && c->pre_exit != 0) {
        op->rc = AGENTD_EIO;
        remove_container(c);
        remove_volume(c);
    }
}

/* ---- the loop side ----------------------------------------------------------------- */

static void emit(agentd_sandbox_t *sb, const char *type, json_t *data)
{
    if (sb->session_id == NULL || data == NULL) {
        json_decref(data);
        return;
    }
    char *text = json_dumps(data, JSON_COMPACT);
    json_decref(data);
    if (text != NULL)
        sb->pl->api->emit_event(sb->pl->host, sb->session_id, type, text, strlen(text), NULL);
    free(text);
}

typedef struct lines {
    agentd_sandbox_t *sb;
    char *tail;       /* the output's last bytes, for the failure message */
    size_t tail_len;
} lines_t;

static int line_sink(void *ud, int stream, const char *data, size_t len)
{
    lines_t *l = ud;
    /* one event per chunk the engine sent, split at newlines */
    const char *p = data, *end = data + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        json_t *d = json_pack("{s:s,s:s%}", "stream", stream == 1 ? "stdout" : "stderr", "text",
                              p, n);
        emit(l->sb, "sandbox.pre_execution_output", d);
        p += n + (nl != NULL);
    }
    size_t keep = len < 400 ? len : 400;
    char *t = realloc(l->tail, l->tail_len + keep + 1);
    if (t != NULL) {
        memcpy(t + l->tail_len, end - keep, keep);
        l->tail = t;
        l->tail_len += keep;
        if (l->tail_len > 400) {
            memmove(t, t + l->tail_len - 400, 400);
            l->tail_len = 400;
        }
        t[l->tail_len] = '\0';
    }
    return 0;
}

static void create_done(dk_op_t *op)
{
    create_op_t *c = (create_op_t *)op;
    agentd_sandbox_t *sb = c->sb;
    dk_plugin_t *pl = op->pl;
    if (c->image[0] != '\0' && op->rc != AGENTD_ECONFIG)
        emit(sb, "sandbox.image",
             json_pack("{s:s,s:s,s:b,s:s?}", "profile", sb->profile_name, "image", c->image,
                       "built", c->built, "template_hash",
                       c->template_hash[0] ? c->template_hash : NULL));
    if (c->template_hash[0] != '\0')
        pl->api->log(pl->host, AGENTD_LOG_INFO, "profile \"%s\": template image %s %s",
                     sb->profile_name, c->image, c->built ? "built" : "reused (cached)");
    if (c->pre_ran) {
        lines_t l = {sb, NULL, 0};
        dk_demux_t d = {0};
        dk_demux_feed(&d, c->pre_out ? c->pre_out : "", c->pre_len, line_sink, &l);
        emit(sb, "sandbox.pre_execution",
             json_pack("{s:s,s:I}", "script", PRE_EXEC_SCRIPT, "exit_code",
                       (json_int_t)c->pre_exit));
        if (op->rc == AGENTD_EIO && c->pre_exit != 0)
            snprintf(op->msg, sizeof op->msg,
                     "pre-execution script " PRE_EXEC_SCRIPT " failed (exit %lld): %s",
                     (long long)c->pre_exit, l.tail ? l.tail : "");
        free(l.tail);
    }
    agentd_sandbox_create_cb cb = c->cb;
    void *ud = c->ud;
    int rc = op->rc;
    char msg[AGENTD_ERR_MAX];
    snprintf(msg, sizeof msg, "%s", op->msg);
    dk_profile_free(&c->prof);
    dk_strv_free(c->exec_env, 1);
    free(c->container_id);
    free(c->pre_out);
    free(c);
    if (rc == 0 && (rc = dk_sandbox_arm_timeout(sb)) != 0)
        snprintf(msg, sizeof msg, "timeout timer: %.100s", agentd_strerror(rc));
    if (rc != 0) {
        pl->api->log(pl->host, AGENTD_LOG_WARN, "sandbox %s: %s", sb->id, msg);
        dk_sandbox_free(sb);
        cb(ud, rc, NULL, msg);
        return;
    }
    if (plugin_envfile_save(pl->api->state_dir(pl->host), sb->id,
                            (const char *const *)sb->env) != 0)
        pl->api->log(pl->host, AGENTD_LOG_WARN,
                     "sandbox %s: cannot keep its environment for a later adopt", sb->id);
    dk_sandbox_link(sb);
    cb(ud, 0, sb, NULL);
}

/* "K=${secret:NAME}" entries get the secret's value (read now, audited). */
static char **resolve_env(dk_plugin_t *pl, char *const *env, const char *session,
                          agentd_err_t *err)
{
    char **out = dk_strv_dup(NULL);
    for (size_t i = 0; out != NULL && env != NULL && env[i] != NULL; i++) {
        const char *eq = strchr(env[i], '=');
        const char *v = eq + 1;
        size_t vn = strlen(v);
        if (strncmp(v, "${secret:", 9) != 0 || vn < 11 || v[vn - 1] != '}') {
            const char *one[] = {env[i], NULL};
            out = dk_strv_concat(out, one);
            continue;
        }
        char name[200];
        snprintf(name, sizeof name, "%.*s", (int)(vn - 10), v + 9);
        char *val = NULL, *kv = NULL;
        size_t len = 0;
        agentd_err_t serr = {{0}};
        int rc = pl->api->secret_get(pl->host, name, session, &val, &len, &serr);
        if (rc != 0) {
            dk_strv_free(out, 1);
            agentd_err_set(err, rc, "env %.*s: secret \"%s\": %s", (int)(eq - env[i]), env[i],
                           name, serr.msg[0] ? serr.msg : agentd_strerror(rc));
            return NULL;
        }
        if (asprintf(&kv, "%.*s=%.*s", (int)(eq - env[i]), env[i], (int)len, val) < 0)
            kv = NULL;
        pl->api->secret_release(pl->host, val, len);
        const char *one[] = {kv, NULL};
        out = kv != NULL ? dk_strv_concat(out, one) : (dk_strv_free(out, 1), NULL);
        if (kv != NULL)
            explicit_bzero(kv, strlen(kv));
        free(kv);
    }
    if (out == NULL && err->msg[0] == '\0')
        agentd_err_set(err, AGENTD_ENOMEM, "environment: out of memory");
    return out;
}


char **dk_exec_env(agentd_sandbox_t *sb, const char *const *extra, agentd_err_t *err)
{
    agentd_err_t e2 = {{0}};
    char **env = resolve_env(sb->pl, sb->env, sb->session_id, err ? err : &e2);
    return env != NULL ? dk_strv_concat(env, extra) : NULL;
}

static int check_workspace(agentd_sandbox_t *sb, const char *ws, agentd_err_t *err)
{
    if (ws == NULL)
        return 0;
    char real[PATH_MAX];
    struct stat st;
    if (realpath(ws, real) == NULL || stat(real, &st) != 0 || !S_ISDIR(st.st_mode))
        return agentd_err_set(err, AGENTD_EINVAL, "workspace %s is not a directory: %s", ws,
                              strerror(errno));
    if (strcmp(real, "/") == 0 || dk_mount_exposes_socket(real, sb->pl->engine.socket_path))
        return agentd_err_set(err, AGENTD_EINVAL,
                              "workspace %s would expose the host or a docker socket", real);
    return (sb->workspace = strdup(real)) != NULL
               ? 0
               : agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
}

int dk_sandbox_create(dk_plugin_t *pl, const agentd_sandbox_spec_t *spec,
                      agentd_sandbox_create_cb cb, void *ud, agentd_err_t *err)
{
    if (spec == NULL || !dk_valid_id(spec->sandbox_id))
        return agentd_err_set(err, AGENTD_EINVAL, "sandbox id must be 1..100 of [a-z0-9-]");
    agentd_sandbox_t *sb = calloc(1, sizeof *sb);
    create_op_t *c = calloc(1, sizeof *c);
    if (sb == NULL || c == NULL) {
        free(sb);
        free(c);
        return agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    }
    sb->pl = pl;
    c->sb = sb;
    int rc = dk_profile_parse(spec->profile_json, spec->profile_len, spec->profile_name,
                              pl->engine.socket_path, &c->prof, err);
    sb->id = strdup(spec->sandbox_id);
    sb->session_id = dk_strdup(spec->session_id);
    sb->profile_name = strdup(spec->profile_name != NULL ? spec->profile_name : "(unnamed)");
    if (rc == 0 && (sb->id == NULL || sb->profile_name == NULL ||
                    (spec->session_id != NULL && sb->session_id == NULL) ||
                    asprintf(&sb->name, DK_NAME_PREFIX "%s", sb->id) < 0 ||
                    (!pl->bind_workspace && spec->workspace != NULL &&
                     asprintf(&sb->volume, DK_NAME_PREFIX "%s-ws", sb->id) < 0)))
        rc = agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    if (rc == 0)
        rc = check_workspace(sb, spec->workspace, err);
    if (rc == 0 && ((sb->env = dk_strv_dup((const char *const *)c->prof.env)) == NULL ||
                    (sb->env = dk_strv_concat(sb->env, spec->env)) == NULL))
        rc = agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    if (rc == 0 && (c->exec_env = dk_exec_env(sb, NULL, err)) == NULL)
        rc = err != NULL && err->msg[0] ? AGENTD_EPERM
                                        : agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    if (rc != 0) {
        dk_profile_free(&c->prof);
        free(c);
        dk_sandbox_free(sb);
        return rc;
    }
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    sb->created_ms = (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u;
    sb->timeout_s = spec->timeout_s ? spec->timeout_s : (uint64_t)c->prof.timeout_minutes * 60u;
    sb->deadline_ms = sb->created_ms + sb->timeout_s * 1000u;
    c->memory_bytes = spec->memory_bytes ? spec->memory_bytes
                                         : (uint64_t)c->prof.memory_mb << 20;
    c->pids_max = spec->pids_max ? spec->pids_max : (uint32_t)c->prof.pids_max;
    c->cpu_millicores = spec->cpu_millicores ? spec->cpu_millicores
                                             : (uint32_t)(c->prof.cpus * 1000.0 + 0.5);
    c->cb = cb;
    c->ud = ud;
    c->op = (dk_op_t){.pl = pl, .sb = NULL, .work = create_work, .done = create_done};
    dk_op_submit(&c->op);
    return 0;
}
