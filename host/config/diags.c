/*
 * Diagnostics: the list of problems a config load or check found, how they
 * are printed, and the helpers that format key paths and quoted keys.
 */
#include "config/config_internal.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *dup_or_empty(const char *s)
{
    if (s == NULL)
        s = "";
    size_t n = strlen(s);
    char *p = malloc(n + 1);
    if (p != NULL)
        memcpy(p, s, n + 1);
    return p;
}

static char *vformat(const char *fmt, va_list ap) AGENTD_PRINTF(1, 0);
static char *vformat(const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return NULL;
    char *p = malloc((size_t)n + 1);
    if (p == NULL)
        return NULL;
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    return p;
}

static int diags_vadd(host_diags_t *d, const char *file, int line, int column,
                      const char *path, const char *fmt, va_list ap) AGENTD_PRINTF(6, 0);
static int diags_vadd(host_diags_t *d, const char *file, int line, int column,
                      const char *path, const char *fmt, va_list ap)
{
    if (d == NULL)
        return AGENTD_ECONFIG;
    if (d->count == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 8;
        if (cap > SIZE_MAX / sizeof *d->items)
            return AGENTD_ENOMEM;
        host_diag_t *items = realloc(d->items, cap * sizeof *items);
        if (items == NULL)
            return AGENTD_ENOMEM;
        d->items = items;
        d->cap = cap;
    }
    host_diag_t *it = &d->items[d->count];
    it->file = dup_or_empty(file != NULL ? file : "<config>");
    it->path = dup_or_empty(path);
    it->message = fmt != NULL ? vformat(fmt, ap) : dup_or_empty("");
    if (it->file == NULL || it->path == NULL || it->message == NULL) {
        free(it->file);
        free(it->path);
        free(it->message);
        return AGENTD_ENOMEM;
    }
    it->line = line > 0 ? line : 0;
    it->column = line > 0 && column > 0 ? column : 0;
    d->count++;
    return AGENTD_ECONFIG;
}

int host_diags_add(host_diags_t *d, const char *file, int line, int column,
                   const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = diags_vadd(d, file, line, column, path, fmt, ap);
    va_end(ap);
    return rc;
}

void host_diags_print(const host_diags_t *d, FILE *out)
{
    if (d == NULL || out == NULL)
        return;
    for (size_t i = 0; i < d->count; i++) {
        const host_diag_t *it = &d->items[i];
        fputs(it->file ? it->file : "<config>", out);
        if (it->line > 0) {
            fprintf(out, ":%d", it->line);
            if (it->column > 0)
                fprintf(out, ":%d", it->column);
        }
        fputs(": ", out);
        if (it->path != NULL && it->path[0] != '\0')
            fprintf(out, "%s: ", it->path);
        fprintf(out, "%s\n", it->message ? it->message : "");
    }
}

void host_diags_free(host_diags_t *d)
{
    if (d == NULL)
        return;
    for (size_t i = 0; i < d->count; i++) {
        free(d->items[i].file);
        free(d->items[i].path);
        free(d->items[i].message);
    }
    free(d->items);
    d->items = NULL;
    d->count = 0;
    d->cap = 0;
}

/* ---- growable strings ---- */

void cfg_buf_add(cfg_buf_t *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (n > SIZE_MAX - b->len - 1) {
        b->failed = 1;
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1) {
            if (cap > SIZE_MAX / 2) {
                cap = b->len + n + 1;
                break;
            }
            cap *= 2;
        }
        char *p = realloc(b->data, cap);
        if (p == NULL) {
            b->failed = 1;
            return;
        }
        b->data = p;
        b->cap = cap;
    }
    if (n > 0)
        memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void cfg_buf_addf(cfg_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = vformat(fmt, ap);
    va_end(ap);
    if (s == NULL) {
        b->failed = 1;
        return;
    }
    cfg_buf_add(b, s, strlen(s));
    free(s);
}

void cfg_buf_free(cfg_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* ---- quoting and paths ---- */

/* Append s as JSON string content (no quotes) to b, at most max bytes of
 * input; returns 1 if cut. */
static int escape_into(cfg_buf_t *b, const char *s, size_t len, size_t max)
{
    size_t n = len < max ? len : max;
    /* Do not cut a UTF-8 sequence in half. */
    while (n < len && n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        char esc[8];
        if (ch == '"' || ch == '\\') {
            esc[0] = '\\';
            esc[1] = (char)ch;
            cfg_buf_add(b, esc, 2);
        } else if (ch < 0x20 || ch == 0x7f) {
            snprintf(esc, sizeof esc, "\\u%04x", ch);
            cfg_buf_add(b, esc, 6);
        } else {
            cfg_buf_add(b, (const char *)&s[i], 1);
        }
    }
    return n < len;
}

const char *cfg_quote(char *buf, size_t bufsize, const char *s, size_t len, size_t max)
{
    if (bufsize == 0)
        return buf;
    cfg_buf_t b = {0};
    cfg_buf_add(&b, "\"", 1);
    int cut = escape_into(&b, s != NULL ? s : "", s != NULL ? len : 0, max);
    cfg_buf_add(&b, cut ? "\"..." : "\"", cut ? 4 : 1);
    if (b.failed || b.data == NULL) {
        snprintf(buf, bufsize, "\"...\"");
    } else {
        snprintf(buf, bufsize, "%s", b.data);
    }
    cfg_buf_free(&b);
    return buf;
}

static int plain_key(const char *k, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)k[i];
        if (!(ch >= 0x80 || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
            return 0;
    }
    return 1;
}

static void path_into(cfg_buf_t *b, const cfg_path_t *p)
{
    if (p == NULL)
        return;
    path_into(b, p->up);
    if (p->key == NULL) {
        cfg_buf_addf(b, "[%zu]", p->index);
    } else if (plain_key(p->key, p->key_len)) {
        if (b->len > 0)
            cfg_buf_add(b, ".", 1);
        cfg_buf_add(b, p->key, p->key_len);
    } else {
        cfg_buf_add(b, "[\"", 2);
        escape_into(b, p->key, p->key_len, 64);
        cfg_buf_add(b, "\"]", 2);
    }
}

char *cfg_path_format(const cfg_path_t *p)
{
    cfg_buf_t b = {0};
    cfg_buf_add(&b, "", 0);
    path_into(&b, p);
    if (b.failed) {
        cfg_buf_free(&b);
        return NULL;
    }
    return b.data;
}

/* ---- reporting ---- */

void cfg_vreport(cfg_ctx_t *c, int line, int col, const cfg_path_t *path,
                 const char *fmt, va_list ap)
{
    c->added++;
    if (c->added > CFG_MAX_DIAGS + 1)
        return;
    if (c->added == CFG_MAX_DIAGS + 1) {
        if (host_diags_add(c->diags, c->file, 0, 0, "",
                           "too many problems; stopped reporting after %d",
                           CFG_MAX_DIAGS) == AGENTD_ENOMEM)
            c->oom = 1;
        return;
    }
    char *p = cfg_path_format(path);
    if (p == NULL) {
        c->oom = 1;
        return;
    }
    if (diags_vadd(c->diags, c->file, line, col, p, fmt, ap) == AGENTD_ENOMEM)
        c->oom = 1;
    free(p);
}

void cfg_report(cfg_ctx_t *c, const cfg_node_t *node, int at_value,
                const cfg_path_t *path, const char *fmt, ...)
{
    int line = 0, col = 0;
    if (node != NULL) {
        line = at_value ? node->vline : node->line;
        col = at_value ? node->vcol : node->col;
    }
    va_list ap;
    va_start(ap, fmt);
    cfg_vreport(c, line, col, path, fmt, ap);
    va_end(ap);
}

void cfg_report_at(cfg_ctx_t *c, int line, int col, const cfg_path_t *path,
                   const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cfg_vreport(c, line, col, path, fmt, ap);
    va_end(ap);
}

static int diag_before(const host_diag_t *a, const host_diag_t *b)
{
    if (a->line == 0 || b->line == 0)
        return a->line != 0 && b->line == 0;
    if (a->line != b->line)
        return a->line < b->line;
    return a->column < b->column;
}

void cfg_sort_diags(const cfg_ctx_t *c)
{
    host_diags_t *d = c->diags;
    if (d == NULL || d->count <= c->start + 1)
        return;
    /* Stable insertion sort: an operation records at most CFG_MAX_DIAGS + 1. */
    for (size_t i = c->start + 1; i < d->count; i++) {
        host_diag_t x = d->items[i];
        size_t j = i;
        while (j > c->start && diag_before(&x, &d->items[j - 1])) {
            d->items[j] = d->items[j - 1];
            j--;
        }
        d->items[j] = x;
    }
}

int cfg_result(const cfg_ctx_t *c)
{
    if (c->oom)
        return AGENTD_ENOMEM;
    return c->added > 0 ? AGENTD_ECONFIG : 0;
}
