/* JSON text written without jansson (agent/json_text.h) and the normalizer's
 * text path that uses it: byte for byte what json_dumps(JSON_COMPACT |
 * JSON_ENSURE_ASCII) writes, for every code point, every escape, tricky and
 * random strings; strings jansson refuses are refused; and every line gives
 * the same events, in the same order, through host_agent_normalize_to with
 * JSON text as through host_agent_normalize with json_dumps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <agentd/abi.h>

#include "agent/json_text.h"
#include "agent/stream_json.h"
#include "events/json_check.h"

/* What jansson writes for the JSON string literal lit (quotes included),
 * or NULL when it refuses it. */
static char *jansson_says(const char *lit, size_t n)
{
    json_t *v = json_loadb(lit, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (v == NULL)
        return NULL;
    assert_true(json_is_string(v));
    char *d = json_dumps(v, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_ENCODE_ANY);
    json_decref(v);
    assert_non_null(d);
    return d;
}

/* Reencodes the literal's inside and checks it against jansson. Returns
 * what reencode returned. */
static int check_literal(const char *lit, size_t n)
{
    /* A document the normalizer would have checked: {"t":lit}. */
    size_t dn = n + 6;
    char *doc = malloc(dn);
    assert_non_null(doc);
    memcpy(doc, "{\"t\":", 5);
    memcpy(doc + 5, lit, n);
    doc[dn - 1] = '}';
    int valid = host_json_is_object(doc, dn);
    free(doc);
    char *want = jansson_says(lit, n);
    if (!valid) {
        assert_null(want); /* json_check and jansson agree on what is JSON */
        return AGENTD_EINVAL;
    }
    char small[16];
    host_jtext_t w;
    host_jtext_init(&w, small, sizeof small); /* grows to the heap on the way */
    int seen = -1;
    int rc = host_jtext_reencode(&w, lit + 1, n - 2, &seen);
    if (want == NULL) {
        assert_int_equal(rc, AGENTD_EINVAL);
    } else {
        if (rc != 0)
            fail_msg("refused what jansson takes: %.*s", (int)n, lit);
        if (w.len != strlen(want) || memcmp(w.p, want, w.len) != 0)
            fail_msg("for %.*s\n  jansson: %s\n  ours:    %.*s", (int)n, lit, want,
                     (int)w.len, w.p);
        /* The marks: '[' or '=' in the decoded text. */
        json_t *v = json_loadb(lit, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        const char *t = json_string_value(v);
        size_t tl = json_string_length(v);
        int has = memchr(t, '[', tl) != NULL || memchr(t, '=', tl) != NULL;
        assert_int_equal(seen, has ? HOST_JTEXT_MARKS : 0);
        json_decref(v);
    }
    free(want);
    host_jtext_free(&w);
    return rc;
}

static int check(const char *lit)
{
    return check_literal(lit, strlen(lit));
}

static void test_tricky(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "\"\"",
        "\"plain text, printable ASCII ~!@#$%^&*()_+{}|:<>?`-=[];',./\"",
        "\"quotes \\\" and backslashes \\\\ \\\\\\\" end\\\\\"",
        "\"slash \\/ and / as is\"",
        "\"\\b\\f\\n\\r\\t short escapes\"",
        "\"\\u0000 NUL \\u0001\\u001f\\u001F \\u0008\\u000c\\u000A\\u000d\\u0009\"",
        "\"\\u0022\\u005c\\u005C\\u002f \\u0020\\u007e\\u007f\\u007F\\u0080\"",
        "\"\x7f raw DEL\"",
        "\"\\u00e9\\u00E9 \xc3\xa9 caf\xc3\xa9\"",
        "\"\xe2\x80\x94 dash \\u2014 \xef\xbf\xbf \\uffff \\uFFFE \xe0\xa0\x80\"",
        "\"\xf0\x9f\x98\x80 \\ud83d\\ude00 \\uD83D\\uDE00 \\uDbFf\\uDfFf \xf4\x8f\xbf\xbf\"",
        "\"\\ud800\\udc00 \xf0\x90\x80\x80\"",
        "\"marks [USER_QUESTION]x[/USER_QUESTION] === PHASE 1 COMPLETE ===\"",
        "\"escaped marks \\u005b and \\u003d\"",
        "\"\\u005B only\"",
        "\"12345678\\\"12345678\\\\12345678\xc3\xa9""12345678\"",
        "\"\\\\u0041 is not an escape\"",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        assert_int_equal(check(ok[i]), 0);
    /* Lone surrogates: jansson refuses the string, and so do we (the
     * normalizer then goes jansson's way, which makes it agent.output). */
    static const char *const refused[] = {
        "\"\\ud800\"", "\"\\udc00\"", "\"x\\ud83d y\"", "\"\\ud83d\\u0041\"",
        "\"\\ud83d\\ud83d\"", "\"\\ude00\\ud83d\"", "\"\\ud83d\\\\ude00\"",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        assert_int_equal(check(refused[i]), AGENTD_EINVAL);
    /* Invalid JSON never reaches it (json_check refuses it); check_literal
     * verifies jansson refuses it too. */
    assert_int_equal(check("\"raw \x01 control\""), AGENTD_EINVAL);
    assert_int_equal(check("\"bad \xc3\x28 utf8\""), AGENTD_EINVAL);
    assert_int_equal(check("\"surrogate in UTF-8 \xed\xa0\x80\""), AGENTD_EINVAL);
}

/* Every code point, raw (host_jtext_string) and as an escape (reencode),
 * in strings of a few thousand each. */
static void test_every_code_point(void **state)
{
    (void)state;
    size_t cap = 4096 * 13 + 16;
    char *raw = malloc(cap), *esc = malloc(cap);
    assert_non_null(raw);
    assert_non_null(esc);
    for (uint32_t base = 0; base < 0x110000; base += 4096) {
        size_t rn = 0, en = 0;
        esc[en++] = '"';
        for (uint32_t c = base; c < base + 4096; c++) {
            if (c >= 0xD800 && c <= 0xDFFF)
                continue;
            if (c < 0x80) {
                raw[rn++] = (char)c;
            } else if (c < 0x800) {
                raw[rn++] = (char)(0xC0 | c >> 6);
                raw[rn++] = (char)(0x80 | (c & 0x3F));
            } else if (c < 0x10000) {
                raw[rn++] = (char)(0xE0 | c >> 12);
                raw[rn++] = (char)(0x80 | (c >> 6 & 0x3F));
                raw[rn++] = (char)(0x80 | (c & 0x3F));
            } else {
                raw[rn++] = (char)(0xF0 | c >> 18);
                raw[rn++] = (char)(0x80 | (c >> 12 & 0x3F));
                raw[rn++] = (char)(0x80 | (c >> 6 & 0x3F));
                raw[rn++] = (char)(0x80 | (c & 0x3F));
            }
            if (c < 0x10000) {
                en += (size_t)snprintf(esc + en, cap - en, (c & 1) ? "\\u%04x" : "\\u%04X", c);
            } else {
                uint32_t v = c - 0x10000;
                en += (size_t)snprintf(esc + en, cap - en, "\\u%04x\\u%04X", 0xD800 | v >> 10,
                                       0xDC00 | (v & 0x3FF));
            }
        }
        esc[en++] = '"';
        json_t *v = json_stringn(raw, rn);
        assert_non_null(v);
        char *want = json_dumps(v, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_ENCODE_ANY);
        json_decref(v);
        host_jtext_t w;
        host_jtext_init(&w, NULL, 0);
        assert_int_equal(host_jtext_string(&w, raw, rn), 0);
        assert_int_equal(w.len, strlen(want));
        assert_memory_equal(w.p, want, w.len);
        host_jtext_free(&w);
        assert_int_equal(check_literal(esc, en), 0);
        free(want);
    }
    free(raw);
    free(esc);
}

/* Random strings of code points weighted to the awkward ones, written by
 * jansson without ENSURE_ASCII (raw UTF-8 and its escapes) and with escapes
 * of our own choosing. */
static void test_random(void **state)
{
    (void)state;
    static const uint32_t pick[] = {0, 1, 8, 9, 10, 12, 13, 31, 32, '"', '\\', '/', '[', '=',
                                    'a', 0x7F, 0x80, 0xFF, 0x7FF, 0x800, 0xFFFD, 0xFFFF,
                                    0x10000, 0x1F600, 0x10FFFF};
    unsigned seed = 12345;
    char buf[4096], lit[16384];
    for (int round = 0; round < 3000; round++) {
        size_t n = 0, ln = 0;
        lit[ln++] = '"';
        size_t count = (size_t)(rand_r(&seed) % 40);
        for (size_t k = 0; k < count; k++) {
            uint32_t c = pick[rand_r(&seed) % (sizeof pick / sizeof pick[0])];
            if (c == 'a')
                c = 0x20 + (uint32_t)(rand_r(&seed) % 0x5F);
            char u[5];
            size_t un;
            if (c < 0x80) {
                u[0] = (char)c;
                un = 1;
            } else if (c < 0x800) {
                u[0] = (char)(0xC0 | c >> 6);
                u[1] = (char)(0x80 | (c & 0x3F));
                un = 2;
            } else if (c < 0x10000) {
                u[0] = (char)(0xE0 | c >> 12);
                u[1] = (char)(0x80 | (c >> 6 & 0x3F));
                u[2] = (char)(0x80 | (c & 0x3F));
                un = 3;
            } else {
                u[0] = (char)(0xF0 | c >> 18);
                u[1] = (char)(0x80 | (c >> 12 & 0x3F));
                u[2] = (char)(0x80 | (c >> 6 & 0x3F));
                u[3] = (char)(0x80 | (c & 0x3F));
                un = 4;
            }
            memcpy(buf + n, u, un);
            n += un;
            /* The literal: raw where JSON allows it, else an escape, at
             * random. */
            int how = rand_r(&seed) % 3;
            if (c >= 0x20 && c != '"' && c != '\\' && how != 0) {
                memcpy(lit + ln, u, un);
                ln += un;
            } else if (c < 0x10000) {
                ln += (size_t)snprintf(lit + ln, sizeof lit - ln, how == 1 ? "\\u%04x" : "\\u%04X",
                                       c);
            } else {
                uint32_t v = c - 0x10000;
                ln += (size_t)snprintf(lit + ln, sizeof lit - ln, "\\u%04X\\u%04x",
                                       0xD800 | v >> 10, 0xDC00 | (v & 0x3FF));
            }
        }
        lit[ln++] = '"';
        assert_int_equal(check_literal(lit, ln), 0);
        json_t *v = json_stringn(buf, n);
        assert_non_null(v);
        char *plain = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        json_decref(v);
        assert_int_equal(check(plain), 0);
        free(plain);
    }
}

/* ---- the normalizer's two paths ----------------------------------------- */

typedef struct rec {
    char *out;          /* "type data\n" per event */
    size_t len;
    int json_events;    /* events that came as JSON text */
} rec_t;

static void add(rec_t *r, const char *type, const char *json, size_t len)
{
    size_t tl = strlen(type);
    r->out = realloc(r->out, r->len + tl + len + 3);
    assert_non_null(r->out);
    memcpy(r->out + r->len, type, tl);
    r->out[r->len + tl] = ' ';
    memcpy(r->out + r->len + tl + 1, json, len);
    r->len += tl + 1 + len;
    r->out[r->len++] = '\n';
    r->out[r->len] = '\0';
}

static void on_event(void *ud, const char *type, json_t *data)
{
    char *d = json_dumps(data, JSON_COMPACT | JSON_ENSURE_ASCII);
    assert_non_null(d);
    add(ud, type, d, strlen(d));
    free(d);
}

static void on_event_json(void *ud, const char *type, const char *json, size_t len)
{
    rec_t *r = ud;
    assert_true(host_json_is_object(json, len));
    r->json_events++;
    add(r, type, json, len);
}

/* The same events, the same bytes, either way; returns how many came as
 * JSON text. */
static int same_both_ways(const char *line)
{
    rec_t a = {0}, b = {0};
    json_t *pa = NULL, *pb = NULL;
    host_agent_line_kind_t ka = host_agent_normalize(line, strlen(line), 0, on_event, &a, &pa);
    host_agent_sink_t sink = {.event = on_event, .event_json = on_event_json, .ud = &b};
    host_agent_line_kind_t kb = host_agent_normalize_to(line, strlen(line), 0, &sink, &pb);
    assert_int_equal(ka, kb);
    assert_int_equal(pa != NULL, pb != NULL);
    json_decref(pa);
    json_decref(pb);
    if (a.len != b.len || (a.len > 0 && memcmp(a.out, b.out, a.len) != 0))
        fail_msg("for %s\n  json_t:    %s\n  JSON text: %s", line, a.out ? a.out : "",
                 b.out ? b.out : "");
    int n = b.json_events;
    free(a.out);
    free(b.out);
    return n;
}

static void test_normalizer(void **state)
{
    (void)state;
    /* text and thinking blocks, as Claude Code writes them */
    assert_int_equal(
        same_both_ways("{\"type\":\"assistant\",\"message\":{\"id\":\"msg_1\",\"role\":\"assistant\","
                       "\"content\":[{\"type\":\"thinking\",\"thinking\":\"hm \\u2014 \\\"x\\\"\","
                       "\"signature\":\"s\"},{\"type\":\"text\",\"text\":\"Done.\\n\\tcaf\xc3\xa9"
                       " \\ud83d\\ude00 \\/\"}]},\"parent_tool_use_id\":null,"
                       "\"session_id\":\"x\"}"),
        2);
    /* a subagent's: parent_tool_use_id joins the event */
    assert_int_equal(
        same_both_ways("{\"type\":\"assistant\",\"parent_tool_use_id\":\"toolu_\\u00e9\\\"1\","
                       "\"message\":{\"content\":[{\"type\":\"text\",\"text\":\"sub\"}]}}"),
        1);
    /* text protocols after the text, also when the marks are escaped */
    assert_int_equal(
        same_both_ways("{\"type\":\"assistant\",\"message\":{\"content\":[{\"type\":\"text\","
                       "\"text\":\"a [USER_QUESTION] which? [/USER_QUESTION] b\\n=== PHASE 2 "
                       "COMPLETE ===\"}]}}"),
        1);
    assert_int_equal(
        same_both_ways("{\"type\":\"assistant\",\"message\":{\"content\":[{\"type\":\"text\","
                       "\"text\":\"\\u005bERROR]boom\\u005b/ERROR\\u005D\"}]}}"),
        1);
    /* content as a plain string */
    assert_int_equal(same_both_ways("{\"type\":\"assistant\",\"message\":{\"content\":\"hi\"}}"),
                     1);
    /* python's json.dumps spacing (the fake agent) */
    assert_int_equal(same_both_ways("{\"type\": \"assistant\", \"session_id\": \"s\", "
                                    "\"message\": {\"role\": \"assistant\", \"content\": "
                                    "[{\"type\": \"text\", \"text\": \"line 1 2.5\"}]}}"),
                     1);
    /* lone surrogates: jansson's path decides (agent.output) */
    assert_int_equal(
        same_both_ways("{\"type\":\"assistant\",\"message\":{\"content\":[{\"type\":\"text\","
                       "\"text\":\"bad \\ud800 one\"},{\"type\":\"text\",\"text\":\"ok\"}]}}"),
        1);
    /* everything else keeps its json_t path */
    assert_int_equal(same_both_ways("{\"type\":\"result\",\"subtype\":\"success\","
                                    "\"is_error\":false,\"result\":\"ok\",\"num_turns\":1}"),
                     0);
    assert_int_equal(same_both_ways("not json [ERROR]x[/ERROR]"), 0);
    assert_int_equal(same_both_ways("{\"type\":\"user\",\"message\":{\"content\":[{\"type\":"
                                    "\"tool_result\",\"tool_use_id\":\"t\",\"content\":\"x\"}]}}"),
                     0);
    /* a text longer than the normalizer's stack buffer */
    size_t big = 20000;
    char *line = malloc(big + 200);
    assert_non_null(line);
    int n = snprintf(line, 200, "{\"type\":\"assistant\",\"message\":{\"content\":[{\"type\":"
                                "\"text\",\"text\":\"");
    for (size_t i = 0; i < big; i += 2)
        memcpy(line + n + i, i % 3 ? "\xc3\xa9" : "\\n", 2);
    strcpy(line + n + big, "\"}]}}");
    assert_int_equal(same_both_ways(line), 1);
    free(line);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tricky),
        cmocka_unit_test(test_every_code_point),
        cmocka_unit_test(test_random),
        cmocka_unit_test(test_normalizer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
