/*
 * A growable string for remote scripts, and quoting for a POSIX shell. The
 * scripts may carry environment values that are secrets, so the buffer is
 * wiped before it is freed or grown.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "ssh.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int grow(ssh_str_t *b, size_t more)
{
    if (b->failed)
        return -1;
    if (b->len + more + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *s = malloc(cap);
    if (s == NULL) {
        b->failed = 1;
        return -1;
    }
    if (b->s != NULL) {
        memcpy(s, b->s, b->len);
        explicit_bzero(b->s, b->cap);
        free(b->s);
    }
    b->s = s;
    b->cap = cap;
    return 0;
}

void ssh_str_addn(ssh_str_t *b, const char *text, size_t n)
{
    if (grow(b, n) < 0)
        return;
    memcpy(b->s + b->len, text, n);
    b->len += n;
    b->s[b->len] = '\0';
}

void ssh_str_add(ssh_str_t *b, const char *text)
{
    ssh_str_addn(b, text, strlen(text));
}

void ssh_str_addf(ssh_str_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || grow(b, (size_t)n) < 0) {
        b->failed = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void ssh_str_quote(ssh_str_t *b, const char *text)
{
    ssh_str_add(b, "'");
    for (const char *p = text; *p; p++) {
        if (*p == '\'')
            ssh_str_add(b, "'\\''");
        else if (*p == '\n')
            ssh_str_add(b, "'\"$nl\"'");
        else
            ssh_str_addn(b, p, 1);
    }
    ssh_str_add(b, "'");
}

void ssh_str_free(ssh_str_t *b)
{
    if (b->s != NULL) {
        explicit_bzero(b->s, b->cap);
        free(b->s);
    }
    memset(b, 0, sizeof *b);
}

void ssh_hash_hex(const char *text, char out[17])
{
    uint64_t h = 1469598103934665603ull;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        h ^= *p;
        h *= 1099511628211ull;
    }
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}
