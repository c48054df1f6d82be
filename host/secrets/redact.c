/*
 * The redactor: an Aho-Corasick automaton over every pattern, run over a tree
 * of decoding views of the text (redact.h explains what and why).
 *
 * Automaton layout: state 0 is the root, with a dense 256-entry transition
 * table; every other state keeps its goto edges sorted (CSR arrays) and a
 * failure link. match_len[s] is the longest pattern that ends at s (itself or
 * through failure links): since every shorter match ending at the same byte
 * lies inside that one, masking it masks them all.
 *
 * Views: node 0 is the raw text. Every other node decodes its parent's view
 * (JSON string escapes, %XX, or dropping CR/LF) and scans the result. Each
 * view byte ("unit") carries [rs, re), the raw bytes it came from; ring[]
 * keeps the raw start of the last `longest` units so a match of length L
 * ending at a unit maps to [ring[vpos-L], unit.re).
 *
 * Sync: a node whose decoder has only passed bytes through unchanged sees
 * exactly its parent's view, so it is "synced": it keeps no state of its own
 * and costs nothing. It materialises (copies its parent's state and the few
 * ring entries the state's depth needs) when its decoder meets a byte it
 * transforms, and syncs again when its state, decoder and ring tail agree with
 * its parent's once more. On text without '\\', '%', CR or LF only the raw
 * view runs.
 */
#include "secrets/redact.h"
#include "core/hex.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include <agentd/abi.h>

#include "secrets/crypto.h"

/* ---- buffers -------------------------------------------------------------- */

int host_redact_buf_add(host_redact_buf_t *b, const void *data, size_t len)
{
    if (len == 0)
        return 0;
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap != 0 ? b->cap : 256;
        while (cap < b->len + len + 1)
            cap *= 2;
        char *p = realloc(b->data, cap);
        if (p == NULL)
            return AGENTD_ENOMEM;
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

void host_redact_buf_free(host_redact_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* ---- the automaton ---------------------------------------------------------- */

struct host_redactor {
    atomic_size_t refs;
    uint32_t nstates;
    uint32_t root_next[256];
    uint32_t *fail;       /* nstates */
    uint32_t *depth;      /* nstates */
    uint32_t *match_len;  /* nstates */
    uint32_t *edge_first; /* nstates + 1 */
    uint8_t *edge_byte;   /* nedges */
    uint32_t *edge_to;    /* nedges */
    uint32_t nedges;
    size_t npatterns;
    size_t longest;
};

static inline uint32_t ac_step(const host_redactor_t *r, uint32_t s, uint8_t c)
{
    for (;;) {
        if (s == 0)
            return r->root_next[c];
        uint32_t lo = r->edge_first[s], hi = r->edge_first[s + 1];
        if (hi - lo <= 8) {
            for (uint32_t i = lo; i < hi; i++)
                if (r->edge_byte[i] == c)
                    return r->edge_to[i];
        } else {
            while (lo < hi) {
                uint32_t mid = lo + (hi - lo) / 2;
                if (r->edge_byte[mid] < c)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            if (lo < r->edge_first[s + 1] && r->edge_byte[lo] == c)
                return r->edge_to[lo];
        }
        s = r->fail[s];
    }
}

/* The trie while it is built: first-child / next-sibling lists. */
typedef struct builder {
    uint32_t n, cap;
    uint32_t *first, *next, *depth, *term;
    uint8_t *byte;
    uint32_t root_child[256];
    size_t npatterns, longest;
    int oom;
} builder_t;

#define NONE UINT32_MAX

static uint32_t b_new_state(builder_t *b, uint8_t byte, uint32_t depth)
{
    if (b->n == b->cap) {
        uint32_t cap = b->cap != 0 ? b->cap * 2 : 1024;
        uint32_t *f = realloc(b->first, cap * sizeof *f);
        if (f != NULL)
            b->first = f;
        uint32_t *nx = realloc(b->next, cap * sizeof *nx);
        if (nx != NULL)
            b->next = nx;
        uint32_t *d = realloc(b->depth, cap * sizeof *d);
        if (d != NULL)
            b->depth = d;
        uint32_t *t = realloc(b->term, cap * sizeof *t);
        if (t != NULL)
            b->term = t;
        uint8_t *by = realloc(b->byte, cap);
        if (by != NULL)
            b->byte = by;
        if (f == NULL || nx == NULL || d == NULL || t == NULL || by == NULL) {
            b->oom = 1;
            return NONE;
        }
        b->cap = cap;
    }
    uint32_t s = b->n++;
    b->first[s] = b->next[s] = NONE;
    b->depth[s] = depth;
    b->term[s] = 0;
    b->byte[s] = byte;
    return s;
}

static uint32_t b_child(const builder_t *b, uint32_t s, uint8_t c)
{
    if (s == 0)
        return b->root_child[c];
    for (uint32_t k = b->first[s]; k != NONE; k = b->next[k])
        if (b->byte[k] == c)
            return k;
    return NONE;
}

static void b_add(builder_t *b, const uint8_t *p, size_t n)
{
    if (b->oom || n < HOST_REDACT_MIN_LEN || n >= UINT32_MAX / 2)
        return;
    uint32_t s = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t k = b_child(b, s, p[i]);
        if (k == NONE) {
            k = b_new_state(b, p[i], (uint32_t)(i + 1));
            if (k == NONE)
                return;
            if (s == 0) {
                b->root_child[p[i]] = k;
            } else {
                b->next[k] = b->first[s];
                b->first[s] = k;
            }
        }
        s = k;
    }
    if (!b->term[s])
        b->npatterns++;
    b->term[s] = 1;
    if (n > b->longest)
        b->longest = n;
}

/* Every pattern a value gives (redact.h): the value; without CR/LF; with
 * spaces as '+'; base64 fragments at 3 alignments in both alphabets. */
static void b_add_value(builder_t *b, const uint8_t *v, size_t n)
{
    if (n < HOST_REDACT_MIN_LEN)
        return;
    b_add(b, v, n);
    size_t tmp_len = 4 * ((n + 2 + 2) / 3) + 1;
    if (tmp_len < n + 3)
        tmp_len = n + 3;
    uint8_t *tmp = malloc(tmp_len);
    char *enc = malloc(tmp_len);
    if (tmp == NULL || enc == NULL) {
        free(tmp);
        free(enc);
        b->oom = 1;
        return;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (v[i] != '\r' && v[i] != '\n')
            tmp[m++] = v[i];
    if (m != n)
        b_add(b, tmp, m);
    if (memchr(v, ' ', n) != NULL) {
        for (size_t i = 0; i < n; i++)
            tmp[i] = v[i] == ' ' ? '+' : v[i];
        b_add(b, tmp, n);
    }
    for (size_t pad = 0; pad < 3; pad++) {
        memset(tmp, 0, pad);
        memcpy(tmp + pad, v, n);
        sec_base64_encode(tmp, pad + n, enc, 0);
        /* Character k covers bits [6k, 6k+6); the value's bits are
         * [8 pad, 8 (pad + n)). Keep the characters inside that range. */
        size_t k0 = (8 * pad + 5) / 6, k1 = 8 * (pad + n) / 6;
        if (k1 > k0 && k1 - k0 >= HOST_REDACT_MIN_LEN) {
            b_add(b, (const uint8_t *)enc + k0, k1 - k0);
            int differs = 0;
            for (size_t k = k0; k < k1; k++) {
                if (enc[k] == '+' || enc[k] == '/') {
                    enc[k] = enc[k] == '+' ? '-' : '_';
                    differs = 1;
                }
            }
            if (differs)
                b_add(b, (const uint8_t *)enc + k0, k1 - k0);
        }
    }
    sec_wipe_free(tmp, tmp_len);
    sec_wipe_free(enc, tmp_len);
}

static void b_free(builder_t *b)
{
    sec_wipe_free(b->first, (size_t)b->cap * sizeof *b->first);
    sec_wipe_free(b->next, (size_t)b->cap * sizeof *b->next);
    sec_wipe_free(b->depth, (size_t)b->cap * sizeof *b->depth);
    sec_wipe_free(b->term, (size_t)b->cap * sizeof *b->term);
    sec_wipe_free(b->byte, b->cap);
}

static void redactor_free(host_redactor_t *r)
{
    size_t n = r->nstates;
    sec_wipe_free(r->fail, n * sizeof *r->fail);
    sec_wipe_free(r->depth, n * sizeof *r->depth);
    sec_wipe_free(r->match_len, n * sizeof *r->match_len);
    sec_wipe_free(r->edge_first, (n + 1) * sizeof *r->edge_first);
    sec_wipe_free(r->edge_byte, r->nedges);
    sec_wipe_free(r->edge_to, (size_t)r->nedges * sizeof *r->edge_to);
    sec_wipe(r->root_next, sizeof r->root_next);
    free(r);
}

/* Failure links (BFS), match lengths and the CSR edge arrays. */
static int b_finish(builder_t *b, host_redactor_t *r)
{
    uint32_t n = b->n;
    r->nstates = n;
    r->npatterns = b->npatterns;
    r->longest = b->longest;
    r->nedges = n - 1;
    r->fail = calloc(n, sizeof *r->fail);
    r->depth = calloc(n, sizeof *r->depth);
    r->match_len = calloc(n, sizeof *r->match_len);
    r->edge_first = calloc((size_t)n + 1, sizeof *r->edge_first);
    r->edge_byte = calloc(n, 1);
    r->edge_to = calloc(n, sizeof *r->edge_to);
    uint32_t *queue = calloc(n, sizeof *queue);
    if (r->fail == NULL || r->depth == NULL || r->match_len == NULL || r->edge_first == NULL ||
        r->edge_byte == NULL || r->edge_to == NULL || queue == NULL) {
        free(queue);
        return AGENTD_ENOMEM;
    }
    /* BFS order; the CSR edges of each state are written as it is dequeued,
     * sorted by byte (insertion sort: non-root states have few children). */
    uint32_t head = 0, tail = 0;
    for (int c = 0; c < 256; c++) {
        uint32_t k = b->root_child[c];
        r->root_next[c] = k == NONE ? 0 : k;
        if (k != NONE) {
            r->fail[k] = 0;
            queue[tail++] = k;
        }
    }
    /* edge_first is indexed by state, but states are dequeued in BFS order,
     * not numeric order: collect each state's edges into a per-state slot
     * first (count, then place). */
    uint32_t *count = calloc((size_t)n + 1, sizeof *count);
    if (count == NULL) {
        free(queue);
        return AGENTD_ENOMEM;
    }
    for (uint32_t s = 1; s < n; s++)
        for (uint32_t k = b->first[s]; k != NONE; k = b->next[k])
            count[s]++;
    for (uint32_t s = 0; s < n; s++)
        r->edge_first[s + 1] = r->edge_first[s] + (s == 0 ? 0 : count[s]);
    for (uint32_t s = 1; s < n; s++) {
        uint32_t at = r->edge_first[s], len = 0;
        for (uint32_t k = b->first[s]; k != NONE; k = b->next[k]) {
            uint32_t i = at + len++;
            while (i > at && r->edge_byte[i - 1] > b->byte[k]) {
                r->edge_byte[i] = r->edge_byte[i - 1];
                r->edge_to[i] = r->edge_to[i - 1];
                i--;
            }
            r->edge_byte[i] = b->byte[k];
            r->edge_to[i] = k;
        }
    }
    free(count);
    for (uint32_t s = 0; s < n; s++)
        r->depth[s] = b->depth[s];
    r->depth[0] = 0;
    r->match_len[0] = 0;
    while (head < tail) {
        uint32_t s = queue[head++];
        r->match_len[s] = b->term[s] ? b->depth[s] : r->match_len[r->fail[s]];
        for (uint32_t k = b->first[s]; k != NONE; k = b->next[k]) {
            uint8_t c = b->byte[k];
            uint32_t f = r->fail[s];
            uint32_t t;
            for (;;) {
                t = b_child(b, f, c);
                if (t != NONE || f == 0)
                    break;
                f = r->fail[f];
            }
            r->fail[k] = (t != NONE && t != k) ? t : 0;
            queue[tail++] = k;
        }
    }
    free(queue);
    return 0;
}

int host_redactor_new(const host_redact_value_t *values, size_t count, host_redactor_t **out)
{
    *out = NULL;
    host_redactor_t *r = calloc(1, sizeof *r);
    builder_t b;
    memset(&b, 0, sizeof b);
    if (r == NULL)
        return AGENTD_ENOMEM;
    atomic_init(&r->refs, 1);
    for (int c = 0; c < 256; c++)
        b.root_child[c] = NONE;
    b_new_state(&b, 0, 0);
    for (size_t i = 0; i < count && !b.oom; i++)
        b_add_value(&b, values[i].data, values[i].len);
    int rc = b.oom ? AGENTD_ENOMEM : b_finish(&b, r);
    b_free(&b);
    if (rc != 0) {
        redactor_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

host_redactor_t *host_redactor_ref(host_redactor_t *r)
{
    if (r != NULL)
        atomic_fetch_add(&r->refs, 1);
    return r;
}

void host_redactor_unref(host_redactor_t *r)
{
    if (r != NULL && atomic_fetch_sub(&r->refs, 1) == 1)
        redactor_free(r);
}

size_t host_redactor_patterns(const host_redactor_t *r)
{
    return r != NULL ? r->npatterns : 0;
}

size_t host_redactor_longest(const host_redactor_t *r)
{
    return r != NULL ? r->longest : 0;
}

size_t host_redactor_max_hold(const host_redactor_t *r)
{
    return r != NULL && r->longest > 0 ? 6 * r->longest + 16 : 0;
}

/* ---- views ------------------------------------------------------------------- */

enum { DEC_NONE, DEC_JSON, DEC_URL, DEC_LINES };

/* The tree, parents before children: raw; J; JJ; lines(JJ); url(J);
 * lines(J); url(raw). */
enum { NODE_RAW, NODE_J, NODE_JJ, NODE_LJJ, NODE_UJ, NODE_LJ, NODE_U, NODE_COUNT };
static const int node_parent[NODE_COUNT] = {-1, NODE_RAW, NODE_J, NODE_JJ, NODE_J, NODE_J,
                                            NODE_RAW};
static const int node_dec[NODE_COUNT] = {DEC_NONE, DEC_JSON, DEC_JSON, DEC_LINES,
                                         DEC_URL,  DEC_LINES, DEC_URL};

#define PEND_MAX 12 /* \uD83D\uDE00 */

typedef struct unit {
    uint64_t rs, re; /* raw span */
    uint8_t c;
} unit_t;

typedef struct node {
    int synced;      /* sees exactly its parent's view (then nothing below is used) */
    uint32_t state;
    uint64_t vpos;   /* units seen in this view (raw node: the raw position) */
    uint64_t *ring;  /* raw start of unit i at ring[i & mask]; NULL for raw */
    uint64_t mlo, mhi; /* raw bytes [mlo, mhi) are known to be masked already */
    unit_t pend[PEND_MAX];
    int npend;
    int pend_used;   /* the most pend[] ever held: what engine_free wipes */
    int children[3];
    int nchildren;
} node_t;

/* Flags per held raw byte. */
#define F_MASK 1u
#define F_CONT 2u /* inside (not the start of) a JSON escape sequence */

typedef struct engine {
    const host_redactor_t *r;
    node_t nodes[NODE_COUNT];
    int ndesynced;
    uint64_t ring_mask;
    size_t ring_size;
    uint8_t special_any[256];
    /* The raw bytes [base, base + nflags) and their flags. */
    uint8_t *flags;
    uint64_t base;
    size_t nmasked;
    int oom;
} engine_t;

static int engine_init(engine_t *e, const host_redactor_t *r)
{
    memset(e, 0, sizeof *e);
    e->r = r;
    size_t need = (r != NULL ? r->longest : 0) + 1, size = 16;
    while (size < need)
        size *= 2;
    e->ring_size = size;
    e->ring_mask = size - 1;
    e->special_any['\\'] = e->special_any['%'] = e->special_any['\r'] =
        e->special_any['\n'] = 1;
    for (int k = 0; k < NODE_COUNT; k++) {
        e->nodes[k].synced = k != NODE_RAW;
        int p = node_parent[k];
        if (p >= 0)
            e->nodes[p].children[e->nodes[p].nchildren++] = k;
    }
    return 0;
}

static void engine_free(engine_t *e)
{
    for (int k = 0; k < NODE_COUNT; k++) {
        sec_wipe_free(e->nodes[k].ring, e->nodes[k].ring != NULL ? e->ring_size * 8 : 0);
        e->nodes[k].ring = NULL;
        /* Only what was written: most scans never fill pend[] (two
         * wipes of every node's whole array cost more than a short
         * event's scan). */
        sec_wipe(e->nodes[k].pend, (size_t)e->nodes[k].pend_used * sizeof e->nodes[k].pend[0]);
    }
}

static inline uint64_t ring_get(const engine_t *e, int k, uint64_t idx)
{
    return k == NODE_RAW ? idx : e->nodes[k].ring[idx & e->ring_mask];
}

static int mat(const engine_t *e, int k)
{
    while (e->nodes[k].synced)
        k = node_parent[k];
    return k;
}

static void mark_range(engine_t *e, uint64_t a, uint64_t b)
{
    for (uint64_t i = a < e->base ? e->base : a; i < b; i++) {
        uint8_t *f = &e->flags[i - e->base];
        if (!(*f & F_MASK)) {
            *f |= F_MASK;
            e->nmasked++;
        }
    }
}

/* Masks raw [a, b). A node's matches overlap a lot on repetitive text (every
 * position of "aaaa..." for a value of a's), so each node remembers the last
 * interval it masked and only masks what is new: linear, not len x matches. */
static void mark(engine_t *e, node_t *n, uint64_t a, uint64_t b)
{
    if (a >= n->mlo && a <= n->mhi) {
        if (b > n->mhi) {
            mark_range(e, n->mhi, b);
            n->mhi = b;
        }
    } else if (a < n->mlo && b >= n->mlo) {
        mark_range(e, a, n->mlo);
        if (b > n->mhi) {
            mark_range(e, n->mhi, b);
            n->mhi = b;
        }
        n->mlo = a;
    } else {
        mark_range(e, a, b);
        n->mlo = a;
        n->mhi = b;
    }
}

static void view_out(engine_t *e, int k, const unit_t *u, uint32_t s0);

/* Unit u enters node k's view (k materialised). */
static void node_step(engine_t *e, int k, const unit_t *u)
{
    node_t *n = &e->nodes[k];
    uint32_t s0 = n->state;
    n->state = ac_step(e->r, s0, u->c);
    n->ring[n->vpos & e->ring_mask] = u->rs;
    n->vpos++;
    uint32_t len = e->r->match_len[n->state];
    if (len != 0)
        mark(e, n, n->ring[(n->vpos - len) & e->ring_mask], u->re);
    view_out(e, k, u, s0);
}

static int special(int dec, uint8_t c)
{
    switch (dec) {
    case DEC_JSON: return c == '\\';
    case DEC_URL: return c == '%';
    case DEC_LINES: return c == '\r' || c == '\n';
    default: return 0;
    }
}

/* Node k (synced with parent p) takes its own state: its view so far is
 * p's view before the unit now arriving, whose state was s0. */
static void desync(engine_t *e, int k, int p, uint32_t s0)
{
    node_t *n = &e->nodes[k];
    if (n->ring == NULL) {
        n->ring = malloc(e->ring_size * sizeof *n->ring);
        if (n->ring == NULL) {
            e->oom = 1;
            return;
        }
    }
    int m = mat(e, p);
    /* m's view already holds the arriving unit (index vpos - 1). */
    uint64_t end = e->nodes[m].vpos - 1;
    uint32_t d = e->r->depth[s0];
    for (uint32_t i = 0; i < d; i++)
        n->ring[i & e->ring_mask] = ring_get(e, m, end - d + i);
    n->vpos = d;
    n->state = s0;
    n->mlo = n->mhi = 0;
    n->synced = 0;
    e->ndesynced++;
}

static void try_resync(engine_t *e, int k, int p)
{
    node_t *n = &e->nodes[k];
    if (n->npend != 0)
        return;
    int m = mat(e, p);
    if (n->state != e->nodes[m].state)
        return;
    uint32_t d = e->r->depth[n->state];
    for (uint32_t i = 1; i <= d; i++)
        if (n->ring[(n->vpos - i) & e->ring_mask] != ring_get(e, m, e->nodes[m].vpos - i))
            return;
    n->synced = 1;
    e->ndesynced--;
}

static void emit_decoded(engine_t *e, int k, const uint8_t *bytes, int nbytes, uint64_t rs,
                         uint64_t re)
{
    if (k == NODE_J && re - rs > 1) {
        for (uint64_t i = rs + 1; i < re; i++)
            if (i >= e->base)
                e->flags[i - e->base] |= F_CONT;
    }
    for (int i = 0; i < nbytes; i++) {
        unit_t o = {rs, re, bytes[i]};
        node_step(e, k, &o);
    }
}

static int utf8_put(uint32_t cp, uint8_t *o)
{
    if (cp < 0x80) {
        o[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (uint8_t)(0xC0 | cp >> 6);
        o[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) { /* lone surrogates too (WTF-8): only ever matched */
        o[0] = (uint8_t)(0xE0 | cp >> 12);
        o[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (uint8_t)(0xF0 | cp >> 18);
    o[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

static uint32_t hex4(const unit_t *p)
{
    return (uint32_t)(host_hex_digit(p[0].c) << 12 | host_hex_digit(p[1].c) << 8 | host_hex_digit(p[2].c) << 4 | host_hex_digit(p[3].c));
}

/* Looks at the pending escape. Returns 0 when it needs more units, else the
 * number of pending units it settles, with the bytes they decode to (a unit
 * that starts no escape decodes to itself). */
static int json_settle(const node_t *n, int at_end, uint8_t *out, int *nout)
{
    const unit_t *p = n->pend;
    int np = n->npend;
    static const char simple_in[] = "\"\\/bfnrt";
    static const char simple_out[] = "\"\\/\b\f\n\r\t";
    if (np < 2)
        goto literal;
    const char *q = memchr(simple_in, p[1].c, sizeof simple_in - 1);
    if (q != NULL) {
        out[0] = (uint8_t)simple_out[q - simple_in];
        *nout = 1;
        return 2;
    }
    if (p[1].c != 'u')
        goto literal;
    for (int i = 2; i < np && i < 6; i++)
        if (host_hex_digit(p[i].c) < 0)
            goto literal;
    if (np < 6)
        goto more;
    uint32_t cp = hex4(p + 2);
    if (cp < 0xD800 || cp > 0xDBFF)
        goto one;
    /* A high surrogate: a low one may follow. */
    if (np > 6 && p[6].c != '\\')
        goto one;
    if (np > 7 && p[7].c != 'u')
        goto one;
    for (int i = 8; i < np && i < 12; i++)
        if (host_hex_digit(p[i].c) < 0)
            goto one;
    if (np < 12)
        goto more;
    uint32_t lo = hex4(p + 8);
    if (lo < 0xDC00 || lo > 0xDFFF)
        goto one;
    *nout = utf8_put(0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00), out);
    return 12;
one:
    *nout = utf8_put(cp, out);
    return 6;
more:
    if (!at_end)
        return 0;
    if (np >= 6) {
        cp = hex4(p + 2);
        goto one;
    }
literal:
    if (np == 1 && !at_end)
        return 0;
    out[0] = p[0].c;
    *nout = 1;
    return 1;
}

static int url_settle(const node_t *n, int at_end, uint8_t *out, int *nout)
{
    const unit_t *p = n->pend;
    int np = n->npend;
    for (int i = 1; i < np; i++)
        if (host_hex_digit(p[i].c) < 0)
            goto literal;
    if (np < 3) {
        if (!at_end)
            return 0;
        goto literal;
    }
    out[0] = (uint8_t)(host_hex_digit(p[1].c) << 4 | host_hex_digit(p[2].c));
    *nout = 1;
    return 3;
literal:
    out[0] = p[0].c;
    *nout = 1;
    return 1;
}

static void dec_input(engine_t *e, int k, const unit_t *u);

/* Settles what node k's decoder holds (at_end: no more input comes). */
static void dec_settle(engine_t *e, int k, int at_end)
{
    node_t *n = &e->nodes[k];
    while (n->npend > 0) {
        uint8_t out[4];
        int nout = 0;
        int used = node_dec[k] == DEC_JSON ? json_settle(n, at_end, out, &nout)
                                           : url_settle(n, at_end, out, &nout);
        if (used == 0)
            return;
        unit_t rest[PEND_MAX];
        int nrest = n->npend - used;
        uint64_t rs = n->pend[0].rs, re = n->pend[used - 1].re;
        memcpy(rest, n->pend + used, (size_t)nrest * sizeof *rest);
        n->npend = 0;
        emit_decoded(e, k, out, nout, rs, re);
        /* What followed is read again from the start state. */
        for (int i = 0; i < nrest; i++)
            dec_input(e, k, &rest[i]);
        if (!at_end)
            return; /* dec_input settled what it could */
    }
}

static void dec_input(engine_t *e, int k, const unit_t *u)
{
    node_t *n = &e->nodes[k];
    switch (node_dec[k]) {
    case DEC_LINES:
        if (u->c != '\r' && u->c != '\n')
            node_step(e, k, u);
        return;
    case DEC_JSON:
    case DEC_URL:
        if (n->npend == 0 && !special(node_dec[k], u->c)) {
            node_step(e, k, u);
            return;
        }
        n->pend[n->npend++] = *u;
        if (n->npend > n->pend_used)
            n->pend_used = n->npend;
        dec_settle(e, k, 0);
        return;
    default:
        node_step(e, k, u);
    }
}

/* Unit u was appended to node k's view; s0 was k's state before it. */
static void view_out(engine_t *e, int k, const unit_t *u, uint32_t s0)
{
    node_t *n = &e->nodes[k];
    for (int i = 0; i < n->nchildren; i++) {
        int ch = n->children[i];
        node_t *c = &e->nodes[ch];
        if (c->synced) {
            if (!special(node_dec[ch], u->c)) {
                view_out(e, ch, u, s0);
                continue;
            }
            desync(e, ch, k, s0);
            if (e->oom)
                return;
        }
        dec_input(e, ch, u);
        if (!c->synced)
            try_resync(e, ch, k);
    }
}

/* Feeds raw bytes data[0..len), which are raw positions [vpos, vpos+len). */
static void engine_feed(engine_t *e, const uint8_t *data, size_t len)
{
    const host_redactor_t *r = e->r;
    node_t *raw = &e->nodes[NODE_RAW];
    uint32_t s = raw->state;
    uint64_t pos = raw->vpos;
    for (size_t i = 0; i < len && !e->oom; i++, pos++) {
        uint8_t c = data[i];
        uint32_t s0 = s;
        s = ac_step(r, s, c);
        uint32_t ml = r->match_len[s];
        if (ml != 0) {
            raw->state = s;
            raw->vpos = pos + 1;
            mark(e, raw, pos + 1 - ml, pos + 1);
        }
        if (e->ndesynced == 0 && !e->special_any[c])
            continue;
        raw->state = s;
        raw->vpos = pos + 1;
        unit_t u = {pos, pos + 1, c};
        view_out(e, NODE_RAW, &u, s0);
    }
    raw->state = s;
    raw->vpos = pos;
}

/* No more input: every decoder gives up what it holds, parents first. */
static void engine_end(engine_t *e)
{
    for (int k = 1; k < NODE_COUNT && !e->oom; k++)
        if (!e->nodes[k].synced && e->nodes[k].npend > 0)
            dec_settle(e, k, 1);
}

/* The first raw position a future match (or an unfinished escape) may still
 * cover: bytes before it are final. */
static uint64_t engine_hold(const engine_t *e)
{
    uint64_t h = e->nodes[NODE_RAW].vpos;
    for (int k = 0; k < NODE_COUNT; k++) {
        const node_t *n = &e->nodes[k];
        if (n->synced)
            continue;
        uint32_t d = e->r->depth[n->state];
        if (d > 0) {
            uint64_t at = ring_get(e, k, n->vpos - d);
            if (at < h)
                h = at;
        }
        if (n->npend > 0 && n->pend[0].rs < h)
            h = n->pend[0].rs;
    }
    return h;
}

/* ---- output -------------------------------------------------------------------- */

static int is_cont(const uint8_t *raw, const uint8_t *flags, size_t i)
{
    return (flags[i] & F_CONT) || (raw[i] & 0xC0) == 0x80;
}

/* Masks whole units: widens every masked run over the JSON escape or UTF-8
 * character its ends fall into (within [0, n)). */
static void widen(const uint8_t *raw, uint8_t *flags, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!(flags[i] & F_MASK))
            continue;
        if (i == 0 || !(flags[i - 1] & F_MASK)) {
            size_t j = i;
            for (int steps = 0; j > 0 && steps < PEND_MAX && is_cont(raw, flags, j); steps++)
                flags[--j] |= F_MASK;
        }
        if (i + 1 < n && !(flags[i + 1] & F_MASK)) {
            size_t j = i + 1;
            for (int steps = 0; j < n && steps < PEND_MAX && is_cont(raw, flags, j); steps++)
                flags[j++] |= F_MASK;
            i = j - 1;
        }
    }
}

/* Appends raw[0..n) with masked runs as "***"; *in_mask carries a run over
 * from the previous call so it is not doubled. */
static int emit(const uint8_t *raw, const uint8_t *flags, size_t n, int *in_mask,
                host_redact_buf_t *out)
{
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        if (flags[i] & F_MASK) {
            while (j < n && (flags[j] & F_MASK))
                j++;
            if (!*in_mask && host_redact_buf_add(out, HOST_REDACT_MASK,
                                                 sizeof HOST_REDACT_MASK - 1) != 0)
                return AGENTD_ENOMEM;
            *in_mask = 1;
        } else {
            while (j < n && !(flags[j] & F_MASK))
                j++;
            if (host_redact_buf_add(out, raw + i, j - i) != 0)
                return AGENTD_ENOMEM;
            *in_mask = 0;
        }
        i = j;
    }
    return 0;
}

int host_redact(const host_redactor_t *r, const char *text, size_t len, char **out,
                size_t *out_len)
{
    *out = NULL;
    if (out_len != NULL)
        *out_len = 0;
    if (r == NULL || r->npatterns == 0 || len == 0)
        return 0;
    engine_t e;
    engine_init(&e, r);
    e.flags = calloc(len, 1);
    if (e.flags == NULL)
        return AGENTD_ENOMEM;
    engine_feed(&e, (const uint8_t *)text, len);
    engine_end(&e);
    int rc = e.oom ? AGENTD_ENOMEM : 0;
    if (rc == 0 && e.nmasked > 0) {
        widen((const uint8_t *)text, e.flags, len);
        host_redact_buf_t b = {0};
        int in_mask = 0;
        rc = emit((const uint8_t *)text, e.flags, len, &in_mask, &b);
        if (rc == 0) {
            *out = b.data;
            if (out_len != NULL)
                *out_len = b.len;
        } else {
            host_redact_buf_free(&b);
        }
    }
    free(e.flags);
    engine_free(&e);
    return rc;
}

/* ---- source ----------------------------------------------------------------------- */

struct host_redact_source {
    uv_mutex_t mu;
    host_redactor_t *current;
    atomic_uint_fast64_t generation;
};

host_redact_source_t *host_redact_source_new(void)
{
    host_redact_source_t *src = calloc(1, sizeof *src);
    if (src == NULL)
        return NULL;
    if (uv_mutex_init(&src->mu) != 0) {
        free(src);
        return NULL;
    }
    atomic_init(&src->generation, 0);
    return src;
}

void host_redact_source_free(host_redact_source_t *src)
{
    if (src == NULL)
        return;
    host_redactor_unref(src->current);
    uv_mutex_destroy(&src->mu);
    free(src);
}

void host_redact_source_set(host_redact_source_t *src, host_redactor_t *r)
{
    uv_mutex_lock(&src->mu);
    host_redactor_t *old = src->current;
    src->current = r;
    atomic_fetch_add(&src->generation, 1);
    uv_mutex_unlock(&src->mu);
    host_redactor_unref(old);
}

host_redactor_t *host_redact_source_get(host_redact_source_t *src)
{
    uv_mutex_lock(&src->mu);
    host_redactor_t *r = host_redactor_ref(src->current);
    uv_mutex_unlock(&src->mu);
    return r;
}

uint64_t host_redact_source_generation(const host_redact_source_t *src)
{
    return atomic_load(&((host_redact_source_t *)src)->generation);
}

int host_redact_source_text(host_redact_source_t *src, const char *text, size_t len, char **out,
                            size_t *out_len)
{
    host_redactor_t *r = host_redact_source_get(src);
    int rc = host_redact(r, text, len, out, out_len);
    host_redactor_unref(r);
    return rc;
}

char *host_redact_log_hook(void *ud, const char *msg)
{
    char *out = NULL;
    if (ud == NULL || msg == NULL)
        return NULL;
    size_t len = strlen(msg);
    if (host_redact_source_text(ud, msg, len, &out, NULL) != 0) {
        /* Out of memory: the contract lets us rewrite msg in place. Better
         * to lose the line than to risk writing a secret. */
        static const char lost[] = "[line dropped: redaction ran out of memory]";
        char *m = (char *)msg;
        size_t n = len < sizeof lost - 1 ? len : sizeof lost - 1;
        memcpy(m, lost, n);
        m[n] = '\0';
        return NULL;
    }
    return out;
}

/* ---- streams ------------------------------------------------------------------------- */

struct host_redact_stream {
    host_redact_source_t *src; /* NULL for a fixed stream */
    uint64_t generation;
    host_redactor_t *r;
    engine_t e;
    uint8_t *raw;   /* held raw bytes: positions [e.base, e.base + n) */
    uint8_t *flags; /* their flags (e.flags points here) */
    size_t n, cap;
    int in_mask;    /* the last byte let go was masked */
};

static int stream_reserve(host_redact_stream_t *s, size_t more)
{
    if (s->n + more <= s->cap)
        return 0;
    size_t cap = s->cap != 0 ? s->cap : 256;
    while (cap < s->n + more)
        cap *= 2;
    uint8_t *raw = malloc(cap), *flags = malloc(cap);
    if (raw == NULL || flags == NULL) {
        free(raw);
        free(flags);
        return AGENTD_ENOMEM;
    }
    if (s->n > 0) {
        memcpy(raw, s->raw, s->n);
        memcpy(flags, s->flags, s->n);
    }
    sec_wipe_free(s->raw, s->cap);
    sec_wipe_free(s->flags, s->cap);
    s->raw = raw;
    s->flags = flags;
    s->cap = cap;
    s->e.flags = flags;
    return 0;
}

/* Starts the engine over r at raw position `at` (nothing held before it). */
static void stream_engine(host_redact_stream_t *s, uint64_t at)
{
    engine_free(&s->e);
    engine_init(&s->e, s->r);
    s->e.flags = s->flags;
    s->e.base = at;
    s->e.nodes[NODE_RAW].vpos = at;
    s->e.nodes[NODE_RAW].mlo = s->e.nodes[NODE_RAW].mhi = at;
}

static host_redact_stream_t *stream_new(host_redact_source_t *src, host_redactor_t *r)
{
    host_redact_stream_t *s = calloc(1, sizeof *s);
    if (s == NULL) {
        host_redactor_unref(r);
        return NULL;
    }
    s->src = src;
    s->r = r;
    engine_init(&s->e, r);
    return s;
}

host_redact_stream_t *host_redact_stream_new(host_redact_source_t *src)
{
    uint64_t gen = host_redact_source_generation(src);
    host_redact_stream_t *s = stream_new(src, host_redact_source_get(src));
    if (s != NULL)
        s->generation = gen;
    return s;
}

host_redact_stream_t *host_redact_stream_new_fixed(host_redactor_t *r)
{
    return stream_new(NULL, host_redactor_ref(r));
}

size_t host_redact_stream_held(const host_redact_stream_t *s)
{
    return s->n;
}

/* Lets go of the held bytes before raw position `upto`. */
static int stream_release(host_redact_stream_t *s, uint64_t upto, host_redact_buf_t *out)
{
    size_t k = (size_t)(upto - s->e.base);
    if (k == 0)
        return 0;
    widen(s->raw, s->flags, s->n);
    if (emit(s->raw, s->flags, k, &s->in_mask, out) != 0)
        return AGENTD_ENOMEM;
    sec_wipe(s->raw, k);
    memmove(s->raw, s->raw + k, s->n - k);
    memmove(s->flags, s->flags + k, s->n - k);
    s->n -= k;
    s->e.base = upto;
    return 0;
}

/* The source has a new redactor: read what is held again with it. */
static int stream_switch(host_redact_stream_t *s)
{
    uint64_t gen = host_redact_source_generation(s->src);
    host_redactor_t *r = host_redact_source_get(s->src);
    host_redactor_unref(s->r);
    s->r = r;
    s->generation = gen;
    uint64_t base = s->e.base;
    stream_engine(s, base);
    if (s->r == NULL || s->r->npatterns == 0)
        return 0;
    memset(s->flags, 0, s->n);
    engine_feed(&s->e, s->raw, s->n);
    return s->e.oom ? AGENTD_ENOMEM : 0;
}

int host_redact_stream_write(host_redact_stream_t *s, const void *data, size_t len,
                             host_redact_buf_t *out)
{
    if (s->src != NULL && host_redact_source_generation(s->src) != s->generation &&
        stream_switch(s) != 0)
        return AGENTD_ENOMEM;
    if (s->r == NULL || s->r->npatterns == 0) {
        /* Nothing to redact: what is held (from an older redactor) first. */
        if (s->n > 0 && stream_release(s, s->e.base + s->n, out) != 0)
            return AGENTD_ENOMEM;
        s->in_mask = 0;
        s->e.base += len;
        s->e.nodes[NODE_RAW].vpos = s->e.base;
        return host_redact_buf_add(out, data, len);
    }
    if (len == 0)
        return 0;
    if (stream_reserve(s, len) != 0)
        return AGENTD_ENOMEM;
    memcpy(s->raw + s->n, data, len);
    memset(s->flags + s->n, 0, len);
    s->n += len;
    engine_feed(&s->e, data, len);
    if (s->e.oom)
        return AGENTD_ENOMEM;
    uint64_t end = s->e.base + s->n;
    uint64_t h = engine_hold(&s->e);
    /* Never stop inside an escape or a UTF-8 character: a mask found later
     * may need to widen over it. */
    for (int steps = 0; h > s->e.base && h < end && steps < PEND_MAX &&
                        is_cont(s->raw, s->flags, (size_t)(h - s->e.base));
         steps++)
        h--;
    size_t max_hold = host_redactor_max_hold(s->r);
    if (end - h > max_hold)
        h = end - max_hold;
    return stream_release(s, h, out);
}

int host_redact_stream_flush(host_redact_stream_t *s, host_redact_buf_t *out)
{
    if (s->src != NULL && host_redact_source_generation(s->src) != s->generation &&
        stream_switch(s) != 0)
        return AGENTD_ENOMEM;
    if (s->r != NULL && s->r->npatterns > 0)
        engine_end(&s->e);
    if (s->e.oom)
        return AGENTD_ENOMEM;
    uint64_t end = s->e.base + s->n;
    if (stream_release(s, end, out) != 0)
        return AGENTD_ENOMEM;
    s->in_mask = 0;
    stream_engine(s, end);
    return 0;
}

void host_redact_stream_free(host_redact_stream_t *s)
{
    if (s == NULL)
        return;
    engine_free(&s->e);
    sec_wipe_free(s->raw, s->cap);
    sec_wipe_free(s->flags, s->cap);
    host_redactor_unref(s->r);
    free(s);
}
