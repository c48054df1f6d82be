/*
 * copy_in / copy_out of one file or folder between the host and a sandbox,
 * through the engine's archive endpoints (so they work for a remote engine
 * too). A path in the sandbox must lie where the engine can write with a
 * read-only root: the workspace, or a mount.
 */
#define _GNU_SOURCE
#include "dk.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct copy_op {
    dk_op_t op;
    int in;                  /* 1: host -> sandbox */
    char *name, *user;       /* container, its user */
    char *host_path, *sb_path;
    agentd_done_cb cb;
    void *ud;
} copy_op_t;

void dk_split_path(const char *path, char *parent, size_t plen, const char **base)
{
    const char *slash = strrchr(path, '/');
    snprintf(parent, plen, "%.*s", slash != path ? (int)(slash - path) : 1, path);
    *base = slash + 1;
}

int dk_tar_as(const char *dir, const char *base, const char *user, char **tar, size_t *len,
              agentd_err_t *err)
{
    unsigned uid = 0, gid = 0;
    int n = sscanf(user, "%u:%u", &uid, &gid);
    if (n == 1)
        gid = uid;
    else if (n < 1)
        uid = gid = 0;
    return dk_tar_tree(dir, base, uid, gid, tar, len, err);
}

int dk_put_archive(dk_engine_t *e, const char *container, const char *parent, const char *tar,
                   size_t len, dk_resp_t *r)
{
    char enc[PATH_MAX * 3], path[PATH_MAX * 3 + 400];
    dk_urlencode(parent, enc, sizeof enc);
    snprintf(path, sizeof path, "/containers/%s/archive?path=%s", container, enc);
    return dk_request(e, "PUT", path, "application/x-tar", tar, len, 0, r);
}

static void copy_in_work(copy_op_t *c)
{
    dk_op_t *op = &c->op;
    char parent[PATH_MAX];
    const char *base;
    dk_split_path(c->sb_path, parent, sizeof parent, &base);
    char *tar = NULL;
    size_t len = 0;
    agentd_err_t err = {{0}};
    op->rc = dk_tar_as(c->host_path, base, c->user, &tar, &len, &err);
    if (op->rc != 0) {
        snprintf(op->msg, sizeof op->msg, "copy in: %.400s", err.msg);
        return;
    }
    dk_resp_t r;
    op->rc = dk_put_archive(&op->pl->engine, c->name, parent, tar, len, &r);
    free(tar);
    if (op->rc != 0)
        snprintf(op->msg, sizeof op->msg, "copy in to %.150s: %.300s", c->sb_path, r.msg);
    dk_resp_free(&r);
}

static void copy_out_work(copy_op_t *c)
{
    dk_op_t *op = &c->op;
    char enc[PATH_MAX * 3], path[PATH_MAX * 3 + 200], staging[PATH_MAX + 32];
    char item[PATH_MAX * 2];
    dk_urlencode(c->sb_path, enc, sizeof enc);
    snprintf(path, sizeof path, "/containers/%s/archive?path=%s", c->name, enc);
    dk_resp_t r;
    op->rc = dk_request(&op->pl->engine, "GET", path, NULL, NULL, 0, 0, &r);
    if (op->rc != 0) {
        snprintf(op->msg, sizeof op->msg, "copy out of %.150s: %.300s", c->sb_path, r.msg);
        dk_resp_free(&r);
        return;
    }
    snprintf(staging, sizeof staging, "%s.agentd-in", c->host_path);
    dk_rmtree(staging);
    agentd_err_t err = {{0}};
    const char *base = strrchr(c->sb_path, '/') + 1;
    snprintf(item, sizeof item, "%s/%s", staging, base);
    struct stat st;
    if (mkdir(staging, 0700) != 0)
        op->rc = agentd_err_set(&err, AGENTD_EIO, "copy out: cannot make %s", staging);
    if (op->rc == 0)
        op->rc = dk_untar(r.body, r.len, staging, 0, &err);
    if (op->rc == 0 && lstat(item, &st) != 0)
        op->rc = agentd_err_set(&err, AGENTD_EPROTO, "copy out: the engine sent no %s", base);
    if (op->rc == 0 && lstat(c->host_path, &st) == 0 && S_ISDIR(st.st_mode))
        op->rc = dk_swap_dir(c->host_path, item, &err);
    else if (op->rc == 0 && rename(item, c->host_path) != 0)
        op->rc = agentd_err_set(&err, AGENTD_EIO, "copy out: cannot write %s", c->host_path);
    dk_rmtree(staging);
    if (op->rc != 0)
        snprintf(op->msg, sizeof op->msg, "%s", err.msg);
    dk_resp_free(&r);
}

static void copy_work(dk_op_t *op)
{
    copy_op_t *c = (copy_op_t *)op;
    if (c->in)
        copy_in_work(c);
    else
        copy_out_work(c);
}

static void copy_done(dk_op_t *op)
{
    copy_op_t *c = (copy_op_t *)op;
    if (op->rc != 0)
        op->pl->api->log(op->pl->host, AGENTD_LOG_WARN, "%s", op->msg);
    agentd_done_cb cb = c->cb;
    void *ud = c->ud;
    int rc = op->rc;
    free(c->name);
    free(c->user);
    free(c->host_path);
    free(c->sb_path);
    free(c);
    if (cb != NULL)
        cb(ud, rc);
}

static int submit(agentd_sandbox_t *sb, int in, const char *host_path, const char *sb_path,
                  agentd_done_cb cb, void *ud, agentd_err_t *err)
{
    if (sb == NULL || sb->dead)
        return agentd_err_set(err, AGENTD_ESTATE, "copy: the sandbox is being removed");
    if (host_path == NULL || sb_path == NULL || host_path[0] != '/' || sb_path[0] != '/' ||
        strcmp(sb_path, "/") == 0 || sb_path[strlen(sb_path) - 1] == '/' ||
        strstr(sb_path, "/../") != NULL || strcmp(strrchr(sb_path, '/'), "/..") == 0)
        return agentd_err_set(err, AGENTD_EINVAL,
                              "copy: both paths must be absolute, naming a file or folder");
    struct stat st;
    if (in && lstat(host_path, &st) != 0)
        return agentd_err_set(err, AGENTD_ENOENT, "copy in: no %s on the host", host_path);
    copy_op_t *c = calloc(1, sizeof *c);
    if (c == NULL || (c->name = strdup(sb->name)) == NULL ||
        (c->user = strdup(sb->user)) == NULL || (c->host_path = strdup(host_path)) == NULL ||
        (c->sb_path = strdup(sb_path)) == NULL) {
        if (c != NULL) {
            free(c->name);
            free(c->user);
            free(c->host_path);
        }
        free(c);
        return agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    }
    c->in = in;
    c->cb = cb;
    c->ud = ud;
    c->op = (dk_op_t){.pl = sb->pl, .sb = sb, .work = copy_work, .done = copy_done};
    dk_op_submit(&c->op);
    return 0;
}

int dk_copy_in(agentd_sandbox_t *sb, const char *host_path, const char *sandbox_path,
               agentd_done_cb cb, void *ud, agentd_err_t *err)
{
    return submit(sb, 1, host_path, sandbox_path, cb, ud, err);
}

int dk_copy_out(agentd_sandbox_t *sb, const char *sandbox_path, const char *host_path,
                agentd_done_cb cb, void *ud, agentd_err_t *err)
{
    return submit(sb, 0, host_path, sandbox_path, cb, ud, err);
}
