/* API tokens: stored as SHA-256, compared in constant time (tokens.h). */
#include "api/tokens.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#define PREFIX "agentd_"
#define PREFIX_LEN 7
#define SECRET_HEX 64

static const host_db_migration_t migrations[] = {
    {1, "CREATE TABLE api_tokens ("
        " id TEXT PRIMARY KEY,"
        " name TEXT NOT NULL,"
        " role TEXT NOT NULL,"
        " hash BLOB NOT NULL,"
        " created_ms INTEGER NOT NULL,"
        " revoked_ms INTEGER,"
        " last_used_ms INTEGER)"},
};

static const char *const role_names[] = {"none", "viewer", "editor", "admin"};

const char *host_api_role_name(host_api_role_t r)
{
    return (unsigned)r < 4 ? role_names[r] : "none";
}

int host_api_role_parse(const char *name, host_api_role_t *out)
{
    for (int i = 1; i < 4; i++)
        if (name != NULL && strcmp(name, role_names[i]) == 0) {
            *out = (host_api_role_t)i;
            return 0;
        }
    return AGENTD_EINVAL;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int host_api_tokens_init(host_db_t *db, agentd_err_t *err)
{
    return host_db_migrate(db, "api_tokens", migrations,
                           sizeof migrations / sizeof migrations[0], err);
}

static void hex(char *out, const unsigned char *in, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static int is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

static int prepare(host_db_t *db, const char *sql, sqlite3_stmt **st, agentd_err_t *err)
{
    if (sqlite3_prepare_v2(db->sql, sql, -1, st, NULL) != SQLITE_OK)
        return agentd_err_set(err, AGENTD_EIO, "api tokens: %s", sqlite3_errmsg(db->sql));
    return 0;
}

int host_api_token_create(host_db_t *db, host_api_role_t role, const char *name,
                          char token[HOST_API_TOKEN_MAX], char id[HOST_API_TOKEN_ID_LEN + 1],
                          agentd_err_t *err)
{
    if (role < HOST_API_ROLE_VIEWER || role > HOST_API_ROLE_ADMIN)
        return agentd_err_set(err, AGENTD_EINVAL, "role: must be viewer, editor or admin");
    if (name != NULL && strlen(name) > 200)
        return agentd_err_set(err, AGENTD_EINVAL, "name: at most 200 bytes");
    unsigned char rnd[HOST_API_TOKEN_ID_LEN / 2 + SECRET_HEX / 2];
    if (RAND_bytes(rnd, (int)sizeof rnd) != 1)
        return agentd_err_set(err, AGENTD_EIO, "api tokens: no random bytes from OpenSSL");
    char secret[SECRET_HEX + 1];
    hex(id, rnd, HOST_API_TOKEN_ID_LEN / 2);
    hex(secret, rnd + HOST_API_TOKEN_ID_LEN / 2, SECRET_HEX / 2);
    snprintf(token, HOST_API_TOKEN_MAX, PREFIX "%s_%s", id, secret);
    OPENSSL_cleanse(rnd, sizeof rnd);
    OPENSSL_cleanse(secret, sizeof secret);
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)token, strlen(token), digest);

    sqlite3_stmt *st;
    int rc = prepare(db,
                     "INSERT INTO api_tokens(id, name, role, hash, created_ms) "
                     "VALUES(?, ?, ?, ?, ?)",
                     &st, err);
    if (rc != 0)
        return rc;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name != NULL ? name : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, host_api_role_name(role), -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 4, digest, (int)sizeof digest, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, now_ms());
    rc = sqlite3_step(st) == SQLITE_DONE
             ? 0
             : agentd_err_set(err, AGENTD_EIO, "api tokens: %s", sqlite3_errmsg(db->sql));
    sqlite3_finalize(st);
    if (rc != 0)
        OPENSSL_cleanse(token, HOST_API_TOKEN_MAX);
    return rc;
}

json_t *host_api_token_list(host_db_t *db, agentd_err_t *err)
{
    sqlite3_stmt *st;
    if (prepare(db,
                "SELECT id, name, role, created_ms, revoked_ms, last_used_ms FROM api_tokens "
                "ORDER BY created_ms, id",
                &st, err) != 0)
        return NULL;
    json_t *arr = json_array();
    int rc;
    while (arr != NULL && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *o = json_pack("{s:s, s:s, s:s, s:I}", "id", (const char *)sqlite3_column_text(st, 0),
                              "name", (const char *)sqlite3_column_text(st, 1), "role",
                              (const char *)sqlite3_column_text(st, 2), "created_ms",
                              (json_int_t)sqlite3_column_int64(st, 3));
        if (o == NULL || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            arr = NULL;
            break;
        }
        for (int c = 4; c <= 5; c++)
            json_object_set_new(o, c == 4 ? "revoked_ms" : "last_used_ms",
                                sqlite3_column_type(st, c) == SQLITE_NULL
                                    ? json_null()
                                    : json_integer(sqlite3_column_int64(st, c)));
    }
    sqlite3_finalize(st);
    if (arr == NULL)
        agentd_err_set(err, AGENTD_ENOMEM, "api tokens: out of memory");
    return arr;
}

int host_api_token_revoke(host_db_t *db, const char *id, agentd_err_t *err)
{
    sqlite3_stmt *st;
    int rc = prepare(db,
                     "UPDATE api_tokens SET revoked_ms = coalesce(revoked_ms, ?) WHERE id = ?",
                     &st, err);
    if (rc != 0)
        return rc;
    sqlite3_bind_int64(st, 1, now_ms());
    sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = agentd_err_set(err, AGENTD_EIO, "api tokens: %s", sqlite3_errmsg(db->sql));
    else if (sqlite3_changes(db->sql) == 0)
        rc = agentd_err_set(err, AGENTD_ENOENT, "no token with id \"%.40s\"", id);
    sqlite3_finalize(st);
    return rc;
}

int host_api_token_verify(host_db_t *db, const char *token, size_t len, host_api_role_t *role,
                          char id[HOST_API_TOKEN_ID_LEN + 1], agentd_err_t *err)
{
    *role = HOST_API_ROLE_NONE;
    size_t want = PREFIX_LEN + HOST_API_TOKEN_ID_LEN + 1 + SECRET_HEX;
    if (len != want || memcmp(token, PREFIX, PREFIX_LEN) != 0 ||
        token[PREFIX_LEN + HOST_API_TOKEN_ID_LEN] != '_' ||
        !is_hex(token + PREFIX_LEN, HOST_API_TOKEN_ID_LEN) ||
        !is_hex(token + PREFIX_LEN + HOST_API_TOKEN_ID_LEN + 1, SECRET_HEX))
        return agentd_err_set(err, AGENTD_EPERM, "malformed token");
    memcpy(id, token + PREFIX_LEN, HOST_API_TOKEN_ID_LEN);
    id[HOST_API_TOKEN_ID_LEN] = '\0';

    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)token, len, digest);
    sqlite3_stmt *st;
    int rc = prepare(db, "SELECT hash, role, revoked_ms FROM api_tokens WHERE id = ?", &st, err);
    if (rc != 0)
        return rc;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    unsigned char stored[SHA256_DIGEST_LENGTH] = {0};
    int found = 0, revoked = 0;
    host_api_role_t r = HOST_API_ROLE_NONE;
    if (sqlite3_step(st) == SQLITE_ROW) {
        found = sqlite3_column_bytes(st, 0) == SHA256_DIGEST_LENGTH;
        if (found)
            memcpy(stored, sqlite3_column_blob(st, 0), SHA256_DIGEST_LENGTH);
        if (host_api_role_parse((const char *)sqlite3_column_text(st, 1), &r) != 0)
            found = 0;
        revoked = sqlite3_column_type(st, 2) != SQLITE_NULL;
    }
    sqlite3_finalize(st);
    /* Compared even when the id is unknown (against zeros), so the time
     * taken does not tell known ids from unknown ones by much. */
    int same = CRYPTO_memcmp(stored, digest, sizeof digest) == 0;
    if (!found || !same)
        return agentd_err_set(err, AGENTD_EPERM, "unknown or wrong token");
    if (revoked)
        return agentd_err_set(err, AGENTD_EPERM, "token %s is revoked", id);
    *role = r;
    if (prepare(db, "UPDATE api_tokens SET last_used_ms = ? WHERE id = ?", &st, NULL) == 0) {
        sqlite3_bind_int64(st, 1, now_ms());
        sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
        sqlite3_step(st);
        sqlite3_finalize(st);
    }
    return 0;
}

int host_api_token_revoked(host_db_t *db, const char *id)
{
    sqlite3_stmt *st;
    if (prepare(db, "SELECT revoked_ms FROM api_tokens WHERE id = ?", &st, NULL) != 0)
        return AGENTD_EIO;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int rc = 1;
    if (sqlite3_step(st) == SQLITE_ROW)
        rc = sqlite3_column_type(st, 0) != SQLITE_NULL;
    sqlite3_finalize(st);
    return rc;
}
