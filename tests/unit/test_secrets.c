/* The secret store: AES-256-GCM properties (fresh nonces, any flipped byte
 * fails, associated data binds the record), master key files (created 0600,
 * unsafe modes and owners refused, text forms, the environment), names and
 * values, set/get/list/remove, moved and tampered records, rotation (old
 * records readable, old key refused, interrupted rotations), the audit,
 * the redactor following the store, references, environments and 0600
 * files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "secrets/crypto.h"
#include "secrets/master_key.h"
#include "secrets/secrets.h"

#define VALUE_A "ghp_A1b2C3d4E5f6G7h8I9j0"
#define VALUE_B "xoxb-1234-5678-abcdefSLACK"

typedef struct fx {
    char dir[64];
    char db_path[128];
    char key_path[128];
    host_db_t *db;
    host_secrets_t *s;
    FILE *log_out;
    host_log_t log;
} fx_t;

static int open_store(fx_t *f, const char *env_key, host_secrets_t **out, agentd_err_t *err)
{
    host_secrets_opts_t o = {.data_dir = f->dir, .master_key_env = env_key, .log = &f->log};
    return host_secrets_open(f->db, &o, out, err);
}

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    strcpy(f->dir, "/tmp/agentd-secrets-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->db_path, sizeof f->db_path, "%s/agentd.db", f->dir);
    snprintf(f->key_path, sizeof f->key_path, "%s/master.key", f->dir);
    f->log_out = tmpfile();
    assert_non_null(f->log_out);
    assert_int_equal(host_log_init(&f->log, AGENTD_LOG_DEBUG, HOST_LOG_FORMAT_TEXT, f->log_out), 0);
    agentd_err_t err = {{0}};
    assert_int_equal(host_db_open(f->db_path, &f->db, &err), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    host_secrets_close(f->s);
    host_db_close(f->db);
    host_log_close(&f->log);
    fclose(f->log_out);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* The whole log so far. */
static char *log_text(fx_t *f)
{
    fflush(f->log_out);
    long n = ftell(f->log_out);
    char *buf = calloc(1, (size_t)n + 1);
    assert_non_null(buf);
    rewind(f->log_out);
    assert_int_equal(fread(buf, 1, (size_t)n, f->log_out), (size_t)n);
    fseek(f->log_out, 0, SEEK_END);
    return buf;
}

static int file_contains(const char *path, const char *needle)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL)
        return 0;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    rewind(fp);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    int found = memmem(buf, (size_t)n, needle, strlen(needle)) != NULL;
    free(buf);
    return found;
}

static void sql(fx_t *f, const char *text)
{
    agentd_err_t err = {{0}};
    if (host_db_exec(f->db, text, &err) != 0)
        fail_msg("%s: %s", text, err.msg);
}

static void read_file(const char *path, uint8_t *buf, size_t n)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    assert_int_equal(fread(buf, 1, n, fp), n);
    fclose(fp);
}

static void write_file(const char *path, const void *buf, size_t n, mode_t mode)
{
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
    assert_true(fd >= 0);
    assert_int_equal(fchmod(fd, mode), 0);
    assert_int_equal(write(fd, buf, n), (ssize_t)n);
    close(fd);
}

/* ---- AES-256-GCM ------------------------------------------------------------ */

static void test_seal_fresh_nonce_and_ciphertext(void **state)
{
    (void)state;
    uint8_t key[SEC_KEY_LEN], n1[SEC_NONCE_LEN], n2[SEC_NONCE_LEN];
    uint8_t c1[64 + SEC_TAG_LEN], c2[64 + SEC_TAG_LEN], pt[64];
    assert_int_equal(sec_random(key, sizeof key), 0);
    const char *msg = "the same plaintext twice";
    size_t len = strlen(msg);
    assert_int_equal(sec_seal(key, "ad", 2, msg, len, n1, c1), 0);
    assert_int_equal(sec_seal(key, "ad", 2, msg, len, n2, c2), 0);
    assert_memory_not_equal(n1, n2, SEC_NONCE_LEN);
    assert_memory_not_equal(c1, c2, len + SEC_TAG_LEN);
    assert_int_equal(sec_open(key, "ad", 2, n1, c1, len + SEC_TAG_LEN, pt), 0);
    assert_memory_equal(pt, msg, len);
    assert_int_equal(sec_open(key, "ad", 2, n2, c2, len + SEC_TAG_LEN, pt), 0);
    assert_memory_equal(pt, msg, len);
}

static void test_seal_any_flipped_byte_fails(void **state)
{
    (void)state;
    uint8_t key[SEC_KEY_LEN], nonce[SEC_NONCE_LEN], ct[32 + SEC_TAG_LEN], pt[32];
    assert_int_equal(sec_random(key, sizeof key), 0);
    const char *msg = "flip every bit of me, one at a t";
    size_t len = strlen(msg), clen = len + SEC_TAG_LEN;
    assert_int_equal(sec_seal(key, "aad", 3, msg, len, nonce, ct), 0);
    for (size_t i = 0; i < SEC_NONCE_LEN; i++) {
        nonce[i] ^= 0x01;
        assert_int_equal(sec_open(key, "aad", 3, nonce, ct, clen, pt), AGENTD_EIO);
        nonce[i] ^= 0x01;
    }
    for (size_t i = 0; i < clen; i++) { /* ciphertext, then the tag */
        ct[i] ^= 0x80;
        assert_int_equal(sec_open(key, "aad", 3, nonce, ct, clen, pt), AGENTD_EIO);
        ct[i] ^= 0x80;
    }
    assert_int_equal(sec_open(key, "aaD", 3, nonce, ct, clen, pt), AGENTD_EIO);
    assert_int_equal(sec_open(key, "aad", 2, nonce, ct, clen, pt), AGENTD_EIO);
    assert_int_equal(sec_open(key, "aad", 3, nonce, ct, clen - 1, pt), AGENTD_EIO);
    key[31] ^= 1;
    assert_int_equal(sec_open(key, "aad", 3, nonce, ct, clen, pt), AGENTD_EIO);
    key[31] ^= 1;
    assert_int_equal(sec_open(key, "aad", 3, nonce, ct, clen, pt), 0);
    assert_memory_equal(pt, msg, len);
}

static void test_key_ids_and_key_text(void **state)
{
    (void)state;
    uint8_t k1[SEC_KEY_LEN], k2[SEC_KEY_LEN], d[SEC_KEY_LEN];
    for (int i = 0; i < SEC_KEY_LEN; i++)
        k1[i] = (uint8_t)(i * 7 + 250);
    memcpy(k2, k1, sizeof k2);
    k2[0] ^= 1;
    char id1[17], id1b[17], id2[17];
    assert_int_equal(sec_key_id(k1, id1), 0);
    assert_int_equal(sec_key_id(k1, id1b), 0);
    assert_int_equal(sec_key_id(k2, id2), 0);
    assert_string_equal(id1, id1b);
    assert_string_not_equal(id1, id2);
    assert_int_equal(strlen(id1), 16);

    char hex[65], b64[45], b64url[45];
    for (int i = 0; i < SEC_KEY_LEN; i++)
        sprintf(hex + 2 * i, "%02X", k1[i]);
    sec_base64_encode(k1, SEC_KEY_LEN, b64, 0);
    sec_base64_encode(k1, SEC_KEY_LEN, b64url, 1);
    assert_int_equal(sec_key_decode(hex, strlen(hex), d), 0);
    assert_memory_equal(d, k1, SEC_KEY_LEN);
    assert_int_equal(sec_key_decode(b64, strlen(b64), d), 0);
    assert_memory_equal(d, k1, SEC_KEY_LEN);
    assert_int_equal(sec_key_decode(b64url, 43, d), 0); /* no padding */
    assert_memory_equal(d, k1, SEC_KEY_LEN);
    char spaced[80];
    snprintf(spaced, sizeof spaced, "  %s\n", hex);
    assert_int_equal(sec_key_decode(spaced, strlen(spaced), d), 0);
    assert_memory_equal(d, k1, SEC_KEY_LEN);
    /* Wrong lengths and characters. */
    assert_int_equal(sec_key_decode(hex, 62, d), AGENTD_EINVAL);
    hex[10] = 'g';
    assert_int_equal(sec_key_decode(hex, 64, d), AGENTD_EINVAL);
    assert_int_equal(sec_key_decode("c2hvcnQ=", 8, d), AGENTD_EINVAL);
    b64[5] = '*';
    assert_int_equal(sec_key_decode(b64, 44, d), AGENTD_EINVAL);
}

/* ---- master key files ------------------------------------------------------------ */

static void test_master_key_created_0600(void **state)
{
    fx_t *f = *state;
    agentd_err_t err = {{0}};
    umask(0);
    int rc = open_store(f, NULL, &f->s, &err);
    umask(022);
    assert_int_equal(rc, 0);
    struct stat st;
    assert_int_equal(stat(f->key_path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(st.st_size, 32);
    assert_int_equal(st.st_uid, geteuid());
    char *log = log_text(f);
    assert_non_null(strstr(log, "created the master key"));
    free(log);
    /* No temporary file left behind. */
    char cmd[160];
    snprintf(cmd, sizeof cmd, "test $(ls -A %s | grep -c tmp) -eq 0", f->dir);
    assert_int_equal(system(cmd), 0);
}

static void test_master_key_modes(void **state)
{
    fx_t *f = *state;
    agentd_err_t err = {{0}};
    assert_int_equal(open_store(f, NULL, &f->s, &err), 0);
    assert_int_equal(host_secrets_set(f->s, "A", VALUE_A, strlen(VALUE_A), NULL, &err), 0);
    host_secrets_close(f->s);
    f->s = NULL;
    static const struct {
        mode_t mode;
        int ok;
    } cases[] = {{0600, 1}, {0400, 1}, {0644, 0}, {0640, 0}, {0604, 0},
                 {0620, 0}, {0602, 0}, {0660, 0}, {0700, 1}, {0666, 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(chmod(f->key_path, cases[i].mode), 0);
        host_secrets_t *s = NULL;
        memset(&err, 0, sizeof err);
        int rc = open_store(f, NULL, &s, &err);
        if (cases[i].ok) {
            assert_int_equal(rc, 0);
            assert_int_equal(host_secrets_check(s, "A", &err), 0);
        } else {
            if (rc != AGENTD_EPERM)
                fail_msg("mode %04o: rc %d, expected AGENTD_EPERM (%s)", cases[i].mode, rc,
                         err.msg);
            assert_non_null(strstr(err.msg, "chmod 600"));
            assert_non_null(strstr(err.msg, f->key_path));
            assert_null(s);
        }
        host_secrets_close(s);
    }
    assert_int_equal(chmod(f->key_path, 0600), 0);
}

static void test_master_key_owner_and_type(void **state)
{
    fx_t *f = *state;
    agentd_err_t err = {{0}};
    assert_int_equal(open_store(f, NULL, &f->s, &err), 0);
    host_secrets_close(f->s);
    f->s = NULL;
    if (geteuid() == 0) {
        assert_int_equal(chown(f->key_path, 65534, 65534), 0);
        assert_int_equal(open_store(f, NULL, &f->s, &err), AGENTD_EPERM);
        assert_non_null(strstr(err.msg, "owned by uid 65534"));
        assert_int_equal(chown(f->key_path, 0, 0), 0);
    }
    /* A directory is not a key. */
    char other[160];
    snprintf(other, sizeof other, "%s/keydir", f->dir);
    assert_int_equal(mkdir(other, 0700), 0);
    host_secrets_opts_t o = {.data_dir = f->dir, .master_key_file = other};
    assert_int_equal(host_secrets_open(f->db, &o, &f->s, &err), AGENTD_EPERM);
    /* Content that is not a key. */
    snprintf(other, sizeof other, "%s/bad.key", f->dir);
    write_file(other, "not a key\n", 10, 0600);
    assert_int_equal(host_secrets_open(f->db, &o, &f->s, &err), AGENTD_EINVAL);
    assert_non_null(strstr(err.msg, "expected the 32 bytes"));
}

static void test_master_key_text_file_and_env(void **state)
{
    fx_t *f = *state;
    agentd_err_t err = {{0}};
    uint8_t key[SEC_KEY_LEN];
    char hex[66], b64[46];
    assert_int_equal(sec_random(key, sizeof key), 0);
    for (int i = 0; i < SEC_KEY_LEN; i++)
        sprintf(hex + 2 * i, "%02x", key[i]);
    sec_base64_encode(key, SEC_KEY_LEN, b64, 0);

    /* From the environment: no key file is made. */
    assert_int_equal(open_store(f, hex, &f->s, &err), 0);
    assert_int_equal(access(f->key_path, F_OK), -1);
    assert_string_equal(host_secrets_master_key_source(f->s), "environment AGENTD_MASTER_KEY");
    assert_int_equal(host_secrets_set(f->s, "A", VALUE_A, strlen(VALUE_A), NULL, &err), 0);
    host_secrets_close(f->s);
    f->s = NULL;
    /* The same key in base64 opens it; another key does not; neither does
     * text that is not a key (and the message never quotes it). */
    assert_int_equal(open_store(f, b64, &f->s, &err), 0);
    assert_int_equal(host_secrets_check(f->s, "A", &err), 0);
    host_secrets_close(f->s);
    f->s = NULL;
    char other[66];
    memcpy(other, hex, sizeof other);
    other[0] = other[0] == '0' ? '1' : '0';
    assert_int_equal(open_store(f, other, &f->s, &err), AGENTD_EIO);
    assert_non_null(strstr(err.msg, "does not open this store"));
    assert_null(strstr(err.msg, other));
    assert_int_equal(open_store(f, "hunter2hunter2", &f->s, &err), AGENTD_EINVAL);
    assert_null(strstr(err.msg, "hunter2"));
    /* The key as hex text in the file, with a newline. */
    char line[80];
    snprintf(line, sizeof line, "%s\n", hex);
    write_file(f->key_path, line, strlen(line), 0600);
    assert_int_equal(open_store(f, NULL, &f->s, &err), 0);
    assert_int_equal(host_secrets_check(f->s, "A", &err), 0);
}

static void test_missing_key_file_with_secrets_refused(void **state)
{
    fx_t *f = *state;
    agentd_err_t err = {{0}};
    assert_int_equal(open_store(f, NULL, &f->s, &err), 0);
    assert_int_equal(host_secrets_set(f->s, "A", VALUE_A, strlen(VALUE_A), NULL, &err), 0);
    host_secrets_close(f->s);
    f->s = NULL;
    char moved[160];
    snprintf(moved, sizeof moved, "%s.moved", f->key_path);
    assert_int_equal(rename(f->key_path, moved), 0);
    assert_int_equal(open_store(f, NULL, &f->s, &err), AGENTD_ENOENT);
    assert_non_null(strstr(err.msg, "already holds encrypted secrets"));
    assert_int_equal(access(f->key_path, F_OK), -1); /* no new key was made */
    assert_int_equal(rename(moved, f->key_path), 0);
    assert_int_equal(open_store(f, NULL, &f->s, &err), 0);
}

/* ---- names and values ----------------------------------------------------------------- */

static void test_names_and_values(void **state)
{
    (void)state;
    agentd_err_t err;
    static const char *const good[] = {"A", "_", "a1", "GH_TOKEN", "x_Y_9", "_0"};
    static const char *const bad[] = {"", "1A", "a-b", "a b", "a.b", "é", "a$", "${x}", "a\n"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        assert_int_equal(host_secrets_check_name(good[i], &err), 0);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(host_secrets_check_name(bad[i], &err), AGENTD_EINVAL);
    char name[HOST_SECRET_NAME_MAX + 2];
    memset(name, 'N', sizeof name);
    name[HOST_SECRET_NAME_MAX] = '\0';
    assert_int_equal(host_secrets_check_name(name, &err), 0);
    name[HOST_SECRET_NAME_MAX] = 'N';
    name[HOST_SECRET_NAME_MAX + 1] = '\0';
    assert_int_equal(host_secrets_check_name(name, &err), AGENTD_EINVAL);

    char *big = malloc(HOST_SECRET_VALUE_MAX + 1);
    assert_non_null(big);
    memset(big, 'v', HOST_SECRET_VALUE_MAX + 1);
    assert_int_equal(host_secrets_check_value("abc", 3, &err), AGENTD_EINVAL);
    assert_non_null(strstr(err.msg, "cannot be redacted"));
    assert_null(strstr(err.msg, "abc"));
    assert_int_equal(host_secrets_check_value("", 0, &err), AGENTD_EINVAL);
    assert_int_equal(host_secrets_check_value("abcd", 4, &err), 0);
    assert_int_equal(host_secrets_check_value(big, HOST_SECRET_VALUE_MAX, &err), 0);
    assert_int_equal(host_secrets_check_value(big, HOST_SECRET_VALUE_MAX + 1, &err),
                     AGENTD_EINVAL);
    assert_int_equal(host_secrets_check_value("ab\0cd", 5, &err), AGENTD_EINVAL);
    free(big);
}

/* ---- the store -------------------------------------------------------------------------- */

static void test_set_get_list_remove(void **state)
{
    fx_t *f = *state;
    agentd_err_t err = {{0}};
    assert_int_equal(open_store(f, NULL, &f->s, &err), 0);
    int created = -1;
    assert_int_equal(host_secrets_set(f->s, "B", VALUE_B, strlen(VALUE_B), &created, &err), 0);
    assert_int_equal(created, 1);
    assert_int_equal(host_secrets_set(f->s, "A", "first", 5, &created, &err), 0);
    assert_int_equal(host_secrets_set(f->s, "A", VALUE_A, strlen(VALUE_A), &created, &err), 0);
    assert_int_equal(created, 0);
    assert_int_equal(host_secrets_set(f->s, "bad-name", VALUE_A, 5, NULL, &err), AGENTD_EINVAL);
    assert_int_equal(host_secrets_set(f->s, "C", "abc", 3, NULL, &err), AGENTD_EINVAL);

    char *v = NULL;
    size_t len = 0;
    host_secret_use_t use = {.session = "s-1", .plugin = "vcs-github", .purpose = "plugin"};
    assert_int_equal(host_secrets_get(f->s, "A", &use, &v, &len, &err), 0);
    assert_int_equal(len, strlen(VALUE_A));
    assert_string_equal(v, VALUE_A);
    host_secrets_free_value(v, len);
    /* Reads nest in a transaction someone else has open on the connection. */
    sql(f, "BEGIN");
    assert_int_equal(host_secrets_get(f->s, "B", &use, &v, &len, &err), 0);
    assert_string_equal(v, VALUE_B);
    host_secrets_free_value(v, len);
    assert_int_equal(host_secrets_refresh(f->s, &err), 0);
    sql(f, "COMMIT");

    host_secret_info_t *items;
    size_t n;
    assert_int_equal(host_secrets_list(f->s, &items, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(items[0].name, "A");
    assert_string_equal(items[1].name, "B");
    assert_string_equal(items[0].scope, "global");
    assert_string_equal(items[0].scope_id, "");
    assert_int_equal(strlen(items[0].created), 20);
    assert_int_equal(items[0].created[19], 'Z');
    host_secrets_list_free(items, n);
    assert_int_equal(host_secrets_exists(f->s, "A", &err), 1);
    assert_int_equal(host_secrets_exists(f->s, "Z", &err), 0);

    assert_int_equal(host_secrets_remove(f->s, "B", &err), 0);
    assert_int_equal(host_secrets_remove(f->s, "B", &err), AGENTD_ENOENT);
    use.where = "session s-1 env SLACK";
    assert_int_equal(host_secrets_get(f->s, "B", &use, &v, &len, &err), AGENTD_ENOENT);
    assert_null(v);
    assert_non_null(strstr(err.msg, "secret B does not exist"));
    assert_non_null(strstr(err.msg, "session s-1 env SLACK"));

    /* The database never holds a value in plain text. */
    host_secrets_close(f->s);
    f->s = NULL;
    host_db_close(f->db);
    f->db = NULL;
    char wal[160];
    snprintf(wal, sizeof wal, "%s-wal", f->db_path);
    assert_false(file_contains(f->db_path, VALUE_A));
    assert_false(file_contains(wal, VALUE_A));
    assert_false(file_contains(f->db_path, VALUE_B));
    assert_false(file_contains(wal, VALUE_B));
    assert_int_equal(host_db_open(f->db_path, &f->db, &err), 0);
}

static void test_same_value_twice_different_ciphertexts(void **state)
{
    fx_t *f = *state;
    agentd_err_t err = {{0}};
    assert_int_equal(open_store(f, NULL, &f->s, &err), 0);
    assert_int_equal(host_secrets_set(f->s, "A", VALUE_A, strlen(VALUE_A), NULL, &err), 0);
    assert_int_equal(host_secrets_set(f->s, "B", VALUE_A, strlen(VALUE_A), NULL, &err), 0);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(f->db->sql,
                                        "SELECT nonce, ciphertext FROM secrets ORDER BY name", -1,
                                        &st, NULL),
                     SQLITE_OK);
    uint8_t nonce[2][SEC_NONCE_LEN], ct[2][64];
    for (int i = 0; i < 2; i++) {
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_int_equal(sqlite3_column_bytes(st, 0), SEC_NONCE_LEN);
        assert_int_equal(sqlite3_column_bytes(st, 1), strlen(VALUE_A) + SEC_TAG_LEN);
        memcpy(nonce[i], sqlite3_column_blob(st, 0), SEC_NONCE_LEN);
        memcpy(ct[i], sqlite3_column_blob(st, 1), strlen(VALUE_A) + SEC_TAG_LEN);
    }
    sqlite3_finalize(st);
    assert_memory_not_equal(nonce[0], nonce[1], SEC_NONCE_LEN);
    assert_memory_not_equal(ct[0], ct[1], strlen(VALUE_A) + SEC_TAG_LEN);
}

static void test_moved_and_tampered_records_fail(void **state)
{
    fx_t *f = *state;
    agentd_err_t err = {{0}};
    assert_int_equal(open_store(f, NULL, &f->s, &err), 0);
    assert_int_equal(host_secrets_set(f->s, "A", VALUE_A, strlen(VALUE_A), NULL, &err), 0);
    assert_int_equal(host_secrets_set(f->s, "B", VALUE_B, strlen(VALUE_B), NULL, &err), 0);
    assert_int_equal(host_secrets_set(f->s, "C", VALUE_B, strlen(VALUE_B), NULL, &err), 0);
    /* A's ciphertext and nonce copied into B: B no longer decrypts. */
    sql(f, "UPDATE secrets SET nonce = (SELECT nonce FROM secrets WHERE name = 'A'), "
           "ciphertext = (SELECT ciphertext FROM secrets WHERE name = 'A') WHERE name = 'B'");
    assert_int_equal(host_secrets_check(f->s, "B", &err), AGENTD_EIO);
    assert_non_null(strstr(err.msg, "does not decrypt"));
    assert_null(strstr(err.msg, VALUE_A));
    /* The record renamed: the name is bound too. */
    sql(f, "UPDATE secrets SET name = 'A2' WHERE name = 'A'");
    assert_int_equal(host_secrets_check(f->s, "A2", &err), AGENTD_EIO);
    sql(f, "UPDATE secrets SET name = 'A' WHERE name = 'A2'");
    assert_int_equal(host_secrets_check(f->s, "A", &err), 0);
    /* Moved to another scope: the scope is bound. */
    sql(f, "UPDATE secrets SET scope = 'project', scope_id = 'p1' WHERE name = 'A'");
    sql(f, "INSERT INTO secrets SELECT 'global', '', name, data_key_id, nonce, ciphertext, "
           "created_at, updated_at FROM secrets WHERE name = 'A'");
    assert_int_equal(host_secrets_check(f->s, "A", &err), 0);
    sql(f, "DELETE FROM secrets WHERE scope = 'project'");
    /* One flipped byte of C's ciphertext (first and last: the tag) or nonce. */
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(f->db->sql,
                                        "SELECT nonce, ciphertext FROM secrets WHERE name = 'C'",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    uint8_t nonce[SEC_NONCE_LEN], ct[64];
    int clen = sqlite3_column_bytes(st, 1);
    memcpy(nonce, sqlite3_column_blob(st, 0), SEC_NONCE_LEN);
    memcpy(ct, sqlite3_column_blob(st, 1), (size_t)clen);
    sqlite3_finalize(st);
    for (int which = 0; which < 3; which++) {
        uint8_t n2[SEC_NONCE_LEN], c2[64];
        memcpy(n2, nonce, sizeof n2);
        memcpy(c2, ct, (size_t)clen);
        if (which == 0)
            n2[3] ^= 1;
        else if (which == 1)
            c2[0] ^= 1;
        else
            c2[clen - 1] ^= 1; /* the tag */
        assert_int_equal(sqlite3_prepare_v2(f->db->sql,
                                            "UPDATE secrets SET nonce = ?, ciphertext = ? "
                                            "WHERE name = 'C'", -1, &st, NULL),
                         SQLITE_OK);
        sqlite3_bind_blob(st, 1, n2, sizeof n2, SQLITE_STATIC);
        sqlite3_bind_blob(st, 2, c2, clen, SQLITE_STATIC);
        assert_int_equal(sqlite3_step(st), SQLITE_DONE);
        sqlite3_finalize(st);
        assert_int_equal(host_secrets_check(f->s, "C", &err), AGENTD_EIO);
    }
    /* A tampered record does not stop the store from opening (the redactor
     * skips it with a warning naming it). */
    host_secrets_close(f->s);
    f->s = NULL;
    assert_int_equal(open_store(f, NULL, &f->s, &err), 0);
    char *log = log_text(f);
    assert_non_null(strstr(log, "secret C (scope global) does not decrypt"));
    free(log);
}

static void test_rotation(void **state)
{
    fx_t *f = *state;
    agentd_err_t err = {{0}};
    assert_int_equal(open_store(f, NULL, &f->s, &err), 0);
    assert_int_equal(host_secrets_set(f->s, "A", VALUE_A, strlen(VALUE_A), NULL, &err), 0);
    uint8_t old_key[SEC_KEY_LEN], new_key[SEC_KEY_LEN];
    read_file(f->key_path, old_key, sizeof old_key);
    char old_id[17], new_id[17];
    assert_int_equal(host_secrets_rotate_master(f->s, NULL, old_id, new_id, &err), 0);
    assert_string_not_equal(old_id, new_id);
    assert_string_equal(host_secrets_master_key_id(f->s), new_id);
    read_file(f->key_path, new_key, sizeof new_key);
    assert_memory_not_equal(old_key, new_key, sizeof old_key);
    struct stat st;
    assert_int_equal(stat(f->key_path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    char staged[160];
    snprintf(staged, sizeof staged, "%s.new", f->key_path);
    assert_int_equal(access(staged, F_OK), -1);
    /* The running store still reads (it holds the data key), and can write. */
    assert_int_equal(host_secrets_check(f->s, "A", &err), 0);
    assert_int_equal(host_secrets_set(f->s, "B", VALUE_B, strlen(VALUE_B), NULL, &err), 0);
    host_secrets_close(f->s);
    f->s = NULL;
    /* Reopened with the new key: old and new records read. */
    assert_int_equal(open_store(f, NULL, &f->s, &err), 0);
    char *v;
    size_t len;
    assert_int_equal(host_secrets_get(f->s, "A", NULL, &v, &len, &err), 0);
    assert_string_equal(v, VALUE_A);
    host_secrets_free_value(v, len);
    assert_int_equal(host_secrets_get(f->s, "B", NULL, &v, &len, &err), 0);
    assert_string_equal(v, VALUE_B);
    host_secrets_free_value(v, len);
    host_secrets_close(f->s);
    f->s = NULL;
    /* The old key no longer opens the store. */
    write_file(f->key_path, old_key, sizeof old_key, 0600);
    assert_int_equal(open_store(f, NULL, &f->s, &err), AGENTD_EIO);
    assert_non_null(strstr(err.msg, "does not open this store"));
    assert_non_null(strstr(err.msg, new_id));
    write_file(f->key_path, new_key, sizeof new_key, 0600);
    assert_int_equal(open_store(f, NULL, &f->s, &err), 0);
    assert_int_equal(host_secrets_check(f->s, "A", &err), 0);
    /* Once only one wrap remains. */
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(f->db->sql, "SELECT COUNT(*) FROM secret_key_wraps", -1,
                                        &q, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(q, 0), 1);
    sqlite3_finalize(q);
}

static void test_rotation_with_env_keys(void **state)
{
    fx_t *f = *state;
    agentd_err_t err = {{0}};
    const char *k1 = "1111111111111111111111111111111111111111111111111111111111111111";
    const char *k2 = "2222222222222222222222222222222222222222222222222222222222222222";
    assert_int_equal(open_store(f, k1, &f->s, &err), 0);
    assert_int_equal(host_secrets_set(f->s, "A", VALUE_A, strlen(VALUE_A), NULL, &err), 0);
    /* Without a new key: refused with the way to do it. */
    assert_int_equal(host_secrets_rotate_master(f->s, NULL, NULL, NULL, &err), AGENTD_EINVAL);
    assert_non_null(strstr(err.msg, "AGENTD_NEW_MASTER_KEY"));
    assert_int_equal(host_secrets_rotate_master(f->s, k1, NULL, NULL, &err), AGENTD_EINVAL);
    assert_int_equal(host_secrets_rotate_master(f->s, "nope", NULL, NULL, &err), AGENTD_EINVAL);
    assert_int_equal(host_secrets_rotate_master(f->s, k2, NULL, NULL, &err), 0);
    assert_int_equal(access(f->key_path, F_OK), -1);
    host_secrets_close(f->s);
    f->s = NULL;
    assert_int_equal(open_store(f, k1, &f->s, &err), AGENTD_EIO);
    assert_int_equal(open_store(f, k2, &f->s, &err), 0);
    assert_int_equal(host_secrets_check(f->s, "A", &err), 0);
}

/* A crash can stop a rotation after the new wraps were committed, before or
 * after the key file was renamed. Both states must open with the key file
 * they left, and the next start tidies up. */
static void test_interrupted_rotation(void **state)
{
    fx_t *f = *state;
    agentd_err_t err = {{0}};
    assert_int_equal(open_store(f, NULL, &f->s, &err), 0);
    assert_int_equal(host_secrets_set(f->s, "A", VALUE_A, strlen(VALUE_A), NULL, &err), 0);
    uint8_t old_key[SEC_KEY_LEN];
    read_file(f->key_path, old_key, sizeof old_key);
    sql(f, "CREATE TABLE saved_wraps AS SELECT * FROM secret_key_wraps");
    assert_int_equal(host_secrets_rotate_master(f->s, NULL, NULL, NULL, &err), 0);
    host_secrets_close(f->s);
    f->s = NULL;
    /* Crash after the rename, before the old wrap was dropped: the old wrap
     * (older id) is back. The new key opens and drops it. */
    sql(f, "INSERT INTO secret_key_wraps SELECT * FROM saved_wraps");
    assert_int_equal(open_store(f, NULL, &f->s, &err), 0);
    assert_int_equal(host_secrets_check(f->s, "A", &err), 0);
    host_secrets_close(f->s);
    f->s = NULL;
    uint8_t new_key[SEC_KEY_LEN];
    read_file(f->key_path, new_key, sizeof new_key);
    write_file(f->key_path, old_key, sizeof old_key, 0600);
    assert_int_equal(open_store(f, NULL, &f->s, &err), AGENTD_EIO);
    /* Crash before the rename: the old key file, both wraps. The old key
     * opens and keeps the newer wrap (it is not older than its own). */
    sql(f, "INSERT INTO secret_key_wraps SELECT * FROM saved_wraps");
    assert_int_equal(open_store(f, NULL, &f->s, &err), 0);
    assert_int_equal(host_secrets_check(f->s, "A", &err), 0);
    host_secrets_close(f->s);
    f->s = NULL;
    /* ... and the next rotation leaves exactly one wrap. */
    assert_int_equal(open_store(f, NULL, &f->s, &err), 0);
    assert_int_equal(host_secrets_rotate_master(f->s, NULL, NULL, NULL, &err), 0);
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(f->db->sql, "SELECT COUNT(*) FROM secret_key_wraps", -1,
                                        &q, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(q, 0), 1);
    sqlite3_finalize(q);
}

/* ---- audit --------------------------------------------------------------------------------- */

typedef struct audit_seen {
    int calls;
    char name[32], session[32], plugin[32], purpose[32];
} audit_seen_t;

static void on_audit(void *ud, const char *name, const char *scope, const host_secret_use_t *use)
{
    audit_seen_t *a = ud;
    a->calls++;
    assert_string_equal(scope, "global");
    snprintf(a->name, sizeof a->name, "%s", name);
    snprintf(a->session, sizeof a->session, "%s", use->session != NULL ? use->session : "");
    snprintf(a->plugin, sizeof a->plugin, "%s", use->plugin != NULL ? use->plugin : "");
    snprintf(a->purpose, sizeof a->purpose, "%s", use->purpose != NULL ? use->purpose : "");
}

static void test_audit(void **state)
{
    fx_t *f = *state;
    agentd_err_t err = {{0}};
    assert_int_equal(open_store(f, NULL, &f->s, &err), 0);
    /* The log redacts through the store, as the daemon sets it up. */
    f->log.redact = host_redact_log_hook;
    f->log.redact_ud = host_secrets_redact_source(f->s);
    audit_seen_t seen = {0};
    host_secrets_set_audit(f->s, on_audit, &seen);
    assert_int_equal(host_secrets_set(f->s, "GH_TOKEN", VALUE_A, strlen(VALUE_A), NULL, &err), 0);
    assert_int_equal(seen.calls, 0); /* setting is not a read */
    host_secret_use_t use = {.session = "s-42", .plugin = "vcs-github", .purpose = "plugin"};
    char *v;
    size_t len;
    assert_int_equal(host_secrets_get(f->s, "GH_TOKEN", &use, &v, &len, &err), 0);
    /* A careless log line with the value in it is redacted. */
    host_log(&f->log, AGENTD_LOG_INFO, "test", "token is %s!", v);
    host_secrets_free_value(v, len);
    assert_int_equal(seen.calls, 1);
    assert_string_equal(seen.name, "GH_TOKEN");
    assert_string_equal(seen.session, "s-42");
    assert_string_equal(seen.plugin, "vcs-github");
    assert_string_equal(seen.purpose, "plugin");
    /* A missing secret is not a read. */
    assert_int_equal(host_secrets_get(f->s, "NOPE", &use, &v, &len, &err), AGENTD_ENOENT);
    assert_int_equal(seen.calls, 1);

    char *log = log_text(f);
    assert_non_null(
        strstr(log, "secret.read name=GH_TOKEN scope=global session=s-42 plugin=vcs-github "
                    "purpose=plugin"));
    assert_non_null(strstr(log, "token is ***!"));
    assert_null(strstr(log, VALUE_A));
    free(log);
    f->log.redact = NULL;

    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(f->db->sql,
                                        "SELECT action, name, session, plugin, purpose FROM "
                                        "secret_audit ORDER BY id", -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "create");
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "read");
    assert_string_equal((const char *)sqlite3_column_text(st, 1), "GH_TOKEN");
    assert_string_equal((const char *)sqlite3_column_text(st, 2), "s-42");
    assert_string_equal((const char *)sqlite3_column_text(st, 3), "vcs-github");
    assert_string_equal((const char *)sqlite3_column_text(st, 4), "plugin");
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);

    /* An audit that cannot be written refuses the read. */
    sql(f, "CREATE TRIGGER no_audit BEFORE INSERT ON secret_audit "
           "BEGIN SELECT RAISE(ABORT, 'audit disk full'); END");
    v = (char *)"x";
    assert_int_equal(host_secrets_get(f->s, "GH_TOKEN", &use, &v, &len, &err), AGENTD_EIO);
    assert_null(v);
    assert_non_null(strstr(err.msg, "could not be audited"));
    assert_int_equal(seen.calls, 1);
}

/* ---- the redactor follows the store ------------------------------------------------------ */

static int redacts(host_secrets_t *s, const char *text)
{
    char *out = NULL;
    assert_int_equal(host_redact_source_text(host_secrets_redact_source(s), text, strlen(text),
                                             &out, NULL),
                     0);
    int changed = out != NULL;
    free(out);
    return changed;
}

static void test_redactor_follows_secrets(void **state)
{
    fx_t *f = *state;
    agentd_err_t err = {{0}};
    assert_int_equal(open_store(f, NULL, &f->s, &err), 0);
    assert_false(redacts(f->s, "say " VALUE_A));
    assert_int_equal(host_secrets_set(f->s, "A", VALUE_A, strlen(VALUE_A), NULL, &err), 0);
    assert_true(redacts(f->s, "say " VALUE_A));
    /* Changed by another process (a second store on the same database):
     * refresh notices, and a read rebuilds before handing a value out. */
    host_db_t *db2;
    host_secrets_t *s2;
    assert_int_equal(host_db_open(f->db_path, &db2, &err), 0);
    host_secrets_opts_t o = {.data_dir = f->dir, .no_redactor = 1};
    assert_int_equal(host_secrets_open(db2, &o, &s2, &err), 0);
    assert_null(host_redact_source_get(host_secrets_redact_source(s2)));
    assert_int_equal(host_secrets_set(s2, "B", VALUE_B, strlen(VALUE_B), NULL, &err), 0);
    assert_false(redacts(f->s, "say " VALUE_B));
    char *v;
    size_t len;
    assert_int_equal(host_secrets_get(f->s, "B", NULL, &v, &len, &err), 0);
    assert_true(redacts(f->s, "say " VALUE_B)); /* known before the value left */
    host_secrets_free_value(v, len);
    assert_int_equal(host_secrets_refresh(f->s, &err), 0);
    assert_int_equal(host_secrets_remove(s2, "A", &err), 0);
    assert_int_equal(host_secrets_refresh(f->s, &err), 1);
    assert_false(redacts(f->s, "say " VALUE_A));
    assert_true(redacts(f->s, "say " VALUE_B));
    host_secrets_close(s2);
    host_db_close(db2);
    /* A stream from the store's source picks up a new secret. */
    host_redact_stream_t *st = host_redact_stream_new(host_secrets_redact_source(f->s));
    assert_non_null(st);
    host_redact_buf_t out = {0};
    assert_int_equal(host_redact_stream_write(st, "one " VALUE_B " two ", 4 + strlen(VALUE_B) + 5,
                                              &out), 0);
    assert_int_equal(host_secrets_set(f->s, "A", VALUE_A, strlen(VALUE_A), NULL, &err), 0);
    assert_int_equal(host_redact_stream_write(st, VALUE_A " three", strlen(VALUE_A) + 6, &out),
                     0);
    assert_int_equal(host_redact_stream_flush(st, &out), 0);
    assert_string_equal(out.data, "one *** two *** three");
    host_redact_buf_free(&out);
    host_redact_stream_free(st);
}

/* ---- references ------------------------------------------------------------------------------ */

static void test_resolve(void **state)
{
    fx_t *f = *state;
    agentd_err_t err = {{0}};
    assert_int_equal(open_store(f, NULL, &f->s, &err), 0);
    assert_int_equal(host_secrets_set(f->s, "A", VALUE_A, strlen(VALUE_A), NULL, &err), 0);
    assert_int_equal(host_secrets_set(f->s, "B", VALUE_B, strlen(VALUE_B), NULL, &err), 0);
    audit_seen_t seen = {0};
    host_secrets_set_audit(f->s, on_audit, &seen);
    host_secret_use_t use = {.session = "s-1", .purpose = "env", .where = "session s-1"};
    static const struct {
        const char *in, *out;
        int reads;
    } ok[] = {
        {"${secret:A}", VALUE_A, 1},
        {"token ${secret:A}!", "token " VALUE_A "!", 1},
        {"${secret:A}${secret:B}", VALUE_A VALUE_B, 2},
        {"https://x:${secret:B}@h/${secret:A}", "https://x:" VALUE_B "@h/" VALUE_A, 2},
        {"no references", "no references", 0},
        {"", "", 0},
        {"${HOME} and $secret:A and ${secret A}", "${HOME} and $secret:A and ${secret A}", 0},
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        host_secret_str_t out = {0};
        int before = seen.calls;
        assert_int_equal(host_secrets_resolve(f->s, ok[i].in, strlen(ok[i].in), &use, &out, &err),
                         0);
        assert_string_equal(out.data, ok[i].out);
        assert_int_equal(out.len, strlen(ok[i].out));
        assert_int_equal(seen.calls - before, ok[i].reads);
        host_secret_str_free(&out);
        assert_null(out.data);
        size_t count = 99;
        assert_int_equal(host_secrets_check_refs(f->s, ok[i].in, strlen(ok[i].in), "x", &count,
                                                 &err), 0);
        assert_int_equal(count, (size_t)ok[i].reads);
        assert_int_equal(host_secrets_has_refs(ok[i].in, strlen(ok[i].in)), ok[i].reads > 0);
    }
    assert_string_equal(seen.purpose, "env");
    assert_string_equal(seen.session, "s-1");

    static const struct {
        const char *in;
        int rc;
        const char *says;
    } bad[] = {
        {"x ${secret:MISSING} y", AGENTD_ENOENT, "secret MISSING does not exist (referenced in "
                                                 "session s-1)"},
        {"${secret:A} ${secret:MISSING}", AGENTD_ENOENT, "MISSING"},
        {"${secret:A", AGENTD_EINVAL, "unterminated secret reference in session s-1"},
        {"${secret:}", AGENTD_EINVAL, "invalid secret reference"},
        {"${secret:1A}", AGENTD_EINVAL, "invalid secret reference"},
        {"${secret:ghp-pasted-token-value}", AGENTD_EINVAL, "at byte 0"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        host_secret_str_t out = {(char *)"x", 1};
        memset(&err, 0, sizeof err);
        assert_int_equal(host_secrets_resolve(f->s, bad[i].in, strlen(bad[i].in), &use, &out,
                                              &err),
                         bad[i].rc);
        assert_null(out.data);
        if (strstr(err.msg, bad[i].says) == NULL)
            fail_msg("\"%s\": message \"%s\" does not say \"%s\"", bad[i].in, err.msg,
                     bad[i].says);
        assert_null(strstr(err.msg, VALUE_A));
        assert_null(strstr(err.msg, "pasted"));
        assert_int_equal(host_secrets_check_refs(f->s, bad[i].in, strlen(bad[i].in),
                                                 "session s-1", NULL, &err),
                         bad[i].rc);
    }
}

static void test_resolve_env(void **state)
{
    fx_t *f = *state;
    agentd_err_t err = {{0}};
    assert_int_equal(open_store(f, NULL, &f->s, &err), 0);
    assert_int_equal(host_secrets_set(f->s, "A", VALUE_A, strlen(VALUE_A), NULL, &err), 0);
    const char *names[] = {"GH_TOKEN", "PLAIN", "URL"};
    const char *values[] = {"${secret:A}", "just text", "https://u:${secret:A}@host"};
    host_secret_use_t use = {.session = "s-9", .purpose = "env", .where = "session s-9"};
    host_secret_env_t env;
    assert_int_equal(host_secrets_resolve_env(f->s, names, values, 3, &use, &env, &err), 0);
    assert_int_equal(env.count, 3);
    assert_string_equal(env.vars[0], "GH_TOKEN=" VALUE_A);
    assert_string_equal(env.vars[1], "PLAIN=just text");
    assert_string_equal(env.vars[2], "URL=https://u:" VALUE_A "@host");
    assert_null(env.vars[3]);
    host_secret_env_free(&env);
    assert_null(env.vars);

    values[1] = "${secret:NOPE}";
    assert_int_equal(host_secrets_resolve_env(f->s, names, values, 3, &use, &env, &err),
                     AGENTD_ENOENT);
    assert_non_null(strstr(err.msg, "referenced in session s-9 env PLAIN"));
    assert_null(env.vars);
    names[1] = "BAD-NAME";
    assert_int_equal(host_secrets_resolve_env(f->s, names, values, 3, &use, &env, &err),
                     AGENTD_EINVAL);
}

static void test_write_file_0600(void **state)
{
    fx_t *f = *state;
    agentd_err_t err = {{0}};
    char path[160], target[160];
    snprintf(path, sizeof path, "%s/token", f->dir);
    snprintf(target, sizeof target, "%s/elsewhere", f->dir);
    umask(0);
    int rc = host_secrets_write_file(path, VALUE_A, strlen(VALUE_A), &err);
    umask(022);
    assert_int_equal(rc, 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_true(file_contains(path, VALUE_A));
    /* Replaced atomically; a symlink at the path is replaced, not followed. */
    write_file(target, "keep", 4, 0644);
    unlink(path);
    assert_int_equal(symlink(target, path), 0);
    assert_int_equal(host_secrets_write_file(path, VALUE_B, strlen(VALUE_B), &err), 0);
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_true(file_contains(path, VALUE_B));
    assert_true(file_contains(target, "keep"));
    char cmd[160];
    snprintf(cmd, sizeof cmd, "test $(ls -A %s | grep -c tmp) -eq 0", f->dir);
    assert_int_equal(system(cmd), 0);
    /* A directory that does not exist: an error naming the path only. */
    snprintf(path, sizeof path, "%s/no/such/dir/token", f->dir);
    assert_int_equal(host_secrets_write_file(path, VALUE_A, strlen(VALUE_A), &err), AGENTD_EIO);
    assert_non_null(strstr(err.msg, path));
    assert_null(strstr(err.msg, VALUE_A));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seal_fresh_nonce_and_ciphertext),
        cmocka_unit_test(test_seal_any_flipped_byte_fails),
        cmocka_unit_test(test_key_ids_and_key_text),
        cmocka_unit_test(test_names_and_values),
        cmocka_unit_test_setup_teardown(test_master_key_created_0600, setup, teardown),
        cmocka_unit_test_setup_teardown(test_master_key_modes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_master_key_owner_and_type, setup, teardown),
        cmocka_unit_test_setup_teardown(test_master_key_text_file_and_env, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_key_file_with_secrets_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_set_get_list_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(test_same_value_twice_different_ciphertexts, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_moved_and_tampered_records_fail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotation_with_env_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interrupted_rotation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redactor_follows_secrets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolve, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolve_env, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_file_0600, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
