/* The event log's check that data_json is one JSON object (what it stores
 * is spliced unparsed into API messages), against jansson's verdict. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "events/json_check.h"

static void test_valid(void **state)
{
    (void)state;
    const char *ok[] = {
        "{}",
        " \t\r\n{ } \n",
        "{\"a\":1}",
        "{\"a\":-0.5e+10,\"b\":[],\"c\":[1,[2,[3,{}]]],\"d\":{\"e\":null}}",
        "{\"s\":\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u00e9 \\uD83D\\uDE00\"}",
        "{\"utf8\":\"caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80\"}",
        "{\"t\":true,\"f\":false,\"n\":null,\"z\":0,\"neg\":-12,\"e\":1E5}",
        "{\"\":\"\"}",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        if (!host_json_is_object(ok[i], strlen(ok[i])))
            fail_msg("refused: %s", ok[i]);
        json_t *j = json_loads(ok[i], 0, NULL);
        assert_non_null(j);
        json_decref(j);
    }
}

static void test_invalid(void **state)
{
    (void)state;
    const char *bad[] = {
        "", "   ", "[]", "1", "\"s\"", "null", "{", "}", "{\"a\"}", "{\"a\":}", "{\"a\" 1}",
        "{\"a\":1,}", "{,}", "{\"a\":1 \"b\":2}", "{a:1}", "{'a':1}", "{\"a\":01}",
        "{\"a\":1.}", "{\"a\":.5}", "{\"a\":-}", "{\"a\":1e}", "{\"a\":+1}", "{\"a\":tru}",
        "{\"a\":nul}", "{\"a\":[1,]}", "{\"a\":[1 2]}", "{\"a\":[}", "{\"a\":]}",
        "{\"a\":{]}", "{\"a\":\"\\x\"}", "{\"a\":\"\\u12\"}", "{\"a\":\"unterminated}",
        "{\"a\":\"tab\there\"}", "{\"a\":\"\xff\"}", "{\"a\":\"\xc3\"}", "{} {}", "{}x",
        "{\"a\":NaN}", "{\"a\":Infinity}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (host_json_is_object(bad[i], strlen(bad[i])))
            fail_msg("accepted: %s", bad[i]);
    /* Embedded NUL outside a string. */
    assert_false(host_json_is_object("{}\0", 3));
    /* The length is what counts, not a NUL. */
    assert_true(host_json_is_object("{}garbage", 2));
}

static void test_depth(void **state)
{
    (void)state;
    size_t depth = HOST_JSON_MAX_DEPTH;
    char *s = malloc(2 * depth + 16);
    assert_non_null(s);
    /* {"a":[[[...]]]} with exactly the maximum depth in all. */
    size_t n = 0;
    n += (size_t)sprintf(s, "{\"a\":");
    for (size_t i = 1; i < depth; i++)
        s[n++] = '[';
    for (size_t i = 1; i < depth; i++)
        s[n++] = ']';
    s[n++] = '}';
    assert_true(host_json_is_object(s, n));
    n = 0;
    n += (size_t)sprintf(s, "{\"a\":");
    for (size_t i = 0; i < depth; i++)
        s[n++] = '[';
    for (size_t i = 0; i < depth; i++)
        s[n++] = ']';
    s[n++] = '}';
    assert_false(host_json_is_object(s, n));
    free(s);
}

/* Strings of every length up to 24 made of the bytes that stop the
 * word-at-a-time scan (quote, backslash, controls, DEL, UTF-8 lead and
 * continuation bytes, valid and not) at every position: the check and
 * jansson agree on each document. */
static void test_strings_vs_jansson(void **state)
{
    (void)state;
    static const char *const pieces[] = {
        "a", "Z", " ", "~", "\x7f", "\"", "\\\"", "\\\\", "\\n", "\\u00e9", "\\u12",
        "\\q", "\t", "\x01", "\x1f", "\xc3\xa9", "\xe2\x80\x94", "\xf0\x9f\x98\x80",
        "\xc3", "\x80", "\xed\xa0\x80", "\xc0\xaf", "\xf4\x90\x80\x80", "\xff", "\\",
    };
    size_t np = sizeof pieces / sizeof pieces[0];
    unsigned seed = 4242;
    char doc[256];
    for (int round = 0; round < 200000; round++) {
        size_t n = 0;
        memcpy(doc, "{\"k\":\"", 6);
        n = 6;
        size_t len = (size_t)(rand_r(&seed) % 25);
        for (size_t k = 0; k < len; k++) {
            /* mostly plain text, so runs of eight happen */
            const char *p = rand_r(&seed) % 3 ? "x" : pieces[rand_r(&seed) % np];
            size_t pl = strlen(p);
            memcpy(doc + n, p, pl);
            n += pl;
        }
        memcpy(doc + n, "\"}", 2);
        n += 2;
        json_t *j = json_loadb(doc, n, JSON_ALLOW_NUL, NULL);
        int ours = host_json_is_object(doc, n);
        if (ours != (j != NULL))
            fail_msg("check says %d, jansson %d: %.*s", ours, j != NULL, (int)n, doc);
        json_decref(j);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_strings_vs_jansson),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
