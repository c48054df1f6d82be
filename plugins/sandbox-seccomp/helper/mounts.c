/* The sandbox's file system view (mounts.h). */
#define _GNU_SOURCE
#include "mounts.h"

#include "fail.h"
#include "namespaces.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The new root is built on a tmpfs mounted here, in our private mount
 * namespace only, then pivoted into. Every bind source is captured as a
 * detached mount before this path is covered. */
#define BASE "/tmp"

/* System directories shown read-only; a symlink (merged /usr) is copied as
 * a symlink. */
static const char *const system_dirs[] = {"/usr", "/etc", "/bin", "/sbin", "/lib",
                                          "/lib32", "/lib64", "/libx32"};

/* Device nodes bound from the host's /dev: the harmless ones. */
static const char *const devices[] = {"null", "zero", "full", "random", "urandom", "tty"};

/* Parts of /proc that must stay read-only (as in bubblewrap): sysctl
 * writes, the sysrq trigger, IRQ affinity, bus settings. */
static const char *const proc_ro[] = {"sys", "sysrq-trigger", "irq", "bus"};

#define RO_ATTRS (MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV)

typedef struct tree {
    char target[4096]; /* path inside the sandbox */
    int fd;            /* detached mount */
    int is_dir;        /* the mount point is a directory (else a file) */
    int late;          /* mounted after /proc, /dev, /tmp and home */
} tree_t;

typedef struct trees {
    tree_t *items;
    size_t count;
    size_t cap;
} trees_t;

static void set_attr(int dfd, const char *path, unsigned flags, uint64_t attrs,
                     const char *what)
{
    struct mount_attr a;
    memset(&a, 0, sizeof a);
    a.attr_set = attrs;
    if (mount_setattr(dfd, path, flags, &a, sizeof a) < 0)
        sbx_die_errno("mounts", "set attributes of %s", what);
}

/* A detached copy of the mount tree at `path`, with `attrs` set on it. */
static int clone_tree(int dfd, const char *path, unsigned extra, uint64_t attrs)
{
    int fd = open_tree(dfd, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE | extra);
    if (fd < 0)
        sbx_die_errno("mounts", "clone mount of %s", path);
    if (attrs != 0)
        set_attr(fd, "", AT_EMPTY_PATH | AT_RECURSIVE, attrs, path);
    return fd;
}

static void trees_add(trees_t *t, const char *target, int fd, int late)
{
    struct stat st;
    if (t->count == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        tree_t *items = realloc(t->items, cap * sizeof *items);
        if (items == NULL)
            sbx_die("mounts", "out of memory");
        t->items = items;
        t->cap = cap;
    }
    tree_t *it = &t->items[t->count++];
    if (snprintf(it->target, sizeof it->target, "%s", target) >= (int)sizeof it->target)
        sbx_die("mounts", "path too long: %s", target);
    it->fd = fd;
    it->late = late;
    it->is_dir = fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
}

/* "/tmp" + inside path, the path being built. */
static void staged(char *out, size_t len, const char *inside)
{
    if (snprintf(out, len, BASE "%s", inside) >= (int)len)
        sbx_die("mounts", "path too long: %s", inside);
}

static void mkdirs(const char *path)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        sbx_die("mounts", "path too long: %s", path);
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
            sbx_die_errno("mounts", "mkdir %s", buf);
        if (c == '\0')
            return;
        *p = c;
    }
}

/* Make the mount point for `src_mode` (a directory or a file) at inside
 * path `inside` of the new root. */
static void make_target(const char *inside, int is_dir, char *out, size_t len)
{
    staged(out, len, inside);
    if (is_dir) {
        mkdirs(out);
        return;
    }
    char parent[4096];
    snprintf(parent, sizeof parent, "%s", out);
    char *slash = strrchr(parent, '/');
    if (slash != NULL && slash != parent) {
        *slash = '\0';
        mkdirs(parent);
    }
    int fd = open(out, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0 && errno != EEXIST)
        sbx_die_errno("mounts", "create mount point %s", out);
    if (fd >= 0)
        close(fd);
}

static void attach(int fd, const char *inside, int is_dir)
{
    char target[4096];
    make_target(inside, is_dir, target, sizeof target);
    if (move_mount(fd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
        sbx_die_errno("mounts", "mount %s", inside);
    close(fd);
}

static void mount_fs(const char *fstype, const char *inside, unsigned long flags,
                     const char *opts)
{
    char target[4096];
    make_target(inside, 1, target, sizeof target);
    if (mount(fstype, target, fstype, flags, opts) < 0)
        sbx_die_errno("mounts", "mount %s on %s (%s)", fstype, inside, opts ? opts : "");
}

static void symlink_at(const char *link_target, const char *inside)
{
    char path[4096];
    staged(path, sizeof path, inside);
    if (symlink(link_target, path) < 0 && errno != EEXIST)
        sbx_die_errno("mounts", "symlink %s -> %s", inside, link_target);
}

/* Capture the system directories (before BASE is covered). */
static void capture_system(trees_t *t, char links[][2][256], size_t *nlinks)
{
    for (size_t i = 0; i < sizeof system_dirs / sizeof *system_dirs; i++) {
        const char *d = system_dirs[i];
        struct stat st;
        if (lstat(d, &st) < 0)
            continue;
        if (S_ISLNK(st.st_mode)) {
            ssize_t n = readlink(d, links[*nlinks][1], sizeof links[0][1] - 1);
            if (n < 0)
                sbx_die_errno("mounts", "readlink %s", d);
            links[*nlinks][1][n] = '\0';
            snprintf(links[*nlinks][0], sizeof links[0][0], "%s", d);
            (*nlinks)++;
        } else if (S_ISDIR(st.st_mode)) {
            trees_add(t, d, clone_tree(AT_FDCWD, d, 0, RO_ATTRS), 0);
        }
    }
}

static int cmp_len(const void *a, const void *b)
{
    size_t la = strlen(*(char *const *)a), lb = strlen(*(char *const *)b);
    return (la > lb) - (la < lb);
}

/* Extra read-only paths, shortest first so that a parent is mounted before
 * what lies inside it. */
static void capture_ro_paths(const sbx_launch_t *l, trees_t *t)
{
    size_t n = 0;
    while (l->ro_paths[n] != NULL)
        n++;
    qsort(l->ro_paths, n, sizeof *l->ro_paths, cmp_len);
    for (size_t i = 0; i < n; i++) {
        if (l->ro_paths[i][0] != '/')
            sbx_die("mounts", "read-only path %s is not absolute", l->ro_paths[i]);
        trees_add(t, l->ro_paths[i], clone_tree(AT_FDCWD, l->ro_paths[i], 0, RO_ATTRS), 1);
    }
}

static void build_dev(int dev_trees[])
{
    mount_fs("tmpfs", "/dev", MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k");
    for (size_t i = 0; i < sizeof devices / sizeof *devices; i++) {
        char inside[64];
        snprintf(inside, sizeof inside, "/dev/%s", devices[i]);
        attach(dev_trees[i], inside, 0);
    }
    symlink_at("/proc/self/fd", "/dev/fd");
    symlink_at("/proc/self/fd/0", "/dev/stdin");
    symlink_at("/proc/self/fd/1", "/dev/stdout");
    symlink_at("/proc/self/fd/2", "/dev/stderr");
    mount_fs("devpts", "/dev/pts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620");
    symlink_at("pts/ptmx", "/dev/ptmx");
    mount_fs("tmpfs", "/dev/shm", MS_NOSUID | MS_NODEV, "mode=1777,size=64m");
}

static void build_proc(void)
{
    mount_fs("proc", "/proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    for (size_t i = 0; i < sizeof proc_ro / sizeof *proc_ro; i++) {
        char path[64];
        snprintf(path, sizeof path, BASE "/proc/%s", proc_ro[i]);
        if (access(path, F_OK) < 0)
            continue;
        if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0)
            sbx_die_errno("mounts", "bind /proc/%s", proc_ro[i]);
        set_attr(AT_FDCWD, path, AT_RECURSIVE, RO_ATTRS | MOUNT_ATTR_NOEXEC, path);
    }
}

/* Cover each hidden directory (e.g. the daemon's data directory when it
 * lies inside the workspace) with an empty read-only tmpfs. The path is
 * opened without following symlinks (the workspace is the agent's: a
 * symlink planted there must not move what we hide), and mounted on by
 * descriptor. */
static void hide(const sbx_launch_t *l)
{
    for (char **p = l->hidden_paths; *p != NULL; p++) {
        char path[4096], fdpath[64];
        staged(path, sizeof path, *p);
        struct open_how how;
        memset(&how, 0, sizeof how);
        how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
        how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
        int fd = (int)syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof how);
        if (fd < 0 && errno == ENOENT)
            continue;
        if (fd < 0)
            sbx_die_errno("mounts", "hide %s (it must be a directory, not behind a symlink)",
                          *p);
        snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%d", fd);
        if (mount("tmpfs", fdpath, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                  "mode=0000,size=4k") < 0)
            sbx_die_errno("mounts", "hide %s", *p);
        close(fd);
    }
}

/* Open `rel` beneath the workspace without following any symlink, so a
 * workspace crafted by an earlier session cannot redirect what we protect.
 * Returns -1 if it does not exist. */
static int open_beneath(int ws, const char *rel)
{
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = O_PATH | O_CLOEXEC;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    int fd = (int)syscall(SYS_openat2, ws, rel, &how, sizeof how);
    if (fd < 0 && errno == ENOENT)
        return -1;
    if (fd < 0 && errno == ELOOP)
        sbx_die("protected paths", "%s is a symlink or lies behind one; refusing to start",
                rel);
    if (fd < 0)
        sbx_die_errno("protected paths", "open %s", rel);
    return fd;
}

/* Bind `rel` onto itself (read-only if ro): a mount point cannot be
 * renamed, replaced or unlinked, and a read-only one cannot be written. */
static void pin(int ws, const char *rel, int ro)
{
    int at = open_beneath(ws, rel);
    if (at < 0)
        return;
    int tree = clone_tree(at, "", AT_EMPTY_PATH, ro ? RO_ATTRS : 0);
    if (move_mount(tree, "", at, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
        sbx_die_errno("protected paths", "mount over %s", rel);
    close(tree);
    close(at);
}

/* The first component of each protected path is pinned (so `.git` cannot
 * be moved aside and recreated), then the path itself is made read-only. */
static void protect(const sbx_launch_t *l)
{
    char ws_path[4096];
    staged(ws_path, sizeof ws_path, l->workspace);
    int ws = open(ws_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (ws < 0)
        sbx_die_errno("protected paths", "open workspace %s", l->workspace);
    for (char **p = l->protected_paths; *p != NULL; p++) {
        char first[256];
        const char *slash = strchr(*p, '/');
        if (slash != NULL && (size_t)(slash - *p) < sizeof first) {
            snprintf(first, sizeof first, "%.*s", (int)(slash - *p), *p);
            pin(ws, first, 0);
        }
    }
    for (char **p = l->protected_paths; *p != NULL; p++)
        pin(ws, *p, 1);
    close(ws);
}

static int workspace_tree(const sbx_launch_t *l)
{
    struct stat st;
    if (stat(l->workspace, &st) < 0 || !S_ISDIR(st.st_mode))
        sbx_die_errno("workspace", "%s is not a directory", l->workspace);
    int fd = clone_tree(AT_FDCWD, l->workspace, 0, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
    if (st.st_uid == l->host_uid && st.st_gid == l->host_gid)
        return fd;
    int userns = sbx_ns_idmap_userns(st.st_uid, l->host_uid, st.st_gid, l->host_gid);
    struct mount_attr a;
    memset(&a, 0, sizeof a);
    a.attr_set = MOUNT_ATTR_IDMAP;
    a.userns_fd = (uint64_t)userns;
    if (mount_setattr(fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &a, sizeof a) < 0)
        sbx_die_errno("workspace",
                      "idmapped mount of %s (owner %u:%u shown as %u:%u; the file system "
                      "must support idmapped mounts, or make the workspace owned by "
                      "%u:%u)",
                      l->workspace, (unsigned)st.st_uid, (unsigned)st.st_gid,
                      (unsigned)l->host_uid, (unsigned)l->host_gid, (unsigned)l->host_uid,
                      (unsigned)l->host_gid);
    close(userns);
    return fd;
}

void sbx_mount_capture_host(const sbx_launch_t *l, sbx_host_trees_t *out)
{
    out->workspace = out->proxy_socket = -1;
    if (geteuid() != 0)
        return;
    out->workspace = workspace_tree(l);
    if (l->proxy_socket != NULL)
        out->proxy_socket =
            clone_tree(AT_FDCWD, l->proxy_socket, 0, RO_ATTRS | MOUNT_ATTR_NOEXEC);
}

/* Capture every bind source as a detached mount, in mount order. */
static void capture_all(const sbx_launch_t *l, const sbx_host_trees_t *host, trees_t *t,
                        int dev_trees[],
                        char links[][2][256], size_t *nlinks)
{
    capture_system(t, links, nlinks);
    for (size_t i = 0; i < sizeof devices / sizeof *devices; i++) {
        char path[64];
        snprintf(path, sizeof path, "/dev/%s", devices[i]);
        dev_trees[i] = clone_tree(AT_FDCWD, path, 0, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC);
    }
    int ws = host->workspace;
    if (ws < 0)
        ws = clone_tree(AT_FDCWD, l->workspace, 0, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
    trees_add(t, l->workspace, ws, 1);
    capture_ro_paths(l, t);
    int sock = host->proxy_socket;
    if (sock < 0 && l->proxy_socket != NULL)
        sock = clone_tree(AT_FDCWD, l->proxy_socket, 0, RO_ATTRS | MOUNT_ATTR_NOEXEC);
    if (sock >= 0)
        trees_add(t, SBX_PROXY_SOCKET_INSIDE, sock, 1);
}

static void mount_scratch(const sbx_launch_t *l)
{
    char opts[128];
    snprintf(opts, sizeof opts, "mode=1777,size=%llu", (unsigned long long)l->tmp_bytes);
    mount_fs("tmpfs", "/tmp", MS_NOSUID | MS_NODEV, opts);
    if (l->home != NULL) {
        snprintf(opts, sizeof opts, "mode=0700,uid=%u,gid=%u,size=%llu", (unsigned)l->uid,
                 (unsigned)l->gid, (unsigned long long)l->tmp_bytes);
        mount_fs("tmpfs", l->home, MS_NOSUID | MS_NODEV, opts);
    }
}

static void pivot(void)
{
    if (chdir(BASE) < 0)
        sbx_die_errno("mounts", "chdir to new root");
    /* pivot_root(".", ".") stacks the old root on top of the new one;
     * detaching it leaves only the new root. */
    if (syscall(SYS_pivot_root, ".", ".") < 0)
        sbx_die_errno("mounts", "pivot_root");
    if (umount2(".", MNT_DETACH) < 0)
        sbx_die_errno("mounts", "detach the host's root");
    if (chdir("/") < 0)
        sbx_die_errno("mounts", "chdir /");
}

void sbx_mount_build_root(const sbx_launch_t *l, const sbx_host_trees_t *host)
{
    trees_t t = {0};
    int dev_trees[sizeof devices / sizeof *devices];
    char links[sizeof system_dirs / sizeof *system_dirs][2][256];
    size_t nlinks = 0;

    /* Nothing we mount from here on propagates back to the host. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        sbx_die_errno("mounts", "make / private");
    capture_all(l, host, &t, dev_trees, links, &nlinks);
    if (mount("tmpfs", BASE, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m") < 0)
        sbx_die_errno("mounts", "tmpfs for the new root");
    for (size_t i = 0; i < nlinks; i++)
        symlink_at(links[i][1], links[i][0]);
    for (size_t i = 0; i < t.count; i++)
        if (!t.items[i].late)
            attach(t.items[i].fd, t.items[i].target, t.items[i].is_dir);
    build_proc();
    build_dev(dev_trees);
    mount_scratch(l);
    for (size_t i = 0; i < t.count; i++)
        if (t.items[i].late)
            attach(t.items[i].fd, t.items[i].target, t.items[i].is_dir);
    free(t.items);
    hide(l);
    protect(l);
    set_attr(AT_FDCWD, BASE, 0, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
             "the new root");
    pivot();
}
