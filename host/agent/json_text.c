#include "agent/json_text.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <agentd/abi.h>

#include "agent/utf8.h"
#include "core/hex.h"

void host_jtext_init(host_jtext_t *w, char *buf, size_t cap)
{
    w->p = buf;
    w->len = 0;
    w->cap = buf != NULL ? cap : 0;
    w->own = NULL;
}

void host_jtext_free(host_jtext_t *w)
{
    free(w->own);
    host_jtext_init(w, NULL, 0);
}

/* Room for `more` bytes after len. */
static int reserve(host_jtext_t *w, size_t more)
{
    if (more <= w->cap - w->len)
        return 0;
    if (more > SIZE_MAX / 2 - w->len)
        return AGENTD_ENOMEM;
    size_t cap = w->cap > 256 ? w->cap : 256;
    while (cap - w->len < more)
        cap *= 2;
    char *p = w->own != NULL ? realloc(w->own, cap) : malloc(cap);
    if (p == NULL)
        return AGENTD_ENOMEM;
    if (w->own == NULL && w->len > 0)
        memcpy(p, w->p, w->len);
    w->p = w->own = p;
    w->cap = cap;
    return 0;
}

int host_jtext_raw(host_jtext_t *w, const char *s, size_t n)
{
    int rc = reserve(w, n);
    if (rc != 0)
        return rc;
    if (n > 0)
        memcpy(w->p + w->len, s, n);
    w->len += n;
    return 0;
}

static const char HEX[] = "0123456789ABCDEF";

static char *put_u(char *o, uint32_t v)
{
    o[0] = '\\';
    o[1] = 'u';
    o[2] = HEX[v >> 12 & 15];
    o[3] = HEX[v >> 8 & 15];
    o[4] = HEX[v >> 4 & 15];
    o[5] = HEX[v & 15];
    return o + 6;
}

/* One code point as jansson writes it; at most 12 bytes. */
static char *put_cp(char *o, uint32_t c)
{
    char e = 0;
    switch (c) {
    case '"': e = '"'; break;
    case '\\': e = '\\'; break;
    case '\b': e = 'b'; break;
    case '\f': e = 'f'; break;
    case '\n': e = 'n'; break;
    case '\r': e = 'r'; break;
    case '\t': e = 't'; break;
    default: break;
    }
    if (e != 0) {
        o[0] = '\\';
        o[1] = e;
        return o + 2;
    }
    if (c < 0x20)
        return put_u(o, c);
    if (c < 0x80) {
        *o = (char)c;
        return o + 1;
    }
    if (c < 0x10000)
        return put_u(o, c);
    c -= 0x10000;
    o = put_u(o, 0xD800 | (c >> 10));
    return put_u(o, 0xDC00 | (c & 0x3FF));
}

#define ONES UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)

static int plain(unsigned char c)
{
    return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

/* The end of the run of bytes written as they are (printable ASCII other
 * than '"' and '\\', and U+007F), eight at a time while it lasts. */
static size_t plain_end(const unsigned char *s, size_t n, size_t i)
{
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        uint64_t quote = w ^ (ONES * '"'), bslash = w ^ (ONES * '\\');
        uint64_t hit = ((w - ONES * 0x20) & ~w) | ((quote - ONES) & ~quote) |
                       ((bslash - ONES) & ~bslash) | w;
        if (hit & HIGHS)
            break;
    }
    while (i < n && plain(s[i]))
        i++;
    return i;
}

/* A well-formed UTF-8 sequence of k bytes as a code point. */
static uint32_t utf8_cp(const unsigned char *s, size_t k)
{
    if (k == 2)
        return (uint32_t)(s[0] & 0x1F) << 6 | (s[1] & 0x3F);
    if (k == 3)
        return (uint32_t)(s[0] & 0x0F) << 12 | (uint32_t)(s[1] & 0x3F) << 6 | (s[2] & 0x3F);
    return (uint32_t)(s[0] & 0x07) << 18 | (uint32_t)(s[1] & 0x3F) << 12 |
           (uint32_t)(s[2] & 0x3F) << 6 | (s[3] & 0x3F);
}

/* Copies the run of bytes written as they are at s[*i...] to o and moves
 * *i past it; returns the new end of o. */
static char *copy_plain(char *o, const unsigned char *s, size_t n, size_t *i)
{
    size_t j = plain_end(s, n, *i);
    memcpy(o, s + *i, j - *i);
    o += j - *i;
    *i = j;
    return o;
}

/* The UTF-8 sequence at s[*i...] as jansson writes it, *i moved past it;
 * NULL if it is not well-formed. */
static char *put_utf8(char *o, const unsigned char *s, size_t n, size_t *i)
{
    size_t k = host_utf8_seq(s + *i, n - *i, NULL);
    if (k == 0)
        return NULL;
    *i += k;
    return put_cp(o, utf8_cp(s + *i - k, k));
}

/* The four hex digits at s[i..i+4), or -1. */
static long hex4(const unsigned char *s, size_t n, size_t i)
{
    if (i + 4 > n)
        return -1;
    long v = 0;
    for (size_t k = 0; k < 4; k++) {
        int d = host_hex_digit(s[i + k]);
        if (d < 0)
            return -1;
        v = v << 4 | d;
    }
    return v;
}

/* s[i] is the 'u' of a \u escape: its code point (a surrogate pair makes
 * one), *i moved past it; -1 for what jansson refuses. */
static long unicode_escape(const unsigned char *s, size_t n, size_t *i)
{
    long c = hex4(s, n, *i + 1);
    if (c < 0 || (c >= 0xDC00 && c <= 0xDFFF))
        return -1;
    *i += 5;
    if (c < 0xD800 || c > 0xDBFF)
        return c;
    if (*i + 2 > n || s[*i] != '\\' || s[*i + 1] != 'u')
        return -1;
    long lo = hex4(s, n, *i + 2);
    if (lo < 0xDC00 || lo > 0xDFFF)
        return -1;
    *i += 6;
    return 0x10000 + ((c - 0xD800) << 10) + (lo - 0xDC00);
}

int host_jtext_reencode(host_jtext_t *w, const char *text, size_t n, int *seen)
{
    const unsigned char *s = (const unsigned char *)text;
    /* Every piece of input grows at most threefold (a 2-byte UTF-8
     * sequence becomes a 6-byte escape). */
    if (n > SIZE_MAX / 4)
        return AGENTD_ENOMEM;
    int rc = reserve(w, 3 * n + 2);
    if (rc != 0)
        return rc;
    int marks = memchr(s, '[', n) != NULL || memchr(s, '=', n) != NULL ? HOST_JTEXT_MARKS : 0;
    char *o = w->p + w->len;
    *o++ = '"';
    size_t i = 0;
    while (i < n) {
        o = copy_plain(o, s, n, &i);
        if (i >= n)
            break;
        unsigned char c = s[i];
        if (c == '\\' && i + 1 < n) {
            unsigned char e = s[i + 1];
            i++;
            if (e == 'u') {
                long cp = unicode_escape(s, n, &i);
                if (cp < 0)
                    return AGENTD_EINVAL;
                if (cp == '[' || cp == '=')
                    marks = HOST_JTEXT_MARKS;
                o = put_cp(o, (uint32_t)cp);
                continue;
            }
            i++;
            switch (e) {
            case '"': o = put_cp(o, '"'); break;
            case '\\': o = put_cp(o, '\\'); break;
            case '/': o = put_cp(o, '/'); break;
            case 'b': o = put_cp(o, '\b'); break;
            case 'f': o = put_cp(o, '\f'); break;
            case 'n': o = put_cp(o, '\n'); break;
            case 'r': o = put_cp(o, '\r'); break;
            case 't': o = put_cp(o, '\t'); break;
            default: return AGENTD_EINVAL; /* not from a checked document */
            }
        } else if (c < 0x80) {
            if (c == '\\')
                return AGENTD_EINVAL; /* a lone backslash at the end */
            o = put_cp(o, c);
            i++;
        } else if ((o = put_utf8(o, s, n, &i)) == NULL) {
            return AGENTD_EINVAL;
        }
    }
    *o++ = '"';
    w->len = (size_t)(o - w->p);
    if (seen != NULL)
        *seen = marks;
    return 0;
}

int host_jtext_string(host_jtext_t *w, const char *text, size_t n)
{
    const unsigned char *s = (const unsigned char *)text;
    if (n > SIZE_MAX / 8)
        return AGENTD_ENOMEM;
    int rc = reserve(w, 6 * n + 2); /* a control byte becomes \u00XX */
    if (rc != 0)
        return rc;
    char *o = w->p + w->len;
    *o++ = '"';
    size_t i = 0;
    while (i < n) {
        o = copy_plain(o, s, n, &i);
        if (i >= n)
            break;
        if (s[i] < 0x80) {
            o = put_cp(o, s[i]);
            i++;
        } else if ((o = put_utf8(o, s, n, &i)) == NULL) {
            return AGENTD_EINVAL;
        }
    }
    *o++ = '"';
    w->len = (size_t)(o - w->p);
    return 0;
}
