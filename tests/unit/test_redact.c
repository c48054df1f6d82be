/* Redaction: every form of a secret (plain, JSON-escaped in every way, URL-
 * encoded, base64 at every alignment in both alphabets, split across lines,
 * nested), overlaps, streams split at every position and byte by byte, no
 * false positives, JSON kept valid, the log hook, and a throughput figure.
 *
 * The checks use an oracle independent of the redactor: leaks() decodes the
 * output every way it can (JSON strings, recursively; %XX; base64 runs at 4
 * alignments; line breaks removed) and looks for the value. Each input is
 * first checked to leak by the same oracle, so a form the oracle cannot see
 * would fail the test rather than pass it vacuously. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "core/log.h"
#include "secrets/crypto.h"
#include "secrets/redact.h"

/* ---- a growable string ---------------------------------------------------------- */

typedef struct str {
    char *p;
    size_t n, cap;
} str_t;

static void s_add(str_t *s, const void *p, size_t n)
{
    if (s->n + n + 1 > s->cap) {
        s->cap = (s->n + n + 1) * 2;
        s->p = realloc(s->p, s->cap);
        assert_non_null(s->p);
    }
    memcpy(s->p + s->n, p, n);
    s->n += n;
    s->p[s->n] = '\0';
}

static void s_cat(str_t *s, const char *p)
{
    s_add(s, p, strlen(p));
}

static void s_fmt(str_t *s, const char *fmt, ...) AGENTD_PRINTF(2, 3);
static void s_fmt(str_t *s, const char *fmt, ...)
{
    char buf[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    assert_true(n > 0 && n < (int)sizeof buf);
    s_add(s, buf, (size_t)n);
}

static char *dup_n(const char *p, size_t n)
{
    char *d = malloc(n + 1);
    assert_non_null(d);
    memcpy(d, p, n);
    d[n] = '\0';
    return d;
}

/* ---- encoders --------------------------------------------------------------------- */

/* v as jansson writes it inside a JSON string (no quotes). */
static char *json_esc(const char *v, size_t n, size_t flags)
{
    json_t *j = json_stringn(v, n);
    assert_non_null(j);
    char *t = json_dumps(j, JSON_ENCODE_ANY | flags);
    json_decref(j);
    assert_non_null(t);
    size_t len = strlen(t);
    char *inner = dup_n(t + 1, len - 2);
    free(t);
    return inner;
}

static uint32_t utf8_next(const unsigned char *s, size_t n, size_t *i)
{
    unsigned char b = s[*i];
    uint32_t cp;
    size_t k;
    if (b < 0x80) {
        cp = b;
        k = 1;
    } else if (b < 0xE0) {
        cp = b & 0x1F;
        k = 2;
    } else if (b < 0xF0) {
        cp = b & 0x0F;
        k = 3;
    } else {
        cp = b & 0x07;
        k = 4;
    }
    for (size_t j = 1; j < k && *i + j < n; j++)
        cp = cp << 6 | (s[*i + j] & 0x3F);
    *i += k;
    return cp;
}

/* Every code point as \uXXXX (surrogate pairs above U+FFFF); mode 1: only
 * every other one (the rest as JSON needs them). */
static char *json_u(const char *v, size_t n, int upper, int alternate)
{
    str_t s = {0};
    size_t i = 0;
    int k = 0;
    s_add(&s, "", 0);
    while (i < n) {
        size_t at = i;
        uint32_t cp = utf8_next((const unsigned char *)v, n, &i);
        int esc = !alternate || (k++ % 2 == 0) || cp == '"' || cp == '\\' || cp < 0x20;
        if (!esc) {
            s_add(&s, v + at, i - at);
        } else if (cp >= 0x10000) {
            uint32_t c = cp - 0x10000;
            s_fmt(&s, upper ? "\\u%04X\\u%04X" : "\\u%04x\\u%04x", 0xD800 + (c >> 10),
                  0xDC00 + (c & 0x3FF));
        } else {
            s_fmt(&s, upper ? "\\u%04X" : "\\u%04x", cp);
        }
    }
    return s.p;
}

enum { URL_ALL_UPPER, URL_ALL_LOWER, URL_FORM, URL_PATH, URL_KEEP_SLASH };

static char *url_enc(const char *v, size_t n, int how)
{
    str_t s = {0};
    s_add(&s, "", 0);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        int unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                         (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == '~';
        if (how == URL_ALL_UPPER)
            s_fmt(&s, "%%%02X", c);
        else if (how == URL_ALL_LOWER)
            s_fmt(&s, "%%%02x", c);
        else if (unreserved || (how == URL_KEEP_SLASH && c == '/'))
            s_add(&s, &c, 1);
        else if (how == URL_FORM && c == ' ')
            s_add(&s, "+", 1);
        else
            s_fmt(&s, "%%%02X", c);
    }
    return s.p;
}

static char *b64(const void *p, size_t n, int url_safe, int wrap76)
{
    char *enc = malloc(4 * ((n + 2) / 3) + 1);
    assert_non_null(enc);
    size_t len = sec_base64_encode(p, n, enc, url_safe);
    if (!wrap76)
        return enc;
    str_t s = {0};
    for (size_t i = 0; i < len; i += 76) {
        s_add(&s, enc + i, len - i < 76 ? len - i : 76);
        s_add(&s, "\n", 1);
    }
    free(enc);
    return s.p;
}

/* ---- the oracle ---------------------------------------------------------------------- */

static int b64v(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

static int hexv(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int leaks_depth(const char *t, size_t n, const char *v, size_t vn, int depth);

static int contains(const char *t, size_t n, const char *v, size_t vn)
{
    return memmem(t, n, v, vn) != NULL;
}

static char *strip_breaks(const char *t, size_t n, size_t *out_n)
{
    char *o = malloc(n + 1);
    assert_non_null(o);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (t[i] != '\r' && t[i] != '\n')
            o[k++] = t[i];
    o[k] = '\0';
    *out_n = k;
    return o;
}

static int json_strings_leak(json_t *j, const char *v, size_t vn, int depth)
{
    if (json_is_string(j))
        return leaks_depth(json_string_value(j), json_string_length(j), v, vn, depth + 1);
    if (json_is_object(j)) {
        const char *k;
        json_t *x;
        json_object_foreach(j, k, x) if (json_strings_leak(x, v, vn, depth)) return 1;
    }
    if (json_is_array(j)) {
        size_t i;
        json_t *x;
        json_array_foreach(j, i, x) if (json_strings_leak(x, v, vn, depth)) return 1;
    }
    return 0;
}

/* Does text t reveal v in any form the redactor promises to catch? */
static int leaks_depth(const char *t, size_t n, const char *v, size_t vn, int depth)
{
    if (contains(t, n, v, vn))
        return 1;
    size_t sn, svn;
    char *st = strip_breaks(t, n, &sn), *sv = strip_breaks(v, vn, &svn);
    int hit = svn >= 4 && contains(st, sn, sv, svn);
    free(st);
    free(sv);
    if (hit || depth > 3)
        return hit;
    /* JSON: the whole text, or a JSON string's body. */
    json_error_t e;
    json_t *j = json_loadb(t, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    if (j == NULL && n < 1000000) {
        str_t q = {0};
        s_add(&q, "\"", 1);
        s_add(&q, t, n);
        s_add(&q, "\"", 1);
        j = json_loadb(q.p, q.n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
        free(q.p);
    }
    if (j != NULL) {
        hit = json_strings_leak(j, v, vn, depth);
        json_decref(j);
        if (hit)
            return 1;
    }
    /* %XX, with '+' as space too. */
    if (memchr(t, '%', n) != NULL || memchr(t, '+', n) != NULL) {
        for (int plus = 0; plus < 2 && !hit; plus++) {
            char *d = malloc(n + 1);
            assert_non_null(d);
            size_t k = 0;
            for (size_t i = 0; i < n; i++) {
                if (t[i] == '%' && i + 2 < n && hexv((unsigned char)t[i + 1]) >= 0 &&
                    hexv((unsigned char)t[i + 2]) >= 0) {
                    d[k++] = (char)(hexv((unsigned char)t[i + 1]) << 4 |
                                    hexv((unsigned char)t[i + 2]));
                    i += 2;
                } else {
                    d[k++] = plus && t[i] == '+' ? ' ' : t[i];
                }
            }
            hit = k != n && leaks_depth(d, k, v, vn, depth + 1);
            hit = hit || (plus && k == n && contains(d, k, v, vn));
            free(d);
        }
        if (hit)
            return 1;
    }
    /* base64 runs (line breaks inside a run allowed), at 4 alignments. */
    size_t i = 0;
    while (i < n && !hit) {
        while (i < n && b64v((unsigned char)t[i]) < 0)
            i++;
        size_t j0 = i;
        str_t run = {0};
        while (i < n && (b64v((unsigned char)t[i]) >= 0 || t[i] == '\n' || t[i] == '\r' ||
                         t[i] == '=')) {
            if (b64v((unsigned char)t[i]) >= 0)
                s_add(&run, t + i, 1);
            i++;
        }
        (void)j0;
        for (size_t off = 0; off < 4 && run.n >= off + 4 && !hit; off++) {
            uint8_t *d = malloc(run.n);
            assert_non_null(d);
            size_t k = 0;
            uint32_t acc = 0;
            int bits = 0;
            for (size_t c = off; c < run.n; c++) {
                acc = acc << 6 | (uint32_t)b64v((unsigned char)run.p[c]);
                bits += 6;
                if (bits >= 8) {
                    bits -= 8;
                    d[k++] = (uint8_t)(acc >> bits);
                }
            }
            hit = contains((const char *)d, k, v, vn);
            free(d);
        }
        free(run.p);
    }
    return hit;
}

static int leaks(const char *t, const char *v)
{
    return leaks_depth(t, strlen(t), v, strlen(v), 0);
}

/* ---- running the redactor ------------------------------------------------------------ */

static host_redactor_t *make(const char *const *vals, size_t n)
{
    host_redact_value_t v[16];
    assert_true(n <= 16);
    for (size_t i = 0; i < n; i++) {
        v[i].data = vals[i];
        v[i].len = strlen(vals[i]);
    }
    host_redactor_t *r;
    assert_int_equal(host_redactor_new(v, n, &r), 0);
    return r;
}

/* One-shot; a copy of text if it did not change. */
static char *redact(const host_redactor_t *r, const char *text)
{
    char *out = NULL;
    size_t n = 0;
    assert_int_equal(host_redact(r, text, strlen(text), &out, &n), 0);
    if (out == NULL)
        return strdup(text);
    assert_int_equal(strlen(out), n);
    return out;
}

/* Through a stream, split at the given positions (sorted, < len). */
static char *stream(host_redactor_t *r, const char *text, const size_t *cuts, size_t ncuts)
{
    host_redact_stream_t *s = host_redact_stream_new_fixed(r);
    assert_non_null(s);
    host_redact_buf_t out = {0};
    size_t len = strlen(text), at = 0, max_hold = host_redactor_max_hold(r);
    for (size_t i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : len;
        assert_int_equal(host_redact_stream_write(s, text + at, end - at, &out), 0);
        assert_true(host_redact_stream_held(s) <= max_hold);
        at = end;
    }
    assert_int_equal(host_redact_stream_flush(s, &out), 0);
    assert_int_equal(host_redact_stream_held(s), 0);
    host_redact_stream_free(s);
    if (out.data == NULL)
        return strdup("");
    return out.data;
}

/* The stream gives the one-shot result whatever the chunking: split at
 * every position, into three at every pair (short texts), byte by byte. */
static void check_streams(host_redactor_t *r, const char *text, const char *expect)
{
    size_t len = strlen(text);
    for (size_t i = 0; i <= len; i++) {
        char *o = stream(r, text, &i, 1);
        if (strcmp(o, expect) != 0)
            fail_msg("split at %zu of \"%s\":\n got \"%s\"\nwant \"%s\"", i, text, o, expect);
        free(o);
    }
    if (len <= 48) {
        for (size_t i = 1; i < len; i++)
            for (size_t j = i + 1; j < len; j++) {
                size_t cuts[2] = {i, j};
                char *o = stream(r, text, cuts, 2);
                if (strcmp(o, expect) != 0)
                    fail_msg("split at %zu,%zu of \"%s\": got \"%s\"", i, j, text, o);
                free(o);
            }
    }
    size_t *cuts = malloc((len + 1) * sizeof *cuts);
    assert_non_null(cuts);
    for (size_t i = 0; i + 1 < len; i++)
        cuts[i] = i + 1;
    char *o = stream(r, text, cuts, len > 0 ? len - 1 : 0);
    if (strcmp(o, expect) != 0)
        fail_msg("byte by byte \"%s\": got \"%s\"", text, o);
    free(o);
    free(cuts);
}

/* ---- every form of every secret ----------------------------------------------------- */

static const char *const SECRETS[] = {
    "hunter2-S3cr3t!",
    "p@ss w/rd\"q\\x:1",
    "t\xc3\xb6k\xe2\x82\xacn-\xf0\x9f\x98\x80-\xc3\xbcn\xc3\xaf" "code",
    "line-one-secret\nline-two-secret",
    "abcd",
    "ghp_R4nd0mT0k3nW1thD1g1ts9876543210wxyzEF",
};
#define NSECRETS (sizeof SECRETS / sizeof SECRETS[0])

typedef struct form {
    char *text;   /* the whole input */
    char name[48];
    int json;     /* the input is a JSON document: the output must stay one */
} form_t;

typedef struct forms {
    form_t *v;
    size_t n, cap;
} forms_t;

static void add_form(forms_t *f, const char *name, char *body, int json_ctx)
{
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 64;
        f->v = realloc(f->v, f->cap * sizeof *f->v);
        assert_non_null(f->v);
    }
    str_t s = {0};
    if (json_ctx) {
        s_cat(&s, "{\"type\":\"tool_result\",\"text\":\"BEFORE ");
        s_cat(&s, body);
        s_cat(&s, " AFTER\",\"n\":1}");
    } else {
        s_cat(&s, "BEFORE ");
        s_cat(&s, body);
        s_cat(&s, " AFTER");
    }
    form_t *x = &f->v[f->n++];
    x->text = s.p;
    x->json = json_ctx;
    snprintf(x->name, sizeof x->name, "%s", name);
    free(body);
}

static void make_forms(const char *v, forms_t *f)
{
    size_t n = strlen(v);
    add_form(f, "plain", strdup(v), 0);
    add_form(f, "json", json_esc(v, n, 0), 1);
    add_form(f, "json-ascii", json_esc(v, n, JSON_ENSURE_ASCII), 1);
    add_form(f, "json-slash", json_esc(v, n, JSON_ENSURE_ASCII | JSON_ESCAPE_SLASH), 1);
    add_form(f, "json-u-lower", json_u(v, n, 0, 0), 1);
    add_form(f, "json-u-upper", json_u(v, n, 1, 0), 1);
    add_form(f, "json-u-mixed", json_u(v, n, 1, 1), 1);
    char *once = json_esc(v, n, JSON_ENSURE_ASCII);
    add_form(f, "json-twice", json_esc(once, strlen(once), 0), 1);
    char *u = json_u(v, n, 0, 0);
    add_form(f, "json-u-twice", json_esc(u, strlen(u), 0), 1);
    free(u);
    free(once);
    add_form(f, "url-upper", url_enc(v, n, URL_ALL_UPPER), 0);
    add_form(f, "url-lower", url_enc(v, n, URL_ALL_LOWER), 0);
    add_form(f, "url-form", url_enc(v, n, URL_FORM), 0);
    add_form(f, "url-path", url_enc(v, n, URL_PATH), 0);
    char *keep = url_enc(v, n, URL_KEEP_SLASH);
    add_form(f, "url-in-json", json_esc(keep, strlen(keep), JSON_ESCAPE_SLASH), 1);
    free(keep);
    static const char *const lead[] = {"", "x", "xy", "Authorization: Basic u:"};
    for (size_t k = 0; k < sizeof lead / sizeof *lead; k++) {
        for (int url = 0; url < 2; url++) {
            str_t t = {0};
            s_cat(&t, lead[k]);
            s_add(&t, v, n);
            s_cat(&t, k == 3 ? "" : "tail!");
            char name[48];
            snprintf(name, sizeof name, "base64%s-lead%zu", url ? "url" : "", strlen(lead[k]));
            add_form(f, name, b64(t.p, t.n, url, 0), 0);
            if (!url) {
                char *enc = b64(t.p, t.n, 0, 0);
                snprintf(name, sizeof name, "base64-json-lead%zu", strlen(lead[k]));
                add_form(f, name, json_esc(enc, strlen(enc), JSON_ESCAPE_SLASH), 1);
                free(enc);
            }
            free(t.p);
        }
    }
    str_t big = {0};
    s_cat(&big, "A long text that wraps in base64 at seventy-six columns, the way "
                "`base64` prints it: ");
    s_add(&big, v, n);
    s_cat(&big, " and then some more text after the value to fill the lines.");
    add_form(f, "base64-wrapped", b64(big.p, big.n, 0, 1), 0);
    char *wrapped = b64(big.p, big.n, 0, 1);
    add_form(f, "base64-wrapped-json", json_esc(wrapped, strlen(wrapped), 0), 1);
    free(wrapped);
    free(big.p);
    /* Split across two lines at every byte boundary (raw, CRLF, JSON). */
    for (size_t k = 1; k < n; k++) {
        if ((v[k] & 0xC0) == 0x80)
            continue; /* inside a UTF-8 character: JSON cannot split there */
        static const char *const breaks[] = {"\n", "\r\n"};
        for (int b = 0; b < 2; b++) {
            str_t t = {0};
            s_add(&t, v, k);
            s_cat(&t, breaks[b]);
            s_add(&t, v + k, n - k);
            char name[48];
            snprintf(name, sizeof name, "split%s-%zu", b ? "-crlf" : "", k);
            add_form(f, name, dup_n(t.p, t.n), 0);
            snprintf(name, sizeof name, "split-json%s-%zu", b ? "-crlf" : "", k);
            add_form(f, name, json_esc(t.p, t.n, JSON_ENSURE_ASCII), 1);
            free(t.p);
        }
    }
}

static void free_forms(forms_t *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->v[i].text);
    free(f->v);
}

static void test_every_form(void **state)
{
    (void)state;
    host_redactor_t *r = make(SECRETS, NSECRETS);
    size_t checked = 0, streamed = 0;
    for (size_t si = 0; si < NSECRETS; si++) {
        forms_t f = {0};
        make_forms(SECRETS[si], &f);
        for (size_t i = 0; i < f.n; i++) {
            const form_t *x = &f.v[i];
            if (!leaks(x->text, SECRETS[si]))
                fail_msg("oracle blind to form %s of secret %zu: %s", x->name, si, x->text);
            char *out = redact(r, x->text);
            if (leaks(out, SECRETS[si]) || strstr(out, "***") == NULL ||
                strstr(out, "BEFORE") == NULL || strstr(out, "AFTER") == NULL)
                fail_msg("secret %zu form %s:\n in  %s\n out %s", si, x->name, x->text, out);
            for (size_t sj = 0; sj < NSECRETS; sj++)
                assert_false(leaks(out, SECRETS[sj]));
            if (x->json) {
                json_error_t e;
                json_t *j = json_loads(out, 0, &e);
                if (j == NULL)
                    fail_msg("form %s: redacted JSON is invalid (%s): %s", x->name, e.text, out);
                json_decref(j);
            }
            /* Streams: every split for some forms of each secret, cheaper
             * checks for the many line-split forms. */
            if (strncmp(x->name, "split", 5) != 0 || strstr(x->name, "-1") != NULL) {
                check_streams(r, x->text, out);
                streamed++;
            }
            free(out);
            checked++;
        }
        free_forms(&f);
    }
    print_message("checked %zu forms, %zu of them through streams at every split\n", checked,
                  streamed);
    host_redactor_unref(r);
}

/* ---- exact results --------------------------------------------------------------------- */

static void test_exact_results(void **state)
{
    (void)state;
    static const char *const vals[] = {"abcdefgh12", "gh12ijklmn", "cdefgh", "zzzz9999",
                                       "n123abc", "s3cr3t-v4lue"};
    host_redactor_t *r = make(vals, sizeof vals / sizeof *vals);
    static const struct {
        const char *in, *out;
    } cases[] = {
        /* overlaps: the union, one mask */
        {"xx abcdefgh12ijklmn yy", "xx *** yy"},
        {"xx abcdefgh12 yy", "xx *** yy"},
        {"abcdefgh12gh12ijklmnzzzz9999", "***"},
        {"abcdefgh12 gh12ijklmn", "*** ***"},
        {"-cdefgh-", "-***-"},
        {"abcdefgh", "ab***"},
        {"abc\\u0064efgh12ijklmn!", "***!"},
        /* repeated */
        {"s3cr3t-v4lues3cr3t-v4lue s3cr3t-v4lue", "*** ***"},
        /* a mask never splits a JSON escape: "\n" + "123abc" is not the value
         * n123abc, but the raw text holds it, so the whole escape goes */
        {"{\"a\":\"\\n123abc\"}", "{\"a\":\"***\"}"},
        {"{\"a\":\"\\\\n123abc\"}", "{\"a\":\"\\\\***\"}"},
        {"{\"a\":\"s3cr3t-v4lu\\u0065\"}", "{\"a\":\"***\"}"},
        {"s3cr3t-\nv4lue", "***"},
        {"s3cr3t-\r\nv4lue\n", "***\n"},
        {"s3cr3t-\\nv4lue", "***"},
        {"s3cr3t-\\r\\nv4lue", "***"},
        {"s3cr3t-\\u000av4lue", "***"},
        {"s3cr3t%2Dv4lue", "***"},
        {"s3cr3t%2dv4lue", "***"},
        {"czNjcjN0LXY0bHVl", "***"},                    /* base64, offset 0 */
        {"eHMzY3IzdC12NGx1ZQ==", "eH***Q=="},           /* offset 1 */
        {"eHlzM2NyM3QtdjRsdWU=", "eHl***U="},           /* offset 2 */
        /* near misses stay */
        {"s3cr3t-v4lu", "s3cr3t-v4lu"},
        {"s3cr3t-v4lux", "s3cr3t-v4lux"},
        {"s3cr3t- v4lue", "s3cr3t- v4lue"},
        {"s3cr3t-\n\tv4lue", "s3cr3t-\n\tv4lue"},
        {"", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *out = redact(r, cases[i].in);
        if (strcmp(out, cases[i].out) != 0)
            fail_msg("\"%s\": got \"%s\", want \"%s\"", cases[i].in, out, cases[i].out);
        check_streams(r, cases[i].in, cases[i].out);
        free(out);
    }
    host_redactor_unref(r);
}

/* ---- JSON stays JSON --------------------------------------------------------------------- */

static void test_json_documents(void **state)
{
    (void)state;
    static const char *const vals[] = {"s3cr3t-v4lue", "1,\"b\":", "xx\",\"yy"};
    host_redactor_t *r = make(vals, 3);
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"{\"t\":\"a s3cr3t-v4lue b\"}", "{\"t\":\"a *** b\"}"},
        {"{\"t\":\"a \\u0073\\u0033cr3t-v4lue\"}", "{\"t\":\"a ***\"}"},
        {"{\"s3cr3t-v4lue\":1}", "{\"***\":1}"},
        {"{\"t\":\"nothing\"}", NULL},
        /* values that spell JSON structure: nothing of the document is kept */
        {"{\"a\":1,\"b\":2}", "{\"redacted\":\"***\"}"},
        {"{\"a\":\"xx\",\"yy\":1}", "{\"redacted\":\"***\"}"},
        {"[\"xx\",\"yy\"]", "[\"***\"]"}, /* still valid as it is */
        {"[1,\"b\":2]", "[***2]"},            /* was not JSON: as text */
        {"[\"1,\\\"b\\\":\",{\"a\":1,\"b\":2}]", "\"***\""},
        /* not JSON: redacted as text */
        {"not json s3cr3t-v4lue", "not json ***"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *out = NULL;
        size_t n = 0;
        assert_int_equal(host_redact_json(r, cases[i].in, strlen(cases[i].in), &out, &n), 0);
        if (cases[i].out == NULL) {
            assert_null(out);
            continue;
        }
        if (out == NULL || strcmp(out, cases[i].out) != 0)
            fail_msg("%s: got %s, want %s", cases[i].in, out ? out : "(unchanged)",
                     cases[i].out);
        assert_int_equal(n, strlen(out));
        free(out);
    }
    host_redact_source_t *src = host_redact_source_new();
    host_redact_source_set(src, r);
    char *out = NULL;
    assert_int_equal(host_redact_source_json(src, "{\"a\":1,\"b\":2}", 13, &out, NULL), 0);
    assert_string_equal(out, "{\"redacted\":\"***\"}");
    free(out);
    host_redact_source_free(src);
}

/* ---- no false positives ----------------------------------------------------------------- */

static void test_no_false_positives(void **state)
{
    (void)state;
    host_redactor_t *r = make(SECRETS, NSECRETS);
    str_t text = {0};
    s_cat(&text,
          "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.\n"
          "{\"type\":\"assistant\",\"message\":{\"content\":[{\"type\":\"text\",\"text\":"
          "\"Line one\\nLine \\\"two\\\" \\u00e9\\u20ac \\ud83d\\ude00 done\\\\\"}]}}\n"
          "GET /search?q=hello+world&lang=en%2Dus&x=%41%42%43 HTTP/1.1\r\n"
          "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abc\r\n"
          "hunter2-S3cr3t? hunter2-S3cr3 abc ABCD abce bcd line-one-secret\nline-two-secre\n"
          "ghp_R4nd0mT0k3nW1thD1g1ts9876543210wxyzE\n"
          "p@ss w/rd\"q\\x:2 p@ss+w/rd\n");
    /* base64 of pseudo-random bytes */
    uint8_t rnd[3000];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof rnd; i++) {
        x = x * 1103515245u + 12345u;
        rnd[i] = (uint8_t)(x >> 16);
    }
    char *enc = b64(rnd, sizeof rnd, 0, 1);
    s_cat(&text, enc);
    free(enc);
    char *out = NULL;
    assert_int_equal(host_redact(r, text.p, text.n, &out, NULL), 0);
    if (out != NULL)
        fail_msg("unrelated text changed:\n%s", out);
    check_streams(r, "hunter2-S3cr3t? hunter2-S3cr3 line-one-secret\nline-two-secre",
                  "hunter2-S3cr3t? hunter2-S3cr3 line-one-secret\nline-two-secre");
    free(text.p);
    host_redactor_unref(r);
    /* An empty redactor changes nothing, and so does NULL. */
    host_redactor_t *none;
    assert_int_equal(host_redactor_new(NULL, 0, &none), 0);
    assert_int_equal(host_redactor_patterns(none), 0);
    assert_int_equal(host_redact(none, "hunter2-S3cr3t!", 15, &out, NULL), 0);
    assert_null(out);
    assert_int_equal(host_redact(NULL, "hunter2-S3cr3t!", 15, &out, NULL), 0);
    assert_null(out);
    check_streams(none, "anything", "anything");
    host_redactor_unref(none);
}

/* ---- streams hold back little ---------------------------------------------------------------- */

static void test_stream_hold(void **state)
{
    (void)state;
    static const char *const vals[] = {"0123456789-secret"};
    host_redactor_t *r = make(vals, 1);
    host_redact_stream_t *s = host_redact_stream_new_fixed(r);
    host_redact_buf_t out = {0};
    /* Bytes that cannot begin any form of the value are let go at once. */
    assert_int_equal(host_redact_stream_write(s, "     ", 5, &out), 0);
    assert_int_equal(host_redact_stream_held(s), 0);
    assert_int_equal(out.len, 5);
    /* A prefix of the value is held, never more than the longest pattern - 1
     * on plain text. */
    assert_int_equal(host_redact_stream_write(s, "xx 0123456789-secre", 19, &out), 0);
    assert_int_equal(host_redact_stream_held(s), 16);
    assert_true(host_redact_stream_held(s) <= host_redactor_longest(r) - 1);
    assert_int_equal(host_redact_stream_write(s, "t and more ", 11, &out), 0);
    assert_true(host_redact_stream_held(s) <= 1);
    /* An unfinished escape is held too. */
    assert_int_equal(host_redact_stream_write(s, "\\u00", 4, &out), 0);
    assert_true(host_redact_stream_held(s) >= 4);
    assert_int_equal(host_redact_stream_write(s, "30123456789-secret.", 19, &out), 0);
    assert_int_equal(host_redact_stream_flush(s, &out), 0);
    assert_string_equal(out.data, "     xx *** and more ***.");
    /* After a flush the stream starts afresh. */
    assert_int_equal(host_redact_stream_write(s, "012345", 6, &out), 0);
    assert_int_equal(host_redact_stream_flush(s, &out), 0);
    assert_string_equal(out.data, "     xx *** and more ***.012345");
    host_redact_buf_free(&out);
    /* The hold is bounded even by pathological input (a value interrupted by
     * thousands of line breaks is let go, not buffered without end). */
    size_t max = host_redactor_max_hold(r);
    assert_int_equal(host_redact_stream_write(s, "0123", 4, &out), 0);
    for (int i = 0; i < 5000; i++) {
        assert_int_equal(host_redact_stream_write(s, "\n", 1, &out), 0);
        assert_true(host_redact_stream_held(s) <= max);
    }
    assert_int_equal(host_redact_stream_flush(s, &out), 0);
    host_redact_buf_free(&out);
    host_redact_stream_free(s);
    host_redactor_unref(r);
}

/* A 64 KiB value, and a source swapped while streams use it. */
static void test_big_value_and_source(void **state)
{
    (void)state;
    size_t n = 64 * 1024;
    char *v = malloc(n + 1);
    assert_non_null(v);
    uint32_t x = 7;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        v[i] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/"[(x >> 16) & 63];
    }
    v[n] = '\0';
    host_redact_value_t val = {v, n};
    host_redactor_t *r;
    assert_int_equal(host_redactor_new(&val, 1, &r), 0);
    str_t t = {0};
    s_cat(&t, "key: ");
    s_add(&t, v, n);
    s_cat(&t, " end");
    char *out = redact(r, t.p);
    assert_string_equal(out, "key: *** end");
    free(out);
    char *enc = b64((const uint8_t *)t.p, t.n, 0, 1);
    out = redact(r, enc);
    assert_false(leaks(out, v));
    free(out);
    free(enc);
    /* streamed in 1000-byte chunks */
    size_t cuts[200], nc = 0;
    for (size_t at = 1000; at < t.n && nc < 200; at += 1000)
        cuts[nc++] = at;
    out = stream(r, t.p, cuts, nc);
    assert_string_equal(out, "key: *** end");
    free(out);
    free(t.p);

    host_redact_source_t *src = host_redact_source_new();
    assert_non_null(src);
    assert_null(host_redact_source_get(src));
    uint64_t g = host_redact_source_generation(src);
    host_redact_source_set(src, r); /* takes the reference */
    assert_int_equal(host_redact_source_generation(src), g + 1);
    host_redactor_t *got = host_redact_source_get(src);
    assert_ptr_equal(got, r);
    host_redactor_unref(got);
    host_redact_source_set(src, NULL);
    host_redact_source_free(src);
    free(v);
}

/* ---- the log hook -------------------------------------------------------------------------- */

static void test_log_hook(void **state)
{
    (void)state;
    static const char *const vals[] = {"hunter2-S3cr3t!", "xoxb-slack-token-1"};
    host_redact_source_t *src = host_redact_source_new();
    host_redact_source_set(src, make(vals, 2));
    assert_null(host_redact_log_hook(src, "nothing to see"));
    char *o = host_redact_log_hook(src, "auth failed for hunter2-S3cr3t! at url "
                                        "https://x/?t=xoxb%2Dslack%2Dtoken%2D1");
    assert_string_equal(o, "auth failed for *** at url https://x/?t=***");
    free(o);
    assert_null(host_redact_log_hook(NULL, "x"));

    for (int json = 0; json < 2; json++) {
        char *buf = NULL;
        size_t len = 0;
        FILE *mem = open_memstream(&buf, &len);
        assert_non_null(mem);
        host_log_t log;
        assert_int_equal(host_log_init(&log, AGENTD_LOG_INFO,
                                       json ? HOST_LOG_FORMAT_JSON : HOST_LOG_FORMAT_TEXT, mem),
                         0);
        log.redact = host_redact_log_hook;
        log.redact_ud = src;
        host_log(&log, AGENTD_LOG_INFO, "t", "env: TOKEN=%s SLACK=%s", vals[0], vals[1]);
        host_log(&log, AGENTD_LOG_INFO, "t", "split: %.7s\n%s", vals[0], vals[0] + 7);
        host_log_close(&log);
        fclose(mem);
        assert_null(strstr(buf, "hunter2"));
        assert_null(strstr(buf, "S3cr3t"));
        assert_null(strstr(buf, "xoxb"));
        assert_non_null(strstr(buf, "TOKEN=*** SLACK=***"));
        free(buf);
    }
    host_redact_source_free(src);
}

/* ---- throughput --------------------------------------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_throughput(void **state)
{
    (void)state;
    /* 50 secrets of 24 to 48 characters. */
    char vals[50][64];
    host_redact_value_t v[50];
    uint32_t x = 99;
    for (int i = 0; i < 50; i++) {
        int len = 24 + i % 25;
        for (int k = 0; k < len; k++) {
            x = x * 1103515245u + 12345u;
            vals[i][k] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"
                [(x >> 16) & 63];
        }
        vals[i][len] = '\0';
        v[i].data = vals[i];
        v[i].len = (size_t)len;
    }
    host_redactor_t *r;
    double t0 = now_s();
    assert_int_equal(host_redactor_new(v, 50, &r), 0);
    double build = now_s() - t0;
    /* ~8 MiB of agent-like JSON lines: escapes, newlines, a URL, and a
     * secret in one line of 64. */
    str_t text = {0};
    for (int line = 0; text.n < 8u * 1024 * 1024; line++) {
        s_cat(&text, "{\"type\":\"user\",\"message\":{\"content\":[{\"type\":\"tool_result\","
                     "\"content\":\"total 48\\ndrwxr-xr-x  5 agent agent 4096 Jan  1 12:00 "
                     ".\\n-rw-r--r--  1 agent agent  220 Jan  1 12:00 README.md\\n"
                     "see https://example.com/a%20b?c=d+e for \\\"details\\\" ");
        if (line % 64 == 0)
            s_cat(&text, vals[line % 50]);
        s_cat(&text, "\"}]}}\n");
    }
    double mb = (double)text.n / (1024.0 * 1024.0);
    t0 = now_s();
    char *out = NULL;
    assert_int_equal(host_redact(r, text.p, text.n, &out, NULL), 0);
    double one = now_s() - t0;
    assert_non_null(out);
    free(out);
    host_redact_stream_t *s = host_redact_stream_new_fixed(r);
    host_redact_buf_t b = {0};
    t0 = now_s();
    for (size_t at = 0; at < text.n; at += 4096) {
        size_t n = text.n - at < 4096 ? text.n - at : 4096;
        assert_int_equal(host_redact_stream_write(s, text.p + at, n, &b), 0);
        b.len = 0; /* a consumer would write it out */
    }
    assert_int_equal(host_redact_stream_flush(s, &b), 0);
    double streamed = now_s() - t0;
    /* Plain text without escapes: only the raw view runs. */
    str_t plain = {0};
    while (plain.n < 8u * 1024 * 1024)
        s_cat(&plain, "The quick brown fox jumps over the lazy dog; lorem ipsum dolor sit amet "
                      "consectetur adipiscing elit sed do eiusmod tempor incididunt. ");
    t0 = now_s();
    assert_int_equal(host_redact(r, plain.p, plain.n, &out, NULL), 0);
    double pl = now_s() - t0;
    free(out);
    print_message("redaction throughput, 50 secrets (%zu patterns, build %.1f ms): "
                  "JSON lines one-shot %.0f MB/s, JSON lines streamed in 4 KiB chunks %.0f MB/s, "
                  "plain text %.0f MB/s\n",
                  host_redactor_patterns(r), build * 1e3, mb / one, mb / streamed,
                  (double)plain.n / (1024.0 * 1024.0) / pl);
    host_redact_buf_free(&b);
    host_redact_stream_free(s);
    free(text.p);
    free(plain.p);
    host_redactor_unref(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_form),
        cmocka_unit_test(test_exact_results),
        cmocka_unit_test(test_json_documents),
        cmocka_unit_test(test_no_false_positives),
        cmocka_unit_test(test_stream_hold),
        cmocka_unit_test(test_big_value_and_source),
        cmocka_unit_test(test_log_hook),
        cmocka_unit_test(test_throughput),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
