/*
 * Namespaces: the sandbox's own user, mount, pid, net, ipc, uts and cgroup
 * namespaces, its uid/gid mapping, the loopback interface of its empty
 * network namespace, and the helper user namespace an idmapped workspace
 * mount needs.
 */
#ifndef SBX_NAMESPACES_H
#define SBX_NAMESPACES_H

#include <sys/types.h>

/* Every namespace the sandbox gets. */
#define SBX_NS_FLAGS (CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | \
                      CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP)

/* fork() into new namespaces: returns the child's pid in the parent, 0 in
 * the child, -1 on error (errno set). */
pid_t sbx_ns_clone(unsigned long flags);

/* Map exactly one uid and one gid: `inner` inside the child's user
 * namespace is `outer` outside. setgroups is denied first (required for an
 * unprivileged writer, and nothing inside needs it). Dies on error. */
void sbx_ns_write_maps(pid_t child, uid_t inner_uid, uid_t outer_uid, gid_t inner_gid,
                       gid_t outer_gid);

/* A user namespace (as an fd) whose mapping shows disk ids `disk_*` as
 * `host_*`: what mount_setattr(MOUNT_ATTR_IDMAP) takes to make a workspace
 * owned by someone else writable by the sandbox's host identity. Dies on
 * error. */
int sbx_ns_idmap_userns(uid_t disk_uid, uid_t host_uid, gid_t disk_gid, gid_t host_gid);

/* Bring up `lo` in the current (new) network namespace: the only interface
 * there, used by the in-sandbox proxy relay. Dies on error. */
void sbx_ns_loopback_up(void);

#endif
