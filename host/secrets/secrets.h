/*
 * The secret store: secrets encrypted at rest in the host's database,
 * resolved from "${secret:NAME}" references at the moment of use, handed to
 * sandboxes as environment or 0600 files (never argv), audited on every read,
 * and redacted from everything the host writes out (secrets/redact.h).
 * docs/secrets.md is the operator's guide.
 *
 * Encryption. Each value is sealed with AES-256-GCM under the store's data
 * key, with a fresh random 96-bit nonce per write and the record's scope,
 * scope id and name as associated data (a ciphertext copied to another
 * record does not decrypt). The data key is itself sealed ("wrapped") by the
 * master key; each wrap is stored with the master key's id, so rotation adds
 * a wrap under the new key, then drops the old one, and no record is touched.
 *
 * The master key comes from the environment variable AGENTD_MASTER_KEY (64
 * hex digits, or base64 of 32 bytes; the caller reads it and passes the
 * text) or else from a file (default <data_dir>/master.key), created 0600
 * with 32 random bytes on first start. A file others can read or write, or
 * owned by another user, is refused (AGENTD_EPERM): agentd does not start.
 * A store that already holds secrets never creates a new key: a missing key
 * file is an error naming it.
 *
 * Names: [A-Za-z_][A-Za-z0-9_]{0,127}. Values: 4 bytes to 64 KiB, no NUL byte
 * (shorter values cannot be redacted safely; NUL cannot be passed in an
 * environment). Scopes: "global" today; records carry scope and scope_id so
 * account, project and session scopes fit later.
 *
 * Thread: the loop thread (the database is used there only), except the
 * redaction source (any thread). Reads (get, resolve, refresh) may run inside
 * a transaction the caller has open on the shared connection (they use a
 * savepoint; the audit row then commits with the caller's transaction);
 * changes (set, remove, rotate, the first open) start their own write
 * transaction and must not. Ownership: inputs are borrowed; values
 * given out are malloc'd, NUL-terminated and must be given back with
 * host_secrets_free_value (or host_secret_str_free / host_secret_env_free),
 * which wipe them. Errors: 0 or a negative AGENTD_E* with text in err; no
 * error text ever holds a secret value or a key.
 */
#ifndef AGENTD_HOST_SECRETS_H
#define AGENTD_HOST_SECRETS_H

#include <stddef.h>
#include <stdint.h>

#include <agentd/abi.h>

#include "config/config.h"
#include "core/log.h"
#include "secrets/redact.h"
#include "store/db.h"

#define HOST_SECRETS_ENV_MASTER_KEY "AGENTD_MASTER_KEY"
#define HOST_SECRETS_ENV_NEW_MASTER_KEY "AGENTD_NEW_MASTER_KEY"
#define HOST_SECRETS_MASTER_KEY_FILE "master.key" /* in data_dir */
#define HOST_SECRET_NAME_MAX 128
#define HOST_SECRET_VALUE_MIN 4
#define HOST_SECRET_VALUE_MAX (64 * 1024)
#define HOST_SECRET_SCOPE_GLOBAL "global"
#define HOST_SECRET_KEY_ID_LEN 16

typedef struct host_secrets host_secrets_t;

typedef struct host_secrets_opts {
    const char *data_dir;         /* required */
    const char *master_key_file;  /* NULL: <data_dir>/master.key */
    const char *master_key_env;   /* the text of $AGENTD_MASTER_KEY, or NULL
                                   * to use the file; borrowed */
    host_log_t *log;              /* notices and audit lines; NULL: none */
    int no_redactor;              /* 1: do not decrypt every value to build
                                   * a redactor (CLI commands that never
                                   * print values: ls, rm, rotate-key) */
} host_secrets_opts_t;

/* The master key file the configuration asks for, or NULL for the default
 * (<data_dir>/master.key). Borrowed from cfg. */
const char *host_secrets_config_master_key_file(const host_config_t *cfg);

/* Opens the store on db (borrowed; it must outlive the store): applies the
 * "secrets" migrations, loads or creates the master key, unwraps the data
 * key (creating it on first use), finishes a rotation a crash interrupted,
 * and builds the redactor. Errors: AGENTD_EPERM (unsafe key file),
 * AGENTD_ENOENT (secrets exist but the key file is missing), AGENTD_EINVAL
 * (a key that is not a key), AGENTD_EIO (a key that does not open this store,
 * database or file errors), AGENTD_EVERSION, AGENTD_ENOMEM. */
int host_secrets_open(host_db_t *db, const host_secrets_opts_t *opts, host_secrets_t **out,
                      agentd_err_t *err);
/* Wipes the keys in memory and frees the store. No stream of its redaction
 * source may remain, and the log must no longer point at it. NULL ok. */
void host_secrets_close(host_secrets_t *s);

/* Validation (also done by every call below). 0 or AGENTD_EINVAL. */
int host_secrets_check_name(const char *name, agentd_err_t *err);
int host_secrets_check_value(const void *value, size_t len, agentd_err_t *err);

/* Creates or replaces the global secret name. *created (may be NULL) is 1
 * for a new secret. The redactor learns the value before this returns. */
int host_secrets_set(host_secrets_t *s, const char *name, const void *value, size_t len,
                     int *created, agentd_err_t *err);
/* AGENTD_ENOENT if there is no such secret. */
int host_secrets_remove(host_secrets_t *s, const char *name, agentd_err_t *err);

/* 1 if the global secret name exists, 0 if not (nothing decrypted, nothing
 * audited), or a negative AGENTD_E*. */
int host_secrets_exists(host_secrets_t *s, const char *name, agentd_err_t *err);

typedef struct host_secret_info {
    char name[HOST_SECRET_NAME_MAX + 1];
    char scope[16];
    char *scope_id;      /* "" for global */
    char created[32];    /* ISO 8601 UTC, e.g. 2025-01-31T12:00:00Z */
    char updated[32];
} host_secret_info_t;

/* Every secret, by scope then name; never values. */
int host_secrets_list(host_secrets_t *s, host_secret_info_t **items, size_t *count,
                      agentd_err_t *err);
void host_secrets_list_free(host_secret_info_t *items, size_t count);

/* Who reads a secret and why: recorded by the audit, never the value. */
typedef struct host_secret_use {
    const char *session;  /* session id, or NULL */
    const char *plugin;   /* plugin id, or NULL for the host itself */
    const char *purpose;  /* "env", "file", "plugin", "config", "check", ... */
    const char *where;    /* where the reference is, for error messages
                           * ("session s-1 env GH_TOKEN"); NULL: unsaid */
} host_secret_use_t;

/* Called after every audited read has been written to the audit table and
 * the log (event "secret.read": name, session, plugin, purpose). Loop
 * thread. */
typedef void (*host_secrets_audit_fn)(void *ud, const char *name, const char *scope,
                                      const host_secret_use_t *use);
void host_secrets_set_audit(host_secrets_t *s, host_secrets_audit_fn fn, void *ud);

/* Reads (decrypts) the global secret name for use now; audited. *value is
 * NUL-terminated, *len excludes the NUL. AGENTD_ENOENT (no such secret,
 * the message names it and use->where), AGENTD_EIO (it does not decrypt:
 * tampered, or moved from another record; or the audit could not be
 * written, then nothing is returned). */
int host_secrets_get(host_secrets_t *s, const char *name, const host_secret_use_t *use,
                     char **value, size_t *len, agentd_err_t *err);
/* Wipes and frees a value from host_secrets_get. NULL ok. */
void host_secrets_free_value(char *value, size_t len);

/* Decrypts without handing the value out (`agentd secret check`); audited
 * with purpose "check". Errors as host_secrets_get. */
int host_secrets_check(host_secrets_t *s, const char *name, agentd_err_t *err);

/* Replaces the master key: a new random one written atomically to the key
 * file, or, when the key comes from the environment, new_key_text (the
 * operator's $AGENTD_NEW_MASTER_KEY; AGENTD_EINVAL if NULL). The data key is
 * wrapped by the new key, then the old key's wrap is dropped: the old key no
 * longer opens the store; no record changes, and a daemon already running
 * keeps working (it holds the data key, not the master key). The ids of the
 * old and new keys are written to old_id and new_id (may be NULL). */
int host_secrets_rotate_master(host_secrets_t *s, const char *new_key_text,
                               char old_id[HOST_SECRET_KEY_ID_LEN + 1],
                               char new_id[HOST_SECRET_KEY_ID_LEN + 1], agentd_err_t *err);

/* The master key's id (16 hex digits) and where it came from ("file PATH" or
 * "environment AGENTD_MASTER_KEY"). Borrowed. */
const char *host_secrets_master_key_id(const host_secrets_t *s);
const char *host_secrets_master_key_source(const host_secrets_t *s);

/* The redaction source that follows this store's secrets (owned by the
 * store; any thread). With opts.no_redactor its redactor is NULL. */
host_redact_source_t *host_secrets_redact_source(host_secrets_t *s);

/* Notices secrets changed by another process (`agentd secret set` while the
 * daemon runs) and rebuilds the redactor. Cheap when nothing changed: call
 * it from a timer. Reads (host_secrets_get, resolve) call it themselves, so
 * a value is never handed out before the redactor knows it. Returns 1 if it
 * rebuilt, 0 if nothing changed, or a negative AGENTD_E*. */
int host_secrets_refresh(host_secrets_t *s, agentd_err_t *err);

/* ---- references ----------------------------------------------------------- */

/* A string that may hold secret values: NUL-terminated; free it with
 * host_secret_str_free, which wipes it. */
typedef struct host_secret_str {
    char *data;
    size_t len;
} host_secret_str_t;
void host_secret_str_free(host_secret_str_t *str);

/* Replaces every "${secret:NAME}" in text[0..len) with the secret's value
 * (each read audited with use), into a new buffer. Text without references
 * is copied as is. AGENTD_EINVAL (a malformed reference: "${secret:" without
 * "}", or an invalid name), AGENTD_ENOENT (a missing secret); the message
 * names the secret and use->where, never a value. On error nothing is
 * returned (what was resolved is wiped). */
int host_secrets_resolve(host_secrets_t *s, const char *text, size_t len,
                         const host_secret_use_t *use, host_secret_str_t *out,
                         agentd_err_t *err);

/* Checks, without decrypting or auditing, that every reference in text is
 * well formed and names an existing secret: a session is refused before
 * anything starts. *count (may be NULL) gets the number of references. */
int host_secrets_check_refs(host_secrets_t *s, const char *text, size_t len, const char *where,
                            size_t *count, agentd_err_t *err);

/* True if text holds at least one "${secret:" (well formed or not). */
int host_secrets_has_refs(const char *text, size_t len);

/* ---- injection ------------------------------------------------------------- */

/* An environment for a sandbox process: "NAME=value" strings, NULL-terminated
 * (vars[count] == NULL), as uv_spawn and agentd_spawn_opts_t.env take it.
 * Free with host_secret_env_free, which wipes every string. */
typedef struct host_secret_env {
    char **vars;
    size_t *lens;
    size_t count;
} host_secret_env_t;

/* Builds an environment from names[i] = values[i], resolving the references
 * in each value (use->where is extended with " env NAME" in messages).
 * AGENTD_EINVAL for a name that is not an environment name. */
int host_secrets_resolve_env(host_secrets_t *s, const char *const *names,
                             const char *const *values, size_t count,
                             const host_secret_use_t *use, host_secret_env_t *out,
                             agentd_err_t *err);
void host_secret_env_free(host_secret_env_t *env);

/* Writes data to path with mode 0600, atomically: a temporary file in the
 * same directory, fsync'd, renamed over path (a symlink at path is replaced,
 * not followed). For secrets handed to a sandbox as a file. The message on
 * failure names the path, never the content. */
int host_secrets_write_file(const char *path, const void *data, size_t len, agentd_err_t *err);

#endif /* AGENTD_HOST_SECRETS_H */
