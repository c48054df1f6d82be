/*
 * Private to host/config/: the pieces config.c, config_doc.c, config_env.c,
 * config_suggest.c, config_fields.c and diags.c share. Nothing outside
 * host/config/ includes this header.
 *
 * The parsed document is two parallel trees built from the same text:
 *   - jansson's json_t tree, the values (after ${VAR} substitution);
 *   - a position tree (cfg_node_t) with the line and column of every key
 *     and value, built by a scan of the text (jansson keeps positions only
 *     for parse errors).
 * Walks go through the position tree in file order and fetch each value
 * from jansson by key, so diagnostics come out in file order. Every walk
 * copes with a missing position (node NULL): the position tree is a help
 * for messages, never the source of truth.
 */
#ifndef AGENTD_HOST_CONFIG_INTERNAL_H
#define AGENTD_HOST_CONFIG_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>

#include <jansson.h>

#include "config/config.h"

/* Nesting deeper than this is refused (jansson itself stops at 2048, and
 * every walk here is recursive). */
#define CFG_MAX_DEPTH 64
/* One load or settings check records at most this many problems. */
#define CFG_MAX_DIAGS 100
/* The cap on the file before it can be read: limits.max_config_bytes'
 * default. */
#define CFG_DEFAULT_MAX_CONFIG_BYTES ((size_t)4 * 1024 * 1024)
/* What diagnostics call the embedded defaults. */
#define CFG_DEFAULTS_NAME "<defaults>"

/* A key that starts with this is a comment: ignored wherever the host checks
 * keys, and removed from what a plugin receives. */
#define CFG_COMMENT_PREFIX "//"

enum cfg_node_flags {
    CFG_NODE_SHADOWED = 1u << 0,   /* an earlier duplicate of a later key */
    CFG_NODE_SUBSTITUTED = 1u << 1, /* string value changed by ${VAR} */
    CFG_NODE_BAD = 1u << 2,        /* value already reported (e.g. unset
                                    * ${VAR}); later checks skip it */
    CFG_NODE_COMMENT = 1u << 3     /* key starts with "//" */
};

/* One value in the document: the root, an object member (with its key) or
 * an array element. Containers hold their members/elements in `kids`, in
 * file order (duplicates included; all but the last marked SHADOWED). */
typedef struct cfg_node {
    char *key;            /* decoded UTF-8 key of a member; NULL otherwise */
    size_t key_len;
    int line, col;        /* the key of a member, else the value (1-based) */
    int vline, vcol;      /* the value */
    unsigned char type;   /* 'o' object, 'a' array, 's' string, 'n' other */
    unsigned char flags;  /* enum cfg_node_flags */
    struct cfg_node *kids;
    size_t nkids, capkids;
} cfg_node_t;

struct host_config_doc {
    char *file;       /* what diagnostics call the file */
    json_t *root;     /* the values, after ${VAR} substitution */
    cfg_node_t *pos;  /* positions; may be NULL */
    size_t text_len;  /* bytes of the text parsed */
};

/* Where diagnostics of one operation go. Stops recording after
 * CFG_MAX_DIAGS, remembers allocation failures. */
typedef struct cfg_ctx {
    const char *file;
    host_diags_t *diags;
    size_t added;    /* problems found (recorded or not) */
    int oom;         /* an allocation failed somewhere */
    size_t start;    /* diags->count when the operation began */
} cfg_ctx_t;

/* A context for one operation writing to diags. */
#define CFG_CTX(file_, diags_) {(file_), (diags_), 0, 0, (diags_) != NULL ? (diags_)->count : 0}

/* A key path, as a chain from the innermost key outwards; lives on the
 * stack of the walk. key == NULL means an array index. */
typedef struct cfg_path {
    const struct cfg_path *up;
    const char *key;
    size_t key_len;
    size_t index;
} cfg_path_t;

/* ---- diags.c ---- */

/* Record a problem at `node` (its key position, or the value position when
 * at_value is set; no position when node is NULL). Never fails: on
 * allocation failure c->oom is set. */
void cfg_report(cfg_ctx_t *c, const cfg_node_t *node, int at_value,
                const cfg_path_t *path, const char *fmt, ...) AGENTD_PRINTF(5, 6);
void cfg_vreport(cfg_ctx_t *c, int line, int col, const cfg_path_t *path,
                 const char *fmt, va_list ap) AGENTD_PRINTF(5, 0);
void cfg_report_at(cfg_ctx_t *c, int line, int col, const cfg_path_t *path,
                   const char *fmt, ...) AGENTD_PRINTF(5, 6);
/* Put the operation's diagnostics in file order (those without a position
 * last, in the order found). */
void cfg_sort_diags(const cfg_ctx_t *c);
/* The result of an operation given how it went: 0, AGENTD_ECONFIG or
 * AGENTD_ENOMEM. */
int cfg_result(const cfg_ctx_t *c);

/* "plugins.settings.sandbox-docker.memory", "plugins.dirs[2]"; a key that is
 * not plain ([A-Za-z0-9_-] and non-ASCII) is written ["..."] with JSON
 * escapes. malloc'd; NULL on allocation failure. */
char *cfg_path_format(const cfg_path_t *p);

/* s as a double-quoted JSON string, control characters escaped, cut to about
 * `max` bytes with "..." added. Writes into buf (always terminated). */
const char *cfg_quote(char *buf, size_t bufsize, const char *s, size_t len, size_t max);

/* Growable string: on allocation failure `failed` is set and further appends
 * are ignored. */
typedef struct cfg_buf {
    char *data;
    size_t len, cap;
    int failed;
} cfg_buf_t;
void cfg_buf_add(cfg_buf_t *b, const char *s, size_t n);
void cfg_buf_addf(cfg_buf_t *b, const char *fmt, ...) AGENTD_PRINTF(2, 3);
void cfg_buf_free(cfg_buf_t *b);

/* ---- config.c ---- */

/* A plugin id: [a-z0-9-]+. */
int cfg_plugin_id_valid(const char *id, size_t len);

/* ---- config_doc.c ---- */

/* Scan JSON text (already accepted by jansson) into a position tree; marks
 * duplicate keys (reporting each) and comment keys, and refuses nesting
 * deeper than CFG_MAX_DEPTH. Returns the tree or NULL (allocation failure,
 * nesting, or text it cannot follow: problems reported in c). */
cfg_node_t *cfg_doc_index(const char *text, size_t len, cfg_ctx_t *c);
void cfg_node_free(cfg_node_t *root);
/* The last member `key` of an object node, or NULL. */
cfg_node_t *cfg_node_member(const cfg_node_t *obj, const char *key, size_t key_len);
/* Element i of an array node, or NULL. */
cfg_node_t *cfg_node_element(const cfg_node_t *arr, size_t i);
/* Line and column after the text's first `offset` bytes, counted the way
 * jansson counts (columns in characters, 1-based). */
void cfg_text_position(const char *text, size_t offset, int *line, int *col);
int cfg_is_comment_key(const char *key, size_t len);

/* Iterate an object's members in file order (through its position node when
 * there is one), skipping shadowed duplicates and, if skip_comments, comment
 * keys. */
typedef struct cfg_member {
    const char *key;
    size_t key_len;
    json_t *value;
    cfg_node_t *node; /* may be NULL */
} cfg_member_t;
typedef struct cfg_iter {
    json_t *obj;
    cfg_node_t *node;
    size_t next;
    void *jit;
    int skip_comments;
} cfg_iter_t;
void cfg_iter_init(cfg_iter_t *it, json_t *obj, cfg_node_t *node, int skip_comments);
int cfg_iter_next(cfg_iter_t *it, cfg_member_t *m);

/* A JSON type's name for messages: "a string", "an integer", ... */
const char *cfg_json_type_name(const json_t *v);

/* ---- config_env.c ---- */

/* Replace ${NAME} in every string value under `v` (not in keys); $${ is a
 * literal ${; ${secret:NAME} is left as it is. Problems (unset variable,
 * bad syntax, value not UTF-8) are reported and the value is marked BAD. */
void cfg_env_substitute(json_t *v, cfg_node_t *node, const cfg_path_t *path, int depth,
                        cfg_ctx_t *c);
/* 1 if s is "${secret:NAME}" and nothing else. */
int cfg_is_secret_ref(const char *s, size_t len);
/* 1 if [s, s+len) is valid UTF-8 (no overlongs, surrogates or > U+10FFFF). */
int cfg_utf8_valid(const char *s, size_t len);

/* ---- config_suggest.c ---- */

/* Optimal string alignment distance (Damerau-Levenshtein with adjacent
 * transpositions), giving up early: returns max + 1 when the distance is
 * larger than max. */
size_t cfg_edit_distance(const char *a, size_t alen, const char *b, size_t blen, size_t max);
/* The candidate nearest to key when it is close enough to be a plausible
 * typo, else NULL. Candidates may contain NULL entries (skipped). */
const char *cfg_suggest(const char *key, size_t key_len, const char *const *cands, size_t n);

/* ---- defaults.c ---- */

extern const char cfg_default_text[];
#define CFG_DEFAULT_DATA_DIR "./var"
#define CFG_DEFAULT_LISTEN_ADDRESS "127.0.0.1"
#define CFG_DEFAULT_LISTEN_PORT 7878
#define CFG_DEFAULT_PLUGIN "sandbox-seccomp"
#define CFG_DEFAULT_PROFILE "local"

/* One bounded integer key of the host. */
typedef struct cfg_int_key {
    const char *name;
    long long min, max, def;
} cfg_int_key_t;
/* "limits", in the order of host_limits_t. */
#define CFG_LIMIT_KEY_COUNT 7
extern const cfg_int_key_t cfg_limit_keys[CFG_LIMIT_KEY_COUNT];
#define CFG_PORT_MIN 1
#define CFG_PORT_MAX 65535

#endif /* AGENTD_HOST_CONFIG_INTERNAL_H */
