/*
 * Identity and privileges inside the sandbox: the one mapped uid/gid, and
 * then no capabilities at all (bounding, ambient, effective, permitted,
 * inheritable), root's special treatment locked off, and no_new_privs so
 * that no exec (setuid file, file capabilities) can give any back.
 */
#ifndef SBX_PRIVILEGES_H
#define SBX_PRIVILEGES_H

#include <sys/types.h>

/* Become uid/gid inside the new user namespace, keeping the namespace's
 * capabilities for the rest of the setup. Dies on error. */
void sbx_priv_become(uid_t uid, gid_t gid);

/* Drop every capability for good and set no_new_privs. Dies on error. */
void sbx_priv_drop_all(void);

#endif
