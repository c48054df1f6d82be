/*
 * The master key file: reading it (with the permission checks that make
 * agentd refuse to start on a key others could read or change), creating it
 * on first start, and replacing it atomically on rotation. Private to
 * host/secrets/ and its tests.
 *
 * The file holds the 32 bytes of the key, raw (what agentd writes), or as
 * text: 64 hex digits or base64 of 32 bytes, with an optional trailing
 * newline (for keys provisioned by configuration management).
 *
 * Checks on the file (after following a symlink): a regular file, owned by
 * the effective user, no permission bits for group or others (0600 or
 * 0400). Errors: 0 or a negative AGENTD_E* with the reason and the fix in
 * err; never the key. Thread: any; blocking file I/O.
 */
#ifndef AGENTD_HOST_SECRETS_MASTER_KEY_H
#define AGENTD_HOST_SECRETS_MASTER_KEY_H

#include <stdint.h>

#include <agentd/abi.h>

#include "secrets/crypto.h"

/* Reads the key at path. AGENTD_ENOENT if there is no file, AGENTD_EPERM
 * if its owner or mode is unsafe (or it is not a regular file),
 * AGENTD_EINVAL if its content is not a key, AGENTD_EIO otherwise. */
int sec_master_read(const char *path, uint8_t key[SEC_KEY_LEN], agentd_err_t *err);

/* Creates path with a fresh random key, mode 0600, atomically: the file
 * either does not exist or holds a whole key (written to a temporary file,
 * fsync'd, then link()ed into place). If another process created it first,
 * that key is read instead and *created is 0. */
int sec_master_create(const char *path, uint8_t key[SEC_KEY_LEN], int *created,
                      agentd_err_t *err);

/* Writes key to "<path>.new" (0600, fsync'd), for sec_master_commit. */
int sec_master_stage(const char *path, const uint8_t key[SEC_KEY_LEN], agentd_err_t *err);
/* Renames "<path>.new" over path and fsyncs the directory. */
int sec_master_commit(const char *path, agentd_err_t *err);
/* Removes a leftover "<path>.new" (from an interrupted rotation). */
void sec_master_discard(const char *path);

#endif /* AGENTD_HOST_SECRETS_MASTER_KEY_H */
