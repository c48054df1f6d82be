#include "agent/json_span.h"

#include <string.h>

static size_t skip_ws(const char *s, size_t n, size_t i)
{
    while (i < n && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t'))
        i++;
    return i;
}

/* s[i] is an opening quote: the index after the closing one. A quote is
 * closing when an even number of backslashes precede it; memchr makes long
 * strings (a 10 MB tool result) cheap to step over. */
static size_t skip_string(const char *s, size_t n, size_t i)
{
    size_t from = i + 1;
    for (;;) {
        const char *q = from < n ? memchr(s + from, '"', n - from) : NULL;
        if (q == NULL)
            return n;
        size_t j = (size_t)(q - s), k = j;
        while (k > i + 1 && s[k - 1] == '\\')
            k--;
        if (((j - k) & 1) == 0)
            return j + 1;
        from = j + 1;
    }
}

/* The index after the value that starts at s[i]. */
static size_t skip_value(const char *s, size_t n, size_t i)
{
    if (i >= n)
        return n;
    if (s[i] == '"')
        return skip_string(s, n, i);
    if (s[i] == '{' || s[i] == '[') {
        size_t depth = 0;
        while (i < n) {
            char c = s[i];
            if (c == '"') {
                i = skip_string(s, n, i);
                continue;
            }
            if (c == '{' || c == '[') {
                depth++;
            } else if (c == '}' || c == ']') {
                if (--depth == 0)
                    return i + 1;
            }
            i++;
        }
        return n;
    }
    while (i < n && s[i] != ',' && s[i] != '}' && s[i] != ']' && s[i] != ' ' && s[i] != '\n' &&
           s[i] != '\r' && s[i] != '\t')
        i++;
    return i;
}

void host_jspan_get_many(host_jspan_t obj, const char *const *keys, size_t nkeys,
                         host_jspan_t *out)
{
    const char *s = obj.p;
    size_t n = obj.n, left = nkeys;
    for (size_t k = 0; k < nkeys; k++)
        out[k] = (host_jspan_t){NULL, 0};
    size_t i = s != NULL ? skip_ws(s, n, 0) : n;
    if (i >= n || s[i] != '{')
        return;
    i++;
    while (left > 0) {
        i = skip_ws(s, n, i);
        if (i >= n || s[i] != '"')
            return;
        size_t kend = skip_string(s, n, i);
        size_t match = nkeys;
        for (size_t k = 0; k < nkeys && match == nkeys; k++)
            if (out[k].p == NULL && kend - i >= 2 && s[i + 1] == keys[k][0] &&
                kend - i == strlen(keys[k]) + 2 &&
                memcmp(s + i + 1, keys[k], kend - i - 2) == 0)
                match = k;
        i = skip_ws(s, n, kend);
        if (i >= n || s[i] != ':')
            return;
        i = skip_ws(s, n, i + 1);
        size_t vend = skip_value(s, n, i);
        if (match < nkeys && vend > i) {
            out[match] = (host_jspan_t){s + i, vend - i};
            left--;
        }
        i = skip_ws(s, n, vend);
        if (i >= n || s[i] != ',')
            return;
        i++;
    }
}

host_jspan_t host_jspan_get(host_jspan_t obj, const char *key)
{
    host_jspan_t v;
    host_jspan_get_many(obj, &key, 1, &v);
    return v;
}

char host_jspan_kind(host_jspan_t v)
{
    return v.p != NULL && v.n > 0 ? v.p[0] : 0;
}

int host_jspan_streq(host_jspan_t v, const char *lit)
{
    size_t len = strlen(lit);
    return host_jspan_kind(v) == '"' && v.n == len + 2 && memcmp(v.p + 1, lit, len) == 0;
}

void host_jspan_iter_init(host_jspan_iter_t *it, host_jspan_t arr)
{
    it->arr = arr;
    it->at = host_jspan_kind(arr) == '[' ? 1 : arr.n;
}

int host_jspan_next(host_jspan_iter_t *it, host_jspan_t *elem)
{
    const char *s = it->arr.p;
    size_t n = it->arr.n;
    size_t i = skip_ws(s, n, it->at);
    if (i >= n || s[i] == ']') {
        it->at = n;
        return 0;
    }
    size_t end = skip_value(s, n, i);
    if (end == i) {
        it->at = n;
        return 0;
    }
    *elem = (host_jspan_t){s + i, end - i};
    i = skip_ws(s, n, end);
    it->at = i < n && s[i] == ',' ? i + 1 : n;
    return 1;
}

json_t *host_jspan_value(host_jspan_t v)
{
    if (v.p == NULL || v.n == 0)
        return NULL;
    if (v.p[0] == '"' && v.n >= 2 && memchr(v.p + 1, '\\', v.n - 2) == NULL)
        return json_stringn_nocheck(v.p + 1, v.n - 2);
    return json_loadb(v.p, v.n, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
}
