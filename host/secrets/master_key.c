#include "secrets/master_key.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Longest content accepted: base64 or hex text with some whitespace. */
#define MASTER_TEXT_MAX 128

static int check_fd(int fd, const char *path, agentd_err_t *err)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return agentd_err_set(err, AGENTD_EIO, "master key file %s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return agentd_err_set(err, AGENTD_EPERM,
                              "master key file %s is not a regular file; agentd will not use it",
                              path);
    if (st.st_uid != geteuid())
        return agentd_err_set(err, AGENTD_EPERM,
                              "master key file %s is owned by uid %u, not by the user agentd "
                              "runs as (uid %u); agentd refuses to start: "
                              "chown %u %s (and keep it mode 0600)",
                              path, (unsigned)st.st_uid, (unsigned)geteuid(),
                              (unsigned)geteuid(), path);
    if ((st.st_mode & 077) != 0)
        return agentd_err_set(err, AGENTD_EPERM,
                              "master key file %s has mode %04o: it is readable or writable by "
                              "group or others, so agentd refuses to start; fix it with: "
                              "chmod 600 %s (and consider the key exposed: rotate it with "
                              "`agentd secret rotate-key`)",
                              path, (unsigned)(st.st_mode & 07777), path);
    return 0;
}

int sec_master_read(const char *path, uint8_t key[SEC_KEY_LEN], agentd_err_t *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        if (errno == ENOENT)
            return agentd_err_set(err, AGENTD_ENOENT, "master key file %s does not exist", path);
        return agentd_err_set(err, errno == EACCES ? AGENTD_EPERM : AGENTD_EIO,
                              "master key file %s: cannot open: %s", path, strerror(errno));
    }
    int rc = check_fd(fd, path, err);
    if (rc != 0) {
        close(fd);
        return rc;
    }
    uint8_t buf[MASTER_TEXT_MAX + 1];
    size_t n = 0;
    while (n < sizeof buf) {
        ssize_t k = read(fd, buf + n, sizeof buf - n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            rc = agentd_err_set(err, AGENTD_EIO, "master key file %s: %s", path, strerror(errno));
            break;
        }
        if (k == 0)
            break;
        n += (size_t)k;
    }
    close(fd);
    if (rc == 0) {
        if (n == SEC_KEY_LEN)
            memcpy(key, buf, SEC_KEY_LEN);
        else if (n > MASTER_TEXT_MAX || sec_key_decode((const char *)buf, n, key) != 0)
            rc = agentd_err_set(err, AGENTD_EINVAL,
                                "master key file %s holds %s%zu bytes: expected the 32 bytes "
                                "of the key, or 64 hex digits, or base64 of 32 bytes",
                                path, n > MASTER_TEXT_MAX ? "more than " : "",
                                n > MASTER_TEXT_MAX ? (size_t)MASTER_TEXT_MAX : n);
    }
    sec_wipe(buf, sizeof buf);
    return rc;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* fsync of the directory holding path, so a rename or link is durable. */
static void sync_dir(const char *path)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return;
    int fd = open(dirname(buf), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

/* Writes key to a new file at tmp (which must not exist), mode 0600. */
static int write_key_file(const char *tmp, const uint8_t key[SEC_KEY_LEN], agentd_err_t *err)
{
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return agentd_err_set(err, AGENTD_EIO, "cannot create %s: %s", tmp, strerror(errno));
    int ok = fchmod(fd, 0600) == 0 && write_all(fd, key, SEC_KEY_LEN) == 0 && fsync(fd) == 0;
    int saved = errno;
    if (close(fd) != 0)
        ok = 0;
    if (!ok) {
        unlink(tmp);
        return agentd_err_set(err, AGENTD_EIO, "cannot write %s: %s", tmp, strerror(saved));
    }
    return 0;
}

int sec_master_create(const char *path, uint8_t key[SEC_KEY_LEN], int *created,
                      agentd_err_t *err)
{
    *created = 0;
    char tmp[PATH_MAX];
    uint8_t rnd[6];
    if (sec_random(rnd, sizeof rnd) != 0)
        return agentd_err_set(err, AGENTD_EIO, "no random bytes for the master key");
    if (snprintf(tmp, sizeof tmp, "%s.tmp-%ld-%02x%02x%02x%02x%02x%02x", path, (long)getpid(),
                 rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5]) >= (int)sizeof tmp)
        return agentd_err_set(err, AGENTD_EINVAL, "master key path %s is too long", path);
    if (sec_random(key, SEC_KEY_LEN) != 0)
        return agentd_err_set(err, AGENTD_EIO, "no random bytes for the master key");
    int rc = write_key_file(tmp, key, err);
    if (rc != 0) {
        sec_wipe(key, SEC_KEY_LEN);
        return rc;
    }
    if (link(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        sec_wipe(key, SEC_KEY_LEN);
        if (e == EEXIST) /* someone else made it first: use theirs */
            return sec_master_read(path, key, err);
        return agentd_err_set(err, AGENTD_EIO, "cannot create master key file %s: %s", path,
                              strerror(e));
    }
    unlink(tmp);
    sync_dir(path);
    *created = 1;
    return 0;
}

static int new_path(const char *path, char out[PATH_MAX], agentd_err_t *err)
{
    if (snprintf(out, PATH_MAX, "%s.new", path) >= PATH_MAX)
        return agentd_err_set(err, AGENTD_EINVAL, "master key path %s is too long", path);
    return 0;
}

int sec_master_stage(const char *path, const uint8_t key[SEC_KEY_LEN], agentd_err_t *err)
{
    char np[PATH_MAX];
    int rc = new_path(path, np, err);
    if (rc != 0)
        return rc;
    if (unlink(np) != 0 && errno != ENOENT)
        return agentd_err_set(err, AGENTD_EIO, "cannot remove the stale %s: %s", np,
                              strerror(errno));
    return write_key_file(np, key, err);
}

int sec_master_commit(const char *path, agentd_err_t *err)
{
    char np[PATH_MAX];
    int rc = new_path(path, np, err);
    if (rc != 0)
        return rc;
    if (rename(np, path) != 0)
        return agentd_err_set(err, AGENTD_EIO, "cannot rename %s to %s: %s", np, path,
                              strerror(errno));
    sync_dir(path);
    return 0;
}

void sec_master_discard(const char *path)
{
    char np[PATH_MAX];
    if (new_path(path, np, NULL) == 0)
        unlink(np);
}
