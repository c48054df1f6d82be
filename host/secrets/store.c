/*
 * The secret store over the host database (secrets.h has the contract).
 *
 * Tables (component "secrets"):
 *   secret_data_keys  one row per data key (one today; the schema allows more)
 *   secret_key_wraps  a data key sealed by a master key, with that key's id;
 *                     during a rotation a data key has two wraps
 *   secrets           the records: scope, scope_id, name, data key, nonce,
 *                     ciphertext||tag, dates
 *   secret_meta       a generation counter bumped by every change, so a
 *                     daemon notices `agentd secret set` run next to it
 *   secret_audit      reads (and sets, removals, rotations): who, what, why
 *
 * Associated data: "agentd.secret.v1" 0 scope 0 scope_id 0 name for records,
 * "agentd.datakey.v1" 0 data-key-id 0 master-key-id for wraps.
 */
#include "secrets/secrets.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <sqlite3.h>

#include "secrets/crypto.h"
#include "secrets/master_key.h"

#define COMPONENT "secrets"
#define WRAP_LEN (SEC_NONCE_LEN + SEC_KEY_LEN + SEC_TAG_LEN)
#define NOW_SQL "strftime('%Y-%m-%dT%H:%M:%SZ','now')"

static const host_db_migration_t migrations[] = {
    {1, "CREATE TABLE secret_data_keys ("
        "  id INTEGER PRIMARY KEY,"
        "  created_at TEXT NOT NULL);"
        "CREATE TABLE secret_key_wraps ("
        "  id INTEGER PRIMARY KEY,"
        "  data_key_id INTEGER NOT NULL REFERENCES secret_data_keys(id),"
        "  master_key_id TEXT NOT NULL,"
        "  wrapped BLOB NOT NULL,"
        "  created_at TEXT NOT NULL,"
        "  UNIQUE (data_key_id, master_key_id));"
        "CREATE TABLE secrets ("
        "  scope TEXT NOT NULL CHECK (scope IN ('global','account','project','session')),"
        "  scope_id TEXT NOT NULL DEFAULT '',"
        "  name TEXT NOT NULL,"
        "  data_key_id INTEGER NOT NULL REFERENCES secret_data_keys(id),"
        "  nonce BLOB NOT NULL,"
        "  ciphertext BLOB NOT NULL,"
        "  created_at TEXT NOT NULL,"
        "  updated_at TEXT NOT NULL,"
        "  PRIMARY KEY (scope, scope_id, name));"
        "CREATE TABLE secret_meta ("
        "  id INTEGER PRIMARY KEY CHECK (id = 1),"
        "  generation INTEGER NOT NULL);"
        "INSERT INTO secret_meta(id, generation) VALUES (1, 0);"
        "CREATE TABLE secret_audit ("
        "  id INTEGER PRIMARY KEY,"
        "  ts TEXT NOT NULL,"
        "  action TEXT NOT NULL,"
        "  name TEXT,"
        "  scope TEXT,"
        "  scope_id TEXT,"
        "  session TEXT,"
        "  plugin TEXT,"
        "  purpose TEXT);"},
};

typedef struct data_key {
    int64_t id;
    uint8_t key[SEC_KEY_LEN];
} data_key_t;

struct host_secrets {
    host_db_t *db;
    host_log_t *log;
    char master_id[SEC_KEY_ID_LEN + 1];
    char *master_path;   /* NULL when the key came from the environment */
    char *master_source; /* "file PATH" / "environment AGENTD_MASTER_KEY" */
    data_key_t *keys;    /* unwrapped data keys; wiped at close */
    size_t nkeys;
    size_t keys_bytes;
    int keys_locked;
    int64_t current_key;
    int64_t generation;  /* of the values the redactor was built from */
    int build_redactor;
    host_redact_source_t *redact;
    host_secrets_audit_fn audit;
    void *audit_ud;
};

/* ---- small helpers ----------------------------------------------------------- */

static int db_err(host_secrets_t *s, agentd_err_t *err, const char *what)
{
    return agentd_err_set(err, AGENTD_EIO, "secrets: %s: %s", what, sqlite3_errmsg(s->db->sql));
}

static int prepare(host_secrets_t *s, const char *sql, sqlite3_stmt **st, agentd_err_t *err)
{
    if (sqlite3_prepare_v2(s->db->sql, sql, -1, st, NULL) != SQLITE_OK)
        return db_err(s, err, "prepare");
    return 0;
}

static int begin(host_secrets_t *s, const char *how, agentd_err_t *err)
{
    return host_db_exec(s->db, how, err);
}

static void rollback(host_secrets_t *s)
{
    host_db_exec(s->db, "ROLLBACK", NULL);
}

static int commit(host_secrets_t *s, agentd_err_t *err)
{
    int rc = host_db_exec(s->db, "COMMIT", err);
    if (rc != 0)
        rollback(s);
    return rc;
}

static int name_char(char c, int first)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
           (!first && c >= '0' && c <= '9');
}

int host_secrets_check_name(const char *name, agentd_err_t *err)
{
    if (name == NULL || name[0] == '\0')
        return agentd_err_set(err, AGENTD_EINVAL, "a secret needs a name");
    size_t n = strlen(name);
    int ok = n <= HOST_SECRET_NAME_MAX;
    for (size_t i = 0; ok && i < n; i++)
        ok = name_char(name[i], i == 0);
    if (!ok)
        return agentd_err_set(err, AGENTD_EINVAL,
                              "invalid secret name \"%.*s%s\": a name is 1 to %d letters, digits "
                              "and _, not starting with a digit",
                              n > 64 ? 64 : (int)n, name, n > 64 ? "..." : "",
                              HOST_SECRET_NAME_MAX);
    return 0;
}

int host_secrets_check_value(const void *value, size_t len, agentd_err_t *err)
{
    if (len < HOST_SECRET_VALUE_MIN)
        return agentd_err_set(err, AGENTD_EINVAL,
                              "the value is %zu byte%s long: a secret must be at least %d bytes, "
                              "since a shorter one cannot be redacted safely from output",
                              len, len == 1 ? "" : "s", HOST_SECRET_VALUE_MIN);
    if (len > HOST_SECRET_VALUE_MAX)
        return agentd_err_set(err, AGENTD_EINVAL,
                              "the value is %zu bytes long: a secret is at most %d bytes (64 KiB)",
                              len, HOST_SECRET_VALUE_MAX);
    if (memchr(value, '\0', len) != NULL)
        return agentd_err_set(err, AGENTD_EINVAL,
                              "the value holds a NUL byte, which cannot be passed to a sandbox "
                              "in its environment; encode it (e.g. base64) first");
    return 0;
}

/* "agentd.secret.v1" 0 scope 0 scope_id 0 name, into a malloc'd buffer. */
static uint8_t *record_aad(const char *scope, const char *scope_id, const char *name, size_t *len)
{
    static const char tag[] = "agentd.secret.v1";
    size_t a = sizeof tag, b = strlen(scope) + 1, c = strlen(scope_id) + 1, d = strlen(name);
    uint8_t *p = malloc(a + b + c + d);
    if (p == NULL)
        return NULL;
    memcpy(p, tag, a);
    memcpy(p + a, scope, b);
    memcpy(p + a + b, scope_id, c);
    memcpy(p + a + b + c, name, d);
    *len = a + b + c + d;
    return p;
}

static size_t wrap_aad(int64_t key_id, const char *master_id, char *buf, size_t size)
{
    int n = snprintf(buf, size, "agentd.datakey.v1%c%" PRId64 "%c%s", 0, key_id, 0, master_id);
    return n > 0 && (size_t)n < size ? (size_t)n : 0;
}

static const data_key_t *find_key(const host_secrets_t *s, int64_t id)
{
    for (size_t i = 0; i < s->nkeys; i++)
        if (s->keys[i].id == id)
            return &s->keys[i];
    return NULL;
}

static void audit_row(host_secrets_t *s, const char *action, const char *name,
                      const host_secret_use_t *use, int *failed)
{
    sqlite3_stmt *st = NULL;
    int ok = sqlite3_prepare_v2(s->db->sql,
                                "INSERT INTO secret_audit(ts, action, name, scope, scope_id, "
                                "session, plugin, purpose) VALUES (" NOW_SQL
                                ", ?, ?, 'global', '', ?, ?, ?)",
                                -1, &st, NULL) == SQLITE_OK;
    if (ok) {
        sqlite3_bind_text(st, 1, action, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, use != NULL ? use->session : NULL, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, use != NULL ? use->plugin : NULL, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, use != NULL ? use->purpose : NULL, -1, SQLITE_STATIC);
        ok = sqlite3_step(st) == SQLITE_DONE;
    }
    sqlite3_finalize(st);
    if (failed != NULL)
        *failed = !ok;
}

/* ---- the redactor ----------------------------------------------------------------- */

static int read_generation(host_secrets_t *s, int64_t *gen)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db->sql, "SELECT generation FROM secret_meta WHERE id = 1", -1,
                           &st, NULL) != SQLITE_OK)
        return AGENTD_EIO;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *gen = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : AGENTD_EIO;
}

static int bump_generation(host_secrets_t *s, agentd_err_t *err)
{
    if (host_db_exec(s->db, "UPDATE secret_meta SET generation = generation + 1 WHERE id = 1",
                     err) != 0)
        return AGENTD_EIO;
    return 0;
}

/* Decrypts one row (data_key_id, nonce, ciphertext at columns col..col+2)
 * into a malloc'd NUL-terminated value. AGENTD_EIO if it does not open. */
static int open_row(host_secrets_t *s, sqlite3_stmt *st, int col, const char *scope,
                    const char *scope_id, const char *name, char **value, size_t *len)
{
    const data_key_t *k = find_key(s, sqlite3_column_int64(st, col));
    const void *nonce = sqlite3_column_blob(st, col + 1);
    int nonce_len = sqlite3_column_bytes(st, col + 1);
    const void *ct = sqlite3_column_blob(st, col + 2);
    int ct_len = sqlite3_column_bytes(st, col + 2);
    if (k == NULL || nonce == NULL || nonce_len != SEC_NONCE_LEN || ct == NULL ||
        ct_len < SEC_TAG_LEN)
        return AGENTD_EIO;
    size_t aad_len;
    uint8_t *aad = record_aad(scope, scope_id, name, &aad_len);
    char *pt = malloc((size_t)ct_len - SEC_TAG_LEN + 1);
    if (aad == NULL || pt == NULL) {
        free(aad);
        free(pt);
        return AGENTD_ENOMEM;
    }
    int rc = sec_open(k->key, aad, aad_len, nonce, ct, (size_t)ct_len, (uint8_t *)pt);
    free(aad);
    if (rc != 0) {
        free(pt); /* sec_open wiped it */
        return AGENTD_EIO;
    }
    *len = (size_t)ct_len - SEC_TAG_LEN;
    pt[*len] = '\0';
    *value = pt;
    return 0;
}

/* Decrypts every value (in one read transaction, with its generation) and
 * swaps in a redactor built from them. */
static int rebuild_redactor(host_secrets_t *s, agentd_err_t *err)
{
    if (!s->build_redactor)
        return 0;
    /* A savepoint: one snapshot, and it nests in a transaction the caller
     * may have open on the shared connection. */
    if (begin(s, "SAVEPOINT secrets_read", err) != 0)
        return AGENTD_EIO;
    int64_t gen = 0;
    sqlite3_stmt *st = NULL;
    host_redact_value_t *vals = NULL;
    size_t n = 0, cap = 0;
    int rc = read_generation(s, &gen) != 0 ? db_err(s, err, "generation") : 0;
    if (rc == 0)
        rc = prepare(s, "SELECT scope, scope_id, name, data_key_id, nonce, ciphertext "
                        "FROM secrets ORDER BY scope, scope_id, name", &st, err);
    while (rc == 0) {
        int step = sqlite3_step(st);
        if (step == SQLITE_DONE)
            break;
        if (step != SQLITE_ROW) {
            rc = db_err(s, err, "reading secrets");
            break;
        }
        const char *scope = (const char *)sqlite3_column_text(st, 0);
        const char *scope_id = (const char *)sqlite3_column_text(st, 1);
        const char *name = (const char *)sqlite3_column_text(st, 2);
        char *v;
        size_t len;
        int orc = open_row(s, st, 3, scope != NULL ? scope : "", scope_id != NULL ? scope_id : "",
                           name != NULL ? name : "", &v, &len);
        if (orc == AGENTD_ENOMEM) {
            rc = agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
            break;
        }
        if (orc != 0) {
            if (s->log != NULL)
                host_log(s->log, AGENTD_LOG_WARN, COMPONENT,
                         "secret %s (scope %s) does not decrypt: it was tampered with or "
                         "copied from another record; set it again", name != NULL ? name : "?",
                         scope != NULL ? scope : "?");
            continue;
        }
        if (n == cap) {
            size_t ncap = cap != 0 ? cap * 2 : 16;
            host_redact_value_t *nv = malloc(ncap * sizeof *nv);
            if (nv == NULL) {
                host_secrets_free_value(v, len);
                rc = agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
                break;
            }
            if (n > 0)
                memcpy(nv, vals, n * sizeof *nv);
            free(vals);
            vals = nv;
            cap = ncap;
        }
        vals[n].data = v;
        vals[n].len = len;
        n++;
    }
    sqlite3_finalize(st);
    host_db_exec(s->db, "RELEASE secrets_read", NULL);
    host_redactor_t *r = NULL;
    if (rc == 0 && host_redactor_new(vals, n, &r) != 0)
        rc = agentd_err_set(err, AGENTD_ENOMEM, "out of memory building the redactor");
    for (size_t i = 0; i < n; i++)
        host_secrets_free_value((char *)vals[i].data, vals[i].len);
    free(vals);
    if (rc != 0)
        return rc;
    host_redact_source_set(s->redact, r);
    s->generation = gen;
    return 0;
}

int host_secrets_refresh(host_secrets_t *s, agentd_err_t *err)
{
    int64_t gen;
    if (!s->build_redactor)
        return 0;
    if (read_generation(s, &gen) != 0)
        return db_err(s, err, "generation");
    if (gen == s->generation)
        return 0;
    int rc = rebuild_redactor(s, err);
    return rc != 0 ? rc : 1;
}

host_redact_source_t *host_secrets_redact_source(host_secrets_t *s)
{
    return s->redact;
}

/* ---- opening ---------------------------------------------------------------------- */

const char *host_secrets_config_master_key_file(const host_config_t *cfg)
{
    /* The configuration has no "secrets" section yet: the default,
     * <data_dir>/master.key. Once config.h has the key, this returns it
     * (see docs/secrets.md, "Where the master key lives"). */
    (void)cfg;
    return NULL;
}

static int count_rows(host_secrets_t *s, const char *sql, int64_t *n)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db->sql, sql, -1, &st, NULL) != SQLITE_OK)
        return AGENTD_EIO;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : AGENTD_EIO;
}

static int seal_wrap(const uint8_t master[SEC_KEY_LEN], const char *master_id, int64_t key_id,
                     const uint8_t dk[SEC_KEY_LEN], uint8_t out[WRAP_LEN])
{
    char aad[96];
    size_t aad_len = wrap_aad(key_id, master_id, aad, sizeof aad);
    if (aad_len == 0)
        return AGENTD_EINVAL;
    return sec_seal(master, aad, aad_len, dk, SEC_KEY_LEN, out, out + SEC_NONCE_LEN);
}

static int insert_wrap(host_secrets_t *s, int64_t key_id, const char *master_id,
                       const uint8_t wrapped[WRAP_LEN], agentd_err_t *err)
{
    sqlite3_stmt *st = NULL;
    int rc = prepare(s, "INSERT INTO secret_key_wraps(data_key_id, master_key_id, wrapped, "
                        "created_at) VALUES (?, ?, ?, " NOW_SQL ") "
                        "ON CONFLICT(data_key_id, master_key_id) DO UPDATE SET "
                        "wrapped = excluded.wrapped, created_at = excluded.created_at",
                     &st, err);
    if (rc != 0)
        return rc;
    sqlite3_bind_int64(st, 1, key_id);
    sqlite3_bind_text(st, 2, master_id, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, wrapped, WRAP_LEN, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = db_err(s, err, "storing the wrapped data key");
    sqlite3_finalize(st);
    return rc;
}

/* First use: a random data key, wrapped by the master key. */
static int create_data_key(host_secrets_t *s, const uint8_t master[SEC_KEY_LEN],
                           agentd_err_t *err)
{
    if (begin(s, "BEGIN IMMEDIATE", err) != 0)
        return AGENTD_EIO;
    int64_t n = 0;
    if (count_rows(s, "SELECT COUNT(*) FROM secret_data_keys", &n) != 0) {
        rollback(s);
        return db_err(s, err, "counting data keys");
    }
    if (n > 0) { /* another process made it meanwhile */
        rollback(s);
        return 0;
    }
    uint8_t dk[SEC_KEY_LEN], wrapped[WRAP_LEN];
    int rc = sec_random(dk, sizeof dk) == 0 ? 0
             : agentd_err_set(err, AGENTD_EIO, "no random bytes for the data key");
    if (rc == 0)
        rc = host_db_exec(s->db, "INSERT INTO secret_data_keys(id, created_at) VALUES (1, "
                                 NOW_SQL ")", err);
    if (rc == 0 && seal_wrap(master, s->master_id, 1, dk, wrapped) != 0)
        rc = agentd_err_set(err, AGENTD_EIO, "cannot wrap the data key");
    if (rc == 0)
        rc = insert_wrap(s, 1, s->master_id, wrapped, err);
    sec_wipe(dk, sizeof dk);
    if (rc != 0) {
        rollback(s);
        return rc;
    }
    return commit(s, err);
}

/* Unwraps every data key with the master key. */
static int load_data_keys(host_secrets_t *s, const uint8_t master[SEC_KEY_LEN], agentd_err_t *err)
{
    int64_t n = 0;
    if (count_rows(s, "SELECT COUNT(*) FROM secret_data_keys", &n) != 0)
        return db_err(s, err, "counting data keys");
    if (n <= 0 || n > 1024)
        return agentd_err_set(err, AGENTD_EIO, "secrets: the store has %" PRId64 " data keys",
                              n);
    /* A page-aligned block, locked in memory when the system allows it. */
    size_t bytes = (size_t)n * sizeof(data_key_t);
    s->keys_bytes = bytes;
    s->keys = calloc(1, bytes);
    if (s->keys == NULL)
        return agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    s->keys_locked = mlock(s->keys, bytes) == 0;
    sqlite3_stmt *st = NULL;
    int rc = prepare(s, "SELECT k.id, w.wrapped, (SELECT group_concat(master_key_id, ', ') "
                        "FROM secret_key_wraps o WHERE o.data_key_id = k.id) "
                        "FROM secret_data_keys k LEFT JOIN secret_key_wraps w "
                        "ON w.data_key_id = k.id AND w.master_key_id = ? ORDER BY k.id",
                     &st, err);
    if (rc != 0)
        return rc;
    sqlite3_bind_text(st, 1, s->master_id, -1, SQLITE_STATIC);
    while (rc == 0) {
        int step = sqlite3_step(st);
        if (step == SQLITE_DONE)
            break;
        if (step != SQLITE_ROW || s->nkeys >= (size_t)n) {
            rc = db_err(s, err, "reading data keys");
            break;
        }
        int64_t id = sqlite3_column_int64(st, 0);
        const uint8_t *w = sqlite3_column_blob(st, 1);
        int wlen = sqlite3_column_bytes(st, 1);
        const char *others = (const char *)sqlite3_column_text(st, 2);
        if (w == NULL) {
            rc = agentd_err_set(err, AGENTD_EIO,
                                "the master key (id %s, from %s) does not open this store: its "
                                "data key is wrapped for master key id %s. Use the key this "
                                "data directory was created with (a master.key from another "
                                "installation, or the wrong %s?)",
                                s->master_id, s->master_source,
                                others != NULL ? others : "(none)", HOST_SECRETS_ENV_MASTER_KEY);
            break;
        }
        char aad[96];
        size_t aad_len = wrap_aad(id, s->master_id, aad, sizeof aad);
        data_key_t *k = &s->keys[s->nkeys];
        if (wlen != WRAP_LEN || aad_len == 0 ||
            sec_open(master, aad, aad_len, w, w + SEC_NONCE_LEN, SEC_KEY_LEN + SEC_TAG_LEN,
                     k->key) != 0) {
            rc = agentd_err_set(err, AGENTD_EIO,
                                "the data key wrapped for master key id %s does not decrypt: "
                                "the database was tampered with", s->master_id);
            break;
        }
        k->id = id;
        s->nkeys++;
        s->current_key = id;
    }
    sqlite3_finalize(st);
    return rc;
}

/* A crash between writing the new key file and dropping the old wrap leaves
 * wraps older than the current key's: drop them now. (Newer wraps are left:
 * they belong to a rotation that had not yet switched the key file, and the
 * next rotation replaces them.) */
static void finish_rotation(host_secrets_t *s)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db->sql,
                           "DELETE FROM secret_key_wraps WHERE master_key_id != ?1 AND id < "
                           "(SELECT MIN(id) FROM secret_key_wraps WHERE master_key_id = ?1)",
                           -1, &st, NULL) != SQLITE_OK)
        return;
    sqlite3_bind_text(st, 1, s->master_id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_DONE && sqlite3_changes(s->db->sql) > 0 && s->log != NULL)
        host_log(s->log, AGENTD_LOG_INFO, COMPONENT,
                 "finished an interrupted master key rotation: the old key's wrap is removed");
    sqlite3_finalize(st);
}

static int load_master(host_secrets_t *s, const host_secrets_opts_t *o, uint8_t key[SEC_KEY_LEN],
                       agentd_err_t *err)
{
    if (o->master_key_env != NULL) {
        if (sec_key_decode(o->master_key_env, strlen(o->master_key_env), key) != 0)
            return agentd_err_set(err, AGENTD_EINVAL,
                                  "%s is set but is not a key: give 64 hex digits or base64 of "
                                  "32 bytes (e.g. the output of `openssl rand -hex 32`)",
                                  HOST_SECRETS_ENV_MASTER_KEY);
        s->master_source = strdup("environment " HOST_SECRETS_ENV_MASTER_KEY);
        return s->master_source != NULL ? 0 : agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    }
    if (o->master_key_file != NULL) {
        s->master_path = strdup(o->master_key_file);
    } else {
        size_t n = strlen(o->data_dir) + sizeof "/" HOST_SECRETS_MASTER_KEY_FILE;
        if ((s->master_path = malloc(n)) != NULL)
            snprintf(s->master_path, n, "%s/%s", o->data_dir, HOST_SECRETS_MASTER_KEY_FILE);
    }
    if (s->master_path == NULL ||
        (s->master_source = malloc(strlen(s->master_path) + sizeof "file ")) == NULL)
        return agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    sprintf(s->master_source, "file %s", s->master_path);
    int rc = sec_master_read(s->master_path, key, err);
    if (rc != AGENTD_ENOENT)
        return rc;
    int64_t n = 0;
    if (count_rows(s, "SELECT COUNT(*) FROM secret_data_keys", &n) != 0)
        return db_err(s, err, "counting data keys");
    if (n > 0)
        return agentd_err_set(err, AGENTD_ENOENT,
                              "master key file %s does not exist, but this data directory "
                              "already holds encrypted secrets: restore the key file (mode "
                              "0600), or set %s; agentd will not make a new key that cannot "
                              "open them",
                              s->master_path, HOST_SECRETS_ENV_MASTER_KEY);
    int created = 0;
    rc = sec_master_create(s->master_path, key, &created, err);
    if (rc == 0 && created && s->log != NULL)
        host_log(s->log, AGENTD_LOG_INFO, COMPONENT,
                 "created the master key %s (mode 0600); back it up: without it the secrets "
                 "cannot be decrypted", s->master_path);
    return rc;
}

int host_secrets_open(host_db_t *db, const host_secrets_opts_t *opts, host_secrets_t **out,
                      agentd_err_t *err)
{
    *out = NULL;
    if (db == NULL || opts == NULL || opts->data_dir == NULL)
        return agentd_err_set(err, AGENTD_EINVAL, "secrets: a database and data_dir are needed");
    host_secrets_t *s = calloc(1, sizeof *s);
    if (s == NULL)
        return agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    s->db = db;
    s->log = opts->log;
    s->build_redactor = !opts->no_redactor;
    s->generation = -1;
    s->redact = host_redact_source_new();
    if (s->redact == NULL) {
        free(s);
        return agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    }
    uint8_t master[SEC_KEY_LEN];
    int rc = host_db_migrate(db, COMPONENT, migrations, sizeof migrations / sizeof migrations[0],
                             err);
    if (rc == 0)
        rc = load_master(s, opts, master, err);
    if (rc == 0 && sec_key_id(master, s->master_id) != 0)
        rc = agentd_err_set(err, AGENTD_EIO, "cannot compute the master key id");
    if (rc == 0)
        rc = create_data_key(s, master, err);
    if (rc == 0)
        rc = load_data_keys(s, master, err);
    sec_wipe(master, sizeof master);
    if (rc == 0)
        finish_rotation(s);
    if (rc == 0)
        rc = rebuild_redactor(s, err);
    if (rc != 0) {
        host_secrets_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

void host_secrets_close(host_secrets_t *s)
{
    if (s == NULL)
        return;
    if (s->keys != NULL) {
        sec_wipe(s->keys, s->keys_bytes);
        if (s->keys_locked)
            munlock(s->keys, s->keys_bytes);
        free(s->keys);
    }
    host_redact_source_free(s->redact);
    free(s->master_path);
    free(s->master_source);
    free(s);
}

const char *host_secrets_master_key_id(const host_secrets_t *s)
{
    return s->master_id;
}

const char *host_secrets_master_key_source(const host_secrets_t *s)
{
    return s->master_source;
}

void host_secrets_set_audit(host_secrets_t *s, host_secrets_audit_fn fn, void *ud)
{
    s->audit = fn;
    s->audit_ud = ud;
}

/* ---- set, remove, list ---------------------------------------------------------------- */

int host_secrets_set(host_secrets_t *s, const char *name, const void *value, size_t len,
                     int *created, agentd_err_t *err)
{
    int rc = host_secrets_check_name(name, err);
    if (rc == 0)
        rc = host_secrets_check_value(value, len, err);
    if (rc != 0)
        return rc;
    const data_key_t *k = find_key(s, s->current_key);
    size_t aad_len;
    uint8_t *aad = record_aad(HOST_SECRET_SCOPE_GLOBAL, "", name, &aad_len);
    uint8_t *ct = malloc(len + SEC_TAG_LEN);
    uint8_t nonce[SEC_NONCE_LEN];
    if (aad == NULL || ct == NULL) {
        free(aad);
        free(ct);
        return agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    }
    if (k == NULL || sec_seal(k->key, aad, aad_len, value, len, nonce, ct) != 0) {
        free(aad);
        free(ct);
        return agentd_err_set(err, AGENTD_EIO, "cannot encrypt secret %s", name);
    }
    free(aad);
    int64_t existed = 0;
    sqlite3_stmt *st = NULL;
    rc = begin(s, "BEGIN IMMEDIATE", err);
    if (rc == 0)
        rc = prepare(s, "SELECT COUNT(*) FROM secrets WHERE scope = 'global' AND scope_id = '' "
                        "AND name = ?", &st, err);
    if (rc == 0) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW)
            existed = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        st = NULL;
        rc = prepare(s, "INSERT INTO secrets(scope, scope_id, name, data_key_id, nonce, "
                        "ciphertext, created_at, updated_at) VALUES ('global', '', ?, ?, ?, ?, "
                        NOW_SQL ", " NOW_SQL ") ON CONFLICT(scope, scope_id, name) DO UPDATE SET "
                        "data_key_id = excluded.data_key_id, nonce = excluded.nonce, "
                        "ciphertext = excluded.ciphertext, updated_at = excluded.updated_at",
                     &st, err);
    }
    if (rc == 0) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, k->id);
        sqlite3_bind_blob(st, 3, nonce, sizeof nonce, SQLITE_STATIC);
        sqlite3_bind_blob(st, 4, ct, (int)(len + SEC_TAG_LEN), SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = db_err(s, err, "storing the secret");
    }
    sqlite3_finalize(st);
    free(ct);
    if (rc == 0)
        rc = bump_generation(s, err);
    if (rc == 0)
        audit_row(s, existed ? "update" : "create", name, NULL, NULL);
    if (rc == 0)
        rc = commit(s, err);
    else if (sqlite3_get_autocommit(s->db->sql) == 0)
        rollback(s);
    if (rc != 0)
        return rc;
    if (created != NULL)
        *created = existed == 0;
    if (s->log != NULL)
        host_log(s->log, AGENTD_LOG_INFO, COMPONENT, "secret.%s name=%s scope=global",
                 existed ? "update" : "create", name);
    rc = host_secrets_refresh(s, err);
    return rc < 0 ? rc : 0;
}

int host_secrets_remove(host_secrets_t *s, const char *name, agentd_err_t *err)
{
    int rc = host_secrets_check_name(name, err);
    if (rc != 0)
        return rc;
    sqlite3_stmt *st = NULL;
    rc = begin(s, "BEGIN IMMEDIATE", err);
    if (rc == 0)
        rc = prepare(s, "DELETE FROM secrets WHERE scope = 'global' AND scope_id = '' AND "
                        "name = ?", &st, err);
    if (rc == 0) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = db_err(s, err, "removing the secret");
        else if (sqlite3_changes(s->db->sql) == 0)
            rc = agentd_err_set(err, AGENTD_ENOENT, "there is no secret %s", name);
    }
    sqlite3_finalize(st);
    if (rc == 0)
        rc = bump_generation(s, err);
    if (rc == 0)
        audit_row(s, "remove", name, NULL, NULL);
    if (rc == 0)
        rc = commit(s, err);
    else if (sqlite3_get_autocommit(s->db->sql) == 0)
        rollback(s);
    if (rc != 0)
        return rc;
    if (s->log != NULL)
        host_log(s->log, AGENTD_LOG_INFO, COMPONENT, "secret.remove name=%s scope=global", name);
    rc = host_secrets_refresh(s, err);
    return rc < 0 ? rc : 0;
}

int host_secrets_exists(host_secrets_t *s, const char *name, agentd_err_t *err)
{
    int rc = host_secrets_check_name(name, err);
    sqlite3_stmt *st = NULL;
    if (rc == 0)
        rc = prepare(s, "SELECT 1 FROM secrets WHERE scope = 'global' AND scope_id = '' AND "
                        "name = ?", &st, err);
    if (rc != 0)
        return rc;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    sqlite3_finalize(st);
    if (step == SQLITE_ROW)
        return 1;
    if (step == SQLITE_DONE)
        return 0;
    return db_err(s, err, "looking up a secret");
}

int host_secrets_list(host_secrets_t *s, host_secret_info_t **items, size_t *count,
                      agentd_err_t *err)
{
    *items = NULL;
    *count = 0;
    sqlite3_stmt *st = NULL;
    int rc = prepare(s, "SELECT name, scope, scope_id, created_at, updated_at FROM secrets "
                        "ORDER BY scope, scope_id, name", &st, err);
    host_secret_info_t *v = NULL;
    size_t n = 0, cap = 0;
    while (rc == 0) {
        int step = sqlite3_step(st);
        if (step == SQLITE_DONE)
            break;
        if (step != SQLITE_ROW) {
            rc = db_err(s, err, "listing secrets");
            break;
        }
        if (n == cap) {
            size_t ncap = cap != 0 ? cap * 2 : 16;
            host_secret_info_t *nv = realloc(v, ncap * sizeof *nv);
            if (nv == NULL) {
                rc = agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
                break;
            }
            v = nv;
            cap = ncap;
        }
        host_secret_info_t *it = &v[n];
        memset(it, 0, sizeof *it);
        const char *col[5];
        for (int i = 0; i < 5; i++) {
            col[i] = (const char *)sqlite3_column_text(st, i);
            if (col[i] == NULL)
                col[i] = "";
        }
        snprintf(it->name, sizeof it->name, "%s", col[0]);
        snprintf(it->scope, sizeof it->scope, "%s", col[1]);
        snprintf(it->created, sizeof it->created, "%s", col[3]);
        snprintf(it->updated, sizeof it->updated, "%s", col[4]);
        if ((it->scope_id = strdup(col[2])) == NULL) {
            rc = agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
            break;
        }
        n++;
    }
    sqlite3_finalize(st);
    if (rc != 0) {
        host_secrets_list_free(v, n);
        return rc;
    }
    *items = v;
    *count = n;
    return 0;
}

void host_secrets_list_free(host_secret_info_t *items, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(items[i].scope_id);
    free(items);
}

/* ---- reading ------------------------------------------------------------------------- */

void host_secrets_free_value(char *value, size_t len)
{
    if (value != NULL)
        sec_wipe_free(value, len + 1);
}

static void audit_read(host_secrets_t *s, const char *name, const host_secret_use_t *use,
                       int *failed)
{
    audit_row(s, "read", name, use, failed);
    if (*failed)
        return;
    const char *session = use != NULL && use->session != NULL ? use->session : "-";
    const char *plugin = use != NULL && use->plugin != NULL ? use->plugin : "-";
    const char *purpose = use != NULL && use->purpose != NULL ? use->purpose : "-";
    if (s->log != NULL)
        host_log(s->log, AGENTD_LOG_INFO, COMPONENT,
                 "secret.read name=%s scope=global session=%s plugin=%s purpose=%s", name,
                 session, plugin, purpose);
    if (s->audit != NULL)
        s->audit(s->audit_ud, name, HOST_SECRET_SCOPE_GLOBAL, use);
}

/* Reads and decrypts one record, with the generation of the same snapshot. */
static int read_record(host_secrets_t *s, const char *name, const char *where, int64_t *gen,
                       char **value, size_t *len, agentd_err_t *err)
{
    if (begin(s, "SAVEPOINT secrets_read", err) != 0)
        return AGENTD_EIO;
    sqlite3_stmt *st = NULL;
    int rc = read_generation(s, gen) != 0 ? db_err(s, err, "generation") : 0;
    if (rc == 0)
        rc = prepare(s, "SELECT data_key_id, nonce, ciphertext FROM secrets WHERE "
                        "scope = 'global' AND scope_id = '' AND name = ?", &st, err);
    if (rc == 0) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        int step = sqlite3_step(st);
        if (step == SQLITE_DONE && where != NULL)
            rc = agentd_err_set(err, AGENTD_ENOENT,
                                "secret %s does not exist (referenced in %s): set it with "
                                "`agentd secret set %s`", name, where, name);
        else if (step == SQLITE_DONE)
            rc = agentd_err_set(err, AGENTD_ENOENT,
                                "secret %s does not exist: set it with `agentd secret set %s`",
                                name, name);
        else if (step != SQLITE_ROW)
            rc = db_err(s, err, "reading the secret");
        else {
            int orc = open_row(s, st, 0, HOST_SECRET_SCOPE_GLOBAL, "", name, value, len);
            if (orc == AGENTD_ENOMEM)
                rc = agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
            else if (orc != 0)
                rc = agentd_err_set(err, AGENTD_EIO,
                                    "secret %s does not decrypt: the record was tampered with "
                                    "or copied from another secret; set it again", name);
        }
    }
    sqlite3_finalize(st);
    host_db_exec(s->db, "RELEASE secrets_read", NULL);
    return rc;
}

static int get_checked(host_secrets_t *s, const char *name, const host_secret_use_t *use,
                       char **value, size_t *len, agentd_err_t *err)
{
    *value = NULL;
    *len = 0;
    int rc = host_secrets_check_name(name, err);
    if (rc != 0)
        return rc;
    const char *where = use != NULL ? use->where : NULL;
    /* The redactor must know the value before it leaves: read the record with
     * its generation, and rebuild the redactor if it is behind. */
    for (int attempt = 0;; attempt++) {
        int64_t gen = 0;
        char *v = NULL;
        size_t n = 0;
        rc = read_record(s, name, where, &gen, &v, &n, err);
        if (rc != 0)
            return rc;
        if (!s->build_redactor || gen == s->generation) {
            *value = v;
            *len = n;
            break;
        }
        host_secrets_free_value(v, n);
        if (attempt >= 4)
            return agentd_err_set(err, AGENTD_EBUSY,
                                  "secret %s: the secrets keep changing; try again", name);
        rc = rebuild_redactor(s, err);
        if (rc != 0)
            return rc;
    }
    int failed = 0;
    audit_read(s, name, use, &failed);
    if (failed) {
        host_secrets_free_value(*value, *len);
        *value = NULL;
        *len = 0;
        return agentd_err_set(err, AGENTD_EIO,
                              "secret %s: the read could not be audited (%s), so it is refused",
                              name, sqlite3_errmsg(s->db->sql));
    }
    return 0;
}

int host_secrets_get(host_secrets_t *s, const char *name, const host_secret_use_t *use,
                     char **value, size_t *len, agentd_err_t *err)
{
    if (value == NULL || len == NULL)
        return agentd_err_set(err, AGENTD_EINVAL, "secrets: value and len are required");
    return get_checked(s, name, use, value, len, err);
}

int host_secrets_check(host_secrets_t *s, const char *name, agentd_err_t *err)
{
    host_secret_use_t use = {.purpose = "check"};
    char *v;
    size_t n;
    int rc = get_checked(s, name, &use, &v, &n, err);
    host_secrets_free_value(v, n);
    return rc;
}

/* ---- rotation ------------------------------------------------------------------------- */

int host_secrets_rotate_master(host_secrets_t *s, const char *new_key_text,
                               char old_id[HOST_SECRET_KEY_ID_LEN + 1],
                               char new_id[HOST_SECRET_KEY_ID_LEN + 1], agentd_err_t *err)
{
    uint8_t nk[SEC_KEY_LEN];
    char nid[SEC_KEY_ID_LEN + 1];
    int from_file = s->master_path != NULL;
    int rc = 0;
    if (from_file) {
        sec_master_discard(s->master_path);
        if (sec_random(nk, sizeof nk) != 0)
            return agentd_err_set(err, AGENTD_EIO, "no random bytes for the new master key");
    } else if (new_key_text == NULL) {
        return agentd_err_set(err, AGENTD_EINVAL,
                              "the master key comes from %s, so agentd cannot write the new "
                              "one: generate it (openssl rand -hex 32), run rotate-key with it "
                              "in %s, then give it to the daemon as %s",
                              HOST_SECRETS_ENV_MASTER_KEY, HOST_SECRETS_ENV_NEW_MASTER_KEY,
                              HOST_SECRETS_ENV_MASTER_KEY);
    } else if (sec_key_decode(new_key_text, strlen(new_key_text), nk) != 0) {
        return agentd_err_set(err, AGENTD_EINVAL,
                              "%s is not a key: give 64 hex digits or base64 of 32 bytes",
                              HOST_SECRETS_ENV_NEW_MASTER_KEY);
    }
    if (sec_key_id(nk, nid) != 0) {
        sec_wipe(nk, sizeof nk);
        return agentd_err_set(err, AGENTD_EIO, "cannot compute the key id");
    }
    if (strcmp(nid, s->master_id) == 0) {
        sec_wipe(nk, sizeof nk);
        return agentd_err_set(err, AGENTD_EINVAL, "the new master key is the current one");
    }
    /* 1. The new key file, beside the old one. */
    if (from_file)
        rc = sec_master_stage(s->master_path, nk, err);
    /* 2. Wraps under the new key (both keys open the store now). */
    if (rc == 0)
        rc = begin(s, "BEGIN IMMEDIATE", err);
    for (size_t i = 0; rc == 0 && i < s->nkeys; i++) {
        uint8_t wrapped[WRAP_LEN];
        if (seal_wrap(nk, nid, s->keys[i].id, s->keys[i].key, wrapped) != 0)
            rc = agentd_err_set(err, AGENTD_EIO, "cannot wrap the data key");
        else
            rc = insert_wrap(s, s->keys[i].id, nid, wrapped, err);
        if (rc != 0)
            rollback(s);
    }
    sec_wipe(nk, sizeof nk);
    if (rc == 0 && from_file)
        rc = commit(s, err);
    /* 3. Switch the key file (atomic rename). */
    if (rc == 0 && from_file) {
        rc = sec_master_commit(s->master_path, err);
        if (rc == 0)
            rc = begin(s, "BEGIN IMMEDIATE", err);
    }
    if (rc != 0 && from_file)
        sec_master_discard(s->master_path);
    /* 4. Drop the old key's wraps: it no longer opens the store. */
    sqlite3_stmt *st = NULL;
    if (rc == 0)
        rc = prepare(s, "DELETE FROM secret_key_wraps WHERE master_key_id != ?", &st, err);
    if (rc == 0) {
        sqlite3_bind_text(st, 1, nid, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = db_err(s, err, "removing the old wraps");
        sqlite3_finalize(st);
        if (rc == 0) {
            audit_row(s, "rotate", NULL, NULL, NULL);
            rc = commit(s, err);
        } else {
            rollback(s);
        }
    }
    if (rc != 0) {
        if (from_file && rc != 0 && s->log != NULL)
            host_log(s->log, AGENTD_LOG_WARN, COMPONENT,
                     "master key rotation did not finish; the key in %s opens the store "
                     "(an old wrap may remain until the next start or rotation)",
                     s->master_path);
        return rc;
    }
    if (old_id != NULL)
        memcpy(old_id, s->master_id, SEC_KEY_ID_LEN + 1);
    if (new_id != NULL)
        memcpy(new_id, nid, SEC_KEY_ID_LEN + 1);
    if (s->log != NULL)
        host_log(s->log, AGENTD_LOG_INFO, COMPONENT, "master key rotated: key id %s -> %s",
                 s->master_id, nid);
    memcpy(s->master_id, nid, sizeof nid);
    return 0;
}
