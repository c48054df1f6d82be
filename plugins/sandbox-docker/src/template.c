/*
 * Templates: a Dockerfile and its folder (the build context), built by the
 * engine's build endpoint into "agentd-template:<content hash>". The hash
 * covers every file's path, mode and bytes, so an unchanged template is
 * built once and reused; any change makes a new image.
 */
#define _GNU_SOURCE
#include "dk.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TEMPLATE_FILES_MAX 10000
#define TEMPLATE_BYTES_MAX (512u << 20)
#define BUILD_TIMEOUT_S 3600

/* ---- walking the context in a stable order ------------------------------ */

typedef int (*visit_fn)(void *ud, const char *rel, const char *abs, const struct stat *st);

static int filter_dot(const struct dirent *e)
{
    return strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
}

static int walk(const char *root, const char *rel, visit_fn fn, void *ud, unsigned *count)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s%s%s", root, rel[0] ? "/" : "", rel);
    struct dirent **names = NULL;
    int n = scandir(dir, &names, filter_dot, alphasort);
    if (n < 0)
        return AGENTD_EIO;
    int rc = 0;
    for (int i = 0; i < n; i++) {
        char r2[PATH_MAX], abs[PATH_MAX];
        struct stat st;
        snprintf(r2, sizeof r2, "%s%s%s", rel, rel[0] ? "/" : "", names[i]->d_name);
        if (snprintf(abs, sizeof abs, "%s/%s", root, r2) >= (int)sizeof abs && rc == 0)
            rc = AGENTD_ELIMIT;
        if (rc == 0 && ++*count > TEMPLATE_FILES_MAX)
            rc = AGENTD_ELIMIT;
        if (rc == 0 && lstat(abs, &st) != 0)
            rc = AGENTD_EIO;
        if (rc == 0)
            rc = fn(ud, r2, abs, &st);
        if (rc == 0 && S_ISDIR(st.st_mode))
            rc = walk(root, r2, fn, ud, count);
        free(names[i]);
    }
    free(names);
    return rc;
}

/* ---- the content hash ---------------------------------------------------------- */

static int hash_one(void *ud, const char *rel, const char *abs, const struct stat *st)
{
    EVP_MD_CTX *md = ud;
    char head[PATH_MAX + 64];
    int n = snprintf(head, sizeof head, "%s%c%o%c", rel, 0, (unsigned)st->st_mode, 0);
    EVP_DigestUpdate(md, head, (size_t)n);
    if (S_ISLNK(st->st_mode)) {
        char target[PATH_MAX];
        ssize_t t = readlink(abs, target, sizeof target);
        if (t < 0)
            return AGENTD_EIO;
        EVP_DigestUpdate(md, target, (size_t)t);
    } else if (S_ISREG(st->st_mode)) {
        FILE *f = fopen(abs, "re");
        if (f == NULL)
            return AGENTD_EIO;
        char buf[65536];
        size_t k;
        while ((k = fread(buf, 1, sizeof buf, f)) > 0)
            EVP_DigestUpdate(md, buf, k);
        fclose(f);
    }
    EVP_DigestUpdate(md, "\n", 1);
    return 0;
}

int dk_context_hash(const char *dir, char hex[65], agentd_err_t *err)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(md);
        return agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    }
    unsigned count = 0;
    int rc = walk(dir, "", hash_one, md, &count);
    unsigned char sum[32];
    unsigned len = 0;
    EVP_DigestFinal_ex(md, sum, &len);
    EVP_MD_CTX_free(md);
    if (rc != 0)
        return agentd_err_set(err, rc, "cannot read the build context %s: %s", dir,
                              rc == AGENTD_ELIMIT ? "more than 10000 files" : strerror(errno));
    for (unsigned i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", sum[i]);
    return 0;
}

/* ---- a ustar archive of the context ---------------------------------------------- */

typedef struct tarbuf {
    char *buf;
    size_t len, cap;
    const char *prefix; /* every name under this folder ("" : none) */
    unsigned uid, gid;  /* owner of every entry */
} tarbuf_t;

static int tar_reserve(tarbuf_t *t, size_t add)
{
    if (t->len + add > TEMPLATE_BYTES_MAX)
        return AGENTD_ELIMIT;
    if (t->len + add <= t->cap)
        return 0;
    size_t cap = t->cap ? t->cap : 65536;
    while (cap < t->len + add)
        cap *= 2;
    char *b = realloc(t->buf, cap);
    if (b == NULL)
        return AGENTD_ENOMEM;
    t->buf = b;
    t->cap = cap;
    return 0;
}

static int tar_header(tarbuf_t *t, const char *rel0, const struct stat *st, char type,
                      size_t size, const char *link)
{
    char rel[PATH_MAX + 300];
    snprintf(rel, sizeof rel, "%s%s%s%s", t->prefix, t->prefix[0] && rel0[0] ? "/" : "", rel0,
             type == '5' ? "/" : "");
    if (tar_reserve(t, 512) != 0)
        return AGENTD_ENOMEM;
    char *h = t->buf + t->len;
    memset(h, 0, 512);
    size_t n = strlen(rel);
    if (n <= 100) {
        memcpy(h, rel, n);
    } else {
        const char *cut = rel + n - 100;
        while (*cut != '\0' && *cut != '/')
            cut++;
        if (*cut != '/' || (size_t)(cut - rel) > 155 || strlen(cut + 1) > 100)
            return AGENTD_ELIMIT;
        memcpy(h, cut + 1, strlen(cut + 1));
        memcpy(h + 345, rel, (size_t)(cut - rel));
    }
    snprintf(h + 100, 8, "%07o", (unsigned)(st->st_mode & 07777));
    snprintf(h + 108, 8, "%07o", t->uid & 07777777u);
    snprintf(h + 116, 8, "%07o", t->gid & 07777777u);
    snprintf(h + 124, 12, "%011llo", (unsigned long long)size);
    snprintf(h + 136, 12, "%011llo", 0ull); /* mtime 0: the archive depends on content only */
    h[156] = type;
    if (link != NULL)
        memcpy(h + 157, link, strnlen(link, 100));
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (int i = 0; i < 512; i++)
        sum += (unsigned char)h[i];
    snprintf(h + 148, 8, "%06o", sum);
    t->len += 512;
    return 0;
}

static int tar_one(void *ud, const char *rel, const char *abs, const struct stat *st)
{
    tarbuf_t *t = ud;
    if (S_ISDIR(st->st_mode))
        return tar_header(t, rel, st, '5', 0, NULL);
    if (S_ISLNK(st->st_mode)) {
        char target[PATH_MAX];
        ssize_t n = readlink(abs, target, sizeof target - 1);
        if (n < 0 || n > 100)
            return AGENTD_EIO;
        target[n] = '\0';
        return tar_header(t, rel, st, '2', 0, target);
    }
    if (!S_ISREG(st->st_mode))
        return 0; /* sockets, fifos, devices: not part of a build */
    size_t size = (size_t)st->st_size;
    int rc = tar_header(t, rel, st, '0', size, NULL);
    size_t padded = (size + 511) & ~(size_t)511;
    if (rc == 0)
        rc = tar_reserve(t, padded);
    FILE *f = rc == 0 ? fopen(abs, "re") : NULL;
    if (rc == 0 && (f == NULL || fread(t->buf + t->len, 1, size, f) != size))
        rc = AGENTD_EIO;
    if (f != NULL)
        fclose(f);
    if (rc == 0) {
        memset(t->buf + t->len + size, 0, padded - size);
        t->len += padded;
    }
    return rc;
}

int dk_tar_dir(const char *dir, char **out, size_t *len, agentd_err_t *err)
{
    return dk_tar_tree(dir, "", 0, 0, out, len, err);
}

int dk_tar_tree(const char *dir, const char *prefix, unsigned uid, unsigned gid, char **out,
                size_t *len, agentd_err_t *err)
{
    tarbuf_t t = {.prefix = prefix, .uid = uid, .gid = gid};
    unsigned count = 0;
    struct stat st;
    int rc = lstat(dir, &st) == 0 ? 0 : AGENTD_EIO;
    if (rc == 0 && !S_ISDIR(st.st_mode) && prefix[0] != '\0') {
        rc = tar_one(&t, "", dir, &st); /* one file (or symlink), named prefix */
    } else {
        if (rc == 0 && prefix[0] != '\0')
            rc = tar_header(&t, "", &st, '5', 0, NULL); /* the folder itself, with its owner */
        if (rc == 0)
            rc = walk(dir, "", tar_one, &t, &count);
    }
    if (rc == 0 && (rc = tar_reserve(&t, 1024)) == 0) {
        memset(t.buf + t.len, 0, 1024);
        t.len += 1024;
    }
    if (rc != 0) {
        free(t.buf);
        return agentd_err_set(err, rc, "cannot pack the build context %s: %s", dir,
                              agentd_strerror(rc));
    }
    *out = t.buf;
    *len = t.len;
    return 0;
}

/* ---- build, or reuse ----------------------------------------------------------------- */

/* The build answers 200 and streams JSON lines; a failure is a line with
 * "error" in it. */
static const char *build_error(const char *body, char *buf, size_t len)
{
    for (const char *p = body; p != NULL && *p != '\0';) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        json_t *o = json_loadb(p, n, 0, NULL);
        const char *e = json_string_value(json_object_get(o, "error"));
        if (e != NULL) {
            snprintf(buf, len, "%s", e);
            json_decref(o);
            return buf;
        }
        json_decref(o);
        p = nl ? nl + 1 : NULL;
    }
    return NULL;
}

int dk_template_image(dk_engine_t *e, const char *profile, const char *dockerfile,
                      char *image, size_t image_len, int *built, agentd_err_t *err)
{
    *built = 0;
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", dockerfile);
    char *slash = strrchr(dir, '/');
    struct stat st;
    if (slash == NULL || stat(dockerfile, &st) != 0 || !S_ISREG(st.st_mode))
        return agentd_err_set(err, AGENTD_ECONFIG, "profile \"%s\": template: %s is not a "
                                                   "readable Dockerfile", profile, dockerfile);
    *slash = '\0';
    const char *file = slash + 1;
    char hex[65];
    agentd_err_t herr = {{0}};
    if (dk_context_hash(dir[0] ? dir : "/", hex, &herr) != 0)
        return agentd_err_set(err, AGENTD_ECONFIG, "profile \"%s\": template: %s", profile,
                              herr.msg);
    snprintf(image, image_len, DK_TEMPLATE_REPO ":%.32s", hex);
    char path[1200];
    snprintf(path, sizeof path, "/images/" DK_TEMPLATE_REPO ":%.32s/json", hex);
    dk_resp_t r;
    int rc = dk_request_json(e, "GET", path, NULL, &r);
    dk_resp_free(&r);
    if (rc == 0)
        return 0; /* cached: built before from the same content */
    if (rc != AGENTD_ENOENT)
        return agentd_err_set(err, rc, "profile \"%s\": template: %s", profile, r.msg);
    char *tar = NULL;
    size_t tar_len = 0;
    if (dk_tar_dir(dir, &tar, &tar_len, &herr) != 0)
        return agentd_err_set(err, AGENTD_ECONFIG, "profile \"%s\": template: %s", profile,
                              herr.msg);
    char enc_file[300], labels[200], enc_labels[400];
    dk_urlencode(file, enc_file, sizeof enc_file);
    snprintf(labels, sizeof labels, "{\"" DK_LABEL "template_hash\":\"%s\"}", hex);
    dk_urlencode(labels, enc_labels, sizeof enc_labels);
    snprintf(path, sizeof path,
             "/build?t=" DK_TEMPLATE_REPO "%%3A%.32s&dockerfile=%s&rm=1&forcerm=1&labels=%s",
             hex, enc_file, enc_labels);
    rc = dk_request(e, "POST", path, "application/x-tar", tar, tar_len, BUILD_TIMEOUT_S, &r);
    free(tar);
    char why[400];
    const char *failed = rc == 0 ? build_error(r.body, why, sizeof why) : r.msg;
    if (rc == 0 && failed != NULL)
        rc = AGENTD_ECONFIG;
    if (rc != 0)
        agentd_err_set(err, rc, "profile \"%s\": template: the engine could not build %s: %s",
                       profile, dockerfile, failed != NULL ? failed : "");
    else
        *built = 1;
    dk_resp_free(&r);
    return rc;
}
