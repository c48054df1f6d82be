/*
 * "${secret:NAME}" references: resolution at the moment of use, checks before
 * a session starts, environments for sandboxes, and 0600 files.
 *
 * A reference is exactly "${secret:" NAME "}". There is no escape: a literal
 * "${secret:" cannot appear in a resolved string (the config file's "$${"
 * escape is undone when the config is read, before anything is resolved).
 */
#include "secrets/secrets.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "secrets/crypto.h"

#define REF_OPEN "${secret:"
#define REF_OPEN_LEN (sizeof REF_OPEN - 1)

/* A buffer for text holding secret values: every byte is wiped before its
 * memory is given back. */
typedef struct sbuf {
    char *data;
    size_t len, cap;
} sbuf_t;

static int sbuf_add(sbuf_t *b, const char *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap != 0 ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *d = malloc(cap);
        if (d == NULL)
            return AGENTD_ENOMEM;
        if (b->len > 0)
            memcpy(d, b->data, b->len);
        sec_wipe_free(b->data, b->cap);
        b->data = d;
        b->cap = cap;
    }
    if (n > 0)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

static void sbuf_free(sbuf_t *b)
{
    sec_wipe_free(b->data, b->cap);
    b->data = NULL;
    b->len = b->cap = 0;
}

void host_secret_str_free(host_secret_str_t *str)
{
    if (str == NULL)
        return;
    if (str->data != NULL)
        sec_wipe_free(str->data, str->len + 1);
    str->data = NULL;
    str->len = 0;
}

int host_secrets_has_refs(const char *text, size_t len)
{
    return text != NULL && memmem(text, len, REF_OPEN, REF_OPEN_LEN) != NULL;
}

/* Finds the next reference at or after *pos. Returns 1 with [*start, *end)
 * the reference and name[] its name, 0 if there is none, or AGENTD_EINVAL
 * for a malformed one (message in err). */
static int next_ref(const char *text, size_t len, size_t *pos, size_t *start, size_t *end,
                    char name[HOST_SECRET_NAME_MAX + 1], const char *where, agentd_err_t *err)
{
    const char *at = memmem(text + *pos, len - *pos, REF_OPEN, REF_OPEN_LEN);
    if (at == NULL)
        return 0;
    size_t s = (size_t)(at - text), n0 = s + REF_OPEN_LEN;
    const char *close = memchr(text + n0, '}', len - n0);
    const char *w = where != NULL ? where : "a string";
    if (close == NULL)
        return agentd_err_set(err, AGENTD_EINVAL,
                              "unterminated secret reference in %s at byte %zu: write "
                              "${secret:NAME}", w, s);
    size_t nlen = (size_t)(close - (text + n0));
    int ok = nlen >= 1 && nlen <= HOST_SECRET_NAME_MAX;
    for (size_t i = 0; ok && i < nlen; i++) {
        char c = text[n0 + i];
        ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
             (i > 0 && c >= '0' && c <= '9');
    }
    /* The text inside is not quoted: it may be a value pasted by mistake. */
    if (!ok)
        return agentd_err_set(err, AGENTD_EINVAL,
                              "invalid secret reference in %s at byte %zu: the name must be 1 "
                              "to %d letters, digits and _, not starting with a digit",
                              w, s, HOST_SECRET_NAME_MAX);
    memcpy(name, text + n0, nlen);
    name[nlen] = '\0';
    *start = s;
    *end = (size_t)(close - text) + 1;
    *pos = *end;
    return 1;
}

int host_secrets_resolve(host_secrets_t *s, const char *text, size_t len,
                         const host_secret_use_t *use, host_secret_str_t *out,
                         agentd_err_t *err)
{
    out->data = NULL;
    out->len = 0;
    sbuf_t b = {0};
    size_t pos = 0, copied = 0;
    int rc = sbuf_add(&b, "", 0);
    while (rc == 0) {
        size_t start, end;
        char name[HOST_SECRET_NAME_MAX + 1];
        int found = next_ref(text, len, &pos, &start, &end, name,
                             use != NULL ? use->where : NULL, err);
        if (found < 0) {
            rc = found;
            break;
        }
        if (found == 0) {
            rc = sbuf_add(&b, text + copied, len - copied);
            break;
        }
        char *v = NULL;
        size_t vlen = 0;
        rc = sbuf_add(&b, text + copied, start - copied);
        if (rc == 0)
            rc = host_secrets_get(s, name, use, &v, &vlen, err);
        if (rc == 0)
            rc = sbuf_add(&b, v, vlen);
        host_secrets_free_value(v, vlen);
        copied = end;
    }
    if (rc == AGENTD_ENOMEM)
        agentd_err_set(err, rc, "out of memory resolving secret references");
    if (rc != 0) {
        sbuf_free(&b);
        return rc;
    }
    /* Hand out exactly len + 1 bytes, so host_secret_str_free wipes it all. */
    char *d = malloc(b.len + 1);
    if (d == NULL) {
        sbuf_free(&b);
        return agentd_err_set(err, AGENTD_ENOMEM, "out of memory resolving secret references");
    }
    memcpy(d, b.data, b.len + 1);
    out->data = d;
    out->len = b.len;
    sbuf_free(&b);
    return 0;
}

int host_secrets_check_refs(host_secrets_t *s, const char *text, size_t len, const char *where,
                            size_t *count, agentd_err_t *err)
{
    size_t pos = 0, n = 0;
    if (count != NULL)
        *count = 0;
    for (;;) {
        size_t start, end;
        char name[HOST_SECRET_NAME_MAX + 1];
        int found = next_ref(text, len, &pos, &start, &end, name, where, err);
        if (found < 0)
            return found;
        if (found == 0)
            break;
        int exists = host_secrets_exists(s, name, err);
        if (exists < 0)
            return exists;
        if (!exists)
            return agentd_err_set(err, AGENTD_ENOENT,
                                  "secret %s does not exist (referenced in %s): set it with "
                                  "`agentd secret set %s`",
                                  name, where != NULL ? where : "a string", name);
        n++;
    }
    if (count != NULL)
        *count = n;
    return 0;
}

/* ---- environments ---------------------------------------------------------------- */

void host_secret_env_free(host_secret_env_t *env)
{
    if (env == NULL)
        return;
    for (size_t i = 0; i < env->count; i++)
        if (env->vars[i] != NULL)
            sec_wipe_free(env->vars[i], env->lens[i] + 1);
    free(env->vars);
    free(env->lens);
    env->vars = NULL;
    env->lens = NULL;
    env->count = 0;
}

static int env_name_ok(const char *n)
{
    if (n == NULL || n[0] == '\0' || (n[0] >= '0' && n[0] <= '9'))
        return 0;
    for (const char *p = n; *p != '\0'; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
              (*p >= '0' && *p <= '9') || *p == '_'))
            return 0;
    return 1;
}

int host_secrets_resolve_env(host_secrets_t *s, const char *const *names,
                             const char *const *values, size_t count,
                             const host_secret_use_t *use, host_secret_env_t *out,
                             agentd_err_t *err)
{
    memset(out, 0, sizeof *out);
    out->vars = calloc(count + 1, sizeof *out->vars);
    out->lens = calloc(count + 1, sizeof *out->lens);
    if (out->vars == NULL || out->lens == NULL) {
        host_secret_env_free(out);
        return agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    }
    int rc = 0;
    for (size_t i = 0; i < count && rc == 0; i++) {
        char where[256];
        snprintf(where, sizeof where, "%s%senv %s",
                 use != NULL && use->where != NULL ? use->where : "",
                 use != NULL && use->where != NULL ? " " : "", names[i] != NULL ? names[i] : "");
        if (!env_name_ok(names[i])) {
            rc = agentd_err_set(err, AGENTD_EINVAL,
                                "%s: not an environment variable name (letters, digits and _, "
                                "not starting with a digit)", where);
            break;
        }
        host_secret_use_t u = {0};
        if (use != NULL)
            u = *use;
        u.where = where;
        host_secret_str_t v = {0};
        const char *val = values[i] != NULL ? values[i] : "";
        rc = host_secrets_resolve(s, val, strlen(val), &u, &v, err);
        if (rc != 0)
            break;
        size_t nl = strlen(names[i]);
        size_t len = nl + 1 + v.len;
        char *kv = malloc(len + 1);
        if (kv == NULL) {
            host_secret_str_free(&v);
            rc = agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
            break;
        }
        memcpy(kv, names[i], nl);
        kv[nl] = '=';
        memcpy(kv + nl + 1, v.data, v.len + 1);
        host_secret_str_free(&v);
        out->vars[out->count] = kv;
        out->lens[out->count] = len;
        out->count++;
    }
    if (rc != 0)
        host_secret_env_free(out);
    return rc;
}

/* ---- files ---------------------------------------------------------------------------- */

int host_secrets_write_file(const char *path, const void *data, size_t len, agentd_err_t *err)
{
    char tmp[PATH_MAX], dir[PATH_MAX];
    uint8_t rnd[6];
    if (snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir)
        return agentd_err_set(err, AGENTD_EINVAL, "secret file %s: path too long", path);
    const char *d = dirname(dir); /* dir itself, or a static "." */
    if (sec_random(rnd, sizeof rnd) != 0 ||
        snprintf(tmp, sizeof tmp, "%s/.%s.tmp-%02x%02x%02x%02x%02x%02x", d,
                 strrchr(path, '/') != NULL ? strrchr(path, '/') + 1 : path, rnd[0], rnd[1],
                 rnd[2], rnd[3], rnd[4], rnd[5]) >= (int)sizeof tmp)
        return agentd_err_set(err, AGENTD_EINVAL, "secret file %s: path too long", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return agentd_err_set(err, errno == EACCES ? AGENTD_EPERM : AGENTD_EIO,
                              "secret file %s: cannot create %s: %s", path, tmp, strerror(errno));
    int ok = fchmod(fd, 0600) == 0;
    const char *p = data;
    size_t left = len;
    while (ok && left > 0) {
        ssize_t k = write(fd, p, left);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            ok = 0;
            break;
        }
        p += k;
        left -= (size_t)k;
    }
    ok = ok && fsync(fd) == 0;
    int saved = errno;
    if (close(fd) != 0)
        ok = 0;
    if (ok && rename(tmp, path) != 0) {
        saved = errno;
        ok = 0;
    }
    if (!ok) {
        unlink(tmp);
        return agentd_err_set(err, AGENTD_EIO, "secret file %s: cannot write: %s", path,
                              strerror(saved));
    }
    int dfd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}
