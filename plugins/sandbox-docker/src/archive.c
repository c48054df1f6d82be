/*
 * A workspace kept in a volume (remote engines) comes back to the host as a
 * tar stream from GET /containers/{id}/archive. It is extracted into a
 * staging folder beside the workspace and swapped in, so files the agent
 * deleted are gone on the host too. Only regular files, folders and
 * symlinks are made; a name that would leave the folder or pass through a
 * symlink is refused.
 */
#define _GNU_SOURCE
#include "dk.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static uint64_t octal(const char *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n && p[i] >= '0' && p[i] <= '7'; i++)
        v = v * 8 + (uint64_t)(p[i] - '0');
    for (size_t i = 0; i < n && p[i] == ' '; i++)
        ;
    return v;
}

/* "NN key=value\n" records: the value of key, into out. */
static int pax_value(const char *p, size_t n, const char *key, char *out, size_t outlen)
{
    size_t klen = strlen(key);
    while (n > 0) {
        char *sp = memchr(p, ' ', n);
        size_t rec = (size_t)strtoul(p, NULL, 10);
        if (sp == NULL || rec == 0 || rec > n)
            return 0;
        const char *kv = sp + 1;
        size_t kvn = (size_t)(p + rec - kv);
        if (kvn > klen + 1 && memcmp(kv, key, klen) == 0 && kv[klen] == '=') {
            size_t vn = kvn - klen - 2; /* without "=" and "\n" */
            if (vn >= outlen)
                return -1;
            memcpy(out, kv + klen + 1, vn);
            out[vn] = '\0';
            return 1;
        }
        p += rec;
        n -= rec;
    }
    return 0;
}

/* The name below the archived folder, checked; "" for the folder itself. */
static int clean_name(const char *name, int strip, char *out, size_t outlen)
{
    while (name[0] == '.' && name[1] == '/')
        name += 2;
    const char *slash = strchr(name, '/');
    const char *rest = !strip ? name : slash != NULL ? slash + 1 : "";
    if (name[0] == '/' || strlen(rest) >= outlen)
        return -1;
    snprintf(out, outlen, "%s", rest);
    size_t n = strlen(out);
    while (n > 0 && out[n - 1] == '/')
        out[--n] = '\0';
    for (const char *p = out; *p != '\0';) {
        size_t k = strcspn(p, "/");
        if ((k == 2 && p[0] == '.' && p[1] == '.') || k == 0)
            return -1;
        p += k + (p[k] == '/');
    }
    return 0;
}

/* Every folder between dest and name must be a real folder, not a link. */
static int parents_safe(const char *dest, const char *name)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dest, name);
    size_t base = strlen(dest);
    for (char *p = path + base + 1; (p = strchr(p, '/')) != NULL; p++) {
        *p = '\0';
        struct stat st;
        int ok = lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
        *p = '/';
        if (!ok)
            return 0;
    }
    return 1;
}

static int put_file(const char *path, const char *data, size_t size, unsigned mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode & 0777);
    if (fd < 0)
        return -1;
    size_t off = 0;
    while (off < size) {
        ssize_t w = write(fd, data + off, size - off);
        if (w <= 0) {
            close(fd);
            return -1;
        }
        off += (size_t)w;
    }
    fchmod(fd, mode & 0777);
    return close(fd);
}

int dk_untar(const char *buf, size_t len, const char *dest, int strip, agentd_err_t *err)
{
    char long_name[PATH_MAX] = "", long_link[PATH_MAX] = "";
    size_t off = 0;
    while (off + 512 <= len) {
        const char *h = buf + off;
        if (h[0] == '\0')
            break; /* the end blocks */
        uint64_t size = octal(h + 124, 12);
        char type = h[156];
        size_t data = off + 512, next = data + ((size + 511) & ~(uint64_t)511);
        if (size > len || next > len)
            return agentd_err_set(err, AGENTD_EPROTO, "copy out: a truncated archive");
        if (type == 'x' || type == 'L' || type == 'K') {
            if (type == 'x') {
                if (pax_value(buf + data, size, "path", long_name, sizeof long_name) < 0 ||
                    pax_value(buf + data, size, "linkpath", long_link, sizeof long_link) < 0)
                    return agentd_err_set(err, AGENTD_EPROTO, "copy out: a name too long");
            } else {
                char *dst = type == 'L' ? long_name : long_link;
                size_t n = size < PATH_MAX - 1 ? size : PATH_MAX - 1;
                memcpy(dst, buf + data, n);
                dst[n] = '\0';
            }
            off = next;
            continue;
        }
        if (type == 'g') {
            off = next;
            continue;
        }
        char name[PATH_MAX], raw[PATH_MAX], link[PATH_MAX];
        if (long_name[0] != '\0')
            snprintf(raw, sizeof raw, "%s", long_name);
        else if (h[345] != '\0')
            snprintf(raw, sizeof raw, "%.155s/%.100s", h + 345, h);
        else
            snprintf(raw, sizeof raw, "%.100s", h);
        snprintf(link, sizeof link, "%s", long_link[0] ? long_link : "");
        if (link[0] == '\0')
            snprintf(link, sizeof link, "%.100s", h + 157);
        long_name[0] = long_link[0] = '\0';
        off = next;
        if (clean_name(raw, strip, name, sizeof name) < 0)
            return agentd_err_set(err, AGENTD_EPERM, "copy out: refused the name %.200s", raw);
        if (name[0] == '\0')
            continue; /* the folder itself: dest */
        if (!parents_safe(dest, name))
            return agentd_err_set(err, AGENTD_EPERM,
                                  "copy out: %.200s would be written through a symlink", name);
        char path[PATH_MAX * 2];
        snprintf(path, sizeof path, "%s/%s", dest, name);
        unsigned mode = (unsigned)octal(h + 100, 8);
        int rc = 0;
        if (type == '5')
            rc = mkdir(path, (mode & 0777) | 0700) == 0 || errno == EEXIST ? 0 : -1;
        else if (type == '2')
            rc = symlink(link, path);
        else if (type == '0' || type == '\0' || type == '7')
            rc = put_file(path, buf + data, (size_t)size, mode);
        /* hard links, devices, fifos: not part of a workspace; skipped */
        if (rc != 0)
            return agentd_err_set(err, AGENTD_EIO, "copy out: %.200s: %s", name,
                                  strerror(errno));
    }
    return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    (void)st, (void)f;
    if (flag == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

void dk_rmtree(const char *path)
{
    nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS);
}

int dk_swap_dir(const char *dir, const char *staged, agentd_err_t *err)
{
    char old[PATH_MAX];
    snprintf(old, sizeof old, "%s.agentd-old", dir);
    dk_rmtree(old);
    struct stat st;
    if (stat(dir, &st) == 0)
        chmod(staged, st.st_mode & 07777);
    if (rename(dir, old) != 0)
        return agentd_err_set(err, AGENTD_EIO, "copy out: cannot move %s aside: %s", dir,
                              strerror(errno));
    if (rename(staged, dir) != 0) {
        int e = errno;
        rename(old, dir);
        return agentd_err_set(err, AGENTD_EIO, "copy out: cannot put the copy at %s: %s", dir,
                              strerror(e));
    }
    dk_rmtree(old);
    return 0;
}
