#include "agent/utf8.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The second byte's range depends on the first (Unicode Table 3-7): it is
 * what excludes overlong forms, surrogates and code points past U+10FFFF. */
size_t host_utf8_seq(const unsigned char *s, size_t n, size_t *bad)
{
    unsigned char c = s[0];
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        if (bad != NULL)
            *bad = 1;
        return 0;
    }
    size_t i = 1;
    for (; i < need && i < n; i++) {
        unsigned char b = s[i];
        if (b < lo || b > hi)
            break;
        lo = 0x80;
        hi = 0xBF;
    }
    if (i == need)
        return need;
    if (bad != NULL)
        *bad = i;
    return 0;
}

/* Eight ASCII bytes at a time: agent output is mostly ASCII. */
static size_t ascii_prefix(const unsigned char *s, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        if (w & UINT64_C(0x8080808080808080))
            break;
    }
    while (i < n && s[i] < 0x80)
        i++;
    return i;
}

int host_utf8_valid(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        i += ascii_prefix(s + i, n - i);
        if (i == n)
            break;
        size_t k = host_utf8_seq(s + i, n - i, NULL);
        if (k == 0)
            return 0;
        i += k;
    }
    return 1;
}

char *host_utf8_repair(const char *str, size_t n, int drop_cut_tail, size_t *out_len)
{
    const unsigned char *s = (const unsigned char *)str;
    /* Worst case: every byte becomes the 3-byte U+FFFD. */
    if (n > (SIZE_MAX - 1) / 3)
        return NULL;
    char *out = malloc(3 * n + 1);
    if (out == NULL)
        return NULL;
    size_t i = 0, o = 0;
    while (i < n) {
        size_t a = ascii_prefix(s + i, n - i);
        memcpy(out + o, s + i, a);
        i += a;
        o += a;
        if (i == n)
            break;
        size_t bad = 0;
        size_t k = host_utf8_seq(s + i, n - i, &bad);
        if (k > 0) {
            memcpy(out + o, s + i, k);
            o += k;
            i += k;
            continue;
        }
        if (drop_cut_tail && i + bad == n && s[i] >= 0xC2 && s[i] <= 0xF4)
            break; /* a character cut by the end of the input */
        memcpy(out + o, "\xEF\xBF\xBD", 3);
        o += 3;
        i += bad;
    }
    out[o] = '\0';
    if (out_len != NULL)
        *out_len = o;
    return out;
}
