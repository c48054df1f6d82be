/*
 * sandbox-docker's pure parts, without an engine (cmocka): the stdcopy
 * demultiplexer (fed in every split, with refusals), the retry policy, the
 * template content hash and archive, and the profile checks.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "dk.h"
#include "retry.h"
#include "stdcopy.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- stdcopy ----------------------------------------------------------------- */

typedef struct got {
    char out[256], err[256];
    size_t out_len, err_len;
    int refuse_next; /* refuse this many deliveries */
} got_t;

static int collect(void *ud, int stream, const char *data, size_t len)
{
    got_t *g = ud;
    if (g->refuse_next > 0) {
        g->refuse_next--;
        return 1;
    }
    char *b = stream == 1 ? g->out : g->err;
    size_t *n = stream == 1 ? &g->out_len : &g->err_len;
    memcpy(b + *n, data, len);
    *n += len;
    return 0;
}

static size_t frame(char *buf, int stream, const char *s)
{
    size_t n = strlen(s);
    unsigned char h[8] = {(unsigned char)stream, 0, 0, 0, 0, 0, (unsigned char)(n >> 8),
                          (unsigned char)n};
    memcpy(buf, h, 8);
    memcpy(buf + 8, s, n);
    return 8 + n;
}

static size_t sample(char *buf)
{
    size_t n = frame(buf, 1, "hello ");
    n += frame(buf + n, 2, "oops\n");
    n += frame(buf + n, 1, "");
    n += frame(buf + n, 1, "world\n");
    n += frame(buf + n, 3, "engine says no\n");
    return n;
}

static void test_demux_every_split(void **state)
{
    (void)state;
    char buf[200];
    size_t total = sample(buf);
    /* every chunk size, from byte by byte to all at once */
    for (size_t chunk = 1; chunk <= total; chunk++) {
        dk_demux_t d = {0};
        got_t g = {0};
        for (size_t off = 0; off < total; off += chunk) {
            size_t n = total - off < chunk ? total - off : chunk;
            assert_int_equal(dk_demux_feed(&d, buf + off, n, collect, &g), (long)n);
        }
        assert_int_equal(g.out_len, 12);
        assert_memory_equal(g.out, "hello world\n", 12);
        assert_int_equal(g.err_len, 20);
        assert_memory_equal(g.err, "oops\nengine says no\n", 20);
        assert_false(dk_demux_partial(&d));
    }
}

static void test_demux_refusal_keeps_the_rest(void **state)
{
    (void)state;
    char buf[200];
    size_t total = sample(buf);
    dk_demux_t d = {0};
    got_t g = {.refuse_next = 1};
    long n = dk_demux_feed(&d, buf, total, collect, &g);
    assert_int_equal(n, 8); /* the header was consumed, the payload refused */
    assert_int_equal(g.out_len, 0);
    size_t off = (size_t)n;
    for (int round = 0; off < total; round++) {
        assert_true(round < 100);
        g.refuse_next = round % 2; /* refuse every other time */
        long k = dk_demux_feed(&d, buf + off, total - off, collect, &g);
        assert_true(k >= 0);
        off += (size_t)k;
    }
    assert_memory_equal(g.out, "hello world\n", 12);
    assert_memory_equal(g.err, "oops\nengine says no\n", 20);
}

static void test_demux_bad_header_and_partial(void **state)
{
    (void)state;
    dk_demux_t d = {0};
    got_t g = {0};
    assert_int_equal(dk_demux_feed(&d, "HTTP/1.1 200 OK\r\n", 17, collect, &g), DK_DEMUX_EPROTO);
    dk_demux_t d2 = {0};
    char buf[40];
    size_t n = frame(buf, 1, "abcdef");
    assert_int_equal(dk_demux_feed(&d2, buf, n - 2, collect, &g), (long)(n - 2));
    assert_true(dk_demux_partial(&d2));
    dk_demux_t d3 = {0};
    assert_int_equal(dk_demux_feed(&d3, buf, 3, collect, &g), 3);
    assert_true(dk_demux_partial(&d3));
}

/* ---- retry ------------------------------------------------------------------------ */

static void test_retry_transient(void **state)
{
    (void)state;
    assert_true(dk_retry_transient(CURLE_COULDNT_CONNECT, 0));
    assert_true(dk_retry_transient(CURLE_GOT_NOTHING, 0));
    assert_true(dk_retry_transient(CURLE_RECV_ERROR, 0));
    assert_true(dk_retry_transient(CURLE_OK, 500));
    assert_true(dk_retry_transient(CURLE_OK, 503));
    assert_false(dk_retry_transient(CURLE_OK, 200));
    assert_false(dk_retry_transient(CURLE_OK, 400));
    assert_false(dk_retry_transient(CURLE_OK, 404));
    assert_false(dk_retry_transient(CURLE_OK, 409));
    assert_false(dk_retry_transient(CURLE_URL_MALFORMAT, 0));
    assert_false(dk_retry_transient(CURLE_SSL_CERTPROBLEM, 0));
}

static void test_retry_backoff(void **state)
{
    (void)state;
    /* no jitter drawn: half the backoff; full draw: the whole backoff */
    assert_int_equal(dk_retry_delay_ms(0, 200, 0), 100);
    assert_int_equal(dk_retry_delay_ms(0, 200, UINT32_MAX), 200);
    assert_int_equal(dk_retry_delay_ms(1, 200, UINT32_MAX), 400);
    assert_int_equal(dk_retry_delay_ms(3, 200, UINT32_MAX), 1600);
    /* capped, even for huge attempt numbers */
    assert_int_equal(dk_retry_delay_ms(40, 200, UINT32_MAX), DK_RETRY_CAP_MS);
    assert_int_equal(dk_retry_delay_ms(1000, 60000, 0), DK_RETRY_CAP_MS / 2);
    /* jitter stays within [d/2, d] */
    for (uint32_t r = 0; r < 1000; r++) {
        uint32_t v = dk_retry_delay_ms(2, 100, r * 4294967u);
        assert_true(v >= 200 && v <= 400);
    }
}

/* ---- template hash and archive ------------------------------------------------------ */

static void write_file(const char *dir, const char *name, const char *content)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
}

static void test_context_hash(void **state)
{
    (void)state;
    char dir[] = "/tmp/dk-unit-XXXXXX";
    assert_non_null(mkdtemp(dir));
    write_file(dir, "Dockerfile", "FROM scratch\nCOPY a /a\n");
    write_file(dir, "a", "one");
    char h1[65], h2[65], h3[65], h4[65];
    agentd_err_t err = {{0}};
    assert_int_equal(dk_context_hash(dir, h1, &err), 0);
    assert_int_equal(strlen(h1), 64);
    assert_int_equal(dk_context_hash(dir, h2, &err), 0);
    assert_string_equal(h1, h2); /* stable */
    write_file(dir, "a", "two");
    assert_int_equal(dk_context_hash(dir, h3, &err), 0);
    assert_string_not_equal(h1, h3); /* content counts */
    write_file(dir, "a", "one");
    char path[512];
    snprintf(path, sizeof path, "%s/a", dir);
    chmod(path, 0755);
    assert_int_equal(dk_context_hash(dir, h4, &err), 0);
    assert_string_not_equal(h1, h4); /* so does the mode */
    char *tar = NULL;
    size_t len = 0;
    assert_int_equal(dk_tar_dir(dir, &tar, &len, &err), 0);
    assert_true(len % 512 == 0 && len >= 512 * 5);
    assert_memory_equal(tar, "Dockerfile", 10);
    assert_memory_equal(tar + 257, "ustar", 5);
    free(tar);
    assert_int_not_equal(dk_context_hash("/nonexistent/dir", h4, &err), 0);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* ---- copy out: the archive back on the host ----------------------------------------- */

static size_t tar_entry(char *buf, const char *name, char type, const char *data,
                        const char *link)
{
    size_t n = data != NULL ? strlen(data) : 0;
    memset(buf, 0, 512);
    snprintf(buf, 100, "%s", name);
    snprintf(buf + 100, 8, "%07o", 0644u);
    snprintf(buf + 124, 12, "%011o", (unsigned)n);
    buf[156] = type;
    if (link != NULL)
        snprintf(buf + 157, 100, "%s", link);
    memcpy(buf + 257, "ustar", 6);
    size_t padded = (n + 511) & ~(size_t)511;
    memset(buf + 512, 0, padded);
    if (n > 0)
        memcpy(buf + 512, data, n);
    return 512 + padded;
}

static void test_untar_round_trip_and_refusals(void **state)
{
    (void)state;
    char src[] = "/tmp/dk-unit-src-XXXXXX", dst[] = "/tmp/dk-unit-dst-XXXXXX";
    assert_non_null(mkdtemp(src));
    assert_non_null(mkdtemp(dst));
    char path[600];
    snprintf(path, sizeof path, "%s/sub", src);
    assert_int_equal(mkdir(path, 0755), 0);
    write_file(src, "top.txt", "top\n");
    write_file(path, "inner.txt", "inner\n");
    char *tar = NULL;
    size_t len = 0;
    agentd_err_t err = {{0}};
    assert_int_equal(dk_tar_tree(src, "ws", 1000, 1000, &tar, &len, &err), 0);
    assert_memory_equal(tar, "ws/", 3);
    assert_int_equal(dk_untar(tar, len, dst, 1, &err), 0);
    free(tar);
    char got[64] = "";
    snprintf(path, sizeof path, "%s/sub/inner.txt", dst);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(got, sizeof got, f));
    fclose(f);
    assert_string_equal(got, "inner\n");
    /* a name that climbs out, and a write through a symlink, are refused */
    char *evil = calloc(1, 8192);
    size_t n = tar_entry(evil, "ws/../escape.txt", '0', "x", NULL);
    assert_int_equal(dk_untar(evil, n + 1024, dst, 1, &err), AGENTD_EPERM);
    n = tar_entry(evil, "ws/link", '2', NULL, "/tmp");
    n += tar_entry(evil + n, "ws/link/planted.txt", '0', "x", NULL);
    assert_int_equal(dk_untar(evil, n + 1024, dst, 1, &err), AGENTD_EPERM);
    assert_int_not_equal(access("/tmp/planted.txt", F_OK), 0);
    n = tar_entry(evil, "/etc/absolute", '0', "x", NULL);
    assert_int_equal(dk_untar(evil, n + 1024, dst, 1, &err), AGENTD_EPERM);
    free(evil);
    dk_rmtree(src);
    dk_rmtree(dst);
    assert_int_not_equal(access(src, F_OK), 0);
}

/* ---- profiles ---------------------------------------------------------------------------- */

static int parse(const char *json, agentd_err_t *err)
{
    dk_profile_t p;
    int rc = dk_profile_parse(json, strlen(json), "box", "/tmp/dk-engine/docker.sock", &p, err);
    if (rc == 0)
        dk_profile_free(&p);
    return rc;
}

static void expect_refused(const char *json, const char *words)
{
    agentd_err_t err = {{0}};
    assert_int_equal(parse(json, &err), AGENTD_ECONFIG);
    if (strstr(err.msg, words) == NULL || strstr(err.msg, "profile \"box\"") == NULL)
        fail_msg("%s: message %s lacks %s", json, err.msg, words);
}

static void test_profile(void **state)
{
    (void)state;
    agentd_err_t err = {{0}};
    assert_int_equal(parse("{\"image\":\"x:1\"}", &err), 0);
    dk_profile_t p;
    const char *full = "{\"image\":\"x\",\"cpus\":1.5,\"memory_mb\":256,\"env\":[\"A=1\","
                       "\"B=${secret:tok}\"],\"mounts\":[\"/opt:/opt:ro\",\"/srv:/data\"],"
                       "\"network_mode\":\"none\",\"user\":\"1000:1000\"}";
    assert_int_equal(dk_profile_parse(full, strlen(full), "box", NULL, &p, &err), 0);
    assert_true(p.cpus > 1.49 && p.cpus < 1.51);
    assert_int_equal(p.memory_mb, 256);
    assert_string_equal(p.env[1], "B=${secret:tok}");
    assert_int_equal(p.mount_count, 2);
    assert_true(p.mounts[0].read_only);
    assert_false(p.mounts[1].read_only);
    assert_string_equal(p.network_mode, "none");
    assert_true(p.read_only_root);
    dk_profile_free(&p);

    expect_refused("{}", "image, template");
    expect_refused("{\"image\":\"x\",\"template\":\"/t/Dockerfile\"}", "image, template");
    expect_refused("{\"template\":\"Dockerfile\"}", "template");
    expect_refused("{\"image\":\"x\",\"cpus\":0}", "cpus");
    expect_refused("{\"image\":\"x\",\"timeout_minutes\":241}", "timeout_minutes");
    expect_refused("{\"image\":\"x\",\"env\":[\"NOEQUALS\"]}", "env");
    expect_refused("{\"image\":\"x\",\"env\":[\"1A=2\"]}", "env");
    expect_refused("{\"image\":\"x\",\"mounts\":[\"relative:/x\"]}", "mounts");
    expect_refused("{\"image\":\"x\",\"mounts\":[\"/a:/b:rx\"]}", "mounts");
    expect_refused("{\"image\":\"x\",\"network_mode\":\"container:abc\"}", "network_mode");
    /* no docker socket inside, ever: the known ones, the engine's, and
     * a folder that holds one */
    expect_refused("{\"image\":\"x\",\"mounts\":[\"/var/run/docker.sock:/s\"]}", "docker socket");
    expect_refused("{\"image\":\"x\",\"mounts\":[\"/run/docker.sock:/s\"]}", "docker socket");
    expect_refused("{\"image\":\"x\",\"mounts\":[\"/var/run:/r\"]}", "docker socket");
    expect_refused("{\"image\":\"x\",\"mounts\":[\"/tmp/dk-engine:/e\"]}", "docker socket");
    expect_refused("{\"image\":\"x\",\"mounts\":[\"/:/host\"]}", "docker socket");
    expect_refused("{\"image\":\"x\",\"mounts\":[\"/srv/my-docker.sock:/s\"]}", "docker socket");
    expect_refused("[1]", "not a JSON object");
}

static void test_field_of(void **state)
{
    (void)state;
    assert_string_equal(dk_field_of("Range of CPUs is from 0.01 to 8.00"), "cpus");
    assert_string_equal(dk_field_of("Minimum memory limit allowed is 6MB"), "memory_mb");
    assert_string_equal(dk_field_of("network foo not found"), "network_mode");
    assert_null(dk_field_of("something else"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_demux_every_split),
        cmocka_unit_test(test_demux_refusal_keeps_the_rest),
        cmocka_unit_test(test_demux_bad_header_and_partial),
        cmocka_unit_test(test_retry_transient),
        cmocka_unit_test(test_retry_backoff),
        cmocka_unit_test(test_context_hash),
        cmocka_unit_test(test_untar_round_trip_and_refusals),
        cmocka_unit_test(test_profile),
        cmocka_unit_test(test_field_of),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
