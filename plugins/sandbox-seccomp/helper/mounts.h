/*
 * The sandbox's file system view: a fresh root (tmpfs, read-only once built)
 * that holds the system directories read-only, a private /proc, a minimal
 * /dev, a private /tmp and home, the workspace read-write at its host path
 * with its protected paths read-only, the extra read-only paths of the
 * profile, and the egress proxy's socket. Nothing else of the host exists
 * inside: no /home, /root, /var, /run, /srv, /mnt, no docker.sock.
 */
#ifndef SBX_MOUNTS_H
#define SBX_MOUNTS_H

#include "launch.h"

/* Where the proxy socket appears inside. */
#define SBX_PROXY_SOCKET_INSIDE "/run/agentd/proxy.sock"

/* Mounts the outer helper captures while it still has the host's
 * privileges (as root): the child, already the sandbox's unprivileged host
 * identity, could not reach them in the daemon's private state directory.
 * -1: the child clones it itself (an unprivileged daemon, same identity). */
typedef struct sbx_host_trees {
    int workspace;
    int proxy_socket;
} sbx_host_trees_t;

/* In the outer helper: the workspace and the proxy socket as detached
 * mounts. When the helper runs as root and the workspace belongs to another
 * uid/gid than the sandbox's host identity, the workspace mount is idmapped
 * so that the owner's files are the sandbox user's (and what the sandbox
 * creates belongs to the owner on disk). Dies on error. */
void sbx_mount_capture_host(const sbx_launch_t *l, sbx_host_trees_t *out);

/* In the child, inside its new user and mount namespaces: build the root
 * and pivot into it. Dies on error. */
void sbx_mount_build_root(const sbx_launch_t *l, const sbx_host_trees_t *host);

#endif
