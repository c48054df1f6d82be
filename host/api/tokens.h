/*
 * API tokens: "agentd_<id>_<secret>" (id: 16 hex digits, secret: 64 hex
 * digits from the OS's CSPRNG). Only the SHA-256 of the whole token is
 * stored (table api_tokens, component "api_tokens"); a presented token is
 * found by its id and its hash compared with CRYPTO_memcmp (constant time).
 * The text of a token is shown once, at creation.
 *
 * Roles, each including the one before: viewer (reads sessions and events),
 * editor (creates and drives sessions), admin (also manages tokens).
 *
 * Thread: loop thread (the database is the host's). Errors: 0 or a negative
 * AGENTD_E* with text in err.
 */
#ifndef AGENTD_HOST_API_TOKENS_H
#define AGENTD_HOST_API_TOKENS_H

#include <stdint.h>

#include <jansson.h>

#include "store/db.h"

typedef enum host_api_role {
    HOST_API_ROLE_NONE = 0,
    HOST_API_ROLE_VIEWER = 1,
    HOST_API_ROLE_EDITOR = 2,
    HOST_API_ROLE_ADMIN = 3,
} host_api_role_t;

#define HOST_API_TOKEN_ID_LEN 16
#define HOST_API_TOKEN_MAX 96

const char *host_api_role_name(host_api_role_t r);
/* 0 and *out, or AGENTD_EINVAL for anything but viewer|editor|admin. */
int host_api_role_parse(const char *name, host_api_role_t *out);

/* Creates the table if needed (migrations). */
int host_api_tokens_init(host_db_t *db, agentd_err_t *err);

/* A new token: its text in token (HOST_API_TOKEN_MAX bytes), its id in id. */
int host_api_token_create(host_db_t *db, host_api_role_t role, const char *name,
                          char token[HOST_API_TOKEN_MAX], char id[HOST_API_TOKEN_ID_LEN + 1],
                          agentd_err_t *err);

/* [{id, name, role, created_ms, revoked_ms|null, last_used_ms|null}] */
json_t *host_api_token_list(host_db_t *db, agentd_err_t *err);

/* AGENTD_ENOENT if there is no such id; revoking twice is fine. */
int host_api_token_revoke(host_db_t *db, const char *id, agentd_err_t *err);

/* Checks a presented token: 0 with the role and id, AGENTD_EPERM for a
 * malformed, unknown, wrong or revoked token (err says which, without the
 * token), AGENTD_EIO. */
int host_api_token_verify(host_db_t *db, const char *token, size_t len, host_api_role_t *role,
                          char id[HOST_API_TOKEN_ID_LEN + 1], agentd_err_t *err);

/* 1 if the token id is revoked or gone, 0 if still valid, <0 on error. */
int host_api_token_revoked(host_db_t *db, const char *id);

#endif
