/* The line splitter (every split position, CRLF, empty lines, UTF-8 cut
 * across reads, 10 MB lines, over-long lines) and the UTF-8 repair. The
 * normalizer has its own file, test_stream_json_normalize.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "agent/stream_json.h"
#include "agent/utf8.h"

/* ---- a recorder of delivered lines -------------------------------------- */

typedef struct lines {
    char **text;
    size_t *len;
    int *truncated;
    size_t n, cap;
} lines_t;

static void on_line(void *ud, const char *line, size_t len, int truncated)
{
    lines_t *l = ud;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->text = realloc(l->text, l->cap * sizeof *l->text);
        l->len = realloc(l->len, l->cap * sizeof *l->len);
        l->truncated = realloc(l->truncated, l->cap * sizeof *l->truncated);
        assert_non_null(l->text);
        assert_non_null(l->len);
        assert_non_null(l->truncated);
    }
    l->text[l->n] = malloc(len + 1);
    assert_non_null(l->text[l->n]);
    memcpy(l->text[l->n], line, len);
    l->text[l->n][len] = '\0';
    l->len[l->n] = len;
    l->truncated[l->n] = truncated;
    l->n++;
}

static void lines_free(lines_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->text[i]);
    free(l->text);
    free(l->len);
    free(l->truncated);
    memset(l, 0, sizeof *l);
}

/* Feeds data in pieces cut at the given positions (ascending), then ends
 * the stream. */
static void split_feed(size_t max_line, const char *data, size_t len, const size_t *cuts,
                       size_t ncuts, lines_t *out)
{
    host_line_splitter_t s;
    host_line_splitter_init(&s, max_line);
    size_t at = 0;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : len;
        assert_int_equal(host_line_splitter_feed(&s, data + at, end - at, on_line, out), 0);
        at = end;
    }
    host_line_splitter_finish(&s, on_line, out);
    assert_null(s.buf);
}

static void assert_same(const lines_t *a, const lines_t *b)
{
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        assert_int_equal(a->len[i], b->len[i]);
        assert_memory_equal(a->text[i], b->text[i], a->len[i]);
        assert_int_equal(a->truncated[i], b->truncated[i]);
    }
}

/* ---- splitting ---------------------------------------------------------- */

static const char SAMPLE[] =
    "{\"type\":\"system\",\"subtype\":\"init\"}\n"
    "\n"
    "caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9d\x84\x9e clef\r\n"
    "\r\n"
    "bad \xff\xfe bytes\n"
    "last line without newline \xe2\x82\xac";

static void expect_sample(const lines_t *l)
{
    assert_int_equal(l->n, 4);
    assert_string_equal(l->text[0], "{\"type\":\"system\",\"subtype\":\"init\"}");
    assert_string_equal(l->text[1], "caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9d\x84\x9e clef");
    assert_string_equal(l->text[2], "bad \xff\xfe bytes");
    assert_string_equal(l->text[3], "last line without newline \xe2\x82\xac");
    for (size_t i = 0; i < l->n; i++)
        assert_int_equal(l->truncated[i], 0);
}

static void test_whole(void **state)
{
    (void)state;
    lines_t l = {0};
    split_feed(0, SAMPLE, sizeof SAMPLE - 1, NULL, 0, &l);
    expect_sample(&l);
    lines_free(&l);
}

/* One cut at every position, then two cuts at every pair of positions:
 * every way a read can end inside a line, a "\r\n" or a UTF-8 sequence. */
static void test_every_split(void **state)
{
    (void)state;
    size_t n = sizeof SAMPLE - 1;
    lines_t whole = {0};
    split_feed(0, SAMPLE, n, NULL, 0, &whole);
    for (size_t i = 0; i <= n; i++) {
        lines_t l = {0};
        split_feed(0, SAMPLE, n, &i, 1, &l);
        assert_same(&whole, &l);
        lines_free(&l);
        for (size_t j = i; j <= n; j++) {
            size_t cuts[2] = {i, j};
            split_feed(0, SAMPLE, n, cuts, 2, &l);
            assert_same(&whole, &l);
            lines_free(&l);
        }
    }
    lines_free(&whole);
}

static void test_byte_by_byte(void **state)
{
    (void)state;
    size_t n = sizeof SAMPLE - 1;
    size_t *cuts = malloc(n * sizeof *cuts);
    assert_non_null(cuts);
    for (size_t i = 0; i < n; i++)
        cuts[i] = i;
    lines_t l = {0};
    split_feed(0, SAMPLE, n, cuts, n, &l);
    expect_sample(&l);
    lines_free(&l);
    free(cuts);
}

static void test_empty_and_crlf(void **state)
{
    (void)state;
    const char *in = "\n\r\n\n  \r\nx\r\r\n\r";
    lines_t l = {0};
    split_feed(0, in, strlen(in), NULL, 0, &l);
    /* Only empty lines are dropped: "  " is a line; "x\r\r" loses one "\r". */
    assert_int_equal(l.n, 2);
    assert_string_equal(l.text[0], "  ");
    assert_string_equal(l.text[1], "x\r");
    lines_free(&l);
}

/* A line of 10 MB, as one feed, in 64 KiB reads, and cut at odd places;
 * the buffer goes away once the line is delivered. */
static void test_ten_megabytes(void **state)
{
    (void)state;
    size_t big = (size_t)10 << 20;
    char *data = malloc(big + 3);
    assert_non_null(data);
    for (size_t i = 0; i < big; i++)
        data[i] = (char)('a' + i % 26);
    /* A multibyte character right across the 64 KiB read boundaries. */
    memcpy(data + 65535, "\xe2\x82\xac", 3);
    memcpy(data + big, "\nz", 2);
    size_t len = big + 2;

    size_t cuts[200];
    size_t nc = 0;
    for (size_t at = 65536; at < len && nc < 200; at += 65536)
        cuts[nc++] = at;
    size_t odd[] = {1, 65535, 65537, big - 1, big, big + 1};
    size_t *sets[] = {NULL, cuts, odd};
    size_t counts[] = {0, nc, sizeof odd / sizeof odd[0]};
    for (size_t k = 0; k < 3; k++) {
        lines_t l = {0};
        split_feed(64u << 20, data, len, sets[k], counts[k], &l);
        assert_int_equal(l.n, 2);
        assert_int_equal(l.len[0], big);
        assert_memory_equal(l.text[0], data, big);
        assert_int_equal(l.truncated[0], 0);
        assert_string_equal(l.text[1], "z");
        lines_free(&l);
    }
    free(data);
}

static void test_over_long(void **state)
{
    (void)state;
    /* max_line 8: a line of 8 is whole (also with "\r"), 9 is cut. */
    const char *in = "12345678\n12345678\r\n123456789\nabcdefghijklmnopqrstuvwxyz\nok\n"
                     "0123456789abcdef";
    size_t n = strlen(in);
    lines_t whole = {0};
    split_feed(8, in, n, NULL, 0, &whole);
    assert_int_equal(whole.n, 6);
    assert_string_equal(whole.text[0], "12345678");
    assert_int_equal(whole.truncated[0], 0);
    assert_string_equal(whole.text[1], "12345678");
    assert_int_equal(whole.truncated[1], 0);
    assert_string_equal(whole.text[2], "12345678");
    assert_int_equal(whole.truncated[2], 1);
    assert_string_equal(whole.text[3], "abcdefgh");
    assert_int_equal(whole.truncated[3], 1);
    assert_string_equal(whole.text[4], "ok");
    assert_int_equal(whole.truncated[4], 0);
    /* The last line, too long and without a newline, is cut as it grows. */
    assert_string_equal(whole.text[5], "01234567");
    assert_int_equal(whole.truncated[5], 1);
    for (size_t i = 0; i <= n; i++) {
        for (size_t j = i; j <= n; j++) {
            size_t cuts[2] = {i, j};
            lines_t l = {0};
            split_feed(8, in, n, cuts, 2, &l);
            assert_same(&whole, &l);
            lines_free(&l);
        }
    }
    lines_free(&whole);
}

/* The splitter's memory is bounded by max_line, whatever the input. */
static void test_bounded(void **state)
{
    (void)state;
    host_line_splitter_t s;
    host_line_splitter_init(&s, 1000);
    char chunk[4096];
    memset(chunk, 'x', sizeof chunk);
    lines_t l = {0};
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(host_line_splitter_feed(&s, chunk, sizeof chunk, on_line, &l), 0);
        assert_true(s.cap <= 1001);
    }
    assert_int_equal(l.n, 1);
    assert_int_equal(l.truncated[0], 1);
    assert_int_equal(host_line_splitter_feed(&s, "\nnext\n", 6, on_line, &l), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.text[1], "next");
    host_line_splitter_free(&s);
    lines_free(&l);
}

/* ---- UTF-8 -------------------------------------------------------------- */

static void expect_repair(const char *in, size_t n, int drop_tail, const char *want)
{
    size_t len;
    char *out = host_utf8_repair(in, n, drop_tail, &len);
    assert_non_null(out);
    assert_int_equal(len, strlen(want));
    assert_string_equal(out, want);
    assert_true(host_utf8_valid(out, len));
    free(out);
}

#define R "\xef\xbf\xbd"

static void test_utf8(void **state)
{
    (void)state;
    assert_true(host_utf8_valid("plain ascii text, long enough for words", 39));
    assert_true(host_utf8_valid("caf\xc3\xa9 \xf0\x9f\x98\x80", 10));
    assert_true(host_utf8_valid("a\0b", 3));
    assert_false(host_utf8_valid("\xc0\xaf", 2));         /* overlong */
    assert_false(host_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
    assert_false(host_utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
    assert_false(host_utf8_valid("\xe2\x82", 2));         /* cut short */
    assert_false(host_utf8_valid("abcdefgh\x80", 9));

    /* Maximal subparts (Unicode 15, table 3-8). */
    expect_repair("a\xff" "b", 3, 0, "a" R "b");
    expect_repair("\xc0\xaf", 2, 0, R R);
    expect_repair("\xed\xa0\x80", 3, 0, R R R);
    expect_repair("\xf0\x80\x80", 3, 0, R R R);
    expect_repair("\xe2\x82" "x", 3, 0, R "x");
    expect_repair("\xf0\x9f\x98" "!", 4, 0, R "!");
    expect_repair("ok \xe2\x82", 5, 0, "ok " R);
    /* A line cut in the middle of a character loses the piece, not more. */
    expect_repair("ok \xe2\x82", 5, 1, "ok ");
    expect_repair("ok \xf0\x9f\x98", 6, 1, "ok ");
    expect_repair("ok \xff", 4, 1, "ok " R);
    expect_repair("", 0, 0, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole),
        cmocka_unit_test(test_every_split),
        cmocka_unit_test(test_byte_by_byte),
        cmocka_unit_test(test_empty_and_crlf),
        cmocka_unit_test(test_ten_megabytes),
        cmocka_unit_test(test_over_long),
        cmocka_unit_test(test_bounded),
        cmocka_unit_test(test_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
