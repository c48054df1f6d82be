/*
 * The position index: one scan of the JSON text that records the line and
 * column of every key and value in a tree parallel to jansson's (jansson
 * keeps positions only for parse errors). Columns are counted in characters,
 * as jansson counts them, so parse errors and the errors found later agree.
 *
 * The text has already been accepted by jansson, but the scan does not rely
 * on that for memory safety: it never reads past `len`, and gives up (no
 * positions) on anything it does not expect. It is iterative, with the
 * nesting depth bounded by CFG_MAX_DEPTH.
 */
#include "config/config_internal.h"
#include "core/hex.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { SCAN_OK = 0, SCAN_NOMEM = -1, SCAN_DEPTH = -2, SCAN_CONFUSED = -3 };

typedef struct scanner {
    const char *s;
    size_t len;
    size_t i;
    int line;
    int chars; /* characters before s[i] on its line */
    cfg_ctx_t *c;
    cfg_node_t *stack[CFG_MAX_DEPTH + 1];
    size_t depth; /* entries in stack */
} scanner_t;

int cfg_is_comment_key(const char *key, size_t len)
{
    size_t n = sizeof CFG_COMMENT_PREFIX - 1;
    return key != NULL && len >= n && memcmp(key, CFG_COMMENT_PREFIX, n) == 0;
}

static void advance(scanner_t *sc)
{
    unsigned char ch = (unsigned char)sc->s[sc->i++];
    if (ch == '\n') {
        sc->line++;
        sc->chars = 0;
    } else if ((ch & 0xC0) != 0x80) {
        sc->chars++;
    }
}

void cfg_text_position(const char *text, size_t offset, int *line, int *col)
{
    int l = 1, chars = 0;
    for (size_t i = 0; i < offset; i++) {
        unsigned char ch = (unsigned char)text[i];
        if (ch == '\n') {
            l++;
            chars = 0;
        } else if ((ch & 0xC0) != 0x80) {
            chars++;
        }
    }
    *line = l;
    *col = chars + 1;
}

static void skip_ws(scanner_t *sc)
{
    while (sc->i < sc->len) {
        char ch = sc->s[sc->i];
        if (ch != ' ' && ch != '\t' && ch != '\n' && ch != '\r')
            break;
        advance(sc);
    }
}

static int read_hex4(scanner_t *sc, uint32_t *out)
{
    if (sc->len - sc->i < 4)
        return -1;
    uint32_t v = 0;
    for (int k = 0; k < 4; k++) {
        int h = host_hex_digit(sc->s[sc->i]);
        if (h < 0)
            return -1;
        v = v * 16 + (uint32_t)h;
        advance(sc);
    }
    *out = v;
    return 0;
}

static void put_utf8(cfg_buf_t *b, uint32_t cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    cfg_buf_add(b, u, n);
}

/* At the opening quote: skip the string; decode it into `out` if not NULL. */
static int scan_string(scanner_t *sc, cfg_buf_t *out)
{
    advance(sc); /* " */
    for (;;) {
        if (sc->i >= sc->len)
            return SCAN_CONFUSED;
        char ch = sc->s[sc->i];
        if (ch == '"') {
            advance(sc);
            break;
        }
        if (ch != '\\') {
            size_t start = sc->i;
            while (sc->i < sc->len && sc->s[sc->i] != '"' && sc->s[sc->i] != '\\')
                advance(sc);
            if (out != NULL)
                cfg_buf_add(out, sc->s + start, sc->i - start);
            continue;
        }
        advance(sc);
        if (sc->i >= sc->len)
            return SCAN_CONFUSED;
        char e = sc->s[sc->i];
        advance(sc);
        char lit = 0;
        switch (e) {
        case '"': lit = '"'; break;
        case '\\': lit = '\\'; break;
        case '/': lit = '/'; break;
        case 'b': lit = '\b'; break;
        case 'f': lit = '\f'; break;
        case 'n': lit = '\n'; break;
        case 'r': lit = '\r'; break;
        case 't': lit = '\t'; break;
        case 'u': {
            uint32_t cp;
            if (read_hex4(sc, &cp) != 0)
                return SCAN_CONFUSED;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                uint32_t lo;
                if (sc->len - sc->i < 2 || sc->s[sc->i] != '\\' || sc->s[sc->i + 1] != 'u')
                    return SCAN_CONFUSED;
                advance(sc);
                advance(sc);
                if (read_hex4(sc, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF)
                    return SCAN_CONFUSED;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                return SCAN_CONFUSED;
            }
            if (out != NULL)
                put_utf8(out, cp);
            continue;
        }
        default:
            return SCAN_CONFUSED;
        }
        if (out != NULL)
            cfg_buf_add(out, &lit, 1);
    }
    if (out != NULL && out->failed)
        return SCAN_NOMEM;
    return SCAN_OK;
}

/* Numbers, true, false, null: anything up to a delimiter. */
static int scan_scalar(scanner_t *sc)
{
    size_t start = sc->i;
    while (sc->i < sc->len) {
        char ch = sc->s[sc->i];
        if (ch == ',' || ch == ']' || ch == '}' || ch == ':' || ch == ' ' || ch == '\t' ||
            ch == '\n' || ch == '\r' || ch == '"' || ch == '[' || ch == '{')
            break;
        advance(sc);
    }
    return sc->i > start ? SCAN_OK : SCAN_CONFUSED;
}

static cfg_node_t *add_kid(cfg_node_t *parent)
{
    if (parent->nkids == parent->capkids) {
        size_t cap = parent->capkids ? parent->capkids * 2 : 4;
        if (cap > SIZE_MAX / sizeof(cfg_node_t))
            return NULL;
        cfg_node_t *k = realloc(parent->kids, cap * sizeof *k);
        if (k == NULL)
            return NULL;
        parent->kids = k;
        parent->capkids = cap;
    }
    cfg_node_t *n = &parent->kids[parent->nkids++];
    memset(n, 0, sizeof *n);
    return n;
}

/* The path of the container on top of the stack plus, if member is not
 * NULL, that member; built in `frames` (CFG_MAX_DEPTH + 2 entries). */
static const cfg_path_t *stack_path(const scanner_t *sc, const cfg_node_t *member,
                                    cfg_path_t *frames)
{
    const cfg_path_t *up = NULL;
    size_t n = 0;
    for (size_t k = 1; k <= sc->depth; k++) {
        const cfg_node_t *parent = sc->stack[k - 1];
        const cfg_node_t *node = k < sc->depth ? sc->stack[k] : member;
        if (node == NULL)
            break;
        cfg_path_t *f = &frames[n++];
        f->up = up;
        f->key = node->key;
        f->key_len = node->key_len;
        f->index = (size_t)(node - parent->kids);
        up = f;
    }
    return up;
}

static int same_key(const cfg_node_t *a, const cfg_node_t *b)
{
    return a->key_len == b->key_len && memcmp(a->key, b->key, a->key_len) == 0;
}

static void report_dup(scanner_t *sc, cfg_node_t *prev, cfg_node_t *dup)
{
    cfg_path_t frames[CFG_MAX_DEPTH + 2];
    char q[96];
    prev->flags |= CFG_NODE_SHADOWED;
    cfg_report(sc->c, dup, 0, stack_path(sc, dup, frames),
               "duplicate key %s (also at line %d, column %d); each key may appear "
               "once in an object",
               cfg_quote(q, sizeof q, dup->key, dup->key_len, 40), prev->line, prev->col);
}

/* The object on top of the stack is complete: mark and report duplicates. */
static int check_duplicates(scanner_t *sc)
{
    cfg_node_t *obj = sc->stack[sc->depth - 1];
    if (obj->nkids < 2)
        return SCAN_OK;
    if (obj->nkids <= 16) {
        for (size_t j = 1; j < obj->nkids; j++) {
            cfg_node_t *kj = &obj->kids[j];
            if (kj->flags & CFG_NODE_COMMENT)
                continue;
            for (size_t i = j; i > 0; i--) {
                cfg_node_t *ki = &obj->kids[i - 1];
                if (!(ki->flags & CFG_NODE_SHADOWED) && same_key(ki, kj)) {
                    report_dup(sc, ki, kj);
                    break;
                }
            }
        }
        return SCAN_OK;
    }
    /* Many keys: a hash map key -> index of its latest occurrence. */
    json_t *seen = json_object();
    if (seen == NULL)
        return SCAN_NOMEM;
    int rc = SCAN_OK;
    for (size_t j = 0; j < obj->nkids && rc == SCAN_OK; j++) {
        cfg_node_t *kj = &obj->kids[j];
        if (kj->flags & CFG_NODE_COMMENT)
            continue;
        json_t *prev = json_object_getn(seen, kj->key, kj->key_len);
        if (prev != NULL)
            report_dup(sc, &obj->kids[json_integer_value(prev)], kj);
        if (json_object_setn_new_nocheck(seen, kj->key, kj->key_len,
                                         json_integer((json_int_t)j)) != 0)
            rc = SCAN_NOMEM;
    }
    json_decref(seen);
    return rc;
}

static int push(scanner_t *sc, cfg_node_t *node)
{
    if (sc->depth >= CFG_MAX_DEPTH) {
        cfg_path_t frames[CFG_MAX_DEPTH + 2];
        cfg_report(sc->c, node, 1, stack_path(sc, node, frames),
                   "nested more than %d levels deep; a config needs far fewer",
                   CFG_MAX_DEPTH);
        return SCAN_DEPTH;
    }
    sc->stack[sc->depth++] = node;
    return SCAN_OK;
}

/* Position, type and extent of one value at s[i]; containers are pushed. */
static int scan_value(scanner_t *sc, cfg_node_t *node)
{
    skip_ws(sc);
    if (sc->i >= sc->len)
        return SCAN_CONFUSED;
    node->vline = sc->line;
    node->vcol = sc->chars + 1;
    if (node->key == NULL) {
        node->line = node->vline;
        node->col = node->vcol;
    }
    char ch = sc->s[sc->i];
    if (ch == '{' || ch == '[') {
        node->type = ch == '{' ? 'o' : 'a';
        advance(sc);
        return push(sc, node);
    }
    if (ch == '"') {
        node->type = 's';
        return scan_string(sc, NULL);
    }
    node->type = 'n';
    return scan_scalar(sc);
}

static int scan_member(scanner_t *sc, cfg_node_t *obj)
{
    skip_ws(sc);
    if (sc->i >= sc->len || sc->s[sc->i] != '"')
        return SCAN_CONFUSED;
    int line = sc->line, col = sc->chars + 1;
    cfg_buf_t key = {0};
    cfg_buf_add(&key, "", 0);
    int rc = scan_string(sc, &key);
    if (rc != SCAN_OK || key.failed) {
        cfg_buf_free(&key);
        return rc != SCAN_OK ? rc : SCAN_NOMEM;
    }
    cfg_node_t *m = add_kid(obj);
    if (m == NULL) {
        cfg_buf_free(&key);
        return SCAN_NOMEM;
    }
    m->key = key.data;
    m->key_len = key.len;
    m->line = line;
    m->col = col;
    if (cfg_is_comment_key(m->key, m->key_len))
        m->flags |= CFG_NODE_COMMENT;
    skip_ws(sc);
    if (sc->i >= sc->len || sc->s[sc->i] != ':')
        return SCAN_CONFUSED;
    advance(sc);
    return scan_value(sc, m);
}

/* After a value (or an opening bracket when `opened`): the next member or
 * element, or the end of containers. */
static int scan_after(scanner_t *sc, int opened)
{
    for (;;) {
        if (sc->depth == 0) {
            skip_ws(sc);
            return sc->i == sc->len ? SCAN_OK : SCAN_CONFUSED;
        }
        cfg_node_t *top = sc->stack[sc->depth - 1];
        char close = top->type == 'o' ? '}' : ']';
        skip_ws(sc);
        if (sc->i >= sc->len)
            return SCAN_CONFUSED;
        char ch = sc->s[sc->i];
        if (ch == close) {
            advance(sc);
            if (top->type == 'o') {
                int rc = check_duplicates(sc);
                if (rc != SCAN_OK)
                    return rc;
            }
            sc->depth--;
            opened = 0;
            continue;
        }
        if (!opened) {
            if (ch != ',')
                return SCAN_CONFUSED;
            advance(sc);
        }
        return SCAN_OK;
    }
}

static void node_free_kids(cfg_node_t *n)
{
    /* Iterative over depth would need a stack; depth is bounded by
     * CFG_MAX_DEPTH, so recursion is fine. */
    for (size_t i = 0; i < n->nkids; i++)
        node_free_kids(&n->kids[i]);
    free(n->kids);
    free(n->key);
}

void cfg_node_free(cfg_node_t *root)
{
    if (root == NULL)
        return;
    node_free_kids(root);
    free(root);
}

cfg_node_t *cfg_doc_index(const char *text, size_t len, cfg_ctx_t *c)
{
    cfg_node_t *root = calloc(1, sizeof *root);
    if (root == NULL) {
        c->oom = 1;
        return NULL;
    }
    scanner_t *sc = calloc(1, sizeof *sc);
    if (sc == NULL) {
        free(root);
        c->oom = 1;
        return NULL;
    }
    sc->s = text;
    sc->len = len;
    sc->line = 1;
    sc->c = c;

    int rc = scan_value(sc, root);
    int opened = sc->depth > 0;
    while (rc == SCAN_OK) {
        rc = scan_after(sc, opened);
        if (rc != SCAN_OK || sc->depth == 0)
            break;
        cfg_node_t *top = sc->stack[sc->depth - 1];
        size_t depth = sc->depth;
        if (top->type == 'o') {
            rc = scan_member(sc, top);
        } else {
            cfg_node_t *el = add_kid(top);
            rc = el == NULL ? SCAN_NOMEM : scan_value(sc, el);
        }
        /* The value just read opened a container: its first member or
         * element comes next, or its closing bracket. */
        opened = sc->depth > depth;
    }
    free(sc);
    if (rc != SCAN_OK) {
        if (rc == SCAN_NOMEM)
            c->oom = 1;
        cfg_node_free(root);
        return NULL;
    }
    return root;
}

cfg_node_t *cfg_node_member(const cfg_node_t *obj, const char *key, size_t key_len)
{
    if (obj == NULL || obj->type != 'o')
        return NULL;
    for (size_t i = obj->nkids; i > 0; i--) {
        cfg_node_t *k = &obj->kids[i - 1];
        if (k->key_len == key_len && memcmp(k->key, key, key_len) == 0)
            return k;
    }
    return NULL;
}

cfg_node_t *cfg_node_element(const cfg_node_t *arr, size_t i)
{
    if (arr == NULL || arr->type != 'a' || i >= arr->nkids)
        return NULL;
    return &arr->kids[i];
}

void cfg_iter_init(cfg_iter_t *it, json_t *obj, cfg_node_t *node, int skip_comments)
{
    it->obj = json_is_object(obj) ? obj : NULL;
    it->node = node != NULL && node->type == 'o' ? node : NULL;
    it->next = 0;
    it->jit = it->obj != NULL && it->node == NULL ? json_object_iter(it->obj) : NULL;
    it->skip_comments = skip_comments;
}

int cfg_iter_next(cfg_iter_t *it, cfg_member_t *m)
{
    if (it->obj == NULL)
        return 0;
    if (it->node != NULL) {
        while (it->next < it->node->nkids) {
            cfg_node_t *k = &it->node->kids[it->next++];
            if (k->flags & CFG_NODE_SHADOWED)
                continue;
            if (it->skip_comments && (k->flags & CFG_NODE_COMMENT))
                continue;
            json_t *v = json_object_getn(it->obj, k->key, k->key_len);
            if (v == NULL)
                continue;
            m->key = k->key;
            m->key_len = k->key_len;
            m->value = v;
            m->node = k;
            return 1;
        }
        return 0;
    }
    while (it->jit != NULL) {
        void *cur = it->jit;
        it->jit = json_object_iter_next(it->obj, cur);
        const char *key = json_object_iter_key(cur);
        size_t klen = json_object_iter_key_len(cur);
        if (it->skip_comments && cfg_is_comment_key(key, klen))
            continue;
        m->key = key;
        m->key_len = klen;
        m->value = json_object_iter_value(cur);
        m->node = NULL;
        return 1;
    }
    return 0;
}

const char *cfg_json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "a list";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "a value";
}
