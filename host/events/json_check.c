#include "events/json_check.h"

#include <stdint.h>
#include <string.h>

#include "agent/utf8.h"

/* What may come next. */
enum {
    VALUE,           /* any value */
    VALUE_OR_CLOSE,  /* after '[' */
    KEY_OR_CLOSE,    /* after '{' */
    KEY,             /* after ',' in an object */
    COLON,
    COMMA_OR_CLOSE,
};

static size_t skip_ws(const unsigned char *s, size_t n, size_t i)
{
    while (i < n && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t'))
        i++;
    return i;
}

static int hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

#define ONES UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)

/* Eight bytes at a time past what needs no look in a string: printable
 * ASCII other than '"' and '\\'. Most of a line is such text. The word that
 * stops the run says where: its lowest flagged byte is the first one that
 * needs a look (a borrow only carries upwards from a real one), so short
 * strings (keys, ids) are not walked again byte by byte. */
static size_t plain_run(const unsigned char *s, size_t n, size_t i)
{
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        uint64_t quote = w ^ (ONES * '"'), bslash = w ^ (ONES * '\\');
        uint64_t hit = ((w - ONES * 0x20) & ~w)          /* a byte < 0x20 */
                       | ((quote - ONES) & ~quote)         /* a '"' */
                       | ((bslash - ONES) & ~bslash)       /* a '\\' */
                       | w;                                /* a byte >= 0x80 */
        if (hit & HIGHS) {
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
            return i + (size_t)__builtin_ctzll(hit & HIGHS) / 8;
#else
            break;
#endif
        }
    }
    return i;
}

/* s[i] is the opening quote; returns the index after the closing one, or 0. */
static size_t string_end(const unsigned char *s, size_t n, size_t i)
{
    for (i++; i < n;) {
        i = plain_run(s, n, i);
        if (i >= n)
            break;
        unsigned char c = s[i];
        if (c == '"')
            return i + 1;
        if (c < 0x20)
            return 0;
        if (c == '\\') {
            if (i + 1 >= n)
                return 0;
            c = s[i + 1];
            if (c == 'u') {
                if (i + 6 > n || !hex(s[i + 2]) || !hex(s[i + 3]) || !hex(s[i + 4]) ||
                    !hex(s[i + 5]))
                    return 0;
                i += 6;
            } else if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' ||
                       c == 'r' || c == 't') {
                i += 2;
            } else {
                return 0;
            }
        } else if (c < 0x80) {
            i++;
        } else {
            size_t k = host_utf8_seq(s + i, n - i, NULL);
            if (k == 0)
                return 0;
            i += k;
        }
    }
    return 0;
}

static size_t digits(const unsigned char *s, size_t n, size_t i)
{
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++;
    return i;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? ; returns the end or 0. */
static size_t number_end(const unsigned char *s, size_t n, size_t i)
{
    if (s[i] == '-')
        i++;
    if (i >= n)
        return 0;
    if (s[i] == '0')
        i++;
    else if (s[i] >= '1' && s[i] <= '9')
        i = digits(s, n, i);
    else
        return 0;
    if (i < n && s[i] == '.') {
        size_t j = digits(s, n, i + 1);
        if (j == i + 1)
            return 0;
        i = j;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t j = digits(s, n, i);
        if (j == i)
            return 0;
        i = j;
    }
    return i;
}

static size_t literal_end(const unsigned char *s, size_t n, size_t i)
{
    static const char *const words[] = {"true", "false", "null"};
    for (size_t w = 0; w < 3; w++) {
        size_t k = 0;
        while (words[w][k] != '\0' && i + k < n && s[i + k] == (unsigned char)words[w][k])
            k++;
        if (words[w][k] == '\0')
            return i + k;
    }
    return 0;
}

int host_json_is_object(const char *text, size_t n)
{
    const unsigned char *s = (const unsigned char *)text;
    /* One bit per open container: 1 object, 0 array. */
    uint8_t stack[HOST_JSON_MAX_DEPTH / 8];
    size_t depth = 0;
    size_t i = skip_ws(s, n, 0);
    if (i >= n || s[i] != '{')
        return 0;
    int state = VALUE;
    for (;;) {
        i = skip_ws(s, n, i);
        if (i >= n)
            return 0;
        unsigned char c = s[i];
        int in_object = depth > 0 && (stack[(depth - 1) / 8] >> ((depth - 1) % 8) & 1);
        switch (state) {
        case COLON:
            if (c != ':')
                return 0;
            i++;
            state = VALUE;
            continue;
        case KEY_OR_CLOSE:
        case KEY:
            if (c == '}' && state == KEY_OR_CLOSE) {
                depth--;
                i++;
                break;
            }
            if (c != '"' || (i = string_end(s, n, i)) == 0)
                return 0;
            state = COLON;
            continue;
        case COMMA_OR_CLOSE:
            if (c == ',') {
                i++;
                state = in_object ? KEY : VALUE;
                continue;
            }
            if (c != (in_object ? '}' : ']'))
                return 0;
            depth--;
            i++;
            break;
        case VALUE_OR_CLOSE:
            if (c == ']') {
                depth--;
                i++;
                break;
            }
            /* fall through */
        default: /* VALUE */
            if (c == '{' || c == '[') {
                if (depth == HOST_JSON_MAX_DEPTH)
                    return 0;
                if (c == '{')
                    stack[depth / 8] |= (uint8_t)(1u << (depth % 8));
                else
                    stack[depth / 8] &= (uint8_t)~(1u << (depth % 8));
                depth++;
                i++;
                state = c == '{' ? KEY_OR_CLOSE : VALUE_OR_CLOSE;
                continue;
            }
            if (c == '"')
                i = string_end(s, n, i);
            else if (c == '-' || (c >= '0' && c <= '9'))
                i = number_end(s, n, i);
            else
                i = literal_end(s, n, i);
            if (i == 0)
                return 0;
            break;
        }
        /* A value or a container just ended. */
        if (depth == 0)
            return skip_ws(s, n, i) == n;
        state = COMMA_OR_CLOSE;
    }
}
