/*
 * JSON strings written the way jansson writes them, without building jansson
 * values: the normalizer's hot events (an assistant's text block) go from
 * the agent's line to the event's JSON text in one pass.
 *
 * The bytes are exactly those of json_dumps(JSON_COMPACT | JSON_ENSURE_ASCII)
 * (jansson 2.14): '"' and '\\' escaped, \b \f \n \r \t in short form, other
 * code points below U+0020 as \u00XX, everything past U+007F as \uXXXX
 * (a surrogate pair past U+FFFF), upper-case hex digits, everything else
 * (also '/' and U+007F) as itself. tests/unit/test_json_text.c holds it to
 * json_dumps byte for byte.
 *
 * Thread: any. Errors: AGENTD_ENOMEM; AGENTD_EINVAL for a string jansson
 * would refuse (then the caller takes jansson's path, which decides).
 */
#ifndef AGENTD_HOST_JSON_TEXT_H
#define AGENTD_HOST_JSON_TEXT_H

#include <stddef.h>

/* Output: starts in a caller's buffer (often on the stack) and moves to the
 * heap when it outgrows it. */
typedef struct host_jtext {
    char *p;
    size_t len, cap;
    char *own;      /* p when it is on the heap (free it), else NULL */
} host_jtext_t;

void host_jtext_init(host_jtext_t *w, char *buf, size_t cap);
void host_jtext_free(host_jtext_t *w);
/* Appends n bytes as they are. 0 or AGENTD_ENOMEM. */
int host_jtext_raw(host_jtext_t *w, const char *s, size_t n);

/* Decoded text holds '[' or '=' (text protocols may be in it). */
#define HOST_JTEXT_MARKS 1

/* Appends the string literal, quotes included, for a JSON string given as
 * the text between its quotes in a document host_json_is_object
 * (events/json_check.h) accepted: escapes well formed, UTF-8 valid. *seen
 * (may be NULL) receives HOST_JTEXT_MARKS when the decoded text holds '['
 * or '='. AGENTD_EINVAL: a \u escape of a lone surrogate (jansson refuses
 * the string). */
int host_jtext_reencode(host_jtext_t *w, const char *s, size_t n, int *seen);

/* Appends the string literal for the well-formed UTF-8 text s[0..n) (NUL
 * bytes allowed). AGENTD_EINVAL: s is not well-formed UTF-8. */
int host_jtext_string(host_jtext_t *w, const char *s, size_t n);

#endif /* AGENTD_HOST_JSON_TEXT_H */
