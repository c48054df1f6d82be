/*
 * Each sandbox's state directory, <plugin state dir>/sandboxes/<id>/: its
 * meta.json (id, session, creation time, cgroup name) so that a restarted
 * daemon can list and reap what an earlier one left, and the egress
 * proxy's socket.
 */
#ifndef SBX_STATE_H
#define SBX_STATE_H

#include "sandbox.h"

/* Create the directory and meta.json; sets sb->dir. */
int sbx_state_create(const char *state_dir, agentd_sandbox_t *sb, agentd_err_t *err);

/* Remove meta.json, the socket and the directory (best effort). */
void sbx_state_remove(const char *dir);

/* One sandbox found on disk. */
typedef struct sbx_meta {
    char id[80];
    char session_id[256];
    int has_session;
    uint64_t created_ms;
} sbx_meta_t;

/* Read dir/meta.json. Returns 0 or -1. */
int sbx_state_read(const char *dir, sbx_meta_t *out);

/* {"sandbox_id":..,"host":..,"port":..,"reason":..}, malloc'd. */
char *sbx_refusal_json(const char *sandbox_id, const char *host, unsigned port,
                       const char *reason);

#endif
