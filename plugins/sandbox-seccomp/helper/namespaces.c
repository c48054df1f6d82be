/* Namespaces and identity mapping (namespaces.h). */
#define _GNU_SOURCE
#include "namespaces.h"

#include "fail.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

pid_t sbx_ns_clone(unsigned long flags)
{
    /* The raw syscall with no new stack behaves like fork(): the child
     * continues here on a copy of our stack. glibc keeps no pid cache that
     * this would confuse (since 2.25). */
    return (pid_t)syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, NULL);
}

static void write_file(pid_t pid, const char *name, const char *text)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, name);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        sbx_die_errno("user namespace", "open %s", path);
    ssize_t n = write(fd, text, strlen(text));
    if (n != (ssize_t)strlen(text))
        sbx_die_errno("user namespace", "write %s (%s)", path, text);
    close(fd);
}

void sbx_ns_write_maps(pid_t child, uid_t inner_uid, uid_t outer_uid, gid_t inner_gid,
                       gid_t outer_gid)
{
    char line[64];
    snprintf(line, sizeof line, "%u %u 1\n", (unsigned)inner_uid, (unsigned)outer_uid);
    write_file(child, "uid_map", line);
    write_file(child, "setgroups", "deny");
    snprintf(line, sizeof line, "%u %u 1\n", (unsigned)inner_gid, (unsigned)outer_gid);
    write_file(child, "gid_map", line);
}

int sbx_ns_idmap_userns(uid_t disk_uid, uid_t host_uid, gid_t disk_gid, gid_t host_gid)
{
    int hold[2];
    if (pipe2(hold, O_CLOEXEC) < 0)
        sbx_die_errno("workspace idmap", "pipe");
    pid_t pid = sbx_ns_clone(CLONE_NEWUSER);
    if (pid < 0)
        sbx_die_errno("workspace idmap", "clone(CLONE_NEWUSER)");
    if (pid == 0) {
        /* Only a holder of the namespace until the parent has its fd. */
        char c;
        close(hold[1]);
        while (read(hold[0], &c, 1) < 0 && errno == EINTR) {
        }
        _exit(0);
    }
    close(hold[0]);
    sbx_ns_write_maps(pid, disk_uid, host_uid, disk_gid, host_gid);
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/ns/user", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int saved = errno;
    close(hold[1]);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
    errno = saved;
    if (fd < 0)
        sbx_die_errno("workspace idmap", "open %s", path);
    return fd;
}

void sbx_ns_loopback_up(void)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        sbx_die_errno("network namespace", "socket");
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
    if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
        sbx_die_errno("network namespace", "SIOCGIFFLAGS lo");
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
        sbx_die_errno("network namespace", "bring up lo");
    close(s);
}
