/*
 * Lines out of a byte stream. A line that arrives whole inside one read is
 * handed over straight from the caller's buffer; only a line cut by a read
 * boundary is copied, so the common case costs one memchr per line. Since
 * '\n' is never part of a multibyte UTF-8 sequence, splitting on bytes is
 * right even when a read ends inside a character.
 */
#include "agent/stream_json.h"

#include <stdlib.h>
#include <string.h>

#include <agentd/abi.h>

/* When the caller passes 0. */
#define DEFAULT_MAX_LINE ((size_t)16 << 20)
/* A buffer this small is kept between lines; a larger one is given back as
 * soon as its line is delivered, so an idle agent costs no memory. */
#define KEEP_CAP 512

void host_line_splitter_init(host_line_splitter_t *s, size_t max_line)
{
    memset(s, 0, sizeof *s);
    s->max_line = max_line != 0 ? max_line : DEFAULT_MAX_LINE;
}

void host_line_splitter_free(host_line_splitter_t *s)
{
    free(s->buf);
    s->buf = NULL;
    s->len = s->cap = 0;
    s->skipping = 0;
}

/* A complete line of n bytes (its "\n" already gone). The length limit is
 * on the content, so a line of exactly max_line bytes ending in "\r\n" is
 * not cut. */
static void emit(const host_line_splitter_t *s, const char *p, size_t n, host_line_fn fn,
                 void *ud)
{
    if (n > 0 && p[n - 1] == '\r')
        n--;
    if (n > s->max_line)
        fn(ud, p, s->max_line, 1);
    else if (n > 0)
        fn(ud, p, n, 0);
}

static int reserve(host_line_splitter_t *s, size_t need)
{
    if (need <= s->cap)
        return 0;
    size_t cap = s->cap > 0 ? s->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    /* Never more than a full line can use (max_line plus a "\r"). */
    if (cap > s->max_line + 1 && need <= s->max_line + 1)
        cap = s->max_line + 1;
    char *nb = realloc(s->buf, cap);
    if (nb == NULL)
        return AGENTD_ENOMEM;
    s->buf = nb;
    s->cap = cap;
    return 0;
}

static void release(host_line_splitter_t *s)
{
    s->len = 0;
    if (s->cap > KEEP_CAP) {
        free(s->buf);
        s->buf = NULL;
        s->cap = 0;
    }
}

/* The line in progress is longer than max_line: deliver its first max_line
 * bytes (the buffered part, then from p) and skip the rest. */
static int cut(host_line_splitter_t *s, const char *p, size_t avail, host_line_fn fn, void *ud)
{
    int rc = 0;
    if (s->len == 0) {
        fn(ud, p, s->max_line, 1);
    } else {
        size_t take = s->len < s->max_line ? s->max_line - s->len : 0;
        if (take > avail)
            take = avail;
        if (take > 0 && reserve(s, s->len + take) != 0) {
            take = 0;
            rc = AGENTD_ENOMEM; /* deliver the part we have */
        }
        if (take > 0)
            memcpy(s->buf + s->len, p, take);
        size_t n = s->len + take;
        fn(ud, s->buf, n < s->max_line ? n : s->max_line, 1);
    }
    release(s);
    return rc;
}

int host_line_splitter_feed(host_line_splitter_t *s, const char *data, size_t len,
                            host_line_fn fn, void *ud)
{
    int rc = 0;
    const char *p = data, *end = data + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = (size_t)((nl != NULL ? nl : end) - p);
        const char *next = nl != NULL ? nl + 1 : end;
        if (s->skipping) {
            if (nl != NULL)
                s->skipping = 0;
        } else if (s->len + n > s->max_line + 1) {
            /* Too long even if it ends in "\r". */
            if (cut(s, p, n, fn, ud) != 0)
                rc = AGENTD_ENOMEM;
            s->skipping = nl == NULL;
        } else if (nl != NULL && s->len == 0) {
            emit(s, p, n, fn, ud);
        } else if (reserve(s, s->len + n) != 0) {
            /* Out of memory: the line cannot be completed. Deliver what
             * there is as truncated rather than lose it silently. */
            rc = AGENTD_ENOMEM;
            if (s->len > 0)
                fn(ud, s->buf, s->len, 1);
            else if (n > 0)
                fn(ud, p, n, 1);
            release(s);
            s->skipping = nl == NULL;
        } else {
            memcpy(s->buf + s->len, p, n);
            s->len += n;
            if (nl != NULL) {
                emit(s, s->buf, s->len, fn, ud);
                release(s);
            }
        }
        p = next;
    }
    return rc;
}

void host_line_splitter_finish(host_line_splitter_t *s, host_line_fn fn, void *ud)
{
    if (!s->skipping && s->len > 0)
        emit(s, s->buf, s->len, fn, ud);
    host_line_splitter_free(s);
}
